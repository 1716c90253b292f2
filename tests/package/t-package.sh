#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-package.sh — the Debian packages (scripts/build-deb.sh) installed,
# used, upgraded and purged under a real systemd, as an administrator would
# with apt:
#   - debian/changelog's version is configure.ac's (AC_INIT), and so is the
#     built packages'; the upgrade packages' version is higher;
#   - `apt-get install ./dwell_*.deb ./dwell-client_*.deb` (offline: the
#     dependencies are those of the host the container's root comes from):
#     dwelld.socket enabled and listening, dwelld.service neither enabled
#     nor running until the first client (socket activation), /etc/dwell and
#     /etc/pam.d/dwell conffiles;
#   - as the test user alice: `dwell new`, `invoke`, `invoke -d`, `receive`;
#   - `systemctl restart dwelld` while a command runs keeps the session (Id,
#     InstanceId, its shell state and all of its output);
#   - the upgrade to the rebuilt packages of a higher version (apt-get
#     install of those): a running dwelld is restarted (new MainPID) and a
#     session with a command running across the upgrade is kept — same
#     host processes, same shell state, all of the output — while a
#     modified conffile is kept; a new session after it works;
#   - `journalctl -x` shows the catalog's text for a dwell event (the
#     catalog is installed and systemd's dpkg trigger updated the catalog
#     database), and no longer after the purge;
#   - `apt-get purge dwell dwell-client` ends the remaining sessions, and
#     leaves nothing behind: the list of files and directories of the
#     container (/, /run) is the same as before the installation, apart
#     from what apt, dpkg, the journal and systemd keep of their own.
#
# The container is the one of t-systemd.sh (tests/integration/nspawn-lib.sh):
# an overlay of the host's / with a tmpfs upper layer, booted by
# systemd-nspawn with --private-network inside this test's sandbox; nothing
# of the host changes.  Run it through the sandbox:
#
#   scripts/build-deb.sh
#   DWELL_DEB_VERSION=0.1-1+upgrade1 DWELL_DEB_OUT=build-deb/upgrade scripts/build-deb.sh
#   DWELL_TEST_NO_DAEMON=1 tests/integration/run.sh tests/package/t-package.sh
#
# Environment: DWELL_DEB_DIR (default: build-deb/ of the source tree) holds
# the packages to install, DWELL_DEB_UPGRADE_DIR (default: DWELL_DEB_DIR/upgrade)
# those to upgrade to.  Missing packages fail the test.  Skipped (77)
# without systemd-nspawn or a cgroup hierarchy nspawn can use.

. "$top_srcdir/tests/integration/lib.sh"

deb_dir=${DWELL_DEB_DIR:-$top_srcdir/build-deb}
up_dir=${DWELL_DEB_UPGRADE_DIR:-$deb_dir/upgrade}

. "$top_srcdir/tests/integration/nspawn-lib.sh"
nspawn_require

# ------------------------------------------------------------ versions
one() {         # one file matching a glob, or nothing
        local f=("$@")
        [ "${#f[@]}" -eq 1 ] && [ -f "${f[0]}" ] && echo "${f[0]}"
}
deb=$(one "$deb_dir"/dwell_*.deb) client=$(one "$deb_dir"/dwell-client_*.deb)
up_deb=$(one "$up_dir"/dwell_*.deb) up_client=$(one "$up_dir"/dwell-client_*.deb)
if [ -z "$deb" ] || [ -z "$client" ] || [ -z "$up_deb" ] || [ -z "$up_client" ]; then
        fail "one dwell and one dwell-client package in $deb_dir and in $up_dir (scripts/build-deb.sh)" \
                "$(ls -l "$deb_dir" "$up_dir" 2>&1)"
        exit 1
