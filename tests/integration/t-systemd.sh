#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-systemd.sh — dwell under a real systemd: a throw-away systemd-nspawn
# container (the recipe in ../shared/recipes/real-systemd.md) booted inside
# the test sandbox, with dwell installed as `make install` lays it out, and:
#   - socket activation: after `systemctl start dwelld.socket`
#     dwelld.service stays inactive until the first `dwell list`, then is
#     active (Type=notify: started only after READY=1), with its STATUS=
#     text, and the journal says it got the socket from systemd;
#   - `systemctl reload dwelld`: a configuration added to
#     configurations.d shows in `dwell config list`, the main PID is the
#     same, the journal shows the reload;
#   - `systemctl restart dwelld` while a session runs a command: a new main
#     PID, the session keeps its Id, InstanceId and name, and `receive`
#     gets all of the command's output;
#   - `systemctl stop dwelld`: the session hosts stay; the next `dwell`
#     call starts dwelld again through the socket and the session is back;
#   - the unit's context does not leak into sessions: a session's shell
#     writes its home, writes /tmp and the file is seen outside the session
#     (no private /tmp), has NoNewPrivs 0, the container's full
#     capability bounding set and no seccomp filter of its own (both as the
#     container's init), and a setuid program works (`passwd -S`,
#     which reads /etc/shadow only when its setuid bit takes effect, prints
#     the same as when root runs it); its environment has none of the
#     service's NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*, INVOCATION_ID; as a
#     control, a drop-in with PrivateTmp=/NoNewPrivileges= does show in a
#     session created under it (the checks can fail);
#   - the session's audit events are in the journal (DWELL_SESSION_NAME=).
#
# How: the container (nspawn-lib.sh) has an overlay of the host's / as its
# root, with a tmpfs upper layer, so nothing of the host changes; dwell's
# files, staged as `make install` lays them out, are put into the upper
# layer before boot, as is the test user alice (password alice-pw); it boots
# basic.target with --private-network; commands run inside with
# `nsenter -t LEADER -a`; nspawn, the container and their cgroup are
# removed when the test exits.
#
# Skipped (77) without systemd-nspawn (package systemd-container) or
# without a cgroup hierarchy nspawn can use.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nspawn-lib.sh"
nspawn_require

for b in dwelld/dwelld client/dwell host/dwell-host auth/dwell-auth; do
        [ -x "$top_builddir/src/$b" ] || { fail "src/$b is built"; exit 1; }
done

# ------------------------------------------------------------ paths
# Where `make install` puts things, from the build tree's Makefile (without
# running make: its values, $(var) made ${var}, expanded in order).
mkvar() {
        local v
        v=$(sed -n "s/^$1 = //p" "$top_builddir/Makefile" | head -n 1 | sed 's/\$(\([a-z_]*\))/${\1}/g')
        eval "$1=\"$v\""
}
for v in prefix exec_prefix bindir sbindir libexecdir pkglibexecdir sysconfdir rundir logdir \
         systemdsystemunitdir tmpfilesdir; do
        mkvar "$v"
done
: "${pkglibexecdir:=$libexecdir/dwell}" "${rundir:=/run/dwell}" "${logdir:=/var/log/dwell}"
: "${systemdsystemunitdir:=/lib/systemd/system}" "${tmpfilesdir:=/usr/lib/tmpfiles.d}"
confdir=$sysconfdir/dwell
echo "# installed layout: sbindir=$sbindir bindir=$bindir pkglibexecdir=$pkglibexecdir confdir=$confdir units=$systemdsystemunitdir"
if [ "$(sed -n 's/^ListenStream=//p' "$top_srcdir/units/dwelld.socket")" != "$rundir/dwelld.sock" ]; then
        fail "dwelld.socket listens on $rundir/dwelld.sock (the configured rundir)"
fi

render() {
        sed -e "s|@sbindir@|$sbindir|g; s|@bindir@|$bindir|g" \
            -e "s|@pkglibexecdir@|$pkglibexecdir|g; s|@sysconfdir@|$sysconfdir|g" \
            -e "s|@rundir@|$rundir|g; s|@logdir@|$logdir|g" "$1"
}

