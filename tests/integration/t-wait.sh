#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-wait.sh — `dwell wait` and `invoke -d --on-finish`:
#   - invoke -d with --on-finish writing a file, disconnect, `wait`: wait
#     returns once the command is done with its exit status (4); the hook
#     ran as the session's user with DWELL_SESSION, DWELL_COMMAND_ID and
#     DWELL_EXIT_STATUS set; a hook-finished audit event names it;
#   - wait neither consumes output (receive still gets it) nor holds the
#     session: it works while another client (receive) is connected, and
#     that client is not disturbed;
#   - wait on an idle session returns at once with the last status;
#   - `wait --timeout 1s` on a busy session fails with the error code
#     timeout (exit 255) after about a second;
#   - `wait --any A B` returns when the first session is done, with its status;
#   - --on-finish without -d, and in a restricted configuration, is refused;
#   - a hook that leaves a process in the background does not leave it
#     behind; hooks do not pile up (one runs, a bounded number wait, the
#     rest are skipped and audited); the session's next command is not
#     held up by a hook that runs on; removing the session kills its hook.

. "$(dirname "$0")/lib.sh"

ms() { echo $(( $(date +%s%N) / 1000000 )); }

drop=$DWELL_SANDBOX/drop
install -d -m 0777 "$drop"

# -- --on-finish after a disconnect, and wait -------------------------------
capture alice dwell new -n w1
expect_rc 0 "new -n w1"
capture alice dwell invoke -d w1 \
        --on-finish "echo \"\$DWELL_SESSION \$DWELL_COMMAND_ID \$DWELL_EXIT_STATUS \$(id -un)\" > $drop/hook.out" \
        -- 'echo w1-out; sleep 1; sh -c "exit 4"'
expect_rc 0 "invoke -d w1 --on-finish CMD -- COMMAND"
capture alice dwell disconnect w1
expect_rc 0 "disconnect w1"
t0=$(ms)
capture alice dwell wait w1
t1=$(ms)
expect_rc 4 "wait w1: exits with the command's status (4)"
if [ $((t1 - t0)) -ge 500 ]; then
        pass "  ... after the command ended ($((t1 - t0)) ms)"
else
        fail "  ... after the command ended" "returned after $((t1 - t0)) ms"
fi
wait_for "[ -s $drop/hook.out ]" 10
expect_eq "$(cat "$drop/hook.out" 2>&1)" "w1 1 4 alice" \
        "the hook ran as alice with DWELL_SESSION, DWELL_COMMAND_ID, DWELL_EXIT_STATUS"
wait_for "grep -q 'AUDIT hook-finished: .*DWELL_SESSION_NAME=w1 .*DWELL_COMMAND_ID=1 .*DWELL_EXIT_STATUS=0' '$DWELL_LOG_DIR/dwelld.log'" 5
expect_match "$(grep 'AUDIT hook-finished' "$DWELL_LOG_DIR/dwelld.log")" \
        'DWELL_SESSION_NAME=w1 .*DWELL_CALLER=alice .*DWELL_COMMAND_ID=1 DWELL_COMMAND=.*hook.out.* DWELL_EXIT_STATUS=0 ' \
        "  ... audited: hook-finished with the hook's text and exit status"
capture alice dwell receive w1
expect_rc 4 "wait did not consume the output: receive w1 exits 4"
expect_eq "$OUT" "w1-out" "  ... and prints the command's output"

# -- idle: at once ------------------------------------------------------------
t0=$(ms)
capture alice dwell wait w1
t1=$(ms)
expect_rc 4 "wait on an idle session: the last status at once"
[ $((t1 - t0)) -lt 2000 ] && pass "  ... at once ($((t1 - t0)) ms)" || fail "  ... at once" "$((t1 - t0)) ms"
dwell_json alice wait w1
expect_eq "$(json_eval "$OUT" '[d["session"], d["command"], d["exit_status"]]' 2>&1)" '["w1", 1, 4]' \
        "--json wait: the session, its last command and status"

