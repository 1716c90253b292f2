#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-command-exit.sh — a command cannot end its session by accident:
#   - `exit 3` ends that command with status 3; the next command runs in the
#     same session with its state: variables, functions, aliases (with
#     expand_aliases), shell options, working directory, umask, traps, and
#     what the exiting command itself changed;
#   - a command's own EXIT trap runs when it exits, and stays installed;
#   - `set -e; false` ends that command with status 1, the state intact;
#     ${x?} and set -u failures likewise;
#   - `exec true` / `exec sh -c 'exit 4'` run the program as that command
#     (status 0, 4), the session goes on with its state;
#   - the session stays Disconnected (not Broken) throughout, and the
#     command-finished events carry the statuses;
#   - the state channel flooded by a child (ignored) or with junk by the
#     shell itself (dropped: the last good state is used);
#   - the restarted shell's pid reaches dwelld (a READY it accepts), and a
#     shell killed by a signal dwell did not send still makes the session
#     Broken (t-broken).

. "$(dirname "$0")/lib.sh"

state_of() {
        dwell_json "$1" list "$2"
        json_eval "$OUT" '"%s|%s" % (d[0]["state"], d[0].get("reason") or "")' 2>/dev/null || echo "(none: $OUT $ERR)"
}

capture alice dwell new -n s
expect_rc 0 "alice: new -n s"
capture alice dwell invoke s -- 'VAR=kept; declare -a ARR=(x "y z"); export EXP=exported; cd /tmp;
f() { echo "fn $1"; }; shopt -s expand_aliases extglob; alias al="echo aliased"; umask 027;
trap "echo usr1" USR1; set -o noclobber'
expect_rc 0 "set up state: variables, an array, an export, cd, a function, aliases, options, umask, a trap"

capture alice dwell invoke s -- 'NEW=set-by-exiting; echo before; exit 3; echo after'
expect_rc 3 "invoke -- 'exit 3': exits 3"
expect_eq "$OUT" "before" "  ... output before the exit is delivered, nothing after it"

capture alice dwell invoke s -- 'echo "$VAR ${ARR[1]} $EXP $NEW $PWD"; f a; al; umask; trap -p USR1; shopt -q extglob && echo extglob; [[ -o noclobber ]] && echo noclobber; sh -c "echo \$EXP"'
expect_rc 0 "the next command runs in the same session"
expect_eq "$OUT" "kept y z exported set-by-exiting /tmp
fn a
aliased
0027
trap -- 'echo usr1' SIGUSR1
extglob
noclobber
exported" "  ... with variables, arrays, exports, cwd, functions, aliases, umask, traps, options"
capture alice dwell invoke s -- 'echo $?'
expect_eq "$OUT" "0" "  ... and \$? of the command before"

capture alice dwell invoke s -- 'exit'
expect_rc 0 "invoke -- 'exit' (no status) exits 0"
capture alice dwell invoke s -- 'echo $VAR'
expect_eq "$OUT" "kept" "  ... state intact"

capture alice dwell invoke s -- 'trap "echo my exit trap" EXIT; exit 5'
expect_rc 5 "a command with its own EXIT trap exits 5"
expect_eq "$OUT" "my exit trap" "  ... its EXIT trap ran"
capture alice dwell invoke s -- 'trap -p EXIT; exit 6'
expect_rc 6 "  ... the trap is still installed in the next command"
expect_eq "$OUT" "trap -- 'echo my exit trap' EXIT
my exit trap" "  ... trap -p shows it, and it runs again"
capture alice dwell invoke s -- 'trap - EXIT; exit 7'
expect_eq "$RC:$OUT" "7:" "  ... trap - EXIT removes it"

