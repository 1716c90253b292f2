#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-restricted.sh — a configuration with `commands` (t-restricted.d): the
# session has no shell; each command line is split into words (quotes and
# backslashes honoured, nothing expanded) and runs only if its program is
# one of the allowed ones, by absolute path (after realpath) or by bare
# name.  Anything else - another program, or shell syntax that would need a
# shell - is refused with exit status 126, a message naming the program or
# the syntax, and an audit line in dwelld's log.

. "$(dirname "$0")/lib.sh"

capture alice dwell new -n r -c restricted
expect_rc 0 "alice: dwell new -n r -c restricted"

# -- refused -----------------------------------------------------------------
capture alice dwell invoke r -- /bin/sh -c id
expect_rc 126 "/bin/sh -c id is refused with status 126"
expect_match "$ERR" '^dwell: command refused: /bin/sh is not allowed in configuration restricted$' \
        "the refusal names /bin/sh and the configuration"
expect_eq "$OUT" "" "a refused command prints nothing on stdout"
expect_match "$(cat "$DWELL_LOG_DIR/dwelld.log")" \
        'refused command session=r owner=alice configuration=restricted program=/bin/sh( |$)' \
        "the refusal is logged for the audit trail"

capture alice dwell invoke r -- ls /
expect_rc 126 "ls (a bare name not allowed) is refused"
expect_match "$ERR" 'command refused: ls is not allowed' "the refusal names ls"

capture alice dwell invoke r -- '/tmp/../usr/bin/env id'
expect_rc 126 "env (not allowed, reached through ..) is refused"

capture alice dwell invoke r -- 'echo hi; id'
expect_rc 126 "'echo hi; id' is refused (shell syntax)"
expect_match "$ERR" 'dwell: command refused: ";" would need a shell' "the refusal names the ;"
expect_eq "$OUT" "" "nothing of 'echo hi; id' ran"
for line in 'echo a | id' 'echo a > /tmp/x' 'echo a && id' 'echo $HOME' 'echo `id`' 'echo $(id)' \
            'echo "$HOME"' 'id &' '(id)' 'echo a # comment'; do
        capture alice dwell invoke r -- "$line"
        expect_rc 126 "refused: $line"
done
expect_eq "$(ls /tmp/x 2>/dev/null)" "" "no redirection happened"
capture alice dwell invoke r -- "echo 'unterminated"
expect_rc 126 "an unterminated quote is refused"
expect_match "$ERR" 'unterminated single quote' "the refusal says why"

# -- allowed -----------------------------------------------------------------
capture alice dwell invoke r -- "echo 'a b' c"
expect_rc 0 "echo 'a b' c runs"
expect_eq "$OUT" "a b c" "echo 'a b' c prints a b c"
capture alice dwell invoke r -- "echo 'a  b'   c"
expect_eq "$OUT" "a  b c" "quoted blanks are kept, unquoted ones separate words"
capture alice dwell invoke r -- "echo \"x\\\"y\" 'p'\\''q' \\\$HOME \"\\\$HOME\" '\$HOME' a\\ b '*'"
expect_eq "$OUT" "x\"y p'q \$HOME \$HOME \$HOME a b *" "quotes and escapes give literal words; nothing is expanded"
capture alice dwell invoke r -- 'id -u'
expect_rc 0 "id -u (a bare name) runs"
expect_eq "$OUT" 2001 "id -u prints alice's uid"
capture alice dwell invoke r -- '/usr/bin/id -un'
expect_eq "$OUT" alice "/usr/bin/id -un (the allowed path) runs"
capture alice dwell invoke r -- '/usr/bin/../bin/id -u'
expect_eq "$OUT" 2001 "a path that resolves to an allowed program runs"
capture alice dwell invoke r -- 'id -u no-such-user'
expect_rc 1 "an allowed program's exit status is the command's"
expect_match "$ERR" 'no-such-user' "an allowed program's stderr reaches the caller"
capture alice dwell invoke r -- 'echo'
expect_eq "$RC/$OUT" "0/" "a program without arguments runs"

