#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-reconnect-ssh.sh — dwell -H reconnects by itself, with a real sshd behind
# a network link the test cuts: sshd (and so dwell-bridge) runs in a child
# network namespace joined to the test's by a veth pair (10.77.0.1 here,
# 10.77.0.2 there); dwelld's socket is a file, reachable from both.
# dwelld.yaml sets heartbeat_interval: 1s (a silent peer is lost in ~3 s).
#   - receive of 20 MiB (produced over ~6 s) with the link down for 10 s in
#     the middle: the client notices, retries (ssh cannot connect meanwhile),
#     reconnects by itself once the link is back; byte-exact (sha256);
#   - the same with --reconnect-timeout 5s and the link down for 12 s: it
#     gives up with `dwell -H HOST receive NAME` and exits 255; that command,
#     run later, gets the rest: the concatenation is byte-exact, also of
#     what the client wrote after the link went down (ssh still held it)
#     with acknowledgements that never arrived;
#   - the ssh child killed (SIGKILL, by pid) mid-stream: reconnects;
#   - dwelld killed (-9) and the ssh child killed, dwelld started again 3 s
#     later: reconnects once the bridge can reach dwelld again;
#   - invoke -- cat over ssh with 4 MiB of stdin from a slow pipe, its ssh
#     killed mid-stream: the echoed output's sha256 is the input's.

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=90}"

far_host far 10.77.0 rc || exit 1
ssh_user_key alice laptop
ssh_client_config alice /home/alice/.ssh/cfg laptop
H=alice@10.77.0.2
SSHENV="DWELL_SSH=ssh -F /home/alice/.ssh/cfg"


W=$DWELL_SANDBOX/writer.py
data_writer "$W"
SIZE=$((20 * 1024 * 1024))
EXPECT=$("$PYTHON" "$W" "$SIZE" | sha256sum | cut -d' ' -f1)
PROG=$DWELL_SANDBOX/progress
: >"$PROG"; chmod 0666 "$PROG"
GEN="python3 $W $SIZE $PROG 0.001"

