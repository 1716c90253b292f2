#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-hook-timeout.sh — an --on-finish hook that never ends (it ignores
# SIGTERM, sleeps on and leaves a double-forked sleeper behind) is killed
# 60 seconds after it started, with its process group; the kill is audited
# (hook-finished with DWELL_REASON "killed ..."); the session ran its next
# command meanwhile, and the next hook runs after it.  Takes about a minute.

. "$(dirname "$0")/lib.sh"

drop=$DWELL_SANDBOX/drop
install -d -m 0777 "$drop"

capture alice dwell new -n slow
expect_rc 0 "new -n slow"
capture alice dwell invoke -d slow \
        --on-finish "trap '' TERM HUP; echo \$\$ > $drop/hook.pid; (sleep 995 &); exec sleep 996" -- true
expect_rc 0 "invoke -d slow --on-finish (a hook that never ends)"
wait_for "[ -s $drop/hook.pid ]" 10 || fail "the hook started"
hook=$(cat "$drop/hook.pid" 2>/dev/null)
t0=$(date +%s)
capture alice dwell invoke -d slow --on-finish "touch $drop/second" -- 'echo meanwhile'
expect_rc 0 "the next command starts while the hook runs"
capture alice dwell wait --timeout 10s slow
expect_rc 0 "  ... and ends"
sleep 1
[ -e "$drop/second" ] && fail "the second hook waits for the first" || pass "the second hook waits for the first"
wait_for "! kill -0 $hook 2>/dev/null" 75
t1=$(date +%s)
if ! kill -0 "$hook" 2>/dev/null && [ $((t1 - t0)) -ge 55 ] && [ $((t1 - t0)) -le 70 ]; then
        pass "the hook is killed after about 60 s ($((t1 - t0)) s)"
else
        fail "the hook is killed after about 60 s" "$((t1 - t0)) s; $(ps -o pid,args -u alice 2>&1)"
fi
wait_for "! pgrep -u alice -f 'sleep 995' >/dev/null" 5
expect_eq "$(pgrep -u alice -fc 'sleep 995')" 0 "  ... with what it started in its process group"
expect_match "$(grep 'AUDIT hook-finished' "$DWELL_LOG_DIR/dwelld.log")" \
        'DWELL_SESSION_NAME=slow .*DWELL_COMMAND_ID=1 .*DWELL_EXIT_STATUS=137 .*DWELL_REASON="killed' \
        "  ... audited: hook-finished, status 137, reason killed"
wait_for "[ -e $drop/second ]" 10
[ -e "$drop/second" ] && pass "then the second hook runs" || fail "then the second hook runs"
capture alice dwell remove slow
