#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/terminal.sh [--quick] [--skip dwell,ssh] [--only CASES] — the terminal-session
# benchmarks of issue 15 (bench/terminal.py: echo latency, output throughput,
# reattach with 10,000 lines of scrollback, memory per idle session), dwell
# beside dtach, tmux, screen and ssh in one run.  Prints the markdown tables
# on stdout (scripts/bench.sh puts them in bench/RESULTS.md) and keeps the
# raw data in bench/build/terminal.json (TERMINAL_OUT=FILE: there; a path
# outside /tmp, /run and /home, which the sandbox replaces).
#
# Self-contained, like bench/remote.sh: runs itself inside the integration
# tests' sandbox (tests/integration/ns-run.sh: a real dwelld, the test users)
# in a private network namespace with a real sshd on 127.0.0.1:22 for the
# ssh rows, with a private devpts for the ptys.  Nothing on the host changes.
# Environment: top_builddir (default: this tree, built with `make`; better
# the optimised build bench/build.sh makes, as scripts/bench.sh does),
# top_srcdir its sources (default: the same).
# Needs (scripts/deps.sh bench): tmux, screen, dtach, openssh-server/-client.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

if [ -z "${DWELL_SANDBOX:-}" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "bench/terminal.sh: needs root (namespaces)" >&2; exit 77; }
        for c in tmux screen dtach ssh sshd; do
                command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
                        { echo "bench/terminal.sh: $c is missing (scripts/deps.sh bench)" >&2; exit 77; }
        done
        build=${top_builddir:-$top}
        mkdir -p "$top/bench/build"
        top_builddir=$build top_srcdir=${top_srcdir:-$build} exec "$top/tests/integration/ns-run.sh" \
                "$here/terminal.sh" "$@" --out "${TERMINAL_OUT:-$top/bench/build/terminal.json}"
fi

# -- inside the sandbox ----------------------------------------------------------
track_pid() { _pids+=("$1"); }
fail() { echo "bench/terminal.sh: $1" >&2; shift; printf '%s\n' "$@" >&2; }
_pids=()
trap 'for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

. "$top/tests/integration/ssh-lib.sh"
ssh_private_net "$here/terminal.sh" "$@"

if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts 2>/dev/null; then
        mount --bind /dev/pts/ptmx /dev/ptmx
fi
# screen wants its socket directory.
mkdir -p /run/screen && chmod 1777 /run/screen
# As bench/inside.sh: measure the project's PAM stack without the sandbox's test hooks.
pamf=$DWELL_SANDBOX/etc/pam.d/dwell
if grep -q '^# dwell test sandbox hooks' "$pamf"; then
        sed -i '/^# dwell test sandbox hooks/,$d' "$pamf"
fi

sshd_start bench 127.0.0.1 22 >&2
ssh_user_key alice id
ssh_client_config alice /home/alice/.ssh/cfg id host 127.0.0.1 22
setpriv --reuid alice --regid alice --init-groups --reset-env env HOME=/home/alice \
        ssh -F /home/alice/.ssh/cfg host true >&2

exec /usr/bin/python3 "$here/terminal.py" "$@"
