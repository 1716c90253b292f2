#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-garbage-frame.sh — malformed and oversized frames on dwelld's socket end
# only their own connection: while alice's `dwell invoke` streams output,
# connections sending random bytes, an oversized length header, a wrong
# protocol version and an unknown message type are each closed by dwelld
# (a stalled half header is simply held open meanwhile); the invoke completes
# with all 20 lines and dwelld still answers `dwell list`.
#
# Frame header (src/shared/proto.h): u32 length LE, u16 type LE, u8 version, u8 flags.

. "$(dirname "$0")/lib.sh"

capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"

out=$DWELL_SANDBOX/invoke.out
err=$DWELL_SANDBOX/invoke.err
as_user alice dwell invoke work -- 'for i in $(seq 1 20); do echo $i; sleep 0.1; done' >"$out" 2>"$err" &
invoke_pid=$!
track_pid "$invoke_pid"
if wait_for "grep -qx 2 '$out'" 10; then
        pass "the invoke is streaming"
else
        fail "the invoke is streaming" "stdout: $(cat "$out")" "stderr: $(cat "$err")"
fi

# Each case: connect, send, and report whether dwelld closed the connection
# within 5 s ("closed") or not ("open").
garbage() {
        "$PYTHON" - "$DWELL_SOCK" "$1" <<'PY'
import os, socket, struct, sys, time
path, case = sys.argv[1], sys.argv[2]
V = int(os.environ["DWELL_PROTO_VERSION"])   # the right version: each case is refused for its own reason
payloads = {
    "random": os.urandom(4096),
    "oversized": struct.pack("<IHBB", 0xFFFFFFFF, 100, V, 0) + b"x" * 64,
    "too-big": struct.pack("<IHBB", 256 * 1024 + 1, 101, V, 0) + b"\0" * 4096,
    "version": struct.pack("<IHBB", 4, 101, 99, 0) + b"\0" * 4,
    "type": struct.pack("<IHBB", 0, 9999, V, 0),
    "truncated-field": struct.pack("<IHBB", 4, 100, V, 0) + struct.pack("<I", 0xFFFFFF00),
}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
try:
    s.sendall(payloads[case])
except OSError:
    print("closed")
    sys.exit(0)
deadline = time.time() + 5
result = "open"
try:
    while time.time() < deadline:
        data = s.recv(65536)
        if not data:
            result = "closed"
            break
except socket.timeout:
    pass
except OSError:
    result = "closed"
print(result)
PY
}

# A connection that sends half a header and stalls, held open meanwhile.
"$PYTHON" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1]); s.sendall(b"\x10\x00")
time.sleep(60)' "$DWELL_SOCK" &
track_pid $!

for c in random oversized too-big version type truncated-field; do
        expect_eq "$(garbage "$c" 2>&1)" closed "a $c frame: dwelld closes that connection"
done

if wait_for "! kill -0 $invoke_pid 2>/dev/null" 20; then
        rc=0
        wait "$invoke_pid" || rc=$?
        expect_eq "$rc" 0 "the invoke completed successfully"
else
        fail "the invoke completed within 20 s"
fi
expect_eq "$(cat "$out")" "$(seq 1 20)" "the invoke printed all 20 lines, in order"
expect_eq "$(cat "$err")" "" "  ... and nothing on stderr"

capture alice dwell list
expect_rc 0 "dwelld still answers dwell list"
expect_match "$OUT" 'work' "  ... showing alice's session"
capture alice dwell invoke work -- 'echo after'
expect_eq "$OUT" after "the session still runs commands"