# -- wait beside a connected client --------------------------------------------
capture alice dwell invoke -d w1 -- 'sleep 2; echo late'
as_user alice dwell receive w1 >"$DWELL_SANDBOX/recv.out" 2>"$DWELL_SANDBOX/recv.err" &
recv=$!
track_pid $recv
wait_for "as_user alice dwell list w1 | grep -q Busy" 5 || fail "receive holds w1" "$(as_user alice dwell list w1 2>&1)"
capture alice dwell wait w1
expect_rc 0 "wait while another client holds the session: works, exits 0"
wait $recv
expect_eq "$?/$(cat "$DWELL_SANDBOX/recv.out")" "0/late" "  ... the receiving client got the output, undisturbed"

# -- --timeout --------------------------------------------------------------------
capture alice dwell new -n w2
capture alice dwell invoke -d w2 -- 'sleep 6; sh -c "exit 3"'
t0=$(ms)
dwell_json alice wait --timeout 1s w2
t1=$(ms)
expect_rc 255 "wait --timeout 1s on a busy session: exit 255"
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" timeout "  ... error code timeout"
if [ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -lt 4000 ]; then
        pass "  ... after about a second ($((t1 - t0)) ms)"
else
        fail "  ... after about a second" "$((t1 - t0)) ms"
fi
capture alice dwell wait --timeout 1s
expect_rc 255 "wait without a session: usage error"

# -- --any -------------------------------------------------------------------------
capture alice dwell new -n w3
capture alice dwell invoke -d w3 -- 'sleep 1; sh -c "exit 7"'
t0=$(ms)
capture alice dwell wait --any w2 w3
t1=$(ms)
expect_rc 7 "wait --any w2 w3: the first to finish (w3) and its status"
[ $((t1 - t0)) -lt 4000 ] && pass "  ... before w2 is done ($((t1 - t0)) ms)" || fail "  ... before w2 is done" "$((t1 - t0)) ms"
capture alice dwell wait w2 w3
expect_rc 3 "wait w2 w3: both, with the status of the last to finish (w2: 3)"

# -- refusals -----------------------------------------------------------------------
capture alice dwell invoke w1 --on-finish 'true' -- true
expect_rc 255 "--on-finish without -d: refused"
expect_match "$ERR" 'only with -d' "  ... saying it applies only with -d"
capture alice dwell new -n r1 -c restricted
capture alice dwell invoke -d r1 --on-finish "touch $drop/restricted" -- /bin/echo hi
expect_rc 255 "--on-finish in a restricted configuration: refused"
expect_match "$ERR" 'hooks are not allowed' "  ... with a clear message"
capture bob dwell wait w1
expect_rc 255 "bob cannot wait on alice's session"

# -- the configuration's allow_on_finish and on_finish; options.yaml's on_finish --
capture alice dwell new -n nh -c nohooks
capture alice dwell invoke -d nh --on-finish "touch $drop/nohooks" -- true
expect_rc 255 "allow_on_finish: false: --on-finish refused"
expect_match "$ERR" 'does not allow --on-finish hooks' "  ... saying the configuration does not allow hooks"
expect_match "$(grep 'AUDIT access-denied' "$DWELL_LOG_DIR/dwelld.log")" 'DWELL_SESSION_NAME=nh .*does not allow --on-finish'         "  ... audited (access-denied)"
capture alice dwell new -n hk -c hooked
capture alice dwell invoke -d hk -- 'sh -c "exit 2"'
wait_for "[ -s /home/alice/conf-hook.out ]" 10
expect_eq "$(cat /home/alice/conf-hook.out 2>&1)" "conf hk 1 2" "the configuration's on_finish runs after invoke -d"
printf '%s\n' "on_finish: 'echo \"opt \$DWELL_SESSION \$DWELL_EXIT_STATUS\" > \"\$HOME/opt-hook.out\"'" |
        as_user alice sh -c 'mkdir -p ~/.config/dwell && cat > ~/.config/dwell/options.yaml'
