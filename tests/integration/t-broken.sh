#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-broken.sh — a session whose worker or shell dies unexpectedly becomes
# Broken, with the reason, its PAM session closed and an event written:
#   - `victim` (alice) runs `sleep 317`; its worker (the shell's parent,
#     running as alice) is killed with SIGKILL while dwelld runs: within
#     10 s `list` shows it Broken; the reason is in `--json list` ("reason")
#     and on its `list -l` line; `receive` fails (255) naming it;
#     pam-session.log gets "close alice" for it; dwelld's log (no journal
#     in the sandbox: audit events go to stderr) has a session-broken event
#     for it; `remove` clears it;
#   - `quitter` (alice): `dwell invoke quitter -- 'kill -KILL $$'` kills the
#     shell with a signal dwell did not send (`exit` no longer ends a session:
#     t-command-exit): the session is Broken with the reason "the shell
#     exited with status 137", its PAM session closed;
#   - bob's session `bystander` is untouched by all this (its shell state
#     is still there).

. "$(dirname "$0")/lib.sh"

opens() { grep -cx "open $1" "$DWELL_LOG_DIR/pam-session.log"; }
closes() { grep -cx "close $1" "$DWELL_LOG_DIR/pam-session.log"; }
state_of() {   # USER SESSION -> "State|reason"
        dwell_json "$1" list "$2"
        json_eval "$OUT" '"%s|%s" % (d[0]["state"], d[0].get("reason") or "")' 2>/dev/null || echo "(none: $OUT $ERR)"
}
ppid_of() { sed 's/^.*) . \([0-9]*\) .*/\1/' "/proc/$1/stat" 2>/dev/null; }
pid_of_cmdline() {     # exact argv, words joined by spaces
        local p
        for p in /proc/[0-9]*; do
                if [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "$1 " ]; then
                        echo "${p#/proc/}"
                        return 0
                fi
        done
        return 1
}

capture bob dwell new -n bystander
expect_rc 0 "bob: new -n bystander"
capture bob dwell invoke bystander -- 'cd /tmp; marker=kept'
expect_rc 0 "bob: invoke bystander -- cd /tmp; marker=kept"

# ---------------------------------------------------------- a killed worker
capture alice dwell invoke -d -n victim -- 'sleep 317'
expect_rc 0 "alice: invoke -d -n victim -- sleep 317"
wait_for '[ "$(opens alice)" -eq 1 ]' 5
expect_eq "$(opens alice) $(closes alice)" "1 0" "pam-session.log: one open alice, no close"

# invoke -d answers once the command is sent to the shell, which may not
# have started it yet.
wait_for 'pid_of_cmdline "sleep 317" >/dev/null' 10
sleep_pid=$(pid_of_cmdline "sleep 317")
shell_pid=$(ppid_of "$sleep_pid")
worker_pid=$(ppid_of "$shell_pid")
monitor_pid=$(ppid_of "$worker_pid")
w=$(stat -c %U "/proc/$worker_pid" 2>/dev/null) m=$(stat -c %U "/proc/$monitor_pid" 2>/dev/null)
wc_=$(tr '\0' ' ' <"/proc/$worker_pid/cmdline" 2>/dev/null)
if [ "$w" = alice ] && [ "$m" = root ] && [[ $wc_ == *dwell-host* ]]; then
        pass "victim's worker is pid $worker_pid (alice), monitor pid $monitor_pid (root)"
else
        fail "found victim's worker" "sleep $sleep_pid shell $shell_pid worker $worker_pid ($w: $wc_) monitor $monitor_pid ($m)"
        exit 1
fi

kill -KILL "$worker_pid"
wait_for '[ "$(state_of alice victim | cut -d"|" -f1)" = Broken ]' 10
st=$(state_of alice victim)
expect_eq "${st%%|*}" Broken "after SIGKILL of its worker, victim is Broken"
capture alice dwell receive victim
if [ "$RC" = 255 ] && printf '%s' "$ERR" | grep -Eq 'is broken: .'; then
        pass "  ... receive fails (255) saying why: $ERR"
else
        fail "  ... receive fails (255) saying why" "$(_last)"
