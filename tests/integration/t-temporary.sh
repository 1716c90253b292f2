#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-temporary.sh — temporary sessions (`dwell invoke` without a session):
#   - `invoke -- CMD` prints the output, exits with the command's status and
#     leaves nothing in `list` (its PAM session opened and closed);
#   - a temporary invoke whose client is killed (SIGKILL) while its command
#     runs leaves the session listed Disconnected/None; after the command
#     ended, `receive` of it gets the rest of the output: with what the
#     client printed before, exactly the command's output (nothing lost or
#     repeated), exit 0; the session can then be removed;
#   - a temporary invoke whose client is killed after the command finished
#     but before all its output was received (the client's stdout is a
#     fifo nobody reads) is kept too; `receive` gets the rest: with what the
#     client had written into the fifo, exactly the command's 3 MiB (sha256).

. "$(dirname "$0")/lib.sh"

# The one session alice has, by name (empty if none).
only_session() {
        json_eval "$(as_user alice dwell --json list)" '" ".join(s["name"] for s in d)' 2>/dev/null
}

# -- a plain temporary invoke ------------------------------------------------
capture alice dwell invoke -- 'echo hi; sh -c "exit 3"'
expect_rc 3 "invoke -- 'echo hi; exit 3': exits 3"
expect_eq "$OUT" hi "  ... printing hi"
dwell_json alice list
expect_eq "$OUT" "[]" "  ... and leaves nothing in list"
expect_eq "$(pam_log | tr '\n' ' ')" "open alice close alice " "  ... its PAM session was opened and closed"

# -- client killed while the command runs ------------------------------------
out=$DWELL_SANDBOX/t1.out
as_user alice dwell invoke -- 'for i in $(seq 1 30); do echo "line $i"; sleep 0.1; done' >"$out" 2>"$out.err" &
inv=$!
track_pid "$inv"
if wait_for "grep -qx 'line 5' '$out'" 10; then
        pass "a temporary invoke is streaming"
else
        fail "a temporary invoke is streaming" "$(cat "$out" "$out.err")"
fi
d=$(pgrep -u alice -x dwell | head -n 1 || true)
if [ -n "$d" ]; then
        kill -KILL "$d"
        wait "$inv" 2>/dev/null || true
        pass "its client killed with SIGKILL (after $(grep -c . "$out") lines)"
else
        fail "found the invoke's dwell process"
fi
name=$(only_session)
if [ -n "$name" ]; then
        pass "the temporary session is kept ($name)"
else
        fail "the temporary session is kept" "$(as_user alice dwell list -l 2>&1)"
fi
capture alice dwell list
expect_match "$OUT" "^[0-9]+ +$name +[^ ]+ +Disconnected +[^ ]+ +None\$" "  ... listed Disconnected/None"
sleep 3
capture alice dwell receive "$name"
expect_rc 0 "receive $name: exits 0"
expect_eq "$(cat "$out"; printf '%s\n' "$OUT")" "$(seq 1 30 | sed 's/^/line /')" \
        "  ... the rest: with what the client printed, all 30 lines, none twice"
capture alice dwell list
expect_match "$OUT" " $name " "the received session stays (it is a normal session now)"
capture alice dwell remove "$name"
expect_rc 0 "remove $name"

# -- client killed after the command finished, before its output was received
total=$((3 * 1024 * 1024))
gen=/tmp/gen.py
data_writer "$gen"
expected=$("$PYTHON" "$gen" "$total" | sha256sum | cut -d' ' -f1)
fifo=$DWELL_SANDBOX/t2.fifo
mkfifo -m 0666 "$fifo"
rm -f /tmp/t2.finished
as_user alice dwell invoke -- "python3 $gen $total; echo done >&2; touch /tmp/t2.finished" \
        >"$fifo" 2>"$DWELL_SANDBOX/t2.err" &
inv=$!
track_pid "$inv"
exec 8<"$fifo"          # open, never read until the client is dead
if wait_for "[ -e /tmp/t2.finished ]" 10; then
        pass "a temporary invoke's command finished while its client is blocked writing"
else
        fail "a temporary invoke's command finished while its client is blocked writing"
fi
sleep 0.5
d=$(pgrep -u alice -x dwell | head -n 1 || true)
if [ -n "$d" ]; then
        kill -KILL "$d"
        wait "$inv" 2>/dev/null || true
        pass "  ... its client killed with SIGKILL"
else
        fail "found the invoke's dwell process"
fi
part1=$DWELL_SANDBOX/t2.part1
timeout 5 cat <&8 >"$part1" || true
exec 8<&-
name=$(only_session)
if [ -n "$name" ]; then
        pass "the temporary session is kept ($name; the client had written $(stat -c %s "$part1") bytes)"
else
        fail "the temporary session is kept" "$(as_user alice dwell list -l 2>&1)"
fi
part2=$DWELL_SANDBOX/t2.part2
rc=0
as_user alice dwell receive "$name" >"$part2" 2>"$part2.err" || rc=$?
expect_eq "$rc" 0 "receive $name: exits 0"
expect_eq "$(cat "$part1" "$part2" | wc -c)" "$total" "  ... with what the client wrote: exactly $total bytes"
expect_eq "$(cat "$part1" "$part2" | sha256sum | cut -d' ' -f1)" "$expected" "  ... the command's output (sha256)"
# (t2.err may also hold bash's "Killed" notice about the killed client.)
expect_eq "$(cat "$DWELL_SANDBOX/t2.err" "$part2.err" | grep -c '^done$')" 1 "  ... and its stderr, once"
capture alice dwell remove "$name"
expect_rc 0 "remove $name"
