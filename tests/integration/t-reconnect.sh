#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-reconnect.sh — the client reconnects by itself (local socket); dwelld.yaml
# sets heartbeat_interval: 1s, so a silent client is lost in ~3 s.
#   - receive of 20 MiB into a file, the client stopped (SIGSTOP, a suspended
#     laptop) for 5 s: the worker drops it (another client sees the session
#     Disconnected/None), and after SIGCONT the client reconnects by itself,
#     says so on stderr, and the file is byte-exact (sha256);
#   - the same, with dwelld killed (-9) while the client is stopped and
#     started again 3 s after SIGCONT: the reconnection waits for it;
#   - the same with dwelld down for longer than --reconnect-timeout 3s: the
#     client gives up with the pick-up command and exits 255; a later
#     `receive >> FILE` gets the rest, byte-exact;
#   - invoke without a session, its stdin 6 MiB from a slow pipe, `cat`
#     echoing it; the client stopped for 5 s mid-stream: after the
#     reattachment the output's sha256 is the input's (nothing lost or
#     repeated in either direction), and the temporary session is gone;
#   - connect (line mode) stopped for 5 s while a command prints: every line
#     once, and the next command typed runs;
#   - not retried: the session removed while the client is away (not-found
#     at once, not after the window); `dwell disconnect` by another client.

. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=60}"
W=$DWELL_SANDBOX/writer.py
data_writer "$W"
SIZE=$((20 * 1024 * 1024))
EXPECT=$("$PYTHON" "$W" "$SIZE" | sha256sum | cut -d' ' -f1)