sha() { sha256sum "$1" | cut -d' ' -f1; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

client_pid() {
        local i p
        for ((i = 0; i < 50; i++)); do
                p=$(pgrep -u alice -x dwell | head -n 1)
                [ -n "$p" ] && { echo "$p"; return 0; }
                sleep 0.1
        done
        return 1
}
ssh_child() {
        local i p
        for ((i = 0; i < 50; i++)); do
                p=$(pgrep -P "$1" -x ssh | head -n 1)
                [ -n "$p" ] && { echo "$p"; return 0; }
                sleep 0.1
        done
        return 1
}

start_receive() {
        local name=$1 out=$2 err=$3
        shift 3
        : >"$out"; chmod 0666 "$out"
        as_user alice env "$SSHENV" dwell -H "$H" "$@" receive "$name" >>"$out" 2>"$err" &
        RPID=$!
        track_pid "$RPID"
}

new_job() {
        capture alice env "$SSHENV" dwell -H "$H" invoke -d -n "$1" -- "$GEN"
        expect_rc 0 "over ssh: invoke -d -n $1 (20 MiB in ~6 s)"
}

streaming() {
        wait_for "[ \$(fsize $1) -gt $((2 * 1024 * 1024)) ]" 30 || fail "receive is streaming" "$(cat "$2")"
}

# -- 1: the link down for 10 s --------------------------------------------------
new_job cut
out=$DWELL_SANDBOX/cut.out; err=$DWELL_SANDBOX/cut.err
start_receive cut "$out" "$err"
streaming "$out" "$err"
far_link down
sleep 10
far_link up
rc=0; wait "$RPID" || rc=$?
expect_eq "$rc" 0 "link down 10 s mid-receive: the client reconnects by itself, exit 0"
expect_eq "$(sha "$out")" "$EXPECT" "  ... the 20 MiB are byte-exact (sha256)"
expect_match "$(cat "$err")" "^dwell: connection to $H lost; reconnecting \\(attempt [0-9]+, [0-9]+ s left\\)\$" "  ... the status line names the host"
expect_match "$(cat "$err")" "^dwell: reconnected to $H\$" "  ... and says it is back"

# -- 2: the link down longer than the window ---------------------------------------
new_job long
out=$DWELL_SANDBOX/long.out; err=$DWELL_SANDBOX/long.err
start_receive long "$out" "$err" --reconnect-timeout 5s
streaming "$out" "$err"
# Output piles up in ssh's buffers while the client is stopped; once the
# link is down it writes what ssh still holds, and its acknowledgements
# cannot leave: the later receive must know from the file's size.
p=$(client_pid)
kill -STOP "$p"
sleep 1
far_link down
kill -CONT "$p"
rc=0; wait "$RPID" || rc=$?
far_link up
expect_eq "$rc" 255 "link down longer than --reconnect-timeout 5s: gives up, exit 255"
expect_match "$(cat "$err")" "^dwell: gave up after 5s; the session keeps running: dwell -H $H receive long\$" "  ... with the pick-up command"
as_user alice env "$SSHENV" dwell -H "$H" receive long >>"$out" 2>"$err.2"
expect_eq "$?" 0 "  ... which gets the rest later (exit 0)"
echo "# long: $(stat -c %s "$out") bytes (20 MiB: 20971520)"
expect_eq "$(sha "$out")" "$EXPECT" "  ... the concatenated output is byte-exact (sha256)"

# -- 3: ssh killed ---------------------------------------------------------------------
new_job kill
out=$DWELL_SANDBOX/kill.out; err=$DWELL_SANDBOX/kill.err
start_receive kill "$out" "$err"
streaming "$out" "$err"
p=$(client_pid); s=$(ssh_child "$p")
kill -KILL "$s"
rc=0; wait "$RPID" || rc=$?
expect_eq "$rc" 0 "ssh killed mid-receive: reconnects, exit 0"
expect_eq "$(sha "$out")" "$EXPECT" "  ... byte-exact (sha256)"
expect_match "$(cat "$err")" "^dwell: reconnected to $H\$" "  ... reconnected by itself"

# -- 4: dwelld restarted -------------------------------------------------------------------
new_job restart
out=$DWELL_SANDBOX/restart.out; err=$DWELL_SANDBOX/restart.err
start_receive restart "$out" "$err"
streaming "$out" "$err"
p=$(client_pid); s=$(ssh_child "$p")
stop_dwelld KILL
kill -KILL "$s"
sleep 3
start_dwelld || fail "dwelld started again"
rc=0; wait "$RPID" || rc=$?
expect_eq "$rc" 0 "dwelld restarted (and ssh killed) mid-receive: reconnects, exit 0"
expect_eq "$(sha "$out")" "$EXPECT" "  ... byte-exact (sha256)"
expect_match "$(cat "$err")" 'attempt [2-9]' "  ... after attempts while dwelld was down"

# -- 5: invoke with stdin over ssh ----------------------------------------------------------
IN=$((4 * 1024 * 1024))
: >"$PROG.in"; chmod 0666 "$PROG.in"
EXPECT_IN=$("$PYTHON" "$W" "$IN" | sha256sum | cut -d' ' -f1)
out=$DWELL_SANDBOX/inv.out; err=$DWELL_SANDBOX/inv.err
: >"$out"; chmod 0666 "$out"
as_user alice env "$SSHENV" sh -c "python3 $W $IN $PROG.in 0.002 | dwell -H $H invoke -- cat" >"$out" 2>"$err" &
IPID=$!; track_pid "$IPID"
wait_for "[ \$(fsize $out) -gt $((1024 * 1024)) ]" 30 || fail "invoke -- cat over ssh is echoing" "$(cat "$err")"
p=$(client_pid); s=$(ssh_child "$p")
kill -KILL "$s"
rc=0; wait "$IPID" || rc=$?
expect_eq "$rc" 0 "invoke -- cat over ssh, its ssh killed mid-stream: exit 0"
expect_eq "$(sha "$out")" "$EXPECT_IN" "  ... stdin echoed byte-exact (sha256)"
expect_match "$(cat "$err")" "^dwell: reconnected to $H\$" "  ... reconnected by itself"

capture alice dwell remove --all

# Leave nothing running: every session host ends before the sandbox does.
capture alice dwell remove --all
wait_for '[ "$(ps -e -o comm= | grep -c "^dwell-host$")" -eq 0 ]' 15 ||
        fail "every session host ended" "$(ps -e -o pid,user,args | grep dwell-host)"
