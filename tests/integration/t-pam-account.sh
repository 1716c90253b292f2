#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-pam-account.sh — dwelld runs PAM account management for the caller on
# the `dwell` service: dave, whose account has expired, is refused with a
# clear error (exit 255, "dwell: ..." naming the account/PAM refusal; JSON
# code permission-denied), no PAM session is opened for him, and the daemon
# goes on serving others.

. "$(dirname "$0")/lib.sh"

capture dave dwell new -n work
expect_rc 255 "dave (expired account): dwell new fails with 255"
expect_match "$ERR" '^dwell: ' "  ... with a message starting 'dwell: '"
expect_match "$ERR" '[Aa]ccount|PAM|[Ee]xpired' "  ... that names the account or PAM refusal"
expect_eq "$OUT" "" "  ... and nothing on stdout"

dwell_json dave new -n work
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" permission-denied "dave: --json new gives permission-denied"
expect_match "$(json_eval "$OUT" 'd["message"]' 2>&1)" '.' "  ... with a message"
expect_eq "$(json_eval "$OUT" 'sorted(d.keys())' 2>&1)" '["error", "message"]' "  ... and only the keys error and message"
[ "$RC" -ne 0 ] && pass "  ... and a non-zero exit" || fail "  ... and a non-zero exit" "$(_last)"

capture dave dwell invoke -- 'echo should not run'
expect_rc 255 "dave: a temporary session is refused too"
expect_eq "$OUT" "" "  ... and runs nothing"

expect_no_match "$(pam_log)" '^open dave$' "no PAM session was opened for dave"
expect_match "$(cat "$DWELL_LOG_DIR/syslog.log")" 'pam_unix\(dwell:account\): account dave has expired' \
        "PAM account management ran on the dwell service"

capture alice dwell new -n work
expect_rc 0 "alice can still create a session"
capture alice dwell invoke work -- 'echo fine'
expect_eq "$OUT" fine "  ... and use it"
