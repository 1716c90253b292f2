#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-isolation.sh — a user sees only their own sessions: bob does not see
# alice's session in `dwell list`, and naming it (by name or Id) gives exactly
# the error a session that does not exist gives (exit 255, same message, JSON
# code not-found), for invoke and remove. Names are unique per owner: bob
# may have his own "work".

. "$(dirname "$0")/lib.sh"

# Replaces the session name/Id in an error message by NAME, to compare them.
norm() { sed -e "s/\\b$2\\b/NAME/g"; }

capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"
dwell_json alice list
expect_eq "$(json_names "$OUT")" "work" "alice lists her session"
alice_id=$(json_eval "$OUT" 'd[0]["id"]' 2>/dev/null)

capture bob dwell list
expect_rc 0 "bob: dwell list"
expect_no_match "$OUT" 'work' "bob's dwell list does not show alice's session"
dwell_json bob list
expect_eq "$(json_len "$OUT")" 0 "bob's dwell --json list is empty"

capture bob dwell invoke work -- true
expect_rc 255 "bob: dwell invoke work fails with 255"
expect_match "$ERR" '^dwell: ' "  ... with a message starting 'dwell: '"
err_work=$(printf '%s' "$ERR" | norm x work)
capture bob dwell invoke nosuch -- true
expect_rc 255 "bob: dwell invoke nosuch fails with 255"
expect_eq "$err_work" "$(printf '%s' "$ERR" | norm x nosuch)" "alice's session and a missing one give the same message"

dwell_json bob invoke work -- true
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" not-found "bob: --json invoke work is not-found"
dwell_json bob invoke nosuch -- true
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" not-found "bob: --json invoke nosuch is not-found"

if [[ "$alice_id" =~ ^[0-9]+$ ]]; then
        capture bob dwell invoke "$alice_id" -- true
        expect_rc 255 "bob: dwell invoke <alice's Id> fails with 255"
        err_id=$(printf '%s' "$ERR" | norm x "$alice_id")
        capture bob dwell invoke 9999 -- true
        expect_eq "$err_id" "$(printf '%s' "$ERR" | norm x 9999)" "  ... with the message of a missing Id"
else
        fail "alice's session has a numeric id" "got: $alice_id"
fi

capture bob dwell remove work
expect_rc 255 "bob: dwell remove work fails with 255"
dwell_json bob remove work
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" not-found "bob: --json remove work is not-found"
capture alice dwell invoke work -- 'echo still here'
expect_eq "$OUT" "still here" "alice's session is untouched"

capture bob dwell new -n work
expect_rc 0 "bob may create his own session named work"
capture bob dwell invoke work -- 'id -u'
expect_eq "$OUT" 2002 "bob's work runs as bob"
capture alice dwell invoke work -- 'id -u'
expect_eq "$OUT" 2001 "alice's work still runs as alice"
dwell_json alice list
expect_eq "$(json_len "$OUT")" 1 "alice still sees only her own session"