fi
why=$(printf '%s\n' "$ERR" | sed -n 's/^dwell: session victim is broken: //p')
expect_eq "${st#*|}" "$why" "  ... --json list gives the same reason (\"reason\")"
capture alice dwell list -l victim
if [ -n "$why" ] && printf '%s\n' "$OUT" | grep -E "^[0-9]+ +victim .*Broken" | grep -qF -- "$why"; then
        pass "  ... list -l shows the reason on victim's line"
else
        fail "  ... list -l shows the reason on victim's line" "reason: $why" "$OUT"
fi
if wait_for '[ "$(closes alice)" -eq 1 ]' 10; then
        pass "  ... its PAM session is closed (pam-session.log: close alice)"
else
        fail "  ... its PAM session is closed (pam-session.log: close alice)" "$(pam_log)"
fi
if grep -E 'session-broken' "$DWELL_LOG_DIR/dwelld.log" | grep -q 'DWELL_SESSION_NAME=victim'; then
        pass "  ... a session-broken event is written for it"
else
        fail "  ... a session-broken event is written for it" "$(grep -i 'broken\|victim' "$DWELL_LOG_DIR/dwelld.log")"
fi
if _pid_alive "$monitor_pid"; then
        left="monitor $monitor_pid still runs"
else
        left="monitor gone"
fi
echo "# after the kill: $left; shell $shell_pid $(_pid_alive "$shell_pid" && echo alive || echo gone); sleep $sleep_pid $(_pid_alive "$sleep_pid" && echo alive || echo gone)"

capture alice dwell remove victim
expect_rc 0 "remove victim (Broken)"
dwell_json alice list
expect_eq "$(json_names "$OUT")" "" "  ... alice has no sessions left"
kill -KILL "$sleep_pid" "$shell_pid" 2>/dev/null

# ---------------------------------------------------------- the shell exits
capture alice dwell new -n quitter
expect_rc 0 "alice: new -n quitter"
capture alice dwell invoke quitter -- 'echo bye; kill -KILL $$'
echo "# invoke quitter -- 'echo bye; kill -KILL \$\$': rc=$RC stdout=$OUT stderr=$ERR"
expect_match "$OUT" '^bye$' "  ... the output before the kill is delivered"
expect_rc 137 "  ... invoke exits with the status 137"
wait_for '[ "$(state_of alice quitter | cut -d"|" -f1)" = Broken ]' 10
st=$(state_of alice quitter)
expect_eq "$st" "Broken|the shell exited with status 137" "after the kill quitter is Broken, reason 'the shell exited with status 137'"
capture alice dwell list -l quitter
expect_match "$OUT" "quitter .*the shell exited with status 137" "  ... list -l shows the reason"
capture alice dwell invoke quitter -- 'echo again'
if [ "$RC" = 255 ] && printf '%s' "$ERR" | grep -Eq 'shell .*exited'; then
        pass "  ... a new invoke fails (255) saying the shell exited: $ERR"
else
        fail "  ... a new invoke fails (255) saying the shell exited" "$(_last)"
fi
if grep -E 'session-broken' "$DWELL_LOG_DIR/dwelld.log" | grep -q 'DWELL_SESSION_NAME=quitter'; then
        pass "  ... a session-broken event is written for it"
else
        fail "  ... a session-broken event is written for it" "$(grep -i 'broken\|quitter' "$DWELL_LOG_DIR/dwelld.log")"
fi
if wait_for '[ "$(closes alice)" -eq 2 ]' 5; then
        pass "  ... its PAM session is closed"
else
        fail "  ... its PAM session is closed" "$(pam_log)"
fi
capture alice dwell remove quitter
expect_rc 0 "remove quitter (Broken)"

# ---------------------------------------------------------- the bystander
st=$(state_of bob bystander)
expect_eq "$st" "Disconnected|" "bob's bystander is still Disconnected"
capture bob dwell invoke bystander -- 'echo $marker $PWD'
expect_eq "$OUT" "kept /tmp" "  ... and its shell state is intact"
expect_eq "$(opens bob) $(closes bob)" "1 0" "  ... its PAM session is still open"
capture bob dwell remove bystander
wait_for '[ "$(closes bob)" -eq 1 ]' 10
expect_eq "$(opens alice) $(closes alice) $(opens bob) $(closes bob)" "2 2 1 1" \
        "in the end every PAM session opened was closed"
