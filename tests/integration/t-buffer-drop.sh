#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-buffer-drop.sh — `drop` buffering: the oldest output goes, the command
# runs on, and the receiver is told exactly how much was lost:
#   - configuration `small` (t-buffer-drop.d/configurations.d/small.yaml:
#     output_buffer_size 64KiB, output_buffering block);
#   - twice: `invoke -d --output-buffering drop -c small -n d1`, and
#     `new -c small --output-buffering drop -n d2` then `invoke -d d2`, each
#     running `seq 1 N` (~1.2 MiB, far more than buffer and pipe together);
#   - the command finishes while disconnected: `list -l` shows no command
#     running, Buffering drop and Dropped > 0; `list --json` shows
#     output_buffering drop and `dropped` > 0;
#   - `receive` exits 0 and prints on stderr the drop notice with the exact
#     number of bytes dropped (the output's size minus the bytes received),
#     which is also the `dropped` that `list --json` showed; the output
#     received is the newest: complete, contiguous lines ending with N, the
#     first (possibly cut) line being the tail of the line before them.

. "$(dirname "$0")/lib.sh"

N=200000
total=$(seq 1 "$N" | wc -c)

# Column named NAME of session SESSION's row in a `list -l` table.
lcol() {
        printf '%s\n' "$1" | awk -v s="$2" -v name="$3" '
                NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
                $2 == s && c { print $c }'
}

check_session() {
        local s=$1 recv=$DWELL_SANDBOX/$1.out err=$DWELL_SANDBOX/$1.err dropped got rc first k

        if wait_for "as_user alice dwell --json list $s | grep -q '\"command\": null'" 15; then
                pass "$s: the command finished while disconnected"
        else
                fail "$s: the command finished while disconnected" "$(as_user alice dwell list -l "$s" 2>&1)"
        fi
        capture alice dwell list -l "$s"
        expect_eq "$(lcol "$OUT" "$s" Buffering)" drop "  ... list -l: Buffering drop"
        expect_match "$(lcol "$OUT" "$s" Dropped)" '^[0-9.]*[1-9][0-9.]*[KMG]?i?B$' "  ... list -l: Dropped > 0"
        expect_match "$OUT" "^[0-9]+ +$s .* -\$" "  ... list -l: no command running (Command -)"

        dwell_json alice list "$s"
        expect_eq "$(json_eval "$OUT" 'd[0]["output_buffering"]' 2>&1)" drop "  ... list --json: output_buffering drop"
        dropped=$(json_eval "$OUT" 'd[0]["dropped"]' 2>/dev/null || echo invalid)
        if [[ "$dropped" =~ ^[0-9]+$ ]] && [ "$dropped" -gt 0 ]; then
                pass "  ... list --json: dropped > 0 ($dropped)"
        else
                fail "  ... list --json: dropped > 0" "dropped: $dropped" "$OUT"
        fi

        rc=0
        as_user alice dwell receive "$s" >"$recv" 2>"$err" || rc=$?
        expect_eq "$rc" 0 "$s: receive exits 0"
        got=$(stat -c %s "$recv")
        expect_match "$(cat "$err")" "(^|[^0-9])$((total - got)) bytes" \
                "  ... stderr tells the exact number of bytes dropped ($total - $got = $((total - got)))"
        expect_eq "$dropped" "$((total - got))" "  ... list --json's dropped was that number"
        expect_eq "$(tail -n 1 "$recv")" "$N" "  ... the output ends with the last line, $N"
        [ "$(tail -c 1 "$recv" | od -An -c | tr -d ' ')" = '\n' ] &&
                pass "  ... complete (ends with a newline)" || fail "  ... complete (ends with a newline)"
        # Lines 2.. are K..N; line 1 is the tail of K-1 (or all of it).
        first=$(head -n 1 "$recv")
        k=$(sed -n 2p "$recv")
        if [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -gt 1 ]; then
                if cmp -s <(tail -n +2 "$recv") <(seq "$k" "$N"); then
                        pass "  ... contiguous lines $k..$N"
                else
                        fail "  ... contiguous lines $k..$N" "$(diff <(tail -n +2 "$recv") <(seq "$k" "$N") | head -n 5)"
                fi
                case "$((k - 1))" in
                *"$first") pass "  ... after the tail '$first' of line $((k - 1))";;
                *) fail "  ... the first line is the tail of line $((k - 1))" "first line: '$first'";;
                esac
        else
                fail "  ... newest output: lines K..$N" "second line: '$k'"
        fi
        capture alice dwell receive "$s"
        expect_eq "$OUT" "" "  ... a second receive prints nothing"
        expect_no_match "$ERR" 'dropped' "  ... and no drop notice again"
}

# -- --output-buffering drop on invoke -d ---------------------------------
capture alice dwell invoke -d --output-buffering drop -c small -n d1 -- "seq 1 $N"
expect_rc 0 "invoke -d --output-buffering drop -c small -n d1 -- seq 1 $N"
[ "$RC" -eq 0 ] && check_session d1

# -- --output-buffering drop on new, then invoke -d ------------------------
capture alice dwell new -c small --output-buffering drop -n d2
expect_rc 0 "new -c small --output-buffering drop -n d2"
dwell_json alice list d2
expect_eq "$(json_eval "$OUT" 'd[0]["output_buffering"]' 2>&1)" drop "  ... list --json: output_buffering drop"
capture alice dwell invoke -d d2 -- "seq 1 $N"
expect_rc 0 "invoke -d d2 -- seq 1 $N"
[ "$RC" -eq 0 ] && check_session d2

capture alice dwell remove d1 d2
expect_rc 0 "remove d1 d2"