fi
ac_version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
ch_version=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)
expect_eq "${ch_version%-*}" "$ac_version" "debian/changelog's version $ch_version is configure.ac's $ac_version"
v1=$(dpkg-deb -f "$deb" Version) v2=$(dpkg-deb -f "$up_deb" Version)
expect_eq "$v1 $(dpkg-deb -f "$client" Version)" "$ch_version $ch_version" "the packages to install are version $ch_version"
expect_eq "${v2%-*} $(dpkg-deb -f "$up_client" Version)" "$ac_version $v2" "the upgrade packages are version $v2 of $ac_version"
if dpkg --compare-versions "$v2" gt "$v1"; then
        pass "$v2 is higher than $v1"
else
        fail "$v2 is higher than $v1"
fi

# ------------------------------------------------------------ boot
P=$(mktemp -d "$DWELL_SANDBOX/nspawn.XXXXXX")
mkdir -p "$P/debs/v1" "$P/debs/v2"
cp "$deb" "$client" "$P/debs/v1/"
cp "$up_deb" "$up_client" "$P/debs/v2/"
# A container image (as this host may be) forbids starting services from
# maintainer scripts; a server does not.
nspawn_boot dwell-pkg-test '
        rm -f "$R/usr/sbin/policy-rc.d"
        mkdir -p "$R/root/debs"
        cp -r "$P/debs/v1" "$P/debs/v2" "$R/root/debs/"'

# apt and dpkg: no questions, bounded; offline (the container has only
# lo: every dependency must already be installed).
apt_ct() {
        timeout -k 5 120 "${E[@]}" env DEBIAN_FRONTEND=noninteractive \
                sh -c 'cd /root/debs && exec apt-get -y -q --no-install-recommends \
                        -o Acquire::Retries=0 "$@"' apt "$@" </dev/null
}
session_key() {         # Id, InstanceId, name, owner of a session of alice, or nothing
        local k
        ct_capture dwell --json list "$1"
        k=$(json_eval "$OUT" '"%s %s %s %s" % (d[0]["id"], d[0]["instance_id"], d[0]["name"], d[0]["owner"])' 2>/dev/null)
        [[ $k =~ ^[0-9]+\ [^\ ]+\ $1\ alice$ ]] && echo "$k"
}
host_pids() { in_ct pgrep -x dwell-host | sort | tr '\n' ' '; }
# Every file and directory of the container's system directories (the
# lower layer is the live host: its /work, /root, /home, /tmp may change
# meanwhile) but for what apt, dpkg, the journal, systemd and this test keep
# of their own.  (Names only: contents change, e.g. the catalog database.)
file_list() {
        in_ct sh -c 'find /etc /usr /var /srv /opt /run -xdev' | grep -Ev \
                -e '^/var/tmp(/|$)' \
                -e '^/var/(lib/apt|lib/dpkg|cache|log/journal|log/apt)(/|$)' \
                -e '^/var/log/(dpkg\.log|alternatives\.log)$' \
                -e '^/run/(systemd|log|user|udev|lock|credentials)(/|$)' \
                -e '^/run/(utmp|nologin)$' \
                -e '^/var/lib/systemd/(random-seed|timers|catalog/database|linger)$' \
                -e '^/var/lib/PackageKit(/|$)' \
                | sort
}
journal_x() { in_ct journalctl -x --no-pager MESSAGE_ID=f6a936fc42324a5bb1445f9b04987d22; }

# basic.target leaves /run/nologin (pam_nologin: "System is booting up").
in_ct systemctl start systemd-user-sessions.service
before=$(file_list)
echo "# $(echo "$before" | wc -l) files and directories in the container before the installation"
if echo "$before" | grep -Eq '/_?dwell'; then
        fail "nothing of dwell in the container before the installation" "$(echo "$before" | grep -E '/_?dwell')"
fi

# ------------------------------------------------------------ install
t0=$(date +%s%N)
RC=0
OUT=$(apt_ct install "./v1/${deb##*/}" "./v1/${client##*/}" 2>&1) || RC=$?
expect_rc 0 "apt-get install ./dwell_$v1.deb ./dwell-client_$v1.deb"
echo "# apt-get install took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
expect_eq "$(in_ct dpkg-query -W -f='${Version} ${db:Status-Status}\n' dwell dwell-client)" \
        "$v1 installed"$'\n'"$v1 installed" "dwell and dwell-client $v1 are installed"
