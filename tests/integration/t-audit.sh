#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-audit.sh — audit events in a real journal.  A real systemd-journald runs
# inside the sandbox (tmpfs /run/systemd/journal, /run/log; the catalog in
# /run/systemd/catalog with a private /var/lib/systemd/catalog).  After a
# scripted scenario — create, invoke, disconnect, reconnect, denied access,
# a failed password, an idle expiry, a removal — `journalctl -o json` holds
# exactly the expected events (by DWELL_EVENT and MESSAGE_ID) with the
# expected DWELL_* fields, every one written by root, and `journalctl -x`
# shows the catalog's text.  Also: the session's transcript holds the
# commands and their output, is root-owned 0600 in a 0700 directory, and
# alice can neither read, change nor remove it.

. "$(dirname "$0")/lib.sh"

JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || { echo "1..0 # SKIP no systemd-journald"; exit 77; }

# ------------------------------------------------------------ a real journal
# journalctl reads catalogs from /usr/lib/systemd/catalog only: a private
# copy of it with dwell's file is bound over it (this mount namespace only),
# and the compiled database goes to a private /var/lib/systemd/catalog.
mkdir -p /run/systemd/journal /run/log /var/lib/systemd/catalog "$DWELL_SANDBOX/catalog"
cp /usr/lib/systemd/catalog/* "$DWELL_SANDBOX/catalog/" 2>/dev/null
cp "$top_srcdir/units/dwell.catalog" "$DWELL_SANDBOX/catalog/"
mount --bind "$DWELL_SANDBOX/catalog" /usr/lib/systemd/catalog
mount -t tmpfs -o mode=755 tmpfs /var/lib/systemd/catalog
"$JOURNALD" >"$DWELL_LOG_DIR/journald.log" 2>&1 &
track_pid $!
wait_for '[ -S /run/systemd/journal/socket ]' 10 || fail "journald listens" "$(cat "$DWELL_LOG_DIR/journald.log")"
journalctl --update-catalog 2>/dev/null
expect_eq "$?" 0 "journalctl --update-catalog (with dwell.catalog)"
# Events of everything started from now on go to the journal.
restart_dwelld || fail "dwelld restarted with the journal running"

jx() { journalctl --no-pager -q "$@"; }

# ------------------------------------------------------------ the scenario
capture alice dwell new -n work -c audited --idle-timeout 1h
expect_rc 0 "alice: new -n work -c audited"
capture alice dwell invoke work -- 'echo audited-out; echo audited-err >&2; sh -c "exit 3"'
expect_rc 3 "alice: invoke work (exit 3)"
# held by a connect client, then disconnected by a second client
connect_bg alice work "$DWELL_SANDBOX/connect.out" "$DWELL_SANDBOX/connect.err"
cpid=$CONNECT_PID
wait_for "as_user alice dwell list work | grep -q Busy" 10 ||
        fail "the connect client holds work" "$(cat "$DWELL_SANDBOX/connect.out" "$DWELL_SANDBOX/connect.err")"
capture alice dwell disconnect work
expect_rc 0 "alice: disconnect work (its other client)"
wait_for "! kill -0 $cpid 2>/dev/null" 10 || fail "the disconnected client exits"
connect_close
capture alice dwell receive work
expect_rc 3 "alice: receive work (reconnect)"
capture bob dwell invoke work -- true
expect_rc 255 "bob: invoke work is refused"
capture alice dwell new -c admins-only
expect_rc 255 "alice: new -c admins-only is refused"
capture bob sh -c 'echo wrong-pw | dwell --json list --credential alice'
expect_match "$OUT" '"auth-failed"' "bob: --credential alice with a wrong password fails"
capture alice dwell new -n short --idle-timeout 1s
expect_rc 0 "alice: new -n short --idle-timeout 1s"
wait_for "! as_user alice dwell list short >/dev/null 2>&1 || ! as_user alice dwell list | grep -q ' short '" 10 ||
        fail "short expires"
capture alice dwell remove work
expect_rc 0 "alice: remove work"
sleep 0.5
journalctl --sync 2>/dev/null || true

# ------------------------------------------------------------ the journal
jx -o json DWELL_EVENT=session-created DWELL_EVENT=session-connected DWELL_EVENT=session-disconnected \
        DWELL_EVENT=command-started DWELL_EVENT=command-finished DWELL_EVENT=access-denied DWELL_EVENT=auth-failed \
        DWELL_EVENT=idle-timeout DWELL_EVENT=session-removed DWELL_EVENT=config-loaded \
        >"$DWELL_SANDBOX/events.json" 2>&1
check=$("$PYTHON" - "$top_srcdir/src/shared/audit.c" "$DWELL_SANDBOX/events.json" <<'PY'
import json, re, sys, collections
ids = dict(re.findall(r'\{ "([a-z-]+)", "([0-9a-f]{32})" \}', open(sys.argv[1]).read()))
entries = [json.loads(l) for l in open(sys.argv[2]) if l.startswith('{')]
problems = []
for e in entries:
    ev = e.get("DWELL_EVENT")
    if e.get("MESSAGE_ID") != ids.get(ev):
        problems.append("%s: MESSAGE_ID %s" % (ev, e.get("MESSAGE_ID")))
    if e.get("_UID") != "0":
        problems.append("%s: written by uid %s" % (ev, e.get("_UID")))
def sel(ev, **kw):
    return [e for e in entries if e.get("DWELL_EVENT") == ev and all(e.get(k) == v for k, v in kw.items())]
work = [e for e in entries if e.get("DWELL_SESSION_NAME") == "work"]
count = collections.Counter(e["DWELL_EVENT"] for e in work)
expected = {"session-created": 1, "session-connected": 3, "session-disconnected": 3,
            "command-started": 1, "command-finished": 1, "session-removed": 1}
for ev, n in expected.items():
    if count.get(ev, 0) != n:
        problems.append("work: %d %s events, expected %d" % (count.get(ev, 0), ev, n))
for ev in count:
    if ev not in expected and ev != "access-denied":
        problems.append("work: unexpected %s" % ev)
c = sel("session-created", DWELL_SESSION_NAME="work", DWELL_OWNER="alice", DWELL_CONFIGURATION="audited")
if len(c) != 1 or not c[0].get("DWELL_SESSION_ID") or not c[0].get("DWELL_INSTANCE_ID"):
    problems.append("session-created lacks fields")
s = sel("command-started", DWELL_SESSION_NAME="work", DWELL_CALLER="alice", DWELL_COMMAND_ID="1")
if len(s) != 1 or "audited-out" not in s[0].get("DWELL_COMMAND", ""):
    problems.append("command-started lacks the full command text")
if len(sel("command-finished", DWELL_SESSION_NAME="work", DWELL_EXIT_STATUS="3", DWELL_COMMAND_ID="1")) != 1:
    problems.append("command-finished lacks exit status 3")
d = sel("session-disconnected", DWELL_SESSION_NAME="work")
if not any("disconnected by alice" in x.get("DWELL_REASON", "") for x in d):
    problems.append("no disconnection by another client: %s" % [x.get("DWELL_REASON") for x in d])
if len(sel("access-denied", DWELL_CALLER="bob", DWELL_SESSION_NAME="work")) != 1:
    problems.append("bob's denied invoke is not audited with the session")
if len(sel("access-denied", DWELL_CALLER="alice", DWELL_CONFIGURATION="admins-only")) != 1:
    problems.append("alice's denied configuration is not audited")
if len(sel("auth-failed", DWELL_CALLER="bob", DWELL_OWNER="alice")) != 1:
    problems.append("the failed password is not audited exactly once")
if len(sel("idle-timeout", DWELL_SESSION_NAME="short", DWELL_OWNER="alice")) != 1:
    problems.append("the idle expiry of short is not audited")
if len(sel("session-removed", DWELL_SESSION_NAME="work", DWELL_CALLER="alice")) != 1:
    problems.append("the removal is not audited with its caller")
if len(sel("config-loaded")) < 2:
    problems.append("configuration loads are not audited")
print("\n".join(problems) if problems else "OK %d events" % len(entries))
PY
)
expect_match "$check" '^OK' "the journal holds exactly the expected events and fields ($check)"

xtext=$(jx -x DWELL_EVENT=session-created DWELL_SESSION_NAME=work 2>&1)
expect_match "$xtext" 'Subject: dwell: session work of alice created' "journalctl -x shows the catalog's subject"
expect_match "$xtext" 'Its PAM session is' "  ... and its explanation"

# ------------------------------------------------------------ the transcript
t=$(ls /var/log/dwell/*.transcript 2>/dev/null | head -n 1)
if [ -n "$t" ]; then
        pass "the session wrote a transcript ($t)"
        expect_eq "$(stat -c '%U %a' "$t")" "root 600" "  ... root-owned, mode 0600"
        expect_eq "$(stat -c '%U %a' /var/log/dwell)" "root 700" "  ... in a root-only directory (0700)"
        expect_match "$(cat "$t")" 'command 1 started by alice: echo audited-out; echo audited-err >&2' "  ... it holds the command"
        expect_match "$(cat "$t")" '1 stdout: audited-out' "  ... its stdout"
        expect_match "$(cat "$t")" '1 stderr: audited-err' "  ... its stderr"
        expect_match "$(cat "$t")" 'command 1 finished: exit status 3' "  ... and its exit status"
        expect_fail "alice cannot read it" as_user alice cat "$t"
        expect_fail "alice cannot append to it" as_user alice sh -c "echo forged >> '$t'"
        expect_fail "alice cannot remove it" as_user alice rm -f "$t"
        [ -f "$t" ] && pass "  ... it outlives the session" || fail "  ... it outlives the session"
else
        fail "the session wrote a transcript" "$(ls -la /var/log/dwell 2>&1)"
fi

