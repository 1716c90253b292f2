#!/bin/bash
# SPDX-License-Identifier: ISC
#
# Installs what is missing of the packages needed to build and run dwell
# (scripts/deps.sh's build group, nothing more; a held apt lock is waited
# for), builds dwell in this tree, and starts a throw-away sandbox
# (the test harness, tests/integration/ns-run.sh: private namespaces, test
# users alice/bob/carol with passwords alice-pw/bob-pw/carol-pw, a real PAM
# stack) with dwelld from the build tree on built-in defaults.
#
# - stdin is a terminal: dwelld runs in the background (log in the sandbox,
#   path printed) and you get an interactive shell as alice with `dwell` on
#   PATH; leaving the shell ends the sandbox.
# - otherwise: dwelld runs in the foreground, logging to stderr; use the
#   printed nsenter commands from another terminal. Ctrl-C ends it.
#
# Either way everything dies with the sandbox's pid namespace; the host's
# users and PAM files are not touched, no service is installed, enabled or
# started. Needs root.
#   TRY_USER=bob scripts/try.sh   opens the shell as bob instead.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
        echo "try.sh: needs root (namespaces, PAM, setuid); try: sudo $0" >&2
        exit 1
fi
"$top/scripts/build.sh" >&2

if [ -t 0 ] && [ -t 1 ]; then
        cat >&2 <<'EOF2'
Starting the dwell sandbox with a shell as alice. Try:
  dwell new -n work
  dwell invoke work -- 'cd /tmp; X=42'
  dwell invoke work -- 'echo $X $PWD'
  dwell list; dwell --json list
  dwell invoke -- 'id; hostname'        # a temporary session
  dwell remove work
  su bob                                # password bob-pw
Type `exit` to leave; the sandbox and everything in it ends.
EOF2
        exec "$top/tests/integration/ns-run.sh" --shell "${TRY_USER:-alice}"
fi
exec "$top/tests/integration/ns-run.sh" --foreground
