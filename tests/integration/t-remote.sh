#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-remote.sh — dwell over SSH with a real sshd (openssh-server), in a private
# network namespace (ssh-lib.sh): sshd on 127.0.0.1:2222 with its own host
# key, key logins, `Subsystem dwell .../dwell-bridge`.
#   - alice (key "laptop") creates r1 with `dwell -H alice@127.0.0.1:2222 new`
#     and starts `for i in $(seq 1 40) ...` in it with invoke -d;
#   - a remote `receive r1 > FILE` runs (--reconnect-timeout 0: it does not
#     reconnect by itself; t-reconnect-ssh.sh has that); when FILE holds 10 lines, its ssh
#     client is killed with SIGKILL (between two lines); dwell says how to
#     reconnect and exits 255;
#   - alice from "another machine" (key "desktop", another ssh_config) lists
#     r1 Disconnected/None, with the origin the bridge reported in list -l
#     and --json (but not as its PAM session's PAM_RHOST: it is unverified); her `receive r1 >> FILE` exits 0 and FILE is exactly
#     1..40: nothing missing, nothing repeated; `wait r2` over ssh returns
#     with r2's command's status, leaving its output for receive;
#   - bob over SSH cannot see r1 (empty list; receive: not-found); with
#     --credential alice and alice's password on stdin he can;
#   - an sshd without the subsystem: dwell falls back to running the bridge
#     as a command (DWELL_REMOTE_BRIDGE);
#   - stdin over SSH: `printf ... | dwell -H HOST invoke r1 -- cat` and 3 MB
#     of binary checksummed on the other side.

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=30}"

sshd_start main 127.0.0.1 2222 || exit 1
ssh_user_key alice laptop
ssh_user_key alice desktop
ssh_user_key bob id
ssh_client_config alice /home/alice/.ssh/cfg-laptop laptop
ssh_client_config alice /home/alice/.ssh/cfg-desktop desktop
ssh_client_config bob /home/bob/.ssh/cfg id

H=alice@127.0.0.1:2222
LAPTOP="DWELL_SSH=ssh -F /home/alice/.ssh/cfg-laptop"
DESKTOP="DWELL_SSH=ssh -F /home/alice/.ssh/cfg-desktop"
BOB="DWELL_SSH=ssh -F /home/bob/.ssh/cfg"

capture alice "$LAPTOP" dwell -H "$H" new -n r1
expect_rc 0 "alice over ssh: new -n r1"
expect_match "$OUT" '^[0-9]+ +r1 +dwell-test +Opened +default +Available$' "  ... prints the row of r1 (Opened by its creator)"

capture alice "$LAPTOP" dwell -H "$H" invoke -d r1 -- 'for i in $(seq 1 40); do echo $i; sleep 0.05; done'
expect_rc 0 "alice over ssh: invoke -d r1 -- (40 lines, 50 ms apart)"

# -- a receive whose ssh client is killed mid-stream ----------------------------
recv=$DWELL_SANDBOX/r1.out
: >"$recv"
chmod 0666 "$recv"
res=$("$PYTHON" - "$recv" "$DWELL_BIN_DIR/dwell" "$H" <<'PY'
import os, signal, subprocess, sys, time
path, dwell, host = sys.argv[1:4]
env = {"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice", "PATH": "/usr/bin:/bin",
       "LANG": "C.UTF-8", "DWELL_SSH": "ssh -F /home/alice/.ssh/cfg-laptop"}
with open(path, "ab") as out, open(path + ".err", "wb") as err:
    p = subprocess.Popen(["setpriv", "--reuid", "alice", "--regid", "alice", "--init-groups",
                          "--reset-env", "env"] + ["%s=%s" % kv for kv in env.items()] +
                         [dwell, "-H", host, "--reconnect-timeout", "0", "receive", "r1"],
                         stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd="/home/alice")
    deadline = time.time() + 15
    while time.time() < deadline:
        if p.poll() is not None:
            print("exited-early %d" % p.returncode)
            sys.exit(0)
        with open(path, "rb") as f:
            lines = f.read().count(b"\n")
        if lines >= 10:
            break
        time.sleep(0.001)
    else:
        p.kill()
        print("timeout")
        sys.exit(0)
    # Between two lines (50 ms apart): the last one's ACK has gone out.
    time.sleep(0.02)
    ssh = subprocess.run(["pgrep", "-P", str(p.pid), "-x", "ssh"], capture_output=True, text=True).stdout.split()
    if not ssh:
        print("no-ssh-child")
        p.kill()
        sys.exit(0)
    os.kill(int(ssh[0]), signal.SIGKILL)
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        print("dwell-hung")
        sys.exit(0)
    print("killed %d %d" % (rc, len(open(path, "rb").read().splitlines())))
PY
)
case "$res" in
killed*)
        set -- $res
        expect_eq "$2" 255 "receive whose ssh was killed with SIGKILL mid-stream (after $3 lines) exits 255"
        if [ "$3" -lt 40 ]; then pass "  ... it had not got everything ($3 of 40 lines)"; else fail "  ... mid-stream" "it got all 40 lines"; fi;;