# ------------------------------------------------------------ staging tree
P=$(mktemp -d "$DWELL_SANDBOX/nspawn.XXXXXX")
ST=$P/stage
install -D -m 0755 "$top_builddir/src/dwelld/dwelld" "$ST$sbindir/dwelld"
install -D -m 0755 "$top_builddir/src/client/dwell" "$ST$bindir/dwell"
for h in host/dwell-host auth/dwell-auth bridge/dwell-bridge; do
        [ -x "$top_builddir/src/$h" ] && install -D -m 0755 "$top_builddir/src/$h" "$ST$pkglibexecdir/${h#*/}"
done
install -d -m 0755 "$ST$systemdsystemunitdir" "$ST$tmpfilesdir" "$ST/etc/pam.d" \
        "$ST$confdir/configurations.d"
render "$top_srcdir/units/dwelld.service.in" > "$ST$systemdsystemunitdir/dwelld.service"
cp "$top_srcdir/units/dwelld.socket" "$ST$systemdsystemunitdir/dwelld.socket"
render "$top_srcdir/units/dwell.conf.in" > "$ST$tmpfilesdir/dwell.conf"
render "$top_srcdir/pam/dwell.in" > "$ST/etc/pam.d/dwell"
cp "$top_srcdir/policy/default.yaml" "$ST$confdir/configurations.d/"

# ------------------------------------------------------------ boot
# The staging tree goes into the container's upper layer (tar: /lib may be
# a symlink to usr/lib there).
nspawn_boot dwell-test '
        tar -C "$P/stage" -cf - . | tar -C "$R" -xf - --keep-directory-symlink --no-same-owner'

# Inside the container: as root (in_ct), or as alice (dwell client, as_alice
# and ct_capture), with the installed dwell on PATH.
NSPAWN_PATH="$bindir:/usr/local/bin:/usr/bin:/bin"
journal() { in_ct journalctl --no-pager -o cat -u dwelld.service; }

# ------------------------------------------------------------ socket activation
# basic.target leaves /run/nologin (pam_nologin: "System is booting up");
# multi-user.target would start this, and dwelld.service is ordered after it.
in_ct systemctl start systemd-user-sessions.service
in_ct systemctl daemon-reload
RC=0
OUT=$(in_ct systemctl start dwelld.socket 2>&1) || RC=$?
expect_rc 0 "systemctl start dwelld.socket"
expect_eq "$(in_ct systemctl is-active dwelld.socket)" active "dwelld.socket is active"
expect_eq "$(in_ct systemctl is-active dwelld.service)" inactive "dwelld.service is inactive before any client"
ls -ld "$R$rundir" "$R$rundir/sessions" "$R$rundir/dwelld.sock" 2>&1 | sed 's/^/# /'
expect_eq "$(stat -c '%a %U' "$R$rundir/sessions" 2>&1)" "700 root" "tmpfiles.d made $rundir/sessions 0700 root at boot"

ct_capture dwell list
expect_rc 0 "alice: dwell list (the first client)"
expect_eq "$(in_ct systemctl is-active dwelld.service)" active "... started dwelld.service through the socket"
pid1=$(show MainPID)
expect_eq "$(show StatusText)" "Serving $rundir/dwelld.sock" "Type=notify: StatusText is dwelld's STATUS= ($(show StatusText))"
expect_eq "$(show Type) $(show NRestarts)" "notify 0" "... Type=notify, no restarts"
expect_match "$(journal)" "Listening on the socket passed by systemd" "the journal: dwelld got its socket from systemd"

# ------------------------------------------------------------ reload
cat > "$R$confdir/configurations.d/extra.yaml" <<'EOF'
description: added before systemctl reload
idle_timeout: 5m
EOF
ct_capture dwell config list
expect_no_match "$OUT" '^extra\b' "before the reload, config list does not show extra"
RC=0
OUT=$(in_ct systemctl reload dwelld.service 2>&1) || RC=$?
expect_rc 0 "systemctl reload dwelld"
ct_capture dwell config list
expect_match "$OUT" '^extra\b' "after it, config list shows the new configuration extra"
expect_eq "$(show MainPID)" "$pid1" "... dwelld was not restarted (MainPID $pid1)"
expect_match "$(journal)" "Reloading the configuration" "the journal shows the reload"
expect_match "$(in_ct journalctl --no-pager -o cat _PID=1 UNIT=dwelld.service)" "Reload(ing|ed)" \
        "... and systemd's own reload messages"

