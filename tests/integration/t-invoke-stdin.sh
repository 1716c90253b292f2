#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-invoke-stdin.sh — invoke passes its stdin to the command:
#   - `echo hi | dwell invoke s -- cat` prints hi; `wc -c` of nothing is 0;
#   - a 50 MiB binary file through `dwell invoke s -- 'cat > FILE'` arrives
#     exactly (sha256), and through a temporary session too;
#   - a command that reads a line gets one and the rest stays for the next
#     read of the same command; the next command does not see leftovers;
#   - `invoke -d` and connect's commands read end-of-file at once;
#   - flow control: an honest client pouring /dev/zero into a command that
#     never reads holds the worker's memory within bounds;
#   - attacks by a raw client (alice): STDIN frames beyond the window,
#     STDIN on a connect (no command of its own), STDIN after the command
#     ended (within the window: dropped), a second STDIN_EOF: each either
#     ends that connection or is dropped; the session and bob's session are
#     unaffected.

. "$(dirname "$0")/lib.sh"

worker_rss_kb() {      # VmRSS of the worker of alice's session s
        local p
        for p in $(pgrep -u alice -f 'dwell-host'); do
                awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null
        done | sort -n | tail -n 1
}

capture alice dwell new -n s
expect_rc 0 "alice: new -n s"
capture bob dwell new -n b
capture bob dwell invoke b -- 'BOBVAR=fine'

out=$(as_user alice sh -c 'echo hi | dwell invoke s -- cat')
expect_eq "$out" "hi" "echo hi | dwell invoke s -- cat"
out=$(as_user alice sh -c 'dwell invoke s -- wc -c </dev/null')
expect_eq "$out" "0" "stdin /dev/null: the command reads end-of-file"
out=$(as_user alice sh -c 'printf "one\ntwo\nthree\n" | dwell invoke s -- "read a; read b; echo \$b; cat"')
expect_eq "$out" "two
three" "reads within one command see the stream in order"
out=$(as_user alice sh -c 'printf "left over\n" | dwell invoke s -- true; dwell invoke s -- cat </dev/null')
expect_eq "$out" "" "  ... and what a command left unread does not reach the next"

big=$DWELL_SANDBOX/big.bin
head -c $((50 * 1024 * 1024)) /dev/urandom >"$big"
chmod 0644 "$big"
want=$(sha256sum <"$big" | cut -d' ' -f1)
t0=$(date +%s)
as_user alice sh -c "dwell invoke s -- 'cat > /tmp/alice-big.bin' <'$big'"
expect_rc 0 "a 50 MiB binary file through invoke's stdin" || true
got=$(sha256sum </tmp/alice-big.bin | cut -d' ' -f1)
expect_eq "$got" "$want" "  ... arrives exactly (sha256), in $(( $(date +%s) - t0 )) s"
got=$(as_user alice sh -c "dwell invoke -- 'sha256sum' <'$big'" | cut -d' ' -f1)
expect_eq "$got" "$want" "  ... and through a temporary session"
rm -f /tmp/alice-big.bin

capture alice dwell invoke -d s -- 'cat; echo cat-ended'
wait_for 'as_user alice dwell receive s 2>/dev/null | grep -q cat-ended' 5 &&
        pass "invoke -d: the command reads end-of-file at once" || fail "invoke -d: the command reads end-of-file at once"

# Flow control: /dev/zero into a command that never reads.
rss0=$(worker_rss_kb)
as_user alice sh -c 'dwell invoke s -- "sleep 3; echo slept" </dev/zero' >"$DWELL_SANDBOX/z.out" 2>&1
rss1=$(worker_rss_kb)
expect_eq "$(cat "$DWELL_SANDBOX/z.out")" "slept" "/dev/zero into a command that never reads: it ends normally"
if [ -n "$rss0" ] && [ -n "$rss1" ] && [ $((rss1 - rss0)) -lt 4096 ]; then
        pass "  ... the worker's memory stays bounded (${rss0} -> ${rss1} KiB)"
else
        fail "  ... the worker's memory stays bounded" "${rss0} -> ${rss1} KiB"
fi

# A raw client.  Frame: u32 length, u16 type, u8 version, u8 flags.
raw() {
        as_user alice "$PYTHON" - "$DWELL_SOCK" "$1" <<'PY'
import os, socket, struct, sys, time
path, case = sys.argv[1], sys.argv[2]
def frame(t, p=b""): return struct.pack("<IHBB", len(p), t, int(os.environ["DWELL_PROTO_VERSION"]), 0) + p
def s_(x): x = x.encode(); return struct.pack("<I", len(x)) + x
def request(t, session, command="", flags=0):
    return frame(t, struct.pack("<I", flags) + s_(session) + s_("") + s_("") + s_("") + s_(command) + struct.pack("<QB", 0, 0) + s_("") + s_("") + struct.pack("<HH", 0, 0))
REQ_INVOKE, REQ_CONNECT, STDIN, STDIN_EOF, RESUME, DETACH = 102, 105, 324, 325, 323, 322
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.settimeout(5)
got = b""
def closed_within(sec):
    global got
    s.settimeout(sec)
    try:
        while True:
            d = s.recv(65536)
            got += d
            if not d:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
def attach(req):
    # Nothing may follow the request before the first answer (ATTACHED).
    global got
    s.sendall(req)
    while len(got) < 8 or len(got) < 8 + struct.unpack("<I", got[:4])[0]:
        d = s.recv(65536)
        if not d:
            print("refused"); sys.exit(0)
        got += d
    if struct.unpack("<H", got[4:6])[0] != 300:
        print("not attached"); sys.exit(0)
    s.sendall(frame(RESUME, b"\0" * 48))
def send(b):
    try:
        s.sendall(b)
        return True
    except OSError:
        return False
if case == "overflow":
    attach(request(REQ_INVOKE, "s", "sleep 2"))
    chunk = frame(STDIN, b"x" * (128 * 1024))
    for i in range(64):                   # 8 MiB, the window is 256 KiB
        if not send(chunk):
            break
    print("closed" if closed_within(5) else "open")
elif case == "connect":
    attach(request(REQ_CONNECT, "s"))
    time.sleep(0.3)
    send(frame(STDIN, b"hello"))
    print("closed" if closed_within(5) else "open")
elif case == "after-end":
    attach(request(REQ_INVOKE, "s", "true"))
    time.sleep(1)
    send(frame(STDIN, b"y" * 1000))
    send(frame(STDIN_EOF))
    r1 = "closed" if closed_within(1) else "open"
    send(frame(STDIN_EOF))                # a second end
    r2 = "closed" if closed_within(3) else "open"
    print(r1 + "," + r2)

PY
}
expect_eq "$(raw overflow)" closed "STDIN beyond the window: the worker ends that connection"
expect_eq "$(raw connect)" closed "STDIN from a connect client (no command of its own): connection ended"
expect_eq "$(raw after-end)" "open,closed" "STDIN after the command ended is dropped; a second STDIN_EOF ends the connection"
rss2=$(worker_rss_kb)
if [ -n "$rss2" ] && [ $((rss2 - rss0)) -lt 4096 ]; then
        pass "  ... the worker's memory stays bounded (${rss0} -> ${rss2} KiB)"
else
        fail "  ... the worker's memory stays bounded" "${rss0} -> ${rss2} KiB"
fi
capture alice dwell invoke s -- 'echo still-here'
expect_eq "$RC:$OUT" "0:still-here" "alice's session still works"
capture bob dwell invoke b -- 'echo $BOBVAR'
expect_eq "$RC:$OUT" "0:fine" "bob's session is unaffected"

capture alice dwell remove s
capture bob dwell remove b
