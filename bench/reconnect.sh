#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/reconnect.sh — how long output takes to flow again after a 1 s network
# outage, for
#
#   dwell -H far receive s               (reconnects by itself)
#
# against ssh + tmux (`ssh -tt far tmux attach`, under script(1) for a
# terminal), reconnected by a loop that retries once a second — the fastest
# "by hand".  Both follow a remote loop printing a line every 10 ms; the
# time is from the link coming back to the first new byte of output.
#
#   link: the link is down for 1 s (ip link set ... down); the TCP
#         connections survive, and both simply carry on once TCP
#         retransmits (dwell's heartbeats, 10 s by default, notice nothing);
#   lost: the same, and the ssh under each is killed as the link goes down
#         (the connection is gone, as after a change of network or a
#         suspended laptop): dwell reconnects by itself with its backoff,
#         the tmux side by the loop.
#
# Self-contained like bench/remote.sh: it runs inside the integration-test
# sandbox, with sshd in a child network namespace behind a veth pair that it
# cuts (as tests/integration/t-reconnect-ssh.sh does).  Prints a markdown
# table on stdout.
#
# Usage (root):   bench/reconnect.sh
# Environment: top_builddir (default: this tree, built with `make`),
#   top_srcdir, RUNS (default 5 per case), BENCH_OUT=FILE also writes the table
#   to FILE (outside /tmp, /run, /home).
# Needs: openssh-server, openssh-client, tmux, script (util-linux), iproute2.

set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

if [ -z "${DWELL_SANDBOX:-}" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "bench/reconnect.sh: needs root (namespaces)" >&2; exit 77; }
        command -v tmux >/dev/null || { echo "bench/reconnect.sh: tmux not installed" >&2; exit 77; }
        build=${top_builddir:-$top}
        [ -x "$build/src/bridge/dwell-bridge" ] || {
                echo "bench/reconnect.sh: no dwell-bridge in $build: build first (make)" >&2
                exit 1
        }
        top_builddir=$build top_srcdir=${top_srcdir:-$build} exec "$top/tests/integration/ns-run.sh" "$here/reconnect.sh"
fi

# -- inside the sandbox ----------------------------------------------------------
track_pid() { _pids+=("$1"); }
fail() { echo "bench/reconnect.sh: $1" >&2; shift; printf '%s\n' "$@" >&2; }
_pids=()
trap 'for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

. "$top/tests/integration/ssh-lib.sh"
ssh_private_net "$here/reconnect.sh"

RUNS=${RUNS:-5}
# Terminals for tmux and script: a devpts instance of our own (the
# sandbox's /dev has none), as tests/integration/t-connect-prompt.sh does.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx

far_host far 10.77.0 rc >&2
ssh_user_key alice id
ssh_client_config alice /home/alice/.ssh/cfg id far 10.77.0.2 22

as_alice() {
        (cd /home/alice && setpriv --reuid alice --regid alice --init-groups --reset-env \
                env HOME=/home/alice USER=alice LOGNAME=alice LANG=C.UTF-8 TERM=xterm \
                DWELL_SSH="ssh -F /home/alice/.ssh/cfg" \
                PATH="$DWELL_BIN_DIR:/usr/local/bin:/usr/bin:/bin" "$@")
}

LOOP='while :; do date +%s.%N; sleep 0.01; done'
as_alice ssh -F /home/alice/.ssh/cfg far true
as_alice dwell -H far invoke -d -n s -- "$LOOP" >/dev/null
as_alice ssh -F /home/alice/.ssh/cfg far "tmux new-session -d -s t -x 80 -y 24 '$LOOP'"

out=$DWELL_SANDBOX/bench-out
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# start_client dwell|tmux: the client in the background, output into $out.
start_client() {
        : >"$out"; chmod 0666 "$out"
        if [ "$1" = dwell ]; then
                as_alice dwell -H far receive s >>"$out" 2>/dev/null &
        else
                as_alice sh -c 'while :; do
                        script -qfec "ssh -F /home/alice/.ssh/cfg -tt far tmux attach -t t" /dev/null
                        sleep 1
                done' >>"$out" 2>/dev/null </dev/null &
        fi
        CLIENT=$!
        # Flowing before the outage.
        local i
        for ((i = 0; i < 500; i++)); do
                [ "$(fsize "$out")" -gt 4096 ] && return 0
                sleep 0.01
        done
        echo "bench/reconnect.sh: $1 does not stream" >&2
        return 1
}
stop_client() {
        pkill -KILL -P "$CLIENT" 2>/dev/null || true
        kill -KILL "$CLIENT" 2>/dev/null || true
        wait "$CLIENT" 2>/dev/null || true
        # ssh and script below the tmux loop, the dwell client
        pkill -KILL -u alice -x ssh 2>/dev/null || true
        pkill -KILL -u alice -x script 2>/dev/null || true
        pkill -KILL -u alice -x dwell 2>/dev/null || true
        sleep 0.5
}

# One outage; prints the seconds from the link's return to new output.
outage() {
        local kind=$1 mode=$2 before t_up
        start_client "$kind" || { echo nan; return; }
        sleep 0.5
        far_link down
        if [ "$mode" = lost ]; then
                pkill -KILL -u alice -x ssh 2>/dev/null || true
        fi
        sleep 1
        before=$(fsize "$out")
        far_link up
        t_up=$(date +%s.%N)
        python3 - "$out" "$before" "$t_up" <<'PY'
import os, sys, time
path, before, t_up = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + 60
while time.time() < end:
    if os.stat(path).st_size > before:
        print("%.3f" % (time.time() - t_up))
        sys.exit(0)
    time.sleep(0.002)
print("nan")
PY
        stop_client
}

res=$DWELL_SANDBOX/res
: >"$res"
for ((r = 0; r < RUNS; r++)); do
        for mode in link lost; do
                for kind in dwell tmux; do
                        echo "$mode $kind $(outage "$kind" "$mode")" >>"$res"
                done
        done
done
as_alice dwell -H far remove s >/dev/null 2>&1 || true
as_alice ssh -F /home/alice/.ssh/cfg far "tmux kill-server" 2>/dev/null || true

table=$(python3 - "$res" "$RUNS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(mode, kind):
    v = [float(r[2]) for r in rows if r[0] == mode and r[1] == kind and r[2] != "nan"]
    return (statistics.median(v), len(v)) if v else (float("nan"), 0)
names = {"link": "link down 1 s (the connection survives)",
         "lost": "link down 1 s, connection lost (ssh killed)"}
print("| outage | `dwell -H far receive s` (s) | ssh + tmux attach, retried every 1 s (s) | dwell vs ssh + tmux |")
print("|---|---:|---:|---:|")
for mode in ("link", "lost"):
    (d, nd), (t, nt) = med(mode, "dwell"), med(mode, "tmux")
    print("| %s | %.2f | %.2f | %.2f× |" % (names[mode], d, t, d / t if t else float("nan")))
print()
print("Time from the link's return to the first new byte of output; medians of %s runs each "
      "(%s); dwell with its default 10 s heartbeat." % (sys.argv[2], ", ".join(
          "%s %s: %s" % (r[0], r[1], r[2]) for r in rows)))
PY
)
printf '%s\n' "$table"
if [ -n "${BENCH_OUT:-}" ]; then
        printf '%s\n' "$table" > "$BENCH_OUT"
fi