capture alice dwell invoke s -- 'set -e; STEP=one; false; STEP=two'
expect_rc 1 "invoke -- 'set -e; false': exits 1"
capture alice dwell invoke s -- 'set +e; echo "$VAR $STEP $PWD"'
expect_eq "$RC:$OUT" "0:kept one /tmp" "  ... state intact (and what the command did before false)"
capture alice dwell invoke s -- 'echo ${NOSUCH?unset}'
expect_rc 1 "invoke -- '\${NOSUCH?}': exits 1"
capture alice dwell invoke s -- 'set -u; echo $NOSUCH2'
expect_rc 1 "invoke -- 'set -u; echo \$NOSUCH2': exits 1"
capture alice dwell invoke s -- 'set +u; echo $VAR'
expect_eq "$OUT" "kept" "  ... state intact"

capture alice dwell invoke s -- 'exec true'
expect_rc 0 "invoke -- 'exec true': exits 0"
capture alice dwell invoke s -- 'EXECVAR=before-exec; exec sh -c "echo in sh; exit 4"'
expect_rc 4 "invoke -- 'exec sh -c \"exit 4\"': exits 4"
expect_eq "$OUT" "in sh" "  ... the program ran as the command"
capture alice dwell invoke s -- 'echo "$VAR $PWD"; f b'
expect_eq "$OUT" "kept /tmp
fn b" "  ... the session goes on with its state"
capture alice dwell invoke s -- 'exec 3>/tmp/alice-fd3; echo via3 >&3'
capture alice dwell invoke s -- 'echo again >&3; cat /tmp/alice-fd3'
expect_eq "$OUT" "via3
again" "exec with redirections only keeps them in the shell"

st=$(state_of alice s)
expect_eq "$st" "Disconnected|" "the session is Disconnected, not Broken"
n=$(grep -E 'command-finished' "$DWELL_LOG_DIR/dwelld.log" | grep 'DWELL_SESSION_NAME=s' | grep -c 'DWELL_EXIT_STATUS=3')
expect_eq "$n" "1" "a command-finished event has exit status 3"
if grep -q "Session shell .*restarted as pid" "$DWELL_LOG_DIR/dwelld.log"; then
        pass "the worker logs each restart"
else
        fail "the worker logs each restart" "$(grep -i restart "$DWELL_LOG_DIR/dwelld.log" | tail -3)"
fi

# The state channel (fd 63 in the shell) is open during a command, so it
# can be written to: by a child (not the shell: ignored), or by the shell
# itself with junk (more than 2 MiB: that state is dropped, the last good
# one is used).  The session goes on either way.
capture alice dwell invoke s -- 'head -c 20000000 /dev/zero >&63; printf "forged\0" >&63; CHILDJUNK=1; exit 4'
expect_rc 4 "a child floods the state channel, then exit 4"
capture alice dwell invoke s -- 'echo "$VAR $CHILDJUNK"'
expect_eq "$OUT" "kept 1" "  ... ignored: the shell's own state was restored"
capture alice dwell invoke s -- 'builtin printf "%*s" 3000000 x >&63; SHELLJUNK=1; exit 5'
expect_rc 5 "the shell itself writes 3 MB of junk there, then exit 5"
capture alice dwell invoke s -- 'echo "$VAR ${SHELLJUNK:-lost}"'
expect_eq "$RC:$OUT" "0:kept lost" "  ... that state is dropped; the last good one is restored"
if grep -q "ignored .* bytes on the state channel from pid" "$DWELL_LOG_DIR/dwelld.log" &&
   grep -q "the state the shell wrote is too long" "$DWELL_LOG_DIR/dwelld.log"; then
        pass "  ... both are logged"
else
        fail "  ... both are logged" "$(grep -i 'state' "$DWELL_LOG_DIR/dwelld.log" | tail -5)"
fi

# One invoke after another in a loop: exit in every one.
ok=0
for i in 1 2 3 4 5; do
        capture alice dwell invoke s -- "C$i=$i; exit $i"
        [ "$RC" = "$i" ] && ok=$((ok + 1))
done
capture alice dwell invoke s -- 'echo $C1$C2$C3$C4$C5 $VAR'
expect_eq "$ok:$OUT" "5:12345 kept" "five exits in a row, each with its status, state kept"

capture alice dwell remove s
expect_rc 0 "remove s"