*)
        fail "receive whose ssh was killed with SIGKILL mid-stream" "$res" "$(cat "$recv.err")";;
esac
expect_match "$(cat "$recv.err")" "^dwell: lost connection to $H; reconnect with: dwell -H $H receive r1\$" \
        "  ... and says how to reconnect"

# -- "another machine": alice with her other key --------------------------------
wait_for "as_user alice '$DESKTOP' dwell -H '$H' list r1 2>/dev/null | grep -Eq ' Disconnected +default +None\$'" 10 || true
capture alice "$DESKTOP" dwell -H "$H" list r1
expect_match "$OUT" '^[0-9]+ +r1 +dwell-test +Disconnected +default +None$' \
        "alice from another key/ssh client: r1 is Disconnected/None"
capture alice "$DESKTOP" dwell -H "$H" list -l r1
expect_match "$OUT" '^Id +Name .* Dropped +Origin +Reason +Terminal +Watchers +LastCommand +LastStatus +Command$' "  ... list -l has an Origin column"
expect_match "$OUT" ' ssh 127\.0\.0\.1 port [0-9]+ ' "  ... showing the origin the bridge reported"
capture alice "$DESKTOP" dwell -H "$H" --json list r1
expect_match "$(json_eval "$OUT" 'd[0]["origin"]' 2>&1)" '^ssh 127\.0\.0\.1 port [0-9]+$' \
        "  ... --json list: \"origin\" is the one reported"
expect_match "$(cat "$DWELL_LOG_DIR/pam-items.log")" '^open user=alice ruser=alice tty=dwell rhost=$' \
        "  ... its PAM session has PAM_TTY dwell and no PAM_RHOST (the origin is unverified)"
expect_eq "$(json_eval "$OUT" '[d[0]["state"], d[0]["availability"]]' 2>&1)" '["Disconnected", "None"]' \
        "  ... --json list: Disconnected, None"

rc=0
as_user alice "$DESKTOP" dwell -H "$H" receive r1 >>"$recv" 2>"$recv.err2" || rc=$?
expect_eq "$rc" 0 "alice (other key): receive r1 exits 0"
expect_eq "$(cat "$recv")" "$(seq 1 40)" "  ... both receives together: exactly 1..40, none missing, none repeated"
expect_eq "$(cat "$recv.err2")" "" "  ... nothing on stderr"
capture alice "$DESKTOP" dwell -H "$H" invoke -d -n r2 -- 'echo r2; sleep 1; sh -c "exit 6"'
capture alice "$DESKTOP" dwell -H "$H" wait r2
expect_rc 6 "alice over ssh: wait r2 returns when the command is done, with its status (6)"
capture alice "$DESKTOP" dwell -H "$H" receive r2
expect_eq "$RC/$OUT" "6/r2" "  ... its output left for receive"
capture alice "$DESKTOP" dwell -H "$H" remove r2

# -- bob ---------------------------------------------------------------------------
capture bob "$BOB" dwell -H bob@127.0.0.1:2222 list
expect_rc 0 "bob over ssh: list"
expect_no_match "$OUT" ' r1 ' "  ... does not show alice's r1"
capture bob "$BOB" dwell -H bob@127.0.0.1:2222 --json receive r1
expect_rc 255 "bob over ssh: receive r1 fails"
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" not-found "  ... not-found"

