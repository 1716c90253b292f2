#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-streams-status.sh — `dwell invoke` gives the command's stdout and stderr
# separately, byte for byte, and exits with the command's exit status; a
# temporary session (`dwell invoke -- CMD` with no session) works and leaves
# no session behind.

. "$(dirname "$0")/lib.sh"

# Temporary sessions first, while alice has none.
dwell_json alice list
expect_eq "$(json_len "$OUT")" 0 "alice starts with no sessions"

capture alice dwell invoke -- 'echo hi'
expect_rc 0 "temporary session: dwell invoke -- 'echo hi'"
expect_eq "$OUT" "hi" "  ... prints hi"
capture alice dwell invoke -- 'echo oops >&2; sh -c "exit 5"'
expect_rc 5 "temporary session: exit status 5 comes back"
expect_eq "$ERR" "oops" "  ... with its stderr"
dwell_json alice list
expect_eq "$(json_len "$OUT")" 0 "temporary sessions leave no session behind (dwell --json list)"
capture alice dwell list
expect_no_match "$OUT" '^ *[0-9]+ ' "  ... and no row in dwell list"

# A named session.
capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"

capture alice dwell invoke work -- 'echo out; echo err >&2; sh -c "exit 7"'
expect_rc 7 "exit status 7 comes back as dwell's exit status"
expect_eq "$OUT" "out" "stdout on stdout only"
expect_eq "$ERR" "err" "stderr on stderr only"

capture alice dwell invoke work -- false
expect_rc 1 "false exits 1"
expect_eq "$OUT$ERR" "" "  ... silently"
capture alice dwell invoke work -- true
expect_rc 0 "true exits 0"

capture alice dwell invoke work -- 'for i in 1 2 3; do echo o$i; echo e$i >&2; done'
expect_eq "$OUT" "$(printf 'o1\no2\no3')" "interleaved output: stdout in order"
expect_eq "$ERR" "$(printf 'e1\ne2\ne3')" "interleaved output: stderr in order"

capture alice dwell invoke work -- 'sh -c "kill -KILL \$\$"'
expect_rc 137 "a command killed by SIGKILL exits 128+9"

# Bytes: no trailing newline, NUL and high bytes, and a large output.
f=$DWELL_SANDBOX/bytes
as_user alice dwell invoke work -- 'printf "a\000b\377c"' > "$f" 2>/dev/null
expect_eq "$(od -An -tx1 "$f" | tr -s ' \n' ' ')" " 61 00 62 ff 63 " "stdout is passed byte for byte (NUL, 0xff, no newline)"
as_user alice dwell invoke work -- 'seq 1 200000' > "$f" 2>/dev/null
expect_eq "$(wc -l < "$f") $(tail -n 1 "$f") $(md5sum < "$f")" \
        "200000 200000 $(seq 1 200000 | md5sum)" "a 1.3 MB output arrives complete and in order"
as_user alice dwell invoke work -- 'seq 1 50000 >&2' 2> "$f" >/dev/null
expect_eq "$(md5sum < "$f")" "$(seq 1 50000 | md5sum)" "a large stderr arrives complete"

capture alice dwell invoke work -- 'echo still alive'
expect_eq "$OUT" "still alive" "the session still works"
capture alice dwell remove work
expect_rc 0 "alice: dwell remove work"
