#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-remove.sh — `dwell remove` ends the session: its shell, its worker and
# what it left running in the background are gone, it is no longer listed,
# the PAM session is closed ("close alice"), and naming it afterwards gives
# not-found. Removing by Id works too.

. "$(dirname "$0")/lib.sh"

gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"
capture alice dwell invoke work -- 'echo $$'
shell_pid=$OUT
if ! [[ "$shell_pid" =~ ^[0-9]+$ ]]; then
        fail "the session's shell pid is known" "$(_last)"
        exit 1
fi
worker_pid=$(awk '/^PPid:/ { print $2 }' "/proc/$shell_pid/status" 2>/dev/null)
capture alice dwell invoke work -- 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'
bg_pid=$OUT
track_pid "$shell_pid"   # in case remove does not work
kill -0 "$shell_pid" 2>/dev/null && pass "the shell ($shell_pid) runs" || fail "the shell ($shell_pid) runs"
expect_no_match "$(pam_log)" '^close alice$' "the PAM session is not closed yet"

capture alice dwell remove work
expect_rc 0 "alice: dwell remove work"
if wait_for "gone $shell_pid" 10; then pass "the shell is gone"; else fail "the shell is gone" "$(ps -o pid,user,args -p "$shell_pid")"; fi
if [ -n "$worker_pid" ] && [ "$worker_pid" != 1 ]; then
        if wait_for "gone $worker_pid" 10; then pass "the worker is gone"; else fail "the worker is gone" "$(ps -o pid,user,args -p "$worker_pid")"; fi
fi
if [[ "$bg_pid" =~ ^[0-9]+$ ]]; then
        if wait_for "gone $bg_pid" 10; then pass "a background process of the session is gone"; else fail "a background process of the session is gone" "$(ps -o pid,user,args -p "$bg_pid")"; fi
fi
if wait_for "pam_log | grep -qx 'close alice'" 10; then
        pass "the PAM session was closed (close alice)"
else
        fail "the PAM session was closed (close alice)" "$(pam_log)"
fi
expect_match "$(cat "$DWELL_LOG_DIR/syslog.log")" 'pam_unix\(dwell:session\): session closed for user alice' \
        "pam_unix logged the close"

dwell_json alice list
expect_eq "$(json_len "$OUT")" 0 "the session is no longer listed"
capture alice dwell list
expect_no_match "$OUT" 'work' "  ... not in the table either"
capture alice dwell invoke work -- true
expect_rc 255 "invoke on the removed session fails with 255"
dwell_json alice remove work
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" not-found "removing it again: not-found"

# By Id.
dwell_json alice new -n second
id=$(json_eval "$OUT" 'd["id"]' 2>/dev/null)
if [[ "$id" =~ ^[0-9]+$ ]]; then
        capture alice dwell remove "$id"
        expect_rc 0 "dwell remove <Id> ($id)"
        dwell_json alice list
        expect_eq "$(json_len "$OUT")" 0 "  ... and it is gone"
else
        fail "dwell --json new prints the session object with an id" "$(_last)"
fi