f=$DWELL_SANDBOX/bob-in
printf 'alice-pw\n' >"$f"
chmod 0644 "$f"
RC=0
OUT=$(as_user bob "$BOB" setsid -w dwell -H bob@127.0.0.1:2222 list --credential alice r1 <"$f" 2>"$f.err") || RC=$?
expect_rc 0 "bob over ssh: list --credential alice (password on stdin)"
expect_match "$OUT" '^[0-9]+ +r1 +dwell-test +Disconnected +default +None$' "  ... shows r1"
RC=0
OUT=$(as_user bob "$BOB" setsid -w dwell -H bob@127.0.0.1:2222 receive --credential alice r1 <"$f" 2>"$f.err") || RC=$?
expect_rc 0 "bob over ssh: receive --credential alice r1"
capture bob "$BOB" dwell -H bob@127.0.0.1:2222 list r1
expect_eq "$OUT" "Id Name Host State Configuration Availability" "  ... and without it still sees nothing"

# -- connect: commands from stdin, shell state kept ---------------------------------
f2=$DWELL_SANDBOX/connect-in
printf 'cd /tmp; X=4\necho connected $((X + 1)) $PWD\n' >"$f2"
chmod 0644 "$f2"
RC=0
OUT=$(as_user alice "$DESKTOP" dwell -H "$H" connect r1 <"$f2" 2>"$f2.err") || RC=$?
expect_rc 0 "alice over ssh: connect r1 with commands on stdin"
expect_match "$OUT" '^connected 5 /tmp$' "  ... runs them in the session's shell"
capture alice "$DESKTOP" dwell -H "$H" list r1
expect_match "$OUT" ' Disconnected +default +None$' "  ... and leaves it Disconnected/None"

# -- stdin through the bridge --------------------------------------------------
out=$(printf 'over ssh\n' | as_user alice "$DESKTOP" dwell -H "$H" invoke r1 -- 'cat; echo read-all')
expect_eq "$out" "over ssh
read-all" "alice over ssh: stdin reaches the command, end-of-file included"
head -c 3000000 /dev/urandom >"$DWELL_SANDBOX/r.bin"
chmod 0644 "$DWELL_SANDBOX/r.bin"
want=$(sha256sum <"$DWELL_SANDBOX/r.bin" | cut -d' ' -f1)
got=$(as_user alice "$DESKTOP" dwell -H "$H" invoke r1 -- sha256sum <"$DWELL_SANDBOX/r.bin" | cut -d' ' -f1)
expect_eq "$got" "$want" "  ... binary-safe (3 MB, sha256)"

capture alice "$DESKTOP" dwell -H "$H" remove r1
expect_rc 0 "alice over ssh: remove r1"

# -- no subsystem: the bridge as a command ----------------------------------------
NO_SUBSYSTEM=1 sshd_start nosub 127.0.0.1 2223 || exit 1
capture alice "$LAPTOP" DWELL_REMOTE_BRIDGE="$DWELL_LIBEXECDIR/dwell-bridge" \
        dwell -H alice@127.0.0.1:2223 invoke -- 'echo via-command'
expect_rc 0 "sshd without the dwell subsystem: invoke falls back to the bridge as a command"
expect_eq "$OUT" via-command "  ... with the output"
expect_eq "$ERR" "" "  ... and nothing on stderr"
if grep -q 'subsystem request for dwell by user alice failed' "$DWELL_LOG_DIR/sshd-nosub.log"; then
        pass "  ... (sshd refused the subsystem first)"
else
        fail "  ... (sshd refused the subsystem first)" "$(tail -n 20 "$DWELL_LOG_DIR/sshd-nosub.log")"
fi

# -- an unreachable host: one clear line ---------------------------------------------
capture alice "$LAPTOP" dwell -H alice@127.0.0.1:2299 list
expect_rc 255 "a host where nothing listens: exit 255"
expect_match "$ERR" '^dwell: cannot reach dwelld on alice@127\.0\.0\.1:2299 over ssh: .*Connection refused' \
        "  ... one line naming the host and ssh's reason"

wait_for '! pgrep -x ssh >/dev/null' 5 || true
expect_eq "$(pgrep -a -x ssh)" "" "no ssh client process is left behind"
