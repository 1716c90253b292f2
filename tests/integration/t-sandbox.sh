#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-sandbox.sh — the test harness itself: the sandbox has its own users,
# PAM stack, hostname, /run, /tmp, /var/log, /home and /dev/log, and runs
# commands as the test users without privileges.
# (run.sh separately checks that the host's users and PAM files are unchanged.)

. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

expect_eq "$(hostname)" dwell-test "private UTS namespace with hostname dwell-test"
expect_match "$(tr '\0' ' ' < /proc/1/cmdline)" 'ns-run\.sh --inside' "pid 1 is the sandbox's init"

for u in alice:2001 bob:2002 carol:2003 dave:2004; do
        expect_eq "$(id -u "${u%%:*}" 2>&1)" "${u#*:}" "user ${u%%:*} has uid ${u#*:}"
done
expect_eq "$(getent group admins | cut -d: -f3,4)" 2100:carol "group admins (2100) has member carol"
expect_match "$(id -nG carol)" '(^| )admins( |$)' "carol is in admins"
expect_match "$(grep -E '^passwd:' /etc/nsswitch.conf)" '^passwd:[[:space:]]+files$' "nsswitch: files only"
expect_eq "$(stat -c '%U %a' /home/alice)" "alice 700" "alice's home is hers"

for d in /run /tmp /var/log /home /dev; do
        expect_eq "$(stat -f -c %T "$d")" tmpfs "$d is a private tmpfs"
done
expect_eq "$(stat -c '%U %a' /run/dwell)" "root 755" "/run/dwell is root's, 0755"
expect_eq "$(find /tmp -mindepth 1 | wc -l)" 0 "/tmp starts empty"
expect_eq "$(stat -c %F /dev/log)" socket "/dev/log is the sandbox's syslog catcher"

# Running as a test user: no privileges, own identity.
capture alice id -u
expect_eq "$OUT" 2001 "as_user alice runs as uid 2001"
capture alice sh -c 'echo "$HOME $USER"; grep ^CapEff /proc/self/status'
expect_match "$OUT" '^/home/alice alice$' "as_user sets HOME and USER"
expect_match "$OUT" '^CapEff:[[:space:]]+0+$' "as_user has no capabilities"
expect_fail "alice cannot read /etc/shadow" as_user alice cat /etc/shadow
capture carol id -nG
expect_match "$OUT" admins "as_user carol has her supplementary groups"

# The `dwell` PAM stack: pam_unix with the test passwords, the expired
# account, pam_env and the session recorder.
pam() { RC=0; OUT=$("$PYTHON" "$here/pam-check.py" "$@" 2>&1) || RC=$?; }
pam dwell alice alice-pw
expect_eq "$RC" 0 "PAM: alice authenticates and opens a session" || true
[ "$RC" -eq 0 ] || printf '%s\n' "$OUT" | _diag
expect_match "$OUT" '^env DWELL_TEST_PAM_ENV: from-pam-env$' "PAM: pam_env sets DWELL_TEST_PAM_ENV"
pam dwell alice wrong-pw
expect_match "$OUT" '^authenticate: Authentication failure$' "PAM: wrong password refused"
pam dwell dave
# (Debian's common-account turns pam_unix's ACCT_EXPIRED into pam_deny's
# AUTH_ERR; pam_unix's message says why.)
expect_match "$OUT" '^acct_mgmt: ' "PAM: dave reaches account management"
expect_no_match "$OUT" '^acct_mgmt: Success$' "PAM: dave's account is refused"
expect_match "$OUT" '^message: Your account has expired' "PAM: pam_unix says dave's account has expired"
expect_match "$(pam_log)" '^open alice$' "PAM session log records open"
expect_match "$(pam_log)" '^close alice$' "PAM session log records close"
expect_match "$(cat "$DWELL_LOG_DIR/syslog.log")" 'pam_unix\(dwell:session\): session opened for user alice' \
        "pam_unix's syslog goes to the sandbox's log"

if [ -n "${DWELLD_PID:-}" ]; then
        expect_eq "$(stat -c %F /run/dwell/dwelld.sock)" socket "dwelld listens on /run/dwell/dwelld.sock"
fi

# Time limits: wait_for gives up.
start=$(date +%s)
if wait_for false 1; then fail "wait_for false 1 fails"; else pass "wait_for false 1 fails"; fi
expect_eq "$(( $(date +%s) - start <= 3 ))" 1 "wait_for is bounded"
CMD_TIMEOUT=1 capture alice sleep 10
expect_eq "$RC" 124 "as_user is bounded by CMD_TIMEOUT"
