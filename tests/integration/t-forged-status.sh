#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-forged-status.sh — a command cannot forge the completion of later
# commands.  As alice, commands try each way the session's shell could be
# made to report statuses it did not see: redefining or unsetting the
# bootstrap's functions, an alias over them, status lines written to every
# descriptor the shell holds (its saved copies of the private channels)
# while the command runs, a background job writing to the shell's
# descriptors through /proc after the command ended, DEBUG and RETURN traps
# that write status lines at the shell's top level, an EXIT trap.  After
# each, the following commands still get their true exit statuses and
# outputs: from `dwell invoke`, from `dwell receive` after `invoke -d`, for
# commands queued behind a forger on a `connect` client, and in the audit
# log (command-finished, which says the status is as reported by the shell).

. "$(dirname "$0")/lib.sh"

capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"

# The true status and output of an honest command, after an attack.
check() {
        capture alice dwell invoke work -- "echo 'after $1'; sh -c 'exit 7'"
        expect_rc 7 "after $1: the next command's status is its own (7)"
        expect_eq "$OUT" "after $1" "  ... and so is its output"
        capture alice dwell invoke work -- 'echo ok'
        expect_rc 0 "  ... and the one after it exits 0"
        expect_eq "$OUT" "ok" "  ... printing ok"
}

capture alice dwell invoke work -- '__dwell_b() { builtin printf "0\n" >&62; }'
expect_match "$ERR" 'readonly function' "redefining __dwell_b is refused (readonly function)"
check "redefining __dwell_b"

capture alice dwell invoke work -- 'unset -f __dwell_a __dwell_b; __dwell_a() { return 0; }'
expect_match "$ERR" 'readonly function' "unset -f of the bootstrap's functions is refused"
check "unset -f and redefinition"

capture alice dwell invoke work -- 'shopt -s expand_aliases; alias __dwell_b="printf \"0\\n\" >&62; :" __dwell_a="return 0; :"'
check "aliases over the bootstrap functions"
capture alice dwell invoke work -- 'shopt -u expand_aliases; unalias -a'

# Status lines into every descriptor the shell holds while the command runs
# (the channels' saved copies), from the shell itself: the command's own
# status stays its own, and nothing completes early.
capture alice dwell invoke work -- \
        'for fd in {3..60} {63..255}; do printf "0\n0\n0\n" >&$fd; done 2>/dev/null; echo forged-lines; sh -c "exit 5"'
expect_rc 5 "status lines written to the shell's saved descriptors: the command's status is its own (5)"
expect_eq "$OUT" "forged-lines" "  ... with its output"
check "status lines to the saved descriptors"

# The same through invoke -d and receive.
capture alice dwell invoke -d work -- \
        'for fd in {3..60} {63..255}; do printf "0\n" >&$fd; done 2>/dev/null; sleep 0.3; echo late-output; sh -c "exit 6"'
expect_rc 0 "invoke -d with a forger"
capture alice dwell receive work
expect_rc 6 "dwell receive: the true status (6)"
expect_match "$OUT" '^late-output$' "  ... and the output written after the forged lines"

