#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-stop.sh — dwell stop and Ctrl-C stop the running command, not the
# session:
#   - `dwell stop s` of `sleep 1000` (run with invoke -d): it ends with 143
#     (receive), the shell and its state survive, an earlier command's
#     background job is spared;
#   - `vi` started by mistake by a synchronous invoke whose stdin stays open
#     (a fifo): `dwell stop` from another client while the first holds the
#     session ends it; the invoke exits with vi's status; the state is intact;
#   - a command that is the shell's own code (`read` on an open stdin):
#     stop signals the shell, which a new one replaces with the state;
#   - `stop --signal INT`, `--signal KILL` and a bad signal name;
#   - `stop --all` with a queue: the queued synchronous invoke is dropped
#     (exits 143, "dropped by dwell stop --all"); without --all a queued
#     command runs;
#   - bob may not stop alice's session (not-found);
#   - Ctrl-C (SIGINT) to a foreground `dwell invoke s -- sleep 1000`
#     interrupts the command (130), the client exits with it; two within a
#     second detach and leave the command running;
#   - each stop is audited (command-stopped, with the caller and signal).

. "$(dirname "$0")/lib.sh"

client_pid() {  # the newest dwell process: the client just started with as_user (under timeout, setpriv, env)
        pgrep -n -x dwell
}
running() {     # the running command's text, "" when idle
        dwell_json alice list s
        json_eval "$OUT" '(d[0].get("command") or {}).get("text") or ""' 2>/dev/null
}

capture alice dwell new -n s
expect_rc 0 "alice: new -n s"
capture alice dwell invoke s -- 'KEEP=kept; cd /tmp; sleep 1234 & echo $! >/tmp/alice-bg.pid'
expect_rc 0 "set some state, and a background job"

# ------------------------------------------------------------ sleep 1000
capture alice dwell invoke -d s -- 'sleep 1000'
expect_rc 0 "invoke -d s -- sleep 1000"
wait_for '[ "$(running)" = "sleep 1000" ]' 5
t0=$(date +%s)
capture alice dwell stop s
expect_eq "$RC:$OUT:$ERR" "0::" "dwell stop s: exit 0, prints nothing"
wait_for '[ -z "$(running)" ]' 5
expect_eq "$(running)" "" "  ... the command ended"
[ $(( $(date +%s) - t0 )) -lt 5 ] && pass "  ... at once" || fail "  ... at once"
capture alice dwell receive s
expect_rc 143 "  ... receive: its status is 143 (SIGTERM)"
capture alice dwell invoke s -- 'echo $KEEP $PWD; kill -0 $(cat /tmp/alice-bg.pid) && echo bg-alive'
expect_eq "$OUT" "kept /tmp
bg-alive" "  ... the shell and its state survive; the earlier background job is spared"

# ------------------------------------------------------------ vi by mistake
fifo=$DWELL_SANDBOX/vi-in
mkfifo -m 0666 "$fifo"
as_user alice dwell invoke s -- 'vi /tmp/alice-vi.txt' <"$fifo" >"$DWELL_SANDBOX/vi.out" 2>"$DWELL_SANDBOX/vi.err" &
vi_client=$!
track_pid "$vi_client"
exec {hold}>"$fifo"     # stdin stays open: vi waits for input for ever
wait_for '[ "$(running)" = "vi /tmp/alice-vi.txt" ]' 5
sleep 0.5
capture alice dwell stop s
expect_rc 0 "dwell stop s while vi runs (another client holds the session)"
if wait_for "! kill -0 $vi_client 2>/dev/null" 10; then
        wait "$vi_client"; rc=$?
        pass "  ... the invoke running vi ends (exit $rc)"
else
        fail "  ... the invoke running vi ends" "$(cat "$DWELL_SANDBOX/vi.err")"
fi
exec {hold}>&-
capture alice dwell invoke s -- 'echo $KEEP'
expect_eq "$RC:$OUT" "0:kept" "  ... the session goes on with its state"

# ------------------------------------------------------------ the shell's own code
mkfifo -m 0666 "$fifo.2"
as_user alice dwell invoke s -- 'read line; echo "read $line"' <"$fifo.2" >/dev/null 2>&1 &
read_client=$!
track_pid "$read_client"
exec {hold}>"$fifo.2"
wait_for '[ "$(running)" = "read line; echo \"read \$line\"" ]' 5
capture alice dwell stop s --signal INT
expect_rc 0 "dwell stop --signal INT of a shell builtin waiting for input"
wait_for "! kill -0 $read_client 2>/dev/null" 10
wait "$read_client"; rc=$?
expect_eq "$rc" 130 "  ... the invoke exits 130"
exec {hold}>&-
capture alice dwell invoke s -- 'echo $KEEP $PWD'
expect_eq "$OUT" "kept /tmp" "  ... the shell was replaced with its state"

