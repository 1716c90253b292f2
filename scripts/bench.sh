#!/bin/bash
# SPDX-License-Identifier: ISC
#
# scripts/bench.sh [--quick] [--worktree] [--no-install-check] [--no-remote] [--no-terminal] [--outdir DIR]
#                  [--only GROUPS]
#
# The dwell benchmark (issue 6), as root on Debian 12:
#   1. installs what is missing of the build and bench groups of
#      scripts/deps.sh (tmux, screen, dtach, hyperfine, gnuplot-nox,
#      openssh-server/-client, python3 and the build dependencies), unless
#      --no-install-check;
#   2. builds dwell optimised (-O2, no sanitizers) in bench/build/head from
#      the committed tree (git HEAD), or with --worktree in
#      bench/build/worktree from the working tree, uncommitted changes
#      included; the in-tree build is never touched, nor needed — bench/build.sh;
#   3. runs bench/inside.sh in the integration tests' sandbox
#      (tests/integration/ns-run.sh: private mount/pid/uts namespaces, test
#      users, a real dwelld from the optimised build) — every case, dwell and
#      its peers side by side, interleaved round by round;
#   4. runs bench/remote.sh (the ssh rows), bench/reconnect.sh (output
#      flowing again after a 1 s outage) and bench/fleet.sh (20 hosts:
#      dwell -H @FILE against ssh in a loop and xargs -P) on the same
#      optimised build, unless --no-remote, and bench/terminal.sh (terminal
#      sessions beside dtach, tmux, screen, ssh: issue 15) unless
#      --no-terminal or --only;
#   5. writes DIR/RESULTS.md, DIR/results.json and DIR/scaling.png (default
#      DIR: bench/) and prints each goal with its measured ratio, met or not.
#
# --quick: smaller sizes and counts (under 2 minutes); the full run takes
# about 10 minutes on 2 cores. --only create,scaling (a comma-separated
# list of create, invoke, replay, tput, pty, bash, scaling and remote) runs
# only those groups (the report leaves the others empty; remote: the ssh
# rows of bench/remote.sh). Exit status: 0 if every case ran (goals not
# met do not fail it), 1 if something failed. See bench/README.md.
set -eu

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0 install=1 remote=1 terminal=1 outdir=$top/bench source=head only=
while [ $# -gt 0 ]; do
        case "$1" in
        --quick) quick=1;;
        --no-install-check) install=0;;
        --no-remote) remote=0;;
        --no-terminal) terminal=0;;
        --worktree) source=worktree;;
        --outdir) outdir=${2:?--outdir needs a directory}; shift;;
        --only) only=${2:?--only needs a list of groups}; shift;;
        -h|--help) sed -n '3,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2;;
        esac
        shift
done
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root (sudo scripts/bench.sh)" >&2; exit 1; }
start=$(date +%s)

# ------------------------------------------------------------------ 1. packages
if [ "$install" = 1 ]; then
        "$top/scripts/deps.sh" build bench
fi
for c in tmux screen dtach gnuplot python3 setpriv unshare; do
        command -v "$c" >/dev/null || { echo "bench.sh: $c is missing (run without --no-install-check)" >&2; exit 1; }
done

# ------------------------------------------------------------------ 2. build
echo "=== building dwell optimised (bench/build/$source) ===" >&2
build=$("$top/bench/build.sh" "$source" | tail -n 1)

# ------------------------------------------------------------------ 3. local cases
# Raw data of the run (kept: `bench/bench.py report` regenerates the report).
# It lives under bench/build/ because the sandbox hides /tmp, /run and /home.
if [ "$outdir" = "$top/bench" ]; then
        run=$top/bench/build/run
        rm -rf "$run"
        mkdir -p "$run"
else
        mkdir -p "$top/bench/build"
        run=$(mktemp -d "$top/bench/build/run.XXXXXX")
        trap 'mkdir -p "$outdir/run" && cp -a "$run/." "$outdir/run/" 2>/dev/null; rm -rf "$run"' EXIT
