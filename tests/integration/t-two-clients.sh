#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-two-clients.sh — one client at a time; `dwell disconnect`; shell state
# survives a disconnect:
#   - client A holds session `work` with `dwell connect` driven through a
#     fifo the test keeps open; it sets X=hello and prints it;
#   - client B (another `dwell` process of alice) sees the session as
#     Disconnected/Busy in `list`; B's `connect`, `receive` and synchronous
#     `invoke` fail with `busy` (--json code) and a message naming who holds
#     it (alice and A's pid);
#   - B runs `dwell disconnect work`: A prints who disconnected it on stderr
#     and exits 0; B's list now shows Disconnected/None;
#   - B can connect: with stdin's lines as commands, `echo $X` prints hello
#     (the variable set through A survived), and B leaves with end of input.

. "$(dirname "$0")/lib.sh"

col() {
        printf '%s\n' "$1" | awk -v n="$2" -v c="$3" 'NR > 1 && $2 == n { print $c }'
}

capture alice dwell new -n work
expect_rc 0 "alice: new -n work"

a_out=$DWELL_SANDBOX/a.out
a_err=$DWELL_SANDBOX/a.err
connect_bg alice work "$a_out" "$a_err"
a_pid=$CONNECT_PID

connect_send 'X=hello; echo "A says $X"'
if wait_for "grep -qx 'A says hello' '$a_out'" 10; then
        pass "client A is connected and runs stdin's lines"
else
        fail "client A is connected and runs stdin's lines" "stdout: $(cat "$a_out")" "stderr: $(cat "$a_err")"
fi

# A's dwell process (as_user's subshell execs timeout, which runs setpriv →
# env → dwell): the only `dwell` process of alice right now.
a_dwell=$(pgrep -u alice -x dwell | head -n 1 || true)
[ -n "$a_dwell" ] || a_dwell=unknown

capture alice dwell list
expect_rc 0 "client B: list"
expect_eq "$(col "$OUT" work 4)/$(col "$OUT" work 6)" "Disconnected/Busy" "  ... shows work Disconnected/Busy"
dwell_json alice list work
expect_eq "$(json_eval "$OUT" 'd[0]["state"] + "/" + d[0]["availability"]' 2>&1)" "Disconnected/Busy" \
        "  ... in --json too"

for verb in connect receive; do
        dwell_json alice "$verb" work
        expect_rc 255 "client B: $verb work fails"
        expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" busy "  ... with error busy"
        msg=$(json_eval "$OUT" 'd["message"]' 2>&1)
        expect_match "$msg" "alice" "  ... naming the holder, alice"
        expect_match "$msg" "(^|[^0-9])$a_dwell([^0-9]|\$)" "  ... and A's pid ($a_dwell)"
done
capture alice dwell connect work
expect_rc 255 "client B: plain connect fails"
expect_match "$ERR" "^dwell: .*alice" "  ... with a 'dwell: ' message naming alice"

dwell_json alice invoke work -- 'echo from B'
expect_rc 255 "client B: synchronous invoke work fails"
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" busy "  ... with error busy"
expect_no_match "$(cat "$a_out")" 'from B' "  ... and did not run"

# -- B disconnects A ------------------------------------------------------
capture alice dwell disconnect work
expect_rc 0 "client B: disconnect work"
if wait_for "! kill -0 $a_pid 2>/dev/null" 10; then
        a_rc=0
        wait "$a_pid" || a_rc=$?
        expect_eq "$a_rc" 0 "client A exits cleanly (status 0)"
else
        fail "client A exits within 10 s of being disconnected" "stderr: $(cat "$a_err")"
fi
connect_close
expect_match "$(cat "$a_err")" "disconnected by .*alice" "  ... after telling who disconnected it (stderr)"
expect_match "$(cat "$a_err")" "work" "  ... naming the session"

capture alice dwell list
expect_eq "$(col "$OUT" work 4)/$(col "$OUT" work 6)" "Disconnected/None" "client B: list now shows Disconnected/None"

# -- B connects; the shell state survived ---------------------------------
f=$DWELL_SANDBOX/b
RC=0
printf 'echo "B sees $X"\n' | as_user alice dwell connect work >"$f.out" 2>"$f.err" || RC=$?
OUT=$(cat "$f.out") ERR=$(cat "$f.err")
expect_rc 0 "client B: connect work (stdin: echo \$X) exits 0 at end of input"
expect_match "$OUT" '^B sees hello$' "  ... the variable set through A is still set"

capture alice dwell list
expect_eq "$(col "$OUT" work 4)/$(col "$OUT" work 6)" "Disconnected/None" "after B left, work is Disconnected/None"

capture alice dwell remove work
expect_rc 0 "remove work"
