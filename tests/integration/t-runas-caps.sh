#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-runas-caps.sh — RunAs identities and capability keep-lists
# (t-runas-caps.d/configurations.d):
#   netops      run_as root, capabilities [CAP_NET_ADMIN]: uid 0 with exactly
#               that capability in the permitted, effective, inheritable,
#               ambient and bounding sets of the shell and of a program it
#               executes; no_new_privs on; other root powers gone;
#   rootnocaps  run_as root, capabilities []: uid 0 with no capability at all
#               (files it creates are root's, chown is refused);
#   asbob       run_as bob: alice's session runs as bob with bob's groups,
#               home and PAM session, owned by alice;
#   bobadmin    run_as bob with CAP_NET_ADMIN: a non-root keep-list;
# and a session of the default (user) configuration holds no capability and
# has no_new_privs off, as for a login.

. "$(dirname "$0")/lib.sh"

NET_ADMIN=0000000000001000      # 1 << CAP_NET_ADMIN (12)
ZERO=0000000000000000

# expect_caps TEXT WANT WHAT: each of CapInh CapPrm CapEff CapBnd CapAmb is WANT.
expect_caps() {
        local c
        for c in CapInh CapPrm CapEff CapBnd CapAmb; do
                expect_match "$1" "^$c:[[:space:]]+$2\$" "$3: $c is $2"
        done
}

# -- RunAs root with CAP_NET_ADMIN -------------------------------------------
capture alice dwell new -n net -c netops
expect_rc 0 "alice: dwell new -n net -c netops"
capture alice dwell invoke net -- 'id -u; id -g'
expect_eq "$OUT" "$(printf '0\n0')" "the netops session runs as uid 0, gid 0"

capture alice dwell invoke net -- 'grep ^Cap /proc/$$/status'
expect_caps "$OUT" "$NET_ADMIN" "netops shell"
capture alice dwell invoke net -- '/bin/grep ^Cap /proc/self/status'
expect_caps "$OUT" "$NET_ADMIN" "netops: a program the shell executes"
capture alice dwell invoke net -- '/bin/sh -c "grep ^Cap /proc/self/status"'
expect_caps "$OUT" "$NET_ADMIN" "netops: a program two executions deep"
capture alice dwell invoke net -- 'grep ^NoNewPrivs /proc/self/status'
expect_match "$OUT" '^NoNewPrivs:[[:space:]]+1$' "netops: no_new_privs is on (the RunAs default)"

# Root without CAP_CHOWN / CAP_DAC_OVERRIDE / CAP_SETUID cannot use them.
capture alice dwell invoke net -- 'touch /tmp/net-file && chown 2002 /tmp/net-file'
expect_rc 1 "netops: chown is refused (no CAP_CHOWN)"
expect_eq "$(stat -c %u /tmp/net-file 2>/dev/null)" 0 "netops: a file the session creates belongs to root"
capture alice dwell invoke net -- 'ls /home/bob'
expect_rc 2 "netops: bob's home (0700) cannot be read (no CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH)"
capture alice dwell invoke net -- 'setpriv --reuid 2002 true'
expect_rc 1 "netops: changing uid is refused (no CAP_SETUID)"

# The worker: root with the keep-list, not dumpable.
capture alice dwell invoke net -- 'echo $PPID'
worker=$OUT
if [[ "$worker" =~ ^[0-9]+$ ]] && [ -r "/proc/$worker/status" ]; then
        expect_match "$(grep ^CapEff "/proc/$worker/status")" "^CapEff:[[:space:]]+$NET_ADMIN\$" \
                "netops: the worker holds only the keep-list"
        expect_match "$(grep ^CapBnd "/proc/$worker/status")" "^CapBnd:[[:space:]]+$NET_ADMIN\$" \
                "netops: the worker's bounding set is the keep-list"
        expect_eq "$(awk '/^State:/ { print $2 }' "/proc/$worker/status")" S "netops: the worker is alive"
else
        fail "netops: the shell's parent is the worker" "$(_last)"
fi

dwell_json alice list -l net
expect_eq "$(json_eval "$OUT" 'd[0]["owner"] + " " + d[0]["run_as"]')" "alice root" \
        "netops: list shows owner alice, run_as root"

