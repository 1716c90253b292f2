#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-identity.sh — a session runs as its user, like a login: uid, gid and
# supplementary groups (initgroups), no capabilities (CapPrm, CapEff, CapAmb
# all zero; the bounding set is left as for a login), no_new_privs off (so
# sudo would work), HOME/USER set, the PAM environment applied, the shell and
# its parent (the worker) owned by the user, the worker non-dumpable, and the
# PAM session opened through the `dwell` service.

. "$(dirname "$0")/lib.sh"

capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"

capture alice dwell invoke work -- 'id -u'
expect_eq "$OUT" 2001 "id -u in alice's session is 2001"
capture alice dwell invoke work -- 'id -g; id -G'
expect_eq "$OUT" "$(printf '2001\n2001')" "gid and groups are alice's"

capture alice dwell invoke work -- 'grep ^Cap /proc/self/status'
caps=$OUT
for c in CapPrm CapEff CapAmb; do
        expect_match "$caps" "^$c:[[:space:]]+0+\$" "$c is zero in alice's session"
done
capture alice dwell invoke work -- 'grep -E "^(NoNewPrivs|Uid|Gid):" /proc/self/status'
expect_match "$OUT" '^Uid:[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001$' "real, effective, saved and fs uid are 2001"
expect_match "$OUT" '^Gid:[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001$' "real, effective, saved and fs gid are 2001"
expect_match "$OUT" '^NoNewPrivs:[[:space:]]+0$' "no_new_privs is off for a session as the caller (login-like)"

capture alice dwell invoke work -- 'echo "$HOME $USER"'
expect_eq "$OUT" "/home/alice alice" "HOME and USER are alice's"
capture alice dwell invoke work -- 'echo "${DWELL_TEST_PAM_ENV-unset}"'
expect_eq "$OUT" "from-pam-env" "the PAM environment (pam_env) is applied to the shell"

capture alice dwell invoke work -- 'echo $$'
shell_pid=$OUT
if [[ "$shell_pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$shell_pid" ]; then
        pass "the session's shell ($shell_pid) is running"
        expect_eq "$(stat -c %u "/proc/$shell_pid")" 2001 "the shell's process is owned by alice"
        worker=$(awk '/^PPid:/ { print $2 }' "/proc/$shell_pid/status")
        expect_match "$(grep ^Uid: "/proc/$worker/status")" '^Uid:[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001' \
                "the shell's parent (the worker, pid $worker) runs as alice"
        # The files under /proc/PID of a non-dumpable process belong to root.
        expect_eq "$(stat -c %u "/proc/$worker/status")" 0 "the worker is non-dumpable"
        expect_match "$(readlink "/proc/$shell_pid/exe")" '^(/usr)?/bin/bash$' "the shell is bash (the default)"
else
        fail "the session's shell is running" "echo \$\$ printed: $shell_pid" "$(_last)"
fi

# The same for carol, who has a supplementary group.
capture carol dwell new -n ops
expect_rc 0 "carol: dwell new -n ops"
capture carol dwell invoke ops -- 'id -G'
expect_match "$OUT" '(^| )2100( |$)' "carol's session has her supplementary group admins (initgroups)"

expect_match "$(pam_log)" '^open alice$' "the PAM session was opened for alice"
expect_match "$(pam_log)" '^open carol$' "the PAM session was opened for carol"
expect_match "$(cat "$DWELL_LOG_DIR/syslog.log")" 'pam_unix\(dwell:session\): session opened for user alice' \
        "pam_unix logged the session on the dwell service"