capture alice dwell invoke -d s -- 'sleep 1001'
wait_for '[ "$(running)" = "sleep 1001" ]' 5
capture alice dwell stop s --signal KILL
wait_for '[ -z "$(running)" ]' 5
capture alice dwell receive s
expect_rc 137 "stop --signal KILL: status 137"
capture alice dwell stop s --signal NOPE
expect_rc 255 "stop --signal NOPE fails"
expect_match "$ERR" "unknown signal" "  ... naming the problem"

# ------------------------------------------------------------ --all and a queue
capture alice dwell invoke -d s -- 'sleep 1002'
wait_for '[ "$(running)" = "sleep 1002" ]' 5
as_user alice dwell invoke s -- 'echo queued-ran' </dev/null >"$DWELL_SANDBOX/q.out" 2>"$DWELL_SANDBOX/q.err" &
q_client=$!
track_pid "$q_client"
sleep 1
capture alice dwell stop --all s
expect_rc 0 "dwell stop --all s with a queued command"
wait_for "! kill -0 $q_client 2>/dev/null" 10
wait "$q_client"; rc=$?
expect_eq "$rc" 143 "  ... the queued invoke exits 143"
expect_eq "$(cat "$DWELL_SANDBOX/q.out")" "" "  ... it did not run"
expect_match "$(cat "$DWELL_SANDBOX/q.err")" "dropped by dwell stop --all" "  ... and says why"

capture alice dwell invoke -d s -- 'sleep 1003'
wait_for '[ "$(running)" = "sleep 1003" ]' 5
as_user alice dwell invoke s -- 'echo queued-ran' </dev/null >"$DWELL_SANDBOX/q.out" 2>&1 &
q_client=$!
track_pid "$q_client"
sleep 1
capture alice dwell stop s
wait_for "! kill -0 $q_client 2>/dev/null" 10
wait "$q_client"; rc=$?
expect_eq "$rc:$(cat "$DWELL_SANDBOX/q.out")" "0:queued-ran" "without --all the queued command runs"

capture bob dwell stop s
expect_rc 255 "bob: stop alice's session fails"
expect_match "$ERR" "no such session" "  ... not found"

# ------------------------------------------------------------ Ctrl-C
as_user alice dwell invoke s -- 'sleep 1004' </dev/null >/dev/null 2>&1 &
c_client=$!
track_pid "$c_client"
wait_for '[ "$(running)" = "sleep 1004" ]' 5
kill -INT "$(client_pid)"
wait_for "! kill -0 $c_client 2>/dev/null" 10
wait "$c_client"; rc=$?
expect_eq "$rc" 130 "SIGINT to a foreground invoke interrupts the command: exit 130"
expect_eq "$(running)" "" "  ... the command ended"

as_user alice dwell invoke s -- 'sh -c "trap \"\" INT; sleep 1005"' </dev/null >/dev/null 2>"$DWELL_SANDBOX/d.err" &
c_client=$!
track_pid "$c_client"
wait_for '[ -n "$(running)" ]' 5
sleep 0.3
p=$(client_pid)
kill -INT "$p"; sleep 0.3; kill -INT "$p"
if wait_for "! kill -0 $c_client 2>/dev/null" 10; then
        wait "$c_client"; rc=$?
        pass "a second SIGINT within a second ends the client (exit $rc)"
else
        fail "a second SIGINT within a second ends the client"
fi
expect_match "$(cat "$DWELL_SANDBOX/d.err")" "detached from session s; the command goes on" \
        "  ... saying it detached"
sleep 0.5
expect_match "$(running)" "sleep 1005" "  ... and the command (which ignores SIGINT) still runs"
capture alice dwell stop s --signal KILL
wait_for '[ -z "$(running)" ]' 5

n=$(grep 'AUDIT command-stopped:' "$DWELL_LOG_DIR/dwelld.log" | grep -c 'DWELL_CALLER=alice')
[ "$n" -ge 8 ] && pass "every stop and Ctrl-C is audited ($n command-stopped events)" ||
        fail "every stop and Ctrl-C is audited" "$(grep 'command-stopped' "$DWELL_LOG_DIR/dwelld.log")"
expect_match "$(grep 'AUDIT command-stopped:' "$DWELL_LOG_DIR/dwelld.log" | head -n 1)" \
        'DWELL_REASON="signal TERM to 1 process; 0 queued commands dropped"' "  ... with the signal"

capture alice dwell remove s
expect_rc 0 "remove s"
kill "$(cat /tmp/alice-bg.pid 2>/dev/null)" 2>/dev/null || true
