#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/remote.sh — what remote use costs: the time of one
#
#   dwell -H host invoke s -- true        (a new ssh connection per request)
#
# against `ssh host true` (the same ssh, running a command instead of the
# subsystem), against both over a multiplexed ssh connection (ControlMaster:
# no TCP, key exchange or authentication per run), and against a local
# `dwell invoke s -- true` for scale.  Medians from hyperfine; ratios against
# `ssh host true`.  Prints a markdown table on stdout.
#
# Self-contained: it runs itself inside the integration-test sandbox
# (tests/integration/ns-run.sh: private mount/pid/uts namespaces, test users,
# a real dwelld) and a private network namespace with a real sshd on
# 127.0.0.1:22 (tests/integration/ssh-lib.sh), so nothing on the host changes.
#
# Usage (root):   bench/remote.sh   (scripts/bench.sh runs it on its own build)
# Environment: top_builddir (default: this tree, built with `make`) is the
# build whose dwelld, dwell and dwell-bridge run, top_srcdir its sources
# (default: the same); RUNS (default 30 per command), WARMUP (default 3),
#   BENCH_OUT=FILE also writes the table to FILE (a path outside /tmp, /run,
#   /home, which the sandbox replaces).
# Needs: openssh-server, openssh-client, hyperfine (scripts/deps.sh bench).

set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

if [ -z "${DWELL_SANDBOX:-}" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "bench/remote.sh: needs root (namespaces)" >&2; exit 77; }
        command -v hyperfine >/dev/null || { echo "bench/remote.sh: hyperfine not installed" >&2; exit 77; }
        build=${top_builddir:-$top}
        [ -x "$build/src/bridge/dwell-bridge" ] || {
                echo "bench/remote.sh: no dwell-bridge in $build: build first (make), or run scripts/bench.sh" >&2
                exit 1
        }
        top_builddir=$build top_srcdir=${top_srcdir:-$build} exec "$top/tests/integration/ns-run.sh" "$here/remote.sh"
fi

# -- inside the sandbox ----------------------------------------------------------
# What ssh-lib.sh needs from lib.sh.
track_pid() { _pids+=("$1"); }
fail() { echo "bench/remote.sh: $1" >&2; shift; printf '%s\n' "$@" >&2; }
_pids=()
trap 'for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

. "$top/tests/integration/ssh-lib.sh"
ssh_private_net "$here/remote.sh"

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}

sshd_start bench 127.0.0.1 22 >&2
ssh_user_key alice id
ssh_client_config alice /home/alice/.ssh/cfg id host 127.0.0.1 22
{
        echo "Host *"
        echo "  ControlMaster auto"
        echo "  ControlPath /home/alice/.ssh/cm-%C"
        echo "  ControlPersist 120"
        cat /home/alice/.ssh/cfg
} > /home/alice/.ssh/cfg-mux
chown alice:alice /home/alice/.ssh/cfg-mux
chmod 0600 /home/alice/.ssh/cfg-mux

as_alice() {
        (cd /home/alice && setpriv --reuid alice --regid alice --init-groups --reset-env \
                env HOME=/home/alice USER=alice LOGNAME=alice LANG=C.UTF-8 \
                PATH="$DWELL_BIN_DIR:/usr/local/bin:/usr/bin:/bin" "$@")
}

plain="DWELL_SSH='ssh -F /home/alice/.ssh/cfg'"
mux="DWELL_SSH='ssh -F /home/alice/.ssh/cfg-mux'"
as_alice env DWELL_SSH="ssh -F /home/alice/.ssh/cfg" dwell -H host new -n s >/dev/null
# The master connection, and known_hosts filled, before timing.
as_alice ssh -F /home/alice/.ssh/cfg-mux host true
as_alice ssh -F /home/alice/.ssh/cfg host true

json=/home/alice/bench-remote.json
as_alice hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" \
        -n "ssh host true" "ssh -F /home/alice/.ssh/cfg host true" \
        -n "dwell -H host invoke s -- true" "$plain dwell -H host invoke s -- true" \
        -n "ssh host true (multiplexed)" "ssh -F /home/alice/.ssh/cfg-mux host true" \
        -n "dwell -H host invoke s -- true (multiplexed ssh)" "$mux dwell -H host invoke s -- true" \
        -n "dwell invoke s -- true (local)" "dwell invoke s -- true" >&2

table=$(python3 - "$json" "$RUNS" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] for r in res}
base = med["ssh host true"]
mux = med["ssh host true (multiplexed)"]
print("| command | median (ms) | vs `ssh host true` | vs multiplexed `ssh host true` |")
print("|---|---:|---:|---:|")
for r in res:
    m = r["median"]
    print("| `%s` | %.2f | %.3g× | %.3g× |" % (r["command"], m * 1000, m / base, m / mux))
print()
print("%s runs each (hyperfine, medians); sshd and dwelld on the same machine over loopback." % sys.argv[2])
PY
)
printf '%s\n' "$table"
if [ -n "${BENCH_OUT:-}" ]; then
        printf '%s\n' "$table" > "$BENCH_OUT"
fi