# ------------------------------------------------------------ a session
# 40 lines over about 4 s: still running across the restart below.
loop='for i in $(seq 1 40); do echo "line $i"; sleep 0.1; done; echo end'
expected=$( (for i in $(seq 1 40); do echo "line $i"; done; echo end) | sha256sum | cut -d' ' -f1)
ct_capture dwell invoke -d -n work -- "$loop"
expect_rc 0 "alice: invoke -d -n work -- (40 lines, 4 s)"
ct_capture dwell --json list work
before=$(json_eval "$OUT" '"%s %s %s %s" % (d[0]["id"], d[0]["instance_id"], d[0]["name"], d[0]["owner"])')
running=$(json_eval "$OUT" 'd[0]["command"] is not None')
expect_eq "$running" true "work is running its command"

# ------------------------------------------------------------ restart
RC=0
OUT=$(in_ct systemctl restart dwelld.service 2>&1) || RC=$?
expect_rc 0 "systemctl restart dwelld (a command is running in work)"
pid2=$(show MainPID)
if [ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ]; then
        pass "... a new dwelld (MainPID $pid1 -> $pid2)"
else
        fail "... a new dwelld" "MainPID $pid1 -> $pid2"
fi
ct_capture dwell --json list work
after=$(json_eval "$OUT" '"%s %s %s %s" % (d[0]["id"], d[0]["instance_id"], d[0]["name"], d[0]["owner"])')
expect_eq "$after" "$before" "after the restart work has the same Id, InstanceId, name, owner"
expect_eq "$(json_eval "$OUT" 'd[0]["state"]')" Disconnected "... and is Disconnected"
expect_match "$(journal)" "Re-adopting session [0-9]+ \(work\)" "the journal shows the session re-adopted"
ct_capture dwell receive work
got=$(printf '%s\n' "$OUT" | sha256sum | cut -d' ' -f1)
if [ "$RC" = 0 ] && [ "$got" = "$expected" ]; then
        pass "receive work gets all 41 lines, exit 0"
else
        fail "receive work gets all 41 lines, exit 0" "$(_last)"
fi

# ------------------------------------------------------------ stop, start by socket
ct_capture dwell invoke -d work -- 'sleep 2; echo after-stop'
expect_rc 0 "alice: invoke -d work -- sleep 2; echo after-stop"
RC=0
OUT=$(in_ct systemctl stop dwelld.service 2>&1) || RC=$?
expect_rc 0 "systemctl stop dwelld"
expect_eq "$(in_ct systemctl is-active dwelld.service)" inactive "... dwelld.service is inactive"
expect_eq "$(in_ct systemctl is-active dwelld.socket)" active "... dwelld.socket still listens"
hosts=$(in_ct ps -e -o comm= | grep -c '^dwell-host$')
expect_eq "$hosts" 2 "... the session host (monitor and worker) lives on"
ct_capture dwell --json list work
expect_rc 0 "alice: dwell list work, with dwelld stopped"
expect_eq "$(in_ct systemctl is-active dwelld.service)" active "... started dwelld.service through the socket again"
after=$(json_eval "$OUT" '"%s %s %s %s" % (d[0]["id"], d[0]["instance_id"], d[0]["name"], d[0]["owner"])')
expect_eq "$after" "$before" "... work is there, the same session"
ct_capture dwell receive work
expect_eq "$OUT|$RC" "after-stop|0" "receive work gets the output of the command that ran across the stop"

# ------------------------------------------------------------ no hardening leaks
ct_capture dwell invoke work -- 'echo in-home > ~/dwell-home-probe && cat ~/dwell-home-probe'
expect_eq "$OUT|$RC" "in-home|0" "a session writes its home"
token=tmp-probe-$RANDOM$RANDOM
ct_capture dwell invoke work -- "echo $token > /tmp/dwell-tmp-probe && cat /tmp/dwell-tmp-probe"
expect_eq "$OUT|$RC" "$token|0" "a session writes /tmp"
expect_eq "$(cat "$R/tmp/dwell-tmp-probe" 2>&1)" "$token" "... and the file is in the system's /tmp (no PrivateTmp)"
expect_eq "$(in_ct cat /tmp/dwell-tmp-probe 2>&1)" "$token" "... as root in the container sees it"
ct_capture dwell invoke work -- 'grep -E "^(NoNewPrivs|CapBnd|Seccomp|Seccomp_filters):" /proc/self/status'
echo "$OUT" | sed 's/^/# session: /'
expect_match "$OUT" '^NoNewPrivs:[[:space:]]+0$' "a session's shell has NoNewPrivs 0"
# nspawn puts a seccomp filter on the whole container: compare with its init.
ct=$(in_ct grep -E '^(CapBnd|Seccomp_filters):' /proc/1/status)
echo "$ct" | sed 's/^/# container init: /'
expect_eq "$(echo "$OUT" | grep -E '^(CapBnd|Seccomp_filters):')" "$ct" \
        "... the container's full bounding set, no seccomp filter beyond the container's"