# bob is not in netops' access list.
capture bob dwell new -n net2 -c netops
if [ "$RC" -ne 0 ]; then pass "bob may not use netops"; else fail "bob may not use netops" "$(_last)"; fi

# -- RunAs root without any capability ---------------------------------------
capture alice dwell new -n bare -c rootnocaps
expect_rc 0 "alice: dwell new -n bare -c rootnocaps"
capture alice dwell invoke bare -- 'id -u'
expect_eq "$OUT" 0 "rootnocaps runs as uid 0"
capture alice dwell invoke bare -- 'grep ^Cap /proc/$$/status'
expect_caps "$OUT" "$ZERO" "rootnocaps shell"
capture alice dwell invoke bare -- '/bin/grep ^Cap /proc/self/status'
expect_caps "$OUT" "$ZERO" "rootnocaps: a program the shell executes"
capture alice dwell invoke bare -- 'touch /tmp/bare-file; stat -c %u /tmp/bare-file; chown 2002 /tmp/bare-file'
expect_match "$OUT" '^0$' "rootnocaps: files it creates belong to root"
expect_rc 1 "rootnocaps: chown is refused"

# -- a user configuration: the caller, no capabilities, no_new_privs off -----
capture alice dwell new -n plain
expect_rc 0 "alice: dwell new -n plain (default configuration)"
capture alice dwell invoke plain -- '/bin/grep -E "^(Cap|NoNewPrivs)" /proc/self/status'
for c in CapPrm CapEff CapAmb; do
        expect_match "$OUT" "^$c:[[:space:]]+$ZERO\$" "default configuration: $c is zero"
done
expect_no_match "$OUT" "^CapBnd:[[:space:]]+$ZERO\$" "default configuration: the bounding set is left as for a login"
expect_match "$OUT" '^NoNewPrivs:[[:space:]]+0$' "default configuration: no_new_privs is off"
dwell_json alice list -l plain
expect_eq "$(json_eval "$OUT" 'd[0]["owner"] + "/" + (d[0]["run_as"] or "")')" "alice/" \
        "default configuration: owner alice, no run_as"

# -- RunAs bob ---------------------------------------------------------------
capture alice dwell new -n asbob -c asbob
expect_rc 0 "alice: dwell new -n asbob -c asbob"
capture alice dwell invoke asbob -- 'id -un; id -u; id -g; id -G; echo "$HOME $USER"; pwd'
expect_eq "$OUT" "$(printf 'bob\n2002\n2002\n2002\n/home/bob bob\n/home/bob')" \
        "asbob runs as bob, with bob's groups, home and working directory"
capture alice dwell invoke asbob -- 'grep -E "^(Uid|CapPrm|CapEff|CapAmb|NoNewPrivs):" /proc/self/status'
expect_match "$OUT" '^Uid:[[:space:]]+2002[[:space:]]+2002[[:space:]]+2002[[:space:]]+2002$' "asbob: every uid is bob's"
expect_match "$OUT" "^CapEff:[[:space:]]+$ZERO\$" "asbob: no capabilities"
expect_match "$OUT" '^NoNewPrivs:[[:space:]]+1$' "asbob: no_new_privs is on (the RunAs default)"
dwell_json alice list -l asbob
expect_eq "$(json_eval "$OUT" 'd[0]["owner"] + " " + d[0]["run_as"]')" "alice bob" \
        "asbob: list shows owner alice, run_as bob"
expect_match "$(pam_log)" '^open bob$' "the PAM session of asbob was opened for bob"
expect_match "$(pam_log)" '^open root$' "the PAM session of netops was opened for root"

# -- RunAs bob with CAP_NET_ADMIN --------------------------------------------
capture alice dwell new -n bobnet -c bobadmin
expect_rc 0 "alice: dwell new -n bobnet -c bobadmin"
capture alice dwell invoke bobnet -- 'id -u'
expect_eq "$OUT" 2002 "bobadmin runs as bob"
capture alice dwell invoke bobnet -- 'grep ^Cap /proc/$$/status'
expect_caps "$OUT" "$NET_ADMIN" "bobadmin shell"
capture alice dwell invoke bobnet -- '/bin/grep ^Cap /proc/self/status'
expect_caps "$OUT" "$NET_ADMIN" "bobadmin: a program the shell executes"

capture alice dwell remove --all
expect_rc 0 "alice removes her sessions"
