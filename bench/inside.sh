#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/inside.sh — the "test" that tests/integration/ns-run.sh runs inside
# its sandbox for scripts/bench.sh: dwelld is already running (DWELLD_PID),
# with inside.d/ as its --config-dir contents. Runs bench.py's driver as
# alice and writes the raw results where --out says (a path outside the
# sandbox's private /tmp, /run, /home).
set -eu

# The peers (dtach, tmux, screen) need ptys. The sandbox binds the host's
# /dev/pts, which may not give out ptys to us (no ptmx node, ptmxmode=000 on
# some hosts and containers): mount a private devpts instance instead. This
# is inside the sandbox's private mount namespace; the host is unaffected.
if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts 2>/dev/null; then
        mount --bind /dev/pts/ptmx /dev/ptmx
fi

# The sandbox appends two test hooks to the `dwell` PAM service (pam_exec of
# a shell script at every session open and close, pam_env with a test
# file). They are not part of the project's stack and pam_exec alone costs a
# fork, a close() of every possible descriptor and an exec per session:
# measure the project's pam/dwell as installed, without them.
pamf=$DWELL_SANDBOX/etc/pam.d/dwell
if grep -q '^# dwell test sandbox hooks' "$pamf"; then
        sed -i '/^# dwell test sandbox hooks/,$d' "$pamf"
fi

exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/bench.py" inside "$@"
