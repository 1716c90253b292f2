#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/fleet.sh — a fleet of 20 hosts: the time of one
#
#   dwell -H @HOSTS invoke -- true      (fan-out: the 20 hosts in parallel, one
#                                        ssh connection per host, shared by
#                                        the run's requests: ControlMaster)
#
# against ssh to the same 20 hosts in a loop (`for h in ...; do ssh $h true;
# done`) and in parallel (`xargs -P 20 ... ssh {} true`), and the same dwell
# run without connection sharing (DWELL_SSH_SHARE=0); then, where sharing
# pays, `dwell -H @HOSTS wait w1 w2 w3` (three requests per host: one ssh
# connection per host shared, or three without).  Every run makes its
# connections anew (no master survives a run).  Medians from hyperfine, in
# one run, the ratios against the ssh loop and against xargs -P.  Prints a
# markdown table on stdout.
#
# Self-contained like bench/remote.sh: it runs itself inside the
# integration-test sandbox (tests/integration/ns-run.sh) and a private
# network namespace with 20 real sshd on 127.0.0.2..127.0.0.21 port 22
# (tests/integration/ssh-lib.sh), all in front of the sandbox's one dwelld
# (each invoke makes a temporary session there).
#
# Usage (root):   bench/fleet.sh   (scripts/bench.sh runs it on its own build)
# Environment: top_builddir, top_srcdir as for bench/remote.sh; RUNS (default
# 10 per command), WARMUP (default 1), HOSTS (default 20), BENCH_OUT=FILE also
# writes the table to FILE (outside /tmp, /run, /home).
# Needs: openssh-server, openssh-client, hyperfine (scripts/deps.sh bench).

set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

if [ -z "${DWELL_SANDBOX:-}" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "bench/fleet.sh: needs root (namespaces)" >&2; exit 77; }
        command -v hyperfine >/dev/null || { echo "bench/fleet.sh: hyperfine not installed" >&2; exit 77; }
        build=${top_builddir:-$top}
        [ -x "$build/src/bridge/dwell-bridge" ] || {
                echo "bench/fleet.sh: no dwell-bridge in $build: build first (make), or run scripts/bench.sh" >&2
                exit 1
        }
        top_builddir=$build top_srcdir=${top_srcdir:-$build} exec "$top/tests/integration/ns-run.sh" "$here/fleet.sh"
fi

# -- inside the sandbox ----------------------------------------------------------
track_pid() { _pids+=("$1"); }
fail() { echo "bench/fleet.sh: $1" >&2; shift; printf '%s\n' "$@" >&2; }
_pids=()
trap 'for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

. "$top/tests/integration/ssh-lib.sh"
ssh_private_net "$here/fleet.sh"

RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
HOSTS=${HOSTS:-20}

aliases=()
: > /home/alice/fleet
for ((n = 1; n <= HOSTS; n++)); do
        sshd_start "h$n" "127.0.0.$((n + 1))" 22 >&2
        aliases+=("h$n" "127.0.0.$((n + 1))" 22)
        echo "h$n" >> /home/alice/fleet
done
chown alice:alice /home/alice/fleet
ssh_user_key alice id
ssh_client_config alice /home/alice/.ssh/cfg id "${aliases[@]}"

as_alice() {
        (cd /home/alice && setpriv --reuid alice --regid alice --init-groups --reset-env \
                env HOME=/home/alice USER=alice LOGNAME=alice LANG=C.UTF-8 \
                PATH="$DWELL_BIN_DIR:/usr/local/bin:/usr/bin:/bin" "$@")
}

cfg=/home/alice/.ssh/cfg
# known_hosts filled, and a check that every host answers, before timing;
# three idle sessions for `wait` (all hosts reach the same dwelld).
as_alice env DWELL_SSH="ssh -F $cfg" dwell -H @/home/alice/fleet invoke -- true >&2
for s in w1 w2 w3; do
        as_alice dwell new -n "$s" >/dev/null
done

json=/home/alice/bench-fleet.json
as_alice hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" \
        -n "ssh to $HOSTS hosts in a loop" "for h in \$(cat /home/alice/fleet); do ssh -F $cfg \$h true; done" \
        -n "ssh to $HOSTS hosts, xargs -P $HOSTS" "xargs -P $HOSTS -I{} ssh -F $cfg {} true < /home/alice/fleet" \
        -n "dwell -H @$HOSTS-hosts invoke -- true" "DWELL_SSH='ssh -F $cfg' dwell -H @/home/alice/fleet invoke -- true" \
        -n "dwell -H @$HOSTS-hosts invoke -- true (DWELL_SSH_SHARE=0)" \
        "DWELL_SSH='ssh -F $cfg' DWELL_SSH_SHARE=0 dwell -H @/home/alice/fleet invoke -- true" \
        -n "dwell -H @$HOSTS-hosts wait w1 w2 w3" "DWELL_SSH='ssh -F $cfg' dwell -H @/home/alice/fleet wait w1 w2 w3" \
        -n "dwell -H @$HOSTS-hosts wait w1 w2 w3 (DWELL_SSH_SHARE=0)" \
        "DWELL_SSH='ssh -F $cfg' DWELL_SSH_SHARE=0 dwell -H @/home/alice/fleet wait w1 w2 w3" >&2

table=$(python3 - "$json" "$RUNS" "$HOSTS" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
hosts = sys.argv[3]
loop = res[0]["median"]
par = res[1]["median"]
print("| command | median (ms) | min–max (ms) | vs ssh loop | vs `xargs -P %s` ssh |" % hosts)
print("|---|---:|---:|---:|---:|")
for r in res:
    m = r["median"]
    print("| `%s` | %.1f | %.1f – %.1f | %.3g× | %.3g× |" % (r["command"], m * 1000, r["min"] * 1000,
                                                       r["max"] * 1000, m / loop, m / par))
print()
print("%s runs each (hyperfine, medians), in one run; %s sshd and one dwelld on the same machine over loopback;"
      " every run connects anew." % (sys.argv[2], hosts))
PY
)
printf '%s\n' "$table"
if [ -n "${BENCH_OUT:-}" ]; then
        printf '%s\n' "$table" > "$BENCH_OUT"
fi