# -- the rest of the session works as usual ----------------------------------
capture alice dwell invoke r -d -- 'echo in the background'
expect_rc 0 "invoke -d runs an allowed command disconnected"
capture alice dwell receive r
expect_eq "$OUT" "in the background" "receive gets its output"
capture alice dwell invoke r -d -- 'sh -c id'
capture alice dwell receive r
expect_match "$ERR" 'command refused: sh is not allowed' "receive gets a refusal's message"
expect_eq "$RC" 126 "receive exits with the refused command's status"

capture alice sh -c 'printf "echo one\nid -u\nsh -c id\necho two\n" | dwell connect r'
expect_match "$OUT" '^one$' "connect runs allowed lines (echo)"
expect_match "$OUT" '^2001$' "connect runs allowed lines (id)"
expect_match "$OUT" '^two$' "connect goes on after a refused line"
expect_match "$ERR" 'command refused: sh is not allowed' "connect shows the refusal"

dwell_json alice list -l r
expect_eq "$(json_eval "$OUT" 'd[0]["state"] + " " + d[0]["configuration"]')" "Disconnected restricted" \
        "the session is still there, Disconnected"

# A temporary session of the configuration: refused and allowed.
capture alice dwell invoke -c restricted -- /bin/sh -c id
expect_rc 126 "a temporary restricted session refuses /bin/sh"
capture alice dwell invoke -c restricted -- echo temporary
expect_eq "$RC/$OUT" "0/temporary" "a temporary restricted session runs echo"
wait_for '[ "$(dwell_json alice list; json_len "$OUT")" = 1 ]' 5
dwell_json alice list
expect_eq "$(json_len "$OUT")" 1 "temporary restricted sessions are gone afterwards"

capture alice dwell remove r
expect_rc 0 "alice removes the restricted session"

# A long-running allowed program: its end by a signal is 128 + signal, and
# removing the session ends the program running in it.
capture alice dwell new -n z -c sleeper
expect_rc 0 "alice: dwell new -n z -c sleeper"
capture alice dwell invoke z -d -- 'sleep 1001'
expect_rc 0 "invoke -d sleep 1001"
sleep_pid() { pgrep -u alice -x sleep -a | awk -v a="$1" '$3 == a { print $1 }'; }
wait_for '[ -n "$(sleep_pid 1001)" ]' 5
pid=$(sleep_pid 1001)
if [ -n "$pid" ]; then
        pass "the program runs (pid $pid)"
        expect_eq "$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")" "$(pgrep -u alice -f 'dwell-host' | head -1)" \
                "it is the worker's child (no shell in between)"
        expect_eq "$(ps -o pgid= -p "$pid" | tr -d ' ')" "$pid" "it leads its own process group"
        kill -TERM "$pid"
else
        fail "the program runs" "$(pgrep -a sleep)"
fi
capture alice dwell receive z
expect_rc 143 "a program ended by SIGTERM gives status 143"
capture alice dwell invoke z -d -- 'sleep 1002'
wait_for '[ -n "$(sleep_pid 1002)" ]' 5
pid=$(sleep_pid 1002)
capture alice dwell remove z
expect_rc 0 "alice removes the session while sleep 1002 runs"
wait_for '[ -z "$(sleep_pid 1002)" ]' 5
expect_eq "$(sleep_pid 1002)" "" "removing the session ended the running program"

dwell_json alice list
expect_eq "$(json_len "$OUT")" 0 "no session is left"
expect_match "$(cat "$DWELL_LOG_DIR/dwelld.log")" \
        'refused command session=r owner=alice configuration=restricted program=- reason=shell-syntax command_id=[0-9]+ command="echo hi; id"' \
        "a shell-syntax refusal is logged with the command line"
