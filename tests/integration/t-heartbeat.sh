#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-heartbeat.sh — a client that stops answering is treated as lost:
#   - dwelld.yaml (t-heartbeat.d/dwelld.yaml) sets heartbeat_interval: 1s;
#   - client A holds session `hb` with `dwell connect` (stdin: a fifo kept
#     open) and runs a command printing "line 1".."line 150", one every
#     100 ms; once A has printed a few lines, A is stopped with SIGSTOP;
#   - within a few seconds (3 intervals + slack: 8 s) another client's
#     `list` shows hb Disconnected/None (no longer Busy);
#   - after SIGCONT, A notices and exits (with a "dwell: " message);
#   - nothing is lost: a later `receive hb` follows the command to its end
#     and, with what A printed before, every line 1..150 arrived in order
#     (receive's output is contiguous up to line 150 and starts no later than
#     right after A's last line; lines A wrote after SIGCONT, which it could
#     no longer acknowledge, may come again).

. "$(dirname "$0")/lib.sh"

col() {
        printf '%s\n' "$1" | awk -v n="$2" -v c="$3" 'NR > 1 && $2 == n { print $c }'
}

capture alice dwell new -n hb
expect_rc 0 "new -n hb"
# A lost client that does not come back by itself (t-reconnect.sh has those).
install -d -o alice -g alice /home/alice/.config/dwell
printf 'reconnect_timeout: 0\n' >/home/alice/.config/dwell/options.yaml
chown alice: /home/alice/.config/dwell/options.yaml

a_out=$DWELL_SANDBOX/a.out
a_err=$DWELL_SANDBOX/a.err
connect_bg alice hb "$a_out" "$a_err"
a_pid=$CONNECT_PID
connect_send 'for i in $(seq 1 150); do echo "line $i"; sleep 0.1; done'

if wait_for "grep -qx 'line 5' '$a_out'" 10; then
        pass "client A is connected and streaming"
else
        fail "client A is connected and streaming" "stdout: $(cat "$a_out")" "stderr: $(cat "$a_err")"
fi
a_dwell=$(pgrep -u alice -x dwell | head -n 1 || true)
if [ -z "$a_dwell" ]; then
        fail "found A's dwell process"
        exit 1
fi
track_pid "$a_dwell"
kill -STOP "$a_dwell"
t_stop=$(date +%s%N)
a_lines_at_stop=$(grep -c '^line ' "$a_out" || true)

capture alice dwell list hb
expect_eq "$(col "$OUT" hb 4)/$(col "$OUT" hb 6)" "Disconnected/Busy" "right after A stopped, B sees hb Disconnected/Busy"

if wait_for "[ \"\$(as_user alice dwell list hb | awk 'NR > 1 { print \$6 }')\" = None ]" 8; then
        elapsed=$(( ($(date +%s%N) - t_stop) / 1000000 ))
        pass "A is treated as lost: B sees hb Disconnected/None ($elapsed ms after SIGSTOP)"
else
        fail "A is treated as lost within 8 s: B sees hb Disconnected/None" "$(as_user alice dwell list -l hb 2>&1)"
fi
capture alice dwell list hb
expect_eq "$(col "$OUT" hb 4)" Disconnected "  ... State Disconnected"
capture alice dwell list -l hb
expect_match "$OUT" 'seq 1 150' "  ... the command still runs"

kill -CONT "$a_dwell"
if wait_for "! kill -0 $a_pid 2>/dev/null" 5; then
        a_rc=0
        wait "$a_pid" || a_rc=$?
        pass "after SIGCONT, A notices and exits (status $a_rc)"
        expect_match "$(cat "$a_err")" '^dwell: ' "  ... with a 'dwell: ' message"
else
        fail "after SIGCONT, A notices and exits within 5 s" "stderr: $(cat "$a_err")"
        connect_close
        wait_for "! kill -0 $a_pid 2>/dev/null" 10 || true
fi
connect_close

capture alice dwell receive hb
expect_rc 0 "receive hb: exits 0 (after following the command to its end)"
recv=$OUT
first=$(printf '%s\n' "$recv" | head -n 1 | sed -n 's/^line //p')
last_a=$(grep '^line ' "$a_out" | tail -n 1 | sed 's/^line //')
: "${last_a:=0}"
if [ "$(grep '^line ' "$a_out")" = "$(seq 1 "$last_a" | sed 's/^/line /')" ]; then
        pass "A printed lines 1..$last_a in order ($a_lines_at_stop before SIGSTOP)"
else
        fail "A printed a prefix of the lines, in order" "$(cat "$a_out")"
fi
if [[ "$first" =~ ^[0-9]+$ ]] && [ "$first" -le $((last_a + 1)) ] &&
   [ "$recv" = "$(seq "$first" 150 | sed 's/^/line /')" ]; then
        pass "receive got lines $first..150: with A's, no line lost"
        [ "$first" -le "$last_a" ] && echo "# lines $first..$last_a came twice (written by A after SIGCONT, not acknowledged)"
else
        fail "receive got the rest, contiguous up to line 150, starting no later than line $((last_a + 1))" \
                "receive: $(printf '%s\n' "$recv" | head -n 3) ... $(printf '%s\n' "$recv" | tail -n 1)"
fi

capture alice dwell remove hb
expect_rc 0 "remove hb"