capture alice dwell invoke -d w1 -- 'sh -c "exit 5"'
expect_rc 0 "with options.yaml's on_finish: invoke -d w1"
wait_for "[ -s /home/alice/opt-hook.out ]" 10
expect_eq "$(cat /home/alice/opt-hook.out 2>&1)" "opt w1 5" "  ... the user's default hook runs"
rm -f /home/alice/opt-hook.out /home/alice/conf-hook.out
capture alice dwell invoke -d hk -- true
wait_for "[ -s /home/alice/opt-hook.out ]" 10
expect_eq "$(cat /home/alice/opt-hook.out 2>&1)/$(cat /home/alice/conf-hook.out 2>/dev/null)" "opt hk 0/" \
        "  ... and wins over the configuration's"
rm -f /home/alice/opt-hook.out
capture alice dwell invoke -d nh -- true
expect_rc 0 "  ... where hooks are not allowed, the user's default is dropped, not refused"
capture alice dwell invoke -d r1 -- /bin/echo restricted
expect_rc 0 "  ... also in a restricted configuration"
capture alice dwell wait nh r1
sleep 0.5
[ -e /home/alice/opt-hook.out ] && fail "  ... and does not run" || pass "  ... and does not run"
as_user alice rm -f /home/alice/.config/dwell/options.yaml

# -- attacks: a hook that leaves a process behind; piles of hooks; floods --------------
capture alice dwell new -n h
capture alice dwell invoke -d h --on-finish "sleep 997 & echo \$! > $drop/bg.pid; yes | head -c 20000000" -- true
wait_for "[ -s $drop/bg.pid ] && grep -q 'AUDIT hook-finished: .*DWELL_SESSION_NAME=h ' '$DWELL_LOG_DIR/dwelld.log'" 10
sleep 0.3
bg=$(cat "$drop/bg.pid" 2>/dev/null)
if [ -n "$bg" ] && ! kill -0 "$bg" 2>/dev/null; then
        pass "a hook's background process (and its flood of output) is gone when the hook ends"
else
        fail "a hook's background process is gone when the hook ends" "$(ps -o pid,user,args -p "${bg:-1}" 2>&1)"
fi
capture alice dwell receive h
expect_eq "$RC/${#OUT}" "0/0" "  ... none of the hook's output reached the session's buffer"

# Twelve commands, each with a hook that never ends: one runs, eight wait,
# three are skipped; the commands themselves are not held up.
for i in $(seq 1 12); do
        as_user alice dwell invoke -d h --on-finish "exec sleep 998" -- true >/dev/null 2>&1
        as_user alice dwell wait --timeout 5s h >/dev/null 2>&1
done
n=$(pgrep -u alice -fc 'sleep 998')
expect_eq "$n" 1 "twelve hooks that never end: one runs at a time"
expect_eq "$(grep -c 'AUDIT hook-finished: .*DWELL_SESSION_NAME=h .*DWELL_REASON="skipped' "$DWELL_LOG_DIR/dwelld.log")" 3 \
        "  ... eight wait, the other three are skipped (audited)"
t0=$(ms)
capture alice dwell invoke h -- echo next
t1=$(ms)
expect_eq "$RC/$OUT" "0/next" "the session's next command runs while a hook runs on"
[ $((t1 - t0)) -lt 3000 ] && pass "  ... at once ($((t1 - t0)) ms)" || fail "  ... at once" "$((t1 - t0)) ms"
capture alice dwell remove h
expect_rc 0 "remove h"
wait_for "! pgrep -u alice -f 'sleep 998' >/dev/null" 10
expect_eq "$(pgrep -u alice -fc 'sleep 998')" 0 "  ... its running hook is killed, the waiting ones never run"

capture alice dwell remove --all
