#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-tty.sh — a local client hands its terminal to the worker
# (worker-tty.c; doc/protocol.md, "Terminal sessions"), and raw clients of
# alice's that abuse the hand-over:
#   - a terminal handed over (a pty alice's raw client opened): the worker
#     renders into it, reads the keys from it (a command typed there runs,
#     its output comes back there), and the detach key typed there ends the
#     connection with DETACHED (DETACH_KEYS), the terminal let go first;
#   - TERM_TTY without a descriptor, or with a pipe, /dev/null or a socket:
#     not taken; the screen comes over the socket as before;
#   - the terminal hung up: the worker stops reading it, the connection
#     stays; a terminal that reads nothing while 2.7 MB are printed gets at
#     most 1 MiB of it, then the screen drawn again;
#   - a session run as another identity (RunAs carol) is never handed
#     alice's or bob's terminal: the worker does not ask;
#   - TERM_TTY that was not asked for (no offer; a watcher; twice), or with
#     no detach keys or too many: the connection ends; nothing else
#     changes and the session works on.

. "$(dirname "$0")/lib.sh"

mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts       # ptys of the sandbox's own
mount --bind /dev/pts/ptmx /dev/ptmx

raw() {         # [-u USER] CASE [SESSION]
        local user=alice
        [ "$1" = -u ] && { user=$2; shift 2; }
        as_user "$user" "$PYTHON" - "$DWELL_SOCK" "$@" <<'PY'
import os, pty, select, socket, struct, sys, time, tty
path, case = sys.argv[1], sys.argv[2]
session = sys.argv[3] if len(sys.argv) > 3 else "t"
V = int(os.environ["DWELL_PROTO_VERSION"])
def frame(t, p=b"", flags=0): return struct.pack("<IHBB", len(p), t, V, flags) + p
def s_(x): x = x.encode(); return struct.pack("<I", len(x)) + x
def request(t, session, flags):
    return frame(t, struct.pack("<I", flags) + s_(session) + s_("") + s_("") + s_("") + s_("") + struct.pack("<QB", 0, 0)
                 + s_("") + s_("") + struct.pack("<HH", 24, 80))
REQ_CONNECT, REQ_WATCH = 105, 111
ATTACHED, DETACHED, TERM_OUTPUT, TERM_TTY_ASK, TERM_TTY = 300, 303, 306, 309, 329
TTY_OFFER = 0x800
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
got = b""
def next_frame(timeout=10):
    global got
    end = time.time() + timeout
    while len(got) < 8 or len(got) < 8 + struct.unpack("<I", got[:4])[0]:
        left = end - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return ("timeout", b"")
        d = s.recv(65536)
        if not d:
            return ("closed", b"")
        got += d
    ln, t = struct.unpack("<IH", got[:6])
    f = (t, got[8:8 + ln])
    got = got[8 + ln:]
    return f
def send_tty(keys, fd=None):
    p = bytes([len(keys)]) + keys
    if fd is None:
        s.sendall(frame(TERM_TTY, p))
    else:
        s.sendmsg([frame(TERM_TTY, p, 1)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
def until(types, timeout=10):
    while True:
        t, p = next_frame(timeout)
        if t in types or t in ("timeout", "closed"):
            return t, p
watch = case == "watch"
s.sendall(request(REQ_WATCH if watch else REQ_CONNECT, session, TTY_OFFER if case != "no-offer" else 0))
t, _ = next_frame()
if t != ATTACHED:
    print("no ATTACHED:", t); sys.exit()
if case == "offered":
    t, _ = until([TERM_OUTPUT, TERM_TTY_ASK])
    print("first", {TERM_OUTPUT: "output", TERM_TTY_ASK: "ask"}.get(t, t))
    sys.exit()
if case in ("no-offer", "watch"):
    t, _ = until([TERM_OUTPUT, TERM_TTY_ASK])
    print("first", {TERM_OUTPUT: "output", TERM_TTY_ASK: "ask"}.get(t, t))
    send_tty(b"\x1c")
    print(until([], 10)[0])
    sys.exit()
t, _ = until([TERM_TTY_ASK, TERM_OUTPUT])
if t != TERM_TTY_ASK:
    print("not asked:", t); sys.exit()
if case in ("direct", "hangup", "behind"):
    master, slave = pty.openpty()
    tty.setraw(slave)                             # as the client leaves its terminal
    send_tty(b"\x1c", slave)
    os.close(slave)
    screen, end = b"", time.time() + 10
    def read_master(want, timeout=10):
        global screen
        end = time.time() + timeout
        while want not in screen and time.time() < end:
            if select.select([master], [], [], 0.2)[0]:
                screen += os.read(master, 65536)
        return want in screen
    print("rendered" if read_master(b"$") else "no rendering: %r" % screen[-200:], flush=True)
    if case == "hangup":
        # Our end of the terminal closed (hung up): the worker stops reading
        # it; the connection stays until we leave.
        os.close(master)
        t, p = until([DETACHED, TERM_OUTPUT], 1)
        print("socket", "quiet" if t == "timeout" else t)
        s.sendall(frame(322))                     # DETACH
        print(until([], 10)[0])
        sys.exit()
    if case == "behind":
        # A terminal that reads nothing while 2.7 MB are printed: the worker
        # keeps at most 1 MiB for it, skips the rest, then draws the screen.
        os.write(master, b"seq 1 400000; echo behind-$((6*7))\r")
        time.sleep(4)
        screen = b""
        got = read_master(b"behind-42", 60)
        print("caught up" if got else "not caught up: %r" % screen[-200:])
        print("read %s" % ("less than 2 MB" if len(screen) < 2000000 else len(screen)))
        sys.exit()
    os.write(master, b"echo direct-$((6*7))\r")
    print("typed" if read_master(b"direct-42\r\n") else "no echo: %r" % screen[-200:], flush=True)
    t, p = until([DETACHED, TERM_OUTPUT], 1)
    print("socket", "quiet" if t == "timeout" else t)
    os.write(master, b"\x1c")
    t, p = until([DETACHED], 10)
    print("detached", p[0] if t == DETACHED else t)
    print(until([], 10)[0])
elif case in ("none", "pipe", "null", "socket"):
    keep = socket.socket()
    fd = {"none": None, "pipe": os.pipe()[0], "null": os.open("/dev/null", os.O_RDWR),
          "socket": keep.fileno()}[case]
    send_tty(b"\x1c", fd)
    t, p = until([TERM_OUTPUT], 10)
    print("screen over the socket" if t == TERM_OUTPUT else t)
elif case == "twice":
    send_tty(b"\x1c")
    until([TERM_OUTPUT], 10)
    send_tty(b"\x1c")
    print(until([], 10)[0])
elif case in ("no-keys", "many-keys"):
    p = b"\x00" if case == "no-keys" else b"\x09" + b"\x1c" * 9
    s.sendall(frame(TERM_TTY, p))
    print(until([], 10)[0])
PY
}

capture alice dwell new -t -n t
expect_rc 0 "alice: a terminal session"

out=$(raw direct)
expect_match "$out" '^rendered$' "a pty handed over (TERM_TTY with its fd): the worker renders the screen into it"
expect_match "$out" '^typed$' "  ... reads the keys from it: a command typed there runs, its output comes back there"
expect_match "$out" '^socket quiet$' "  ... and nothing of that comes over the socket"
expect_match "$out" '^detached 4$' "  ... the detach key typed there: DETACHED (DETACH_KEYS)"
expect_match "$out" '^closed$' "  ... then the connection ends"
wait_for '! ls -l /proc/$(pgrep -u alice -x dwell-host | head -n 1)/fd | grep -q /dev/pts/' 5
expect_eq "$(ls -l "/proc/$(pgrep -u alice -x dwell-host | head -n 1)/fd" | grep -c /dev/pts/)" 0 \
        "  ... and the worker holds no terminal of the client's any more"

out=$(raw hangup)
expect_match "$out" '^socket quiet$' "the handed-over terminal hangs up: the worker stops reading it, the connection stays"
expect_match "$out" '^closed$' "  ... until the client leaves (DETACH)"

out=$(raw behind)
expect_match "$out" '^caught up$' \
        "a handed-over terminal that reads nothing while 2.7 MB are printed: it catches up with a redraw"
expect_match "$out" '^read less than 2 MB$' "  ... the worker having kept at most 1 MiB for it and skipped the rest"

capture alice dwell new -t -c share -n shared
expect_rc 0 "alice: a terminal session run as carol (configuration share)"
expect_eq "$(raw offered shared)" "first output" \
        "alice offers her terminal to a session running as carol: not asked, the screen over the socket"
expect_eq "$(raw -u bob offered shared)" "first output" "  ... nor bob, who shares it"
expect_eq "$(raw offered)" "first ask" "  ... while her own session asks for it"
capture alice dwell remove shared

for bad in none pipe null socket; do
        expect_eq "$(raw "$bad")" "screen over the socket" \
                "TERM_TTY with $bad instead of a terminal: not taken, the screen comes over the socket"
done
expect_eq "$(raw no-offer)" "first output
closed" "no offer: the screen at once, and a TERM_TTY nobody asked for ends the connection"
expect_eq "$(raw twice)" closed "TERM_TTY twice: the connection ends"
expect_eq "$(raw no-keys)" closed "TERM_TTY with no detach keys: the connection ends"
expect_eq "$(raw many-keys)" closed "  ... with 9 of them: the connection ends"

expect_eq "$(raw watch)" "first output
closed" "a watcher offering its terminal: never asked, and its TERM_TTY ends the connection"
capture alice dwell invoke t -- 'echo still-$((6*7))'
expect_eq "$RC:$(printf '%s' "$OUT" | tr -d '\r' | grep -x 'still-42')" "0:still-42" "the session works on"
expect_eq "$(ls -l "/proc/$(pgrep -u alice -x dwell-host | head -n 1)/fd" | grep -c /dev/pts/)" 0 \
        "  ... and the worker holds no terminal"
capture alice dwell remove t
expect_rc 0 "remove the session"
