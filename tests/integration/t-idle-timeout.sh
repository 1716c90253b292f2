#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-idle-timeout.sh — idle timeouts:
#   - `new -n s --idle-timeout 2s` (list -l: 2s, --json: 2): still listed
#     1 s after its last use, gone within a few seconds more; its shell
#     process no longer exists; the PAM session log has "close alice";
#   - a disconnected session whose command still runs expires too (the idle
#     clock runs while a command runs): `invoke -d --idle-timeout 2s`; its
#     shell and the command's processes are ended;
#   - `disconnect --idle-timeout 2s` on a session created with the default
#     (2h) makes it expire;
#   - `--idle-timeout 13h` (new, invoke -d, disconnect) is refused with
#     limit-exceeded and a message naming 13h and the maximum 12h, and
#     creates nothing;
#   - `connect` and `receive` do not accept --idle-timeout (usage error).

. "$(dirname "$0")/lib.sh"

listed() {
        as_user alice dwell list "$1" 2>/dev/null | awk -v n="$1" 'NR > 1 && $2 == n { f = 1 } END { exit !f }'
}

# -- refusals first (nothing may be created) -------------------------------
for cmd in "new -n x --idle-timeout 13h" "invoke -d -n x --idle-timeout 13h -- true"; do
        dwell_json alice $cmd
        expect_rc 255 "$cmd: refused"
        expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" limit-exceeded "  ... with limit-exceeded"
        msg=$(json_eval "$OUT" 'd["message"]' 2>&1)
        expect_match "$msg" '13h' "  ... naming the value asked for, 13h"
        expect_match "$msg" '12h' "  ... and the maximum, 12h"
        capture alice dwell list x
        expect_no_match "$OUT" ' x ' "  ... and no session x was created"
done
capture alice dwell new -n x --idle-timeout 13h
expect_match "$ERR" '^dwell: .*13h.*12h' "plain: a 'dwell: ' message naming 13h and 12h"

for verb in connect receive; do
        capture alice dwell "$verb" --idle-timeout 2s x
        expect_rc 255 "$verb --idle-timeout 2s: refused"
        expect_match "$ERR" "^dwell: .*(unknown|unrecognized|not accepted|invalid).*option|^dwell: .*idle-timeout" \
                "  ... as a usage error naming the option"
done

# -- three sessions that will expire ---------------------------------------
closes_before=$(pam_log | grep -c '^close alice$' || true)

capture alice dwell new -n s --idle-timeout 2s
expect_rc 0 "new -n s --idle-timeout 2s"
capture alice dwell invoke s -- 'echo $$'
expect_rc 0 "invoke s -- 'echo \$\$'"
s_pid=$OUT
[[ "$s_pid" =~ ^[0-9]+$ ]] || s_pid=0
t_s=$(date +%s%N)

capture alice dwell invoke -d -n r --idle-timeout 2s -- 'echo $$ >/tmp/r.shell; sleep 30 & echo $! >/tmp/r.sleep; wait'
expect_rc 0 "invoke -d -n r --idle-timeout 2s -- (a 30 s command)"
wait_for '[ -s /tmp/r.sleep ]' 5 || true
r_shell=$(cat /tmp/r.shell 2>/dev/null || echo 0)
r_sleep=$(cat /tmp/r.sleep 2>/dev/null || echo 0)

capture alice dwell new -n e
expect_rc 0 "new -n e (default idle timeout)"
dwell_json alice list e
expect_eq "$(json_eval "$OUT" 'd[0]["idle_timeout"]' 2>&1)" 7200 "  ... idle_timeout 7200 (2h)"
capture alice dwell invoke e -- 'echo $$'
e_pid=$OUT
[[ "$e_pid" =~ ^[0-9]+$ ]] || e_pid=0
dwell_json alice disconnect e --idle-timeout 13h
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" limit-exceeded "disconnect e --idle-timeout 13h: limit-exceeded"
capture alice dwell disconnect e --idle-timeout 2s
expect_rc 0 "disconnect e --idle-timeout 2s"

capture alice dwell list -l s
expect_match "$OUT" '^[0-9]+ +s .* 2s +' "list -l: s has IdleTimeout 2s"
dwell_json alice list
expect_eq "$(json_eval "$OUT" '[s["idle_timeout"] for s in sorted(d, key=lambda s: s["name"])]' 2>&1)" \
        '[2, 2, 2]' "list --json: e, r, s all have idle_timeout 2"
expect_eq "$(json_eval "$OUT" '[s["command"] is not None for s in d if s["name"] == "r"]' 2>&1)" \
        '[true]' "  ... r's command is running"

# s was last used at t_s: still there 1 s later.
sleep_until=$(( (t_s + 1000000000 - $(date +%s%N)) / 1000000 ))
[ "$sleep_until" -gt 0 ] && sleep "$(printf '0.%03d' "$sleep_until")"
if listed s; then
        pass "1 s after its last use, s is still listed"
else
        fail "1 s after its last use, s is still listed" "$(as_user alice dwell list -l 2>&1)"
fi

for n in s r e; do
        if wait_for "! listed $n" 8; then
                pass "$n expired: gone from list"
        else
                fail "$n expired: gone from list within a few seconds" "$(as_user alice dwell list -l 2>&1)"
        fi
done
elapsed=$(( ($(date +%s%N) - t_s) / 1000000 ))
pass "  ... (all gone $elapsed ms after s's last use)"

for p in "s's shell:$s_pid" "r's shell:$r_shell" "r's running command:$r_sleep" "e's shell:$e_pid"; do
        pid=${p##*:}
        if [ "$pid" -gt 1 ] && wait_for "! kill -0 $pid 2>/dev/null" 3; then
                pass "  ... ${p%:*} (pid $pid) no longer exists"
        else
                fail "  ... ${p%:*} (pid $pid) no longer exists" "$(ps -o pid,user,args -p "$pid" 2>&1)"
        fi
done

if wait_for "[ \$(( \$(pam_log | grep -c '^close alice\$' || true) - closes_before )) -ge 3 ]" 3; then
        pass "the PAM session log has 'close alice' for each of the 3 sessions"
else
        fail "the PAM session log has 'close alice' for each of the 3 sessions" "$(pam_log)"
fi
expect_match "$(cat "$DWELL_LOG_DIR/dwelld.log")" '[Ii]dle' "dwelld's log mentions the idle timeout"