expect_eq "$(in_ct systemctl is-enabled dwelld.socket) $(in_ct systemctl is-active dwelld.socket)" \
        "enabled active" "dwelld.socket is enabled and listening"
expect_eq "$(in_ct systemctl is-enabled dwelld.service) $(in_ct systemctl is-active dwelld.service)" \
        "disabled inactive" "dwelld.service is not enabled and not started (the socket starts it)"
expect_eq "$(in_ct dpkg-query -W -f='${Conffiles}\n' dwell | awk 'NF {print $1}' | sort | tr '\n' ' ')" \
        "/etc/dwell/configurations.d/default.yaml /etc/pam.d/dwell " "/etc/dwell and the PAM service are conffiles"
expect_eq "$(stat -c '%a %U' "$R/run/dwell/sessions" "$R/var/log/dwell" 2>&1 | tr '\n' ' ')" "700 root 700 root " \
        "tmpfiles.d made /run/dwell/sessions and /var/log/dwell, 0700 root"
expect_eq "$(in_ct dwelld --check-config >/dev/null 2>&1; echo $?)" 0 "dwelld --check-config accepts the shipped configuration"

# ------------------------------------------------------------ use
ct_capture dwell new -n work
expect_rc 0 "alice: dwell new -n work"
expect_eq "$(in_ct systemctl is-active dwelld.service)" active "... started dwelld through the socket"
ct_capture dwell invoke work -- 'X=42; echo "hello $X"'
expect_eq "$OUT|$RC" "hello 42|0" "alice: dwell invoke work -- X=42; echo hello \$X"
ct_capture dwell invoke -d work -- 'sleep 1; echo "detached $X"'
expect_rc 0 "alice: dwell invoke -d work -- sleep 1; echo detached \$X"
ct_capture dwell receive work
expect_eq "$OUT|$RC" "detached 42|0" "alice: dwell receive work"

# ------------------------------------------------------------ restart
key=$(session_key work)
pid1=$(show MainPID) hosts1=$(host_pids)
ct_capture dwell invoke -d work -- 'for i in 1 2 3 4 5 6 7 8 9 10; do echo "r$i"; sleep 0.2; done'
expect_rc 0 "alice: invoke -d work -- (10 lines, 2 s)"
RC=0
OUT=$(in_ct systemctl restart dwelld.service 2>&1) || RC=$?
expect_rc 0 "systemctl restart dwelld (a command is running in work)"
pid2=$(show MainPID)
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && pass "... a new dwelld (MainPID $pid1 -> $pid2)" ||
        fail "... a new dwelld" "MainPID $pid1 -> $pid2"
expect_eq "$(session_key work)" "$key" "... work is the same session ($key)"
expect_eq "$(host_pids)" "$hosts1" "... its host processes are the same ($hosts1)"
[ -n "$key" ] && [ -n "$hosts1" ] && pass "... (work is listed: $key; host processes $hosts1)" ||
        fail "... (work is listed, its host processes seen)" "key '$key' hosts '$hosts1'"
ct_capture dwell receive work
expect_eq "$(echo $OUT)|$RC" "r1 r2 r3 r4 r5 r6 r7 r8 r9 r10|0" "... receive work gets all of the command's output"

# ------------------------------------------------------------ upgrade
token="# changed by the administrator $RANDOM$RANDOM"
echo "$token" >> "$R/etc/dwell/configurations.d/default.yaml"
echo "$token" >> "$R/etc/pam.d/dwell"
ct_capture dwell invoke -d work -- 'sleep 3; echo "across the upgrade $X"'
expect_rc 0 "alice: invoke -d work -- sleep 3; echo across the upgrade \$X"
pid1=$(show MainPID) hosts1=$(host_pids)
t0=$(date +%s%N)
RC=0
OUT=$(apt_ct install "./v2/${up_deb##*/}" "./v2/${up_client##*/}" 2>&1) || RC=$?
expect_rc 0 "apt-get install ./dwell_$v2.deb ./dwell-client_$v2.deb (the upgrade)"
echo "# the upgrade took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
expect_eq "$(in_ct dpkg-query -W -f='${Version}\n' dwell dwell-client | tr '\n' ' ')" "$v2 $v2 " \
        "dwell and dwell-client $v2 are installed"