fi
{
        printf '{"date": "%s",' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf ' "nproc": "%s",' "$(nproc)"
        printf ' "cpu": "%s",' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
        printf ' "kernel": "%s",' "$(uname -sr)"
        printf ' "memory": "%s MiB",' "$(( $(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024 ))"
        printf ' "os": "%s",' "$(. /etc/os-release && echo "$PRETTY_NAME")"
        if [ "$source" = head ]; then
                printf ' "dwell": "%s (committed tree)"}\n' "$(cd "$top" && git rev-parse --short HEAD)"
        else
                printf ' "dwell": "%s (working tree)"}\n' "$(cd "$top" && git describe --always --dirty)"
        fi
} > "$run/machine.json"

echo "=== local cases in the sandbox ($([ "$quick" = 1 ] && echo quick || echo full)) ===" >&2
qarg=()
[ "$quick" = 1 ] && qarg=(--quick)
oarg=()
if [ -n "$only" ]; then
        # remote is not a group of the local cases: the others are.
        case ",$only," in *,remote,*) ;; *) remote=0;; esac
        local_only=$(printf '%s' ",$only," | sed 's/,remote,/,/g; s/^,*//; s/,*$//')
        oarg=(--only "$local_only")
fi
rc=0
top_srcdir=$build top_builddir=$build timeout -k 10 1200 \
        "$top/tests/integration/ns-run.sh" "$top/bench/inside.sh" "${qarg[@]}" "${oarg[@]}" --out "$run/raw.json" \
        </dev/null || rc=$?
if [ "$rc" -ne 0 ] || [ ! -s "$run/raw.json" ]; then
        echo "bench.sh: the sandboxed run failed (exit $rc)" >&2
        exit 1
fi

# ------------------------------------------------------------------ 4. remote, reconnect, fleet
# Each runs its own sandbox (with sshd) on the optimised build and writes a
# markdown table to $run/NAME.md; a failure is reported in the table.
# run_remote NAME TIMEOUT [VAR=VALUE... for --quick] -- [ARGS...]
run_remote() {
        local name=$1 limit=$2 rc=0 quick_env=()
        shift 2
        while [ "$1" != -- ]; do quick_env+=("$1"); shift; done
        shift
        : > "$run/$name.md"
        [ "$remote" = 1 ] && [ -x "$top/bench/$name.sh" ] || return 0
        echo "=== $name cases (bench/$name.sh) ===" >&2
        [ "$quick" = 1 ] || quick_env=()
        env "${quick_env[@]}" top_srcdir="$build" top_builddir="$build" timeout -k 10 "$limit" \
                "$top/bench/$name.sh" "$@" >"$run/$name.md" 2>"$run/$name.err" </dev/null || rc=$?
        if [ "$rc" -ne 0 ]; then
                echo "bench.sh: bench/$name.sh failed (exit $rc); its stderr:" >&2
                tail -n 20 "$run/$name.err" >&2
                { echo; echo "*bench/$name.sh exited with status $rc.*"; } >>"$run/$name.md"
        fi
}
run_remote remote 600 RUNS=8 WARMUP=1 -- "${qarg[@]}"
run_remote reconnect 600 RUNS=3 --
run_remote fleet 900 RUNS=3 WARMUP=0 --

# ------------------------------------------------------------------ 4c. terminal sessions
: > "$run/terminal.json"
if [ "$terminal" = 1 ] && [ -z "$only" ]; then
        echo "=== terminal sessions (bench/terminal.sh) ===" >&2
        trc=0
        TERMINAL_OUT=$run/terminal.json top_srcdir="$build" top_builddir="$build" timeout -k 10 1800 \
                "$top/bench/terminal.sh" "${qarg[@]}" >"$run/terminal.md" 2>"$run/terminal.err" </dev/null || trc=$?
        if [ "$trc" -ne 0 ]; then
                echo "bench.sh: bench/terminal.sh failed (exit $trc); its stderr:" >&2
                tail -n 20 "$run/terminal.err" >&2
        fi
fi

# ------------------------------------------------------------------ 5. report (and plot)
python3 "$top/bench/bench.py" report --raw "$run/raw.json" --machine "$run/machine.json" \
        --remote "$run/remote.md" --reconnect "$run/reconnect.md" --fleet "$run/fleet.md" --terminal "$run/terminal.json" \
        --outdir "$outdir"
echo "report: $outdir/RESULTS.md, $outdir/results.json, $outdir/scaling.png ($(( $(date +%s) - start )) s)"