if [ -u "$R/usr/bin/passwd" ]; then
        want=$(in_ct passwd -S alice)
        ct_capture dwell invoke work -- 'passwd -S alice'
        if [ "$RC" = 0 ] && [ "$OUT" = "$want" ]; then
                pass "a setuid program works in a session (passwd -S alice read /etc/shadow: $OUT)"
        else
                fail "a setuid program works in a session (passwd -S alice)" "as root: $want" "$(_last)"
        fi
else
        pass "# SKIP /usr/bin/passwd is not setuid here"
fi
ct_capture dwell invoke work -- 'env'
expect_no_match "$OUT" '^(NOTIFY_SOCKET|LISTEN_[A-Z]+|WATCHDOG_[A-Z]+|INVOCATION_ID|MAINPID)=' \
        "the session's environment has none of the service's variables"
expect_match "$OUT" '^USER=alice$' "... but a login's (USER=alice)"

# The check above is not vacuous: with hardening in a drop-in, a new
# session (created by the dwelld started with it) gets it.
install -d "$R/etc/systemd/system/dwelld.service.d"
printf '[Service]\nPrivateTmp=yes\nNoNewPrivileges=yes\n' > "$R/etc/systemd/system/dwelld.service.d/leak.conf"
in_ct systemctl daemon-reload
in_ct systemctl restart dwelld.service
ct_capture dwell invoke -n leaky -- "grep '^NoNewPrivs:' /proc/self/status; echo leaked > /tmp/dwell-leak-probe"
if printf '%s\n' "$OUT" | grep -Eq '^NoNewPrivs:[[:space:]]+1$' && [ ! -e "$R/tmp/dwell-leak-probe" ]; then
        pass "control: with PrivateTmp=/NoNewPrivileges= in a drop-in, a new session would inherit them"
else
        fail "control: with PrivateTmp=/NoNewPrivileges= in a drop-in, a new session would inherit them" \
                "$(_last)" "$(ls -l "$R/tmp/dwell-leak-probe" 2>&1)"
fi
rm -f "$R/etc/systemd/system/dwelld.service.d/leak.conf"
in_ct systemctl daemon-reload
in_ct systemctl restart dwelld.service
ct_capture dwell invoke work -- "grep '^NoNewPrivs:' /proc/self/status"
expect_match "$OUT" '^NoNewPrivs:[[:space:]]+0$' "... while work, started before, kept NoNewPrivs 0"

# The audit trail reaches the journal from the service.
expect_match "$(in_ct journalctl --no-pager -o cat DWELL_SESSION_NAME=work)" "." \
        "the journal has events with DWELL_SESSION_NAME=work"

# ------------------------------------------------------------ end
ct_capture dwell remove work
expect_rc 0 "remove work"
wait_for '[ "$(in_ct ps -e -o comm= | grep -c "^dwell-host$")" -eq 0 ]' 10 &&
        pass "... its session host is gone" || fail "... its session host is gone" "$(in_ct ps -ef)"
RC=0
OUT=$(in_ct systemctl stop dwelld.service dwelld.socket 2>&1) || RC=$?
expect_rc 0 "systemctl stop dwelld.service dwelld.socket"
expect_eq "$(show Result)" success "dwelld.service Result=success"
warn=$(in_ct journalctl --no-pager -o cat -p warning -u dwelld.service | grep -v 'remains running after unit stopped\|Found left-over process\|This usually indicates unclean termination' || true)
[ -n "$warn" ] || warn="(none besides left-over/remaining session host processes, which KillMode=process intends)"
echo "$warn" | sed 's/^/# journal warning: /'

if [ "$_tap_failed" -gt 0 ]; then
        diag_journal | _diag
fi