pid2=$(show MainPID)
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && pass "the running dwelld was restarted (MainPID $pid1 -> $pid2)" ||
        fail "the running dwelld was restarted" "MainPID $pid1 -> $pid2"
expect_eq "$(in_ct systemctl is-enabled dwelld.socket) $(in_ct systemctl is-active dwelld.socket)" \
        "enabled active" "dwelld.socket is still enabled and listening"
expect_eq "$(in_ct systemctl is-enabled dwelld.service)" disabled "dwelld.service is still not enabled"
expect_eq "$(tail -n 1 "$R/etc/dwell/configurations.d/default.yaml")" "$token" \
        "the modified conffile /etc/dwell/configurations.d/default.yaml is kept"
expect_eq "$(tail -n 1 "$R/etc/pam.d/dwell")" "$token" "the modified conffile /etc/pam.d/dwell is kept"
expect_eq "$(session_key work)" "$key" "work is the same session after the upgrade ($key)"
expect_eq "$(host_pids)" "$hosts1" "... its host processes are the same ($hosts1)"
ct_capture dwell receive work
expect_eq "$OUT|$RC" "across the upgrade 42|0" "... receive work gets the output of the command that ran across the upgrade"
ct_capture dwell invoke work -- 'echo "still $X"'
expect_eq "$OUT|$RC" "still 42|0" "... and its shell kept its state"
ct_capture dwell new -n fresh
expect_rc 0 "alice: dwell new -n fresh (after the upgrade)"
ct_capture dwell invoke fresh -- 'echo fresh'
expect_eq "$OUT|$RC" "fresh|0" "... invoke fresh works"

# ------------------------------------------------------------ catalog
jx=$(journal_x)
expect_match "$jx" "Subject: dwell: session work of alice created" "journalctl -x shows the catalog's subject for a dwell event"
expect_match "$jx" "Session [0-9]+ \\(work\\) was created for" "... and its text, with the event's fields"
expect_match "$jx" "alice with configuration default" "... (owner and configuration too)"

# ------------------------------------------------------------ purge
RC=0
OUT=$(apt_ct purge dwell dwell-client 2>&1) || RC=$?
expect_rc 0 "apt-get purge dwell dwell-client"
expect_match "$OUT" "dwell: ending 2 session\(s\) before removal" "... ended the two remaining sessions first"
st=$(in_ct dpkg-query -W -f='${Package}: ${db:Status-Status}\n' dwell dwell-client 2>/dev/null)
expect_no_match "$st" ': (installed|config-files|half-)' "dwell and dwell-client are gone, configuration too"
wait_for '[ -z "$(host_pids)" ]' 10 && pass "no session host is left" ||
        fail "no session host is left" "$(in_ct ps -ef)"
expect_eq "$(in_ct pgrep -x dwelld)" "" "no dwelld is left"
expect_no_match "$(in_ct systemctl list-units --all --no-legend 'dwell*')" . "systemd knows no dwell unit any more"
expect_no_match "$(journal_x)" "Subject: dwell:" "journalctl -x no longer has dwell's catalog text"
after=$(file_list)
if [ "$before" = "$after" ]; then
        pass "purge left nothing behind ($(echo "$after" | wc -l) files and directories, as before the installation)"
else
        fail "purge left nothing behind" "$(diff <(echo "$before") <(echo "$after"))"
fi

if [ "$_tap_failed" -gt 0 ]; then
        diag_journal | _diag
fi