sha() { sha256sum "$1" | cut -d' ' -f1; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
col() { printf '%s\n' "$1" | awk -v n="$2" -v c="$3" 'NR > 1 && $2 == n { print $c }'; }

# The one dwell process of alice (the client under test).
client_pid() {
        local i p
        for ((i = 0; i < 50; i++)); do
                p=$(pgrep -u alice -x dwell | head -n 1)
                [ -n "$p" ] && { echo "$p"; return 0; }
                sleep 0.1
        done
        return 1
}

# start_receive NAME FILE ERR [ARGS...]: receive NAME > FILE in the background
start_receive() {
        local name=$1 out=$2 err=$3
        shift 3
        : >"$out"; chmod 0666 "$out"
        as_user alice dwell receive "$name" "$@" >>"$out" 2>"$err" &
        RPID=$!
        track_pid "$RPID"
}

# A client stopped long enough for the worker to drop it (3 heartbeats).
suspend_client() {
        local p=$1 name=$2
        kill -STOP "$p"
        if wait_for "[ \"\$(as_user bob true; as_user alice dwell list $name | awk 'NR > 1 { print \$4 \"/\" \$6 }')\" = Disconnected/None ]" 10; then
                pass "  ... while the client is away, $name is Disconnected/None to others"
        else
                fail "  ... while the client is away, $name is Disconnected/None to others" "$(as_user alice dwell list $name 2>&1)"
        fi
}

# -- 1: receive, client suspended ---------------------------------------------
capture alice dwell invoke -d -n big -- "python3 $W $SIZE"
expect_rc 0 "invoke -d -n big (20 MiB of numbered lines)"
out=$DWELL_SANDBOX/big.out; err=$DWELL_SANDBOX/big.err
start_receive big "$out" "$err"
wait_for "[ \$(fsize $out) -gt $((4 * 1024 * 1024)) ]" 20 || fail "receive is streaming" "$(cat "$err")"
p=$(client_pid)
suspend_client "$p" big
kill -CONT "$p"
rc=0; wait "$RPID" || rc=$?
expect_eq "$rc" 0 "receive suspended mid-stream reconnects by itself and exits 0"
expect_eq "$(sha "$out")" "$EXPECT" "  ... the 20 MiB output is byte-exact (sha256)"
e=$(cat "$err")
expect_match "$e" '^dwell: connection to localhost lost; reconnecting \(attempt 1, [0-9]+ s left\)$' "  ... the status line says it reconnects"
expect_match "$e" '^dwell: reconnected to localhost$' "  ... and that it has reconnected"
capture alice dwell list big
expect_eq "$(col "$OUT" big 4)" "Disconnected" "  ... big is Disconnected again afterwards"
capture alice dwell remove big

# -- 2: dwelld killed while the client is away, back 3 s later -----------------
capture alice dwell invoke -d -n big2 -- "python3 $W $SIZE"
out=$DWELL_SANDBOX/big2.out; err=$DWELL_SANDBOX/big2.err
start_receive big2 "$out" "$err"
wait_for "[ \$(fsize $out) -gt $((4 * 1024 * 1024)) ]" 20 || fail "receive big2 is streaming" "$(cat "$err")"
p=$(client_pid)
suspend_client "$p" big2
stop_dwelld KILL
kill -CONT "$p"
sleep 3
if start_dwelld; then pass "dwelld started again"; else fail "dwelld started again"; fi
rc=0; wait "$RPID" || rc=$?
expect_eq "$rc" 0 "receive across a dwelld restart reconnects and exits 0"
expect_eq "$(sha "$out")" "$EXPECT" "  ... byte-exact (sha256)"
expect_match "$(cat "$err")" 'attempt [2-9]' "  ... after several attempts while dwelld was down"
capture alice dwell remove big2

# -- 3: dwelld away longer than the window --------------------------------------
capture alice dwell invoke -d -n big3 -- "python3 $W $SIZE"
out=$DWELL_SANDBOX/big3.out; err=$DWELL_SANDBOX/big3.err
start_receive big3 "$out" "$err" --reconnect-timeout 3s
wait_for "[ \$(fsize $out) -gt $((4 * 1024 * 1024)) ]" 20 || fail "receive big3 is streaming" "$(cat "$err")"
p=$(client_pid)
suspend_client "$p" big3
stop_dwelld KILL
t0=$(date +%s)
kill -CONT "$p"
rc=0; wait "$RPID" || rc=$?
t1=$(date +%s)
expect_eq "$rc" 255 "receive --reconnect-timeout 3s gives up and exits 255"
expect_match "$(cat "$err")" '^dwell: gave up after 3s; the session keeps running: dwell receive big3$' "  ... with the pick-up command"
[ $((t1 - t0)) -le 8 ] && pass "  ... within the window ($((t1 - t0)) s)" || fail "  ... within the window ($((t1 - t0)) s)"
start_dwelld || fail "dwelld started again"
capture alice dwell list big3
expect_eq "$(col "$OUT" big3 4)" "Disconnected" "  ... big3 is left Disconnected"
as_user alice dwell receive big3 >>"$out" 2>"$err.2"
expect_eq "$?" 0 "  ... the pick-up command exits 0"
expect_eq "$(sha "$out")" "$EXPECT" "  ... and the concatenated output is byte-exact (sha256)"
capture alice dwell remove big3

# -- 4: invoke with stdin across a reattachment -----------------------------------
IN=$((6 * 1024 * 1024))
EXPECT_IN=$("$PYTHON" "$W" "$IN" | sha256sum | cut -d' ' -f1)
out=$DWELL_SANDBOX/inv.out; err=$DWELL_SANDBOX/inv.err
: >"$out"; chmod 0666 "$out"
prog=$DWELL_SANDBOX/inv.progress; : >"$prog"; chmod 0666 "$prog"
as_user alice sh -c "python3 $W $IN $prog 0.002 | dwell invoke -- cat" >"$out" 2>"$err" &
IPID=$!; track_pid "$IPID"
wait_for "[ \$(fsize $out) -gt $((1024 * 1024)) ]" 20 || fail "invoke -- cat is echoing" "$(cat "$err")"
p=$(client_pid)
kill -STOP "$p"
sleep 5
kill -CONT "$p"
rc=0; wait "$IPID" || rc=$?
expect_eq "$rc" 0 "invoke -- cat with stdin, suspended mid-stream, exits 0"
expect_eq "$(sha "$out")" "$EXPECT_IN" "  ... its output (stdin echoed) is byte-exact (sha256): no byte of stdin lost or repeated"
expect_match "$(cat "$err")" '^dwell: reconnected to localhost$' "  ... it reconnected by itself"
capture alice dwell list
expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1')" "" "  ... and the temporary session is gone"

# -- 5: connect (line mode) ---------------------------------------------------------
capture alice dwell new -n cn
c_out=$DWELL_SANDBOX/cn.out; c_err=$DWELL_SANDBOX/cn.err
connect_bg alice cn "$c_out" "$c_err"
connect_send 'for i in $(seq 1 60); do echo "line $i"; sleep 0.1; done'
wait_for "grep -qx 'line 5' '$c_out'" 10 || fail "connect is streaming" "$(cat "$c_err")"
p=$(client_pid)
kill -STOP "$p"
sleep 5
kill -CONT "$p"
wait_for "grep -qx 'line 60' '$c_out'" 20 || true
connect_send 'echo after-$((6*7))'
wait_for "grep -qx 'after-42' '$c_out'" 10 || true
connect_close
rc=0; wait "$CONNECT_PID" || rc=$?
expect_eq "$rc" 0 "connect suspended mid-command reconnects and exits 0 at end of input"
expect_eq "$(grep -c '^line ' "$c_out")/$(seq 1 60 | sed 's/^/line /' | diff - <(grep '^line ' "$c_out") >/dev/null && echo same)" "60/same" "  ... every line once, in order"
expect_match "$(cat "$c_out")" '^after-42$' "  ... and the next command ran"
expect_match "$(cat "$c_err")" '^dwell: reconnected to localhost$' "  ... after reconnecting by itself"
capture alice dwell remove cn

# -- 6: not retried ---------------------------------------------------------------
capture alice dwell invoke -d -n gone -- "python3 $W $SIZE"
out=$DWELL_SANDBOX/gone.out; err=$DWELL_SANDBOX/gone.err
start_receive gone "$out" "$err"
wait_for "[ \$(fsize $out) -gt $((1024 * 1024)) ]" 20 || fail "receive gone is streaming" "$(cat "$err")"
p=$(client_pid)
suspend_client "$p" gone
as_user alice dwell remove gone >/dev/null 2>&1
t0=$(date +%s)
kill -CONT "$p"
rc=0; wait "$RPID" || rc=$?
t1=$(date +%s)
expect_eq "$rc" 255 "a session removed while the client is away: exit 255"
expect_match "$(cat "$err")" 'no such session|not found|was removed' "  ... says the session is gone"
[ $((t1 - t0)) -le 5 ] && pass "  ... at once, not after the window ($((t1 - t0)) s)" || fail "  ... at once ($((t1 - t0)) s)" "$(cat "$err")"

capture alice dwell invoke -d -n taken -- "python3 $W $SIZE"
out=$DWELL_SANDBOX/taken.out; err=$DWELL_SANDBOX/taken.err
start_receive taken "$out" "$err"
wait_for "[ \$(fsize $out) -gt $((1024 * 1024)) ]" 20 || fail "receive taken is streaming" "$(cat "$err")"
capture bob true
capture alice dwell disconnect taken
rc=0; wait "$RPID" || rc=$?
expect_eq "$rc" 255 "dwell disconnect by another client: exit 255, no reconnection"
expect_no_match "$(cat "$err")" 'reconnecting' "  ... no reconnection attempted"
capture alice dwell remove taken

# Leave nothing running: every session host ends before the sandbox does.
capture alice dwell remove --all
wait_for '[ "$(ps -e -o comm= | grep -c "^dwell-host$")" -eq 0 ]' 15 ||
        fail "every session host ended" "$(ps -e -o pid,user,args | grep dwell-host)"
