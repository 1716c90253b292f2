#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-invoke-disconnected.sh — `dwell invoke -d` and `dwell receive`:
#   - `invoke -d -n NAME` creates the session, starts a command printing a
#     line every 100 ms for 3 s, and prints the session row with State
#     Disconnected and Availability None;
#   - `--json invoke -d` into an existing session (made by `new`) prints the
#     session object (state Disconnected, availability None);
#   - while the command runs, `list` shows Disconnected/None and `list -l`
#     the running command; `invoke -d` into the busy session fails at once
#     with `busy` (--json error code);
#   - `receive --no-wait` while the command runs returns promptly with the
#     output so far; a later receive delivers the rest, nothing repeated;
#   - after 4 s `receive` prints all 30 lines in order and exits 0; a second
#     `receive` prints nothing (consumed) and exits with the same status;
#   - `receive` exits with the last finished command's status (`exit 7`),
#     a second receive too.

. "$(dirname "$0")/lib.sh"

tick='for i in $(seq 1 30); do echo "line $i"; sleep 0.1; done'
all=$(seq 1 30 | sed 's/^/line /')

# Column N of the row of session NAME in a `dwell list`-style table.
col() {
        printf '%s\n' "$1" | awk -v n="$2" -v c="$3" 'NR > 1 && $2 == n { print $c }'
}

# -- invoke -d creating the session --------------------------------------
t0=$(date +%s%N)
capture alice dwell invoke -d -n tick -- "$tick"
expect_rc 0 "invoke -d -n tick: exits 0"
expect_match "$OUT" '^Id +Name +Host +State +Configuration +Availability' "  ... prints the list header"
expect_eq "$(col "$OUT" tick 4)/$(col "$OUT" tick 6)" "Disconnected/None" \
        "  ... and the session row: Disconnected/None"
elapsed=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$elapsed" -lt 2000 ]; then
        pass "  ... at once, without waiting for the command (${elapsed} ms)"
else
        fail "  ... at once, without waiting for the command" "took ${elapsed} ms"
fi

# -- --json invoke -d into an existing session ----------------------------
capture alice dwell new -n tock
expect_rc 0 "new -n tock"
dwell_json alice invoke -d tock -- "$tick"
expect_rc 0 "--json invoke -d tock: exits 0"
expect_eq "$(json_eval "$OUT" '[d["name"], d["state"], d["availability"]]' 2>&1)" \
        '["tock", "Disconnected", "None"]' "  ... prints the session object, Disconnected/None"

# -- list while running ---------------------------------------------------
capture alice dwell list
expect_rc 0 "list while the commands run"
expect_eq "$(col "$OUT" tick 4)/$(col "$OUT" tick 6)" "Disconnected/None" "  ... tick: Disconnected/None"
expect_eq "$(col "$OUT" tock 4)/$(col "$OUT" tock 6)" "Disconnected/None" "  ... tock: Disconnected/None"
capture alice dwell list -l tick
expect_match "$OUT" '^Id .* Command$' "list -l has a Command column"
expect_match "$OUT" 'tick .*for i in \$\(seq 1 30\)' "  ... showing tick's running command"
dwell_json alice list tick
expect_eq "$(json_eval "$OUT" 'd[0]["command"]["text"]' 2>&1)" "$tick" "list --json: command.text is the running command"

# -- invoke -d into a busy session ----------------------------------------
t0=$(date +%s%N)
dwell_json alice invoke -d tick -- 'echo never'
elapsed=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_rc 255 "invoke -d into tick while its command runs fails"
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" busy "  ... with error code busy"
if [ "$elapsed" -lt 2000 ]; then
        pass "  ... at once (${elapsed} ms)"
else
        fail "  ... at once" "took ${elapsed} ms"
fi
capture alice dwell invoke -d tick -- 'echo never'
expect_match "$ERR" '^dwell: .*busy|^dwell: .*already running' "  ... plain: a 'dwell: ' message about the running command"

# -- receive --no-wait while running --------------------------------------
sleep 0.5
t0=$(date +%s%N)
capture alice dwell receive --no-wait tock
elapsed=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_rc 0 "receive --no-wait tock while its command runs: exits 0"
if [ "$elapsed" -lt 1500 ]; then
        pass "  ... promptly (${elapsed} ms)"
else
        fail "  ... promptly" "took ${elapsed} ms"
fi
part1=$OUT
n1=$(printf '%s\n' "$part1" | grep -c '^line ' || true)
if [ "$n1" -ge 1 ] && [ "$n1" -lt 30 ] && [ "$part1" = "$(seq 1 "$n1" | sed 's/^/line /')" ]; then
        pass "  ... with the lines so far, in order ($n1 of 30)"
else
        fail "  ... with the lines so far, in order" "got: $part1"
fi
capture alice dwell list tock
expect_eq "$(col "$OUT" tock 4)/$(col "$OUT" tock 6)" "Disconnected/None" "  ... and tock is Disconnected/None again"

# -- receive after the command ended --------------------------------------
sleep 3.5
capture alice dwell list -l tick
expect_match "$OUT" '^[0-9]+ +tick .* -$' "after 4 s, list -l shows no running command in tick (Command -)"
capture alice dwell receive tick
expect_rc 0 "receive tick: exits 0"
expect_eq "$OUT" "$all" "  ... all 30 lines, in order"
expect_eq "$ERR" "" "  ... nothing on stderr"
capture alice dwell receive tick
expect_rc 0 "a second receive tick: exits 0 again"
expect_eq "$OUT" "" "  ... and prints nothing (the output was consumed)"

capture alice dwell receive tock
expect_rc 0 "receive tock: exits 0"
if [ -n "$part1" ]; then joined=$part1$'\n'$OUT; else joined=$OUT; fi
expect_eq "$joined" "$all" "  ... the rest: with the --no-wait part, all 30 lines, none repeated"

# -- exit status ---------------------------------------------------------
capture alice dwell invoke -d tick -- 'echo seven; sh -c "exit 7"'
expect_rc 0 "invoke -d tick -- ... exit 7"
wait_for "! as_user alice dwell list -l tick | grep -q 'exit 7'" 5 || true
capture alice dwell receive tick
expect_rc 7 "receive exits with the command's status 7"
expect_eq "$OUT" seven "  ... after printing its output"
capture alice dwell receive tick
expect_rc 7 "a second receive exits 7 too"
expect_eq "$OUT" "" "  ... printing nothing"

capture alice dwell invoke -d tick -- 'true'
sleep 0.3
capture alice dwell receive tick
expect_rc 0 "after a later command exiting 0, receive exits 0"

capture alice dwell remove tick tock
expect_rc 0 "remove tick tock"