# A background job that writes through /proc to every descriptor of the
# shell for two seconds, while later commands run.
capture alice dwell invoke work -- '( for i in $(seq 20); do for f in /proc/$$/fd/*; do
        case ${f##*/} in 0|1|2) continue;; esac; printf "0\n" >"$f"; done; sleep 0.1; done ) >/dev/null 2>&1 &
echo started'
expect_eq "$OUT" "started" "a background job writes to the shell's descriptors through /proc"
capture alice dwell invoke work -- 'sleep 1; echo slept; sh -c "exit 4"'
expect_rc 4 "  ... a command running meanwhile exits with its own status (4)"
expect_eq "$OUT" "slept" "  ... and its own output"
check "a background job writing through /proc"
sleep 1

# Traps at the top level of the shell, where the status channel is open.
# (The trap ends with status 0: with extdebug a failing DEBUG trap makes the
# shell skip the command, which is the shell's own business, not a forgery.)
capture alice dwell invoke work -- 'trap '"'"'{ printf "0\n0\n" >&62; } 2>/dev/null; :'"'"' DEBUG RETURN'
check "DEBUG and RETURN traps writing status lines"
capture alice dwell invoke work -- 'set -T; shopt -s extdebug'
check "the traps inherited by functions (functrace)"
capture alice dwell invoke work -- 'set +T; shopt -u extdebug; trap - DEBUG RETURN'
capture alice dwell invoke work -- 'trap '"'"'printf "0\n" >&62'"'"' EXIT; echo trapped'
expect_eq "$OUT" "trapped" "an EXIT trap writing a status line"
check "an EXIT trap"

# Commands queued behind a forger on a connect client.
connect_bg alice work "$DWELL_SANDBOX/c.out" "$DWELL_SANDBOX/c.err"
wait_for "as_user alice dwell list work | grep -q Busy" 10 || fail "the connect client holds work"
connect_send 'for fd in {3..60} {63..255}; do printf "0\n0\n0\n0\n" >&$fd; done 2>/dev/null; sleep 0.5; echo q1; sh -c "exit 11"'
connect_send 'echo q2; sh -c "exit 12"'
connect_send 'echo q3; sh -c "exit 13"'
connect_send 'echo q4-done'
wait_for "grep -q q4-done '$DWELL_SANDBOX/c.out'" 15 || fail "the queued commands ran" "$(cat "$DWELL_SANDBOX/c.out" "$DWELL_SANDBOX/c.err")"
connect_close
wait_for "! kill -0 $CONNECT_PID 2>/dev/null" 10 || fail "the connect client exits"
expect_eq "$(grep '^q' "$DWELL_SANDBOX/c.out")" "$(printf 'q1\nq2\nq3\nq4-done')" "queued commands: outputs in order"

# The audit log: every command-finished of the queued commands carries its
# true status, as reported by the shell.
log=$DWELL_LOG_DIR/dwelld.log
audit_status() {        # the exit status audited for the command whose text has $1
        local id
        id=$(grep 'AUDIT command-started:' "$log" | grep -F "$1" | tail -n 1 | grep -o 'DWELL_COMMAND_ID=[0-9]*' | cut -d= -f2)
        grep 'AUDIT command-finished:' "$log" | grep "DWELL_SESSION_NAME=work " | grep "DWELL_COMMAND_ID=$id " |
                grep -o 'DWELL_EXIT_STATUS=[0-9]*' | cut -d= -f2 | tr '\n' ' ' | sed 's/ $//'
}
expect_eq "$(audit_status 'echo q1')" 11 "audit: the forger's own status (11), once"
expect_eq "$(audit_status 'echo q2')" 12 "audit: the next queued command's status (12), once"
expect_eq "$(audit_status 'echo q3')" 13 "audit: the one after (13), once"
expect_match "$(grep 'AUDIT command-finished:' "$log" | tail -n 1)" 'DWELL_EXIT_STATUS_SOURCE=shell' \
        "audit: command-finished says the status is as reported by the shell"
expect_match "$(grep 'AUDIT command-finished:' "$log" | tail -n 1)" 'DWELL_DURATION_USEC=[0-9]+' \
        "audit: command-finished carries the worker's own duration"
expect_match "$(cat "$log")" 'ignored a status line' "the ignored status lines are logged"

# The variable the text is read into: attributes are cleared; made
# read-only, the shell exits rather than run the previous command's text
# again (and, as after any command that ends the shell, a new shell takes
# over with the session's state, the bootstrap's own variables excepted).
capture alice dwell invoke work -- 'declare -n __dwell_c=elsewhere; declare -i __dwell_x=1'
check "a nameref over the bootstrap variable"
capture alice dwell invoke work -- 'echo stale-text; readonly __dwell_c'
expect_eq "$OUT" "stale-text" "a command makes the bootstrap variable read-only"
capture alice dwell invoke work -- 'echo fresh-text'
expect_no_match "$OUT" 'stale-text' "  ... the next command does not run the previous text again"
expect_fail "  ... and fails (the shell exited)" test "$RC" = 0
capture alice dwell invoke work -- 'echo third-text'
expect_eq "$RC:$OUT" "0:third-text" "  ... the shell was restarted: the command after runs"
capture alice dwell list work
expect_no_match "$OUT" 'Broken' "  ... and the session is not Broken"

capture alice dwell remove work
expect_rc 0 "alice: dwell remove work"
