#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-robust.sh — terminal sessions against failures and an
# unprivileged user's attacks:
#   - the screen survives kill -9 of dwelld: the restarted dwelld re-adopts
#     the session, and a client reattaching sees the same screen; a client
#     attached meanwhile stays attached and typing works;
#   - terminal: deny and a restricted (commands:) configuration refuse
#     new -t and connect -t (permission-denied, audited), saying why;
#   - a raw client (as alice) sends window sizes 0x0 and 65535x65535:
#     ignored and clamped, the session works and the worker is alive;
#   - TERM values with control characters, blanks, a path, or 10 KiB:
#     refused before a session is made; an unknown TERM falls back, with a
#     notice;
#   - typed input flooded into a program that does not read: the worker's
#     memory stays bounded, the session and the others answer;
#   - a client that never reads its socket while the session prints a
#     flood: the worker keeps draining the pty (the flood ends), stays
#     bounded in memory, and other sessions and a later client are fine;
#   - clients that close during the rendering of a full screen;
#   - RunAs and share_with_access: alice's terminal session of a shared
#     configuration runs as carol, and bob takes it over (after a
#     disconnect) with its screen.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

prompt='^alice@[^ ]*:~\$$'
home=$(getent passwd alice | cut -d: -f6)
client=$DWELL_SANDBOX/termclient.py
cat >"$client" <<'PY'
# A raw client of a terminal session (the wire protocol by hand).
import os, socket, struct, sys, time
V = int(os.environ["DWELL_PROTO_VERSION"])
REQ_CONNECT, ERROR, ATTACHED, DETACHED = 105, 200, 300, 303
TERM_OUTPUT, TERM_NOTICE, DETACH, TERM_INPUT, TERM_SIZE = 306, 307, 322, 327, 328
F_TERMINAL = 0x20

def frame(t, payload=b""):
    return struct.pack("<IHBB", len(payload), t, V, 0) + payload

def s_(b):
    return struct.pack("<I", len(b)) + b

def request(session, term, rows, cols, flags=0):
    return frame(REQ_CONNECT, struct.pack("<I", flags) + s_(session) + s_(b"") + s_(b"") + s_(b"") + s_(b"")
                 + struct.pack("<QB", 0, 0) + s_(b"") + s_(term) + struct.pack("<HH", rows, cols))

class Client:
    # Attaches (retrying while the session is still held by a client that
    # just left); attached is False if the request was refused or closed.
    def __init__(self, path, session, term=b"xterm-256color", rows=24, cols=80, flags=0, retry=True):
        for attempt in range(40):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(20)
            self.s.connect(path)
            self.buf, self.screen, self.notices, self.first = b"", b"", [], None
            try:
                self.s.sendall(request(session, term, rows, cols, flags))
            except OSError:
                self.first = None
                return
            for t, p in self.frames(5):
                if t in (None, ATTACHED, ERROR):
                    self.first = t
                    break
            if self.first != ERROR or not retry:
                return
            self.s.close()
            time.sleep(0.25)

    def frames(self, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            while len(self.buf) >= 8:
                n, t, v, f = struct.unpack("<IHBB", self.buf[:8])
                if len(self.buf) < 8 + n:
                    break
                p, self.buf = self.buf[8:8 + n], self.buf[8 + n:]
                if t == TERM_OUTPUT:
                    self.screen += p
                elif t == TERM_NOTICE:
                    self.notices.append(p[4:].decode(errors="replace"))
                yield t, p
            self.s.settimeout(max(0.05, deadline - time.time()))
            try:
                d = self.s.recv(1 << 16)
            except socket.timeout:
                continue
            if not d:
                yield None, b""
                return
            self.buf += d

    def wait_for(self, what, timeout=10):
        for t, p in self.frames(timeout):
            if t is None or t == ERROR or t == DETACHED:
                return t
            if what in self.screen:
                return TERM_OUTPUT
        return None

    def type(self, data):
        self.s.sendall(frame(TERM_INPUT, data))

mode, path, session = sys.argv[1], sys.argv[2], sys.argv[3].encode()
if mode == "size":                      # size ROWS COLS: the session's stty size afterwards
    c = Client(path, session)
    c.s.sendall(frame(TERM_SIZE, struct.pack("<HH", int(sys.argv[4]), int(sys.argv[5]))))
    c.type(b"\003")                   # whatever was typed before is dropped
    time.sleep(0.3)
    n = os.getpid() % 10000 + 20000        # a mark of this run's answer, not an earlier one
    c.type(b"echo sz=$(stty size)=$((%d+1))\r" % n)
    mark = b"=%d\r\n" % (n + 1)
    r = c.wait_for(mark, 60)           # generous: the sanitized build beside another test
    j = c.screen.rfind(mark)
    i = c.screen.rfind(b"sz=", 0, j)
    print(c.screen[i:j].decode(errors="replace") if r == TERM_OUTPUT and i >= 0 else "no answer (%s)" % r)
    c.s.sendall(frame(DETACH))
elif mode == "term":                    # term VALUE: attached, or closed without an answer
    term = bytes.fromhex(sys.argv[4])
    c = Client(path, session, term=term, flags=F_TERMINAL, retry=False)
    if c.first == ATTACHED:
        c.wait_for(b"no terminfo", 2)
    print({None: "closed", ATTACHED: "attached", ERROR: "error"}.get(c.first, "nothing"), " | ".join(c.notices))
    try:
        c.s.sendall(frame(DETACH))
    except OSError:
        pass
elif mode == "worker":                  # the worker's pid (the shell's parent)
    c = Client(path, session)
    c.type(b"echo wp=$PPID=$((6*7))\r")
    c.wait_for(b"=42\r\n", 10)
    j = c.screen.rfind(b"=42\r\n")
    i = c.screen.rfind(b"wp=", 0, j)
    print(c.screen[i + 3:j].decode())
    c.s.sendall(frame(DETACH))
elif mode == "input-flood":             # MiB: typed at a program that does not read
    c = Client(path, session)
    c.type(b"sleep 1000\r")
    time.sleep(0.5)
    chunk = b"x" * 65536
    c.s.setblocking(False)
    sent, total = 0, int(sys.argv[4]) << 20
    deadline = time.time() + 45
    pending = b""
    while sent < total and time.time() < deadline:
        if not pending:
            pending = frame(TERM_INPUT, chunk)
        try:
            k = c.s.send(pending)
            pending = pending[k:]
            if not pending:
                sent += len(chunk)
        except BlockingIOError:
            time.sleep(0.001)
        try:
            c.s.recv(1 << 16)
        except (BlockingIOError, socket.timeout):
            pass
    print("sent %d MiB" % (sent >> 20), flush=True)
    time.sleep(30)                      # stays attached; the test kills it
elif mode == "no-read":                 # starts a flood, then never reads
    c = Client(path, session)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.type(b"head -c %d /dev/zero | tr '\\0' 'y'; echo flood-done > flood.done\r" % (int(sys.argv[4]) << 20))
    print("flooding", flush=True)
    time.sleep(120)                     # the test kills it
elif mode == "early-close":             # closes during the rendering, N times
    for i in range(int(sys.argv[4])):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(path)
        s.sendall(request(session, b"xterm", 200, 300))
        s.recv(100)
        s.close()
        time.sleep(0.05)
    print("done")
PY
chmod 0644 "$client"
tc() { as_user alice "$PYTHON" "$client" "$@"; }
# The worker's growth allowed while floods go through it.  Under the
# sanitizers freed memory sits in ASan's quarantine (256 MiB) with its
# shadow: there the bound is ASan's, and the floods are smaller (slower).
mem_slack=32768
flood_mib=300
if [ "${DWELL_TEST_SANITIZED:-0}" = 1 ]; then
        mem_slack=$((512 * 1024))
        flood_mib=16
fi
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo gone; }

# --- configurations that refuse terminal sessions ----------------------------
capture alice dwell new -t -n x -c noterm
expect_rc 255 "terminal: deny: new -t refused"
expect_match "$ERR" 'configuration noterm does not allow terminal sessions \(terminal: deny\)' "  ... saying why"
capture alice dwell new -t -n x -c restricted
expect_rc 255 "a restricted configuration: new -t refused"
expect_match "$ERR" 'configuration restricted runs only its allowed programs: terminal sessions are not allowed' "  ... saying why"
tm_start alice "dwell connect -t -c noterm x"
wait_screen '^client-exit=' 10
expect_match "$(screen)" 'does not allow terminal sessions' "terminal: deny: connect -t refused too"
expect_match "$(cat "$DWELL_LOG_DIR"/dwelld.log)" 'does not allow terminal sessions' "  ... and the refusal is logged"
dwell_json alice list
expect_eq "$(json_len "$OUT")" 0 "  ... no session was made"
capture alice dwell new -n plain -c noterm
expect_rc 0 "terminal: deny still allows command sessions"
capture alice dwell invoke plain -- 'echo fine'
expect_eq "$OUT" "fine" "  ... which work"

# --- the screen survives kill -9 of dwelld ---------------------------------
capture alice dwell new -t -n keep
expect_rc 0 "alice: new -t -n keep"
tm_respawn alice "dwell connect keep"
wait_screen "$prompt" 10
keys 'clear; for i in $(seq 1 5); do printf "line %s \033[1;3%sm%s\033[0m\n" $i $i colour$i; done; printf "\033[?25l\033[10;20Hmarked"' Enter
wait_screen '^ +marked' 5
sleep 0.3
before=$(screen)
stop_dwelld KILL
expect_eq "$(as_user alice dwell list 2>/dev/null | wc -l)" 0 "dwelld is gone (kill -9)"
keys 'echo still-typing' Enter
wait_screen '^still-typing' 5
expect_match "$(screen)" '^still-typing$' "the attached client keeps typing into the session without dwelld"
keys 'clear; for i in $(seq 1 5); do printf "line %s \033[1;3%sm%s\033[0m\n" $i $i colour$i; done; printf "\033[?25l\033[10;20Hmarked"' Enter
wait_screen '^ +marked' 5
sleep 0.5
before=$(screen)
tm send-keys -H 1c
wait_screen '^client-exit=' 5
start_dwelld || fail "dwelld restarted"
wait_for '[ "$(as_user alice dwell --json list keep 2>/dev/null | grep -c "\"terminal\": true")" = 1 ]' 10
dwell_json alice list keep
expect_eq "$(json_eval "$OUT" '[(s["name"], s["terminal"], s["state"]) for s in d]')" '[["keep", true, "Disconnected"]]' \
        "the restarted dwelld re-adopted the terminal session"
tm_respawn alice "dwell connect keep"
wait_screen '^ +marked' 5
sleep 0.3
expect_eq "$(screen)" "$before" "  ... reattached, its screen is intact"
expect_eq "$(tm display-message -p '#{cursor_flag}')" 0 "  ... hidden cursor included"
tm send-keys -H 1c
wait_screen '^client-exit=' 5

# --- window sizes -------------------------------------------------------
expect_eq "$(tc size "$DWELL_SOCK" keep 0 0)" "sz=24 80" "TERM_SIZE 0x0: ignored (the client's 24x80 stays)"
expect_eq "$(tc size "$DWELL_SOCK" keep 65535 65535)" "sz=1000 1000" "TERM_SIZE 65535x65535: clamped to 1000x1000"
expect_eq "$(tc size "$DWELL_SOCK" keep 1 65535)" "sz=1 1000" "TERM_SIZE 1x65535: clamped"
expect_eq "$(tc size "$DWELL_SOCK" keep 30 100)" "sz=30 100" "  ... and a sane size after them applies"

# --- TERM values --------------------------------------------------------
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
for t in $'xterm\033[31m' 'xterm 256' '../../../etc/passwd' $'vt100\n' '-x'; do
        expect_match "$(tc term "$DWELL_SOCK" "t$RANDOM" "$(hex "$t")")" '^closed' \
                "TERM $(printf '%q' "$t"): the request is refused (connection closed)"
done
expect_match "$(tc term "$DWELL_SOCK" tbig "$("$PYTHON" -c 'print("78" * 10240)')")" \
        '^closed' "TERM of 10 KiB: refused"
dwell_json alice list
expect_eq "$(json_names "$OUT")" "keep
plain" "  ... and no session was made for any of them"
out=$(tc term "$DWELL_SOCK" unknown "$(hex no-such-terminal-type)")
expect_match "$out" '^attached .*no terminfo entry for TERM=no-such-terminal-type; session unknown uses TERM=xterm-256color' \
        "an unknown TERM: the session falls back to xterm-256color and says so"

# --- typed input nobody reads -----------------------------------------------
capture alice dwell new -t -n flood
wpid=$(tc worker "$DWELL_SOCK" flood)
expect_match "$wpid" '^[0-9]+$' "the flood session's worker: pid $wpid"
rss0=$(rss_kib "$wpid")
# (The terminal's line discipline answers each byte it cannot take with a
# BEL when it echoes: the flood is output too.)
tc input-flood "$DWELL_SOCK" flood 64 >"$DWELL_SANDBOX/flood.out" 2>&1 &
track_pid $!
flood_pid=$!
wait_for "grep -q '^sent' '$DWELL_SANDBOX/flood.out'" 60
expect_match "$(cat "$DWELL_SANDBOX/flood.out")" '^sent [0-9]+ MiB' "a client types (up to 64 MiB in 45 s) at sleep 1000, which does not read"
rss1=$(rss_kib "$wpid")
if [ "$rss1" != gone ] && [ "$rss1" -lt $((rss0 + mem_slack)) ]; then
        pass "  ... the worker's memory stays bounded (${rss0} -> ${rss1} KiB)"
else
        fail "  ... the worker's memory stays bounded" "VmRSS ${rss0} -> ${rss1} KiB"
fi
capture alice dwell invoke plain -- 'echo other-fine'
expect_eq "$OUT" "other-fine" "  ... another session answers meanwhile"
kill "$flood_pid" 2>/dev/null
capture alice dwell disconnect flood
pkill -u alice -x sleep
expect_eq "$(tc size "$DWELL_SOCK" flood 25 81)" "sz=25 81" "  ... and the flooded session still works"

# --- a client that never reads ------------------------------------------------
rm -f "$home/flood.done"
rss0=$(rss_kib "$wpid")
tc no-read "$DWELL_SOCK" flood "$flood_mib" >"$DWELL_SANDBOX/noread.out" 2>&1 &
noread_pid=$!
track_pid $noread_pid
wait_for "grep -q flooding '$DWELL_SANDBOX/noread.out'" 10
if wait_for "[ -e '$home/flood.done' ]" 90; then
        pass "a client that never reads: the worker keeps draining the pty ($flood_mib MiB of output ended)"
else
        fail "a client that never reads: the worker keeps draining the pty" "$(ps -u alice -o pid,stat,comm)"
fi
rss1=$(rss_kib "$wpid")
if [ "$rss1" != gone ] && [ "$rss1" -lt $((rss0 + mem_slack)) ]; then
        pass "  ... the worker's memory stays bounded (${rss0} -> ${rss1} KiB)"
else
        fail "  ... the worker's memory stays bounded" "VmRSS ${rss0} -> ${rss1} KiB"
fi
capture alice dwell invoke plain -- 'echo still-fine'
expect_eq "$OUT" "still-fine" "  ... another session answers"
capture alice dwell disconnect flood
expect_rc 0 "  ... dwell disconnect takes the session from the stuck client"
kill $noread_pid 2>/dev/null
expect_eq "$(tc size "$DWELL_SOCK" flood 24 80)" "sz=24 80" "  ... and a new client gets it, working"

# --- early closes during the rendering -------------------------------------------
tm_respawn alice "dwell connect flood"
wait_screen "$prompt" 10
keys 'clear; seq 1 5000' Enter
wait_screen '^5000$' 10
tm send-keys -H 1c
wait_screen '^client-exit=' 5
expect_eq "$(tc early-close "$DWELL_SOCK" flood 30)" done "30 clients close during the rendering of the screen"
expect_eq "$(tc size "$DWELL_SOCK" flood 24 80)" "sz=24 80" "  ... the session still works"
expect_eq "$(rss_kib "$wpid" | grep -c '^[0-9]')" 1 "  ... its worker is alive"

# --- RunAs and sharing --------------------------------------------------------
tm_respawn alice "dwell connect -t -c share shared"
wait_screen '\$$' 10
keys 'echo "i-am=$(id -un) owner-typed"' Enter
wait_screen '^i-am=' 5
expect_match "$(screen)" '^i-am=carol owner-typed$' "a terminal session of a RunAs configuration runs as carol"
capture bob dwell connect shared
expect_match "$ERR" 'connected to another client' "bob: busy while alice is attached"
capture bob dwell disconnect shared
expect_rc 0 "bob (shared with him) disconnects alice"
tm_respawn bob "dwell connect shared"
wait_screen 'owner-typed$' 10
expect_match "$(screen)" '^i-am=carol owner-typed$' "  ... and attaches: alice's screen"
keys 'echo "bob-typed-$((1+1))"' Enter
wait_screen '^bob-typed-2' 5
expect_match "$(screen)" '^bob-typed-2$' "  ... and types in it"
tm send-keys -H 1c
wait_screen '^client-exit=' 5
capture dave dwell connect shared
expect_rc 255 "dave (not in the access list) cannot"
capture alice dwell remove shared

capture alice dwell remove keep
capture alice dwell remove flood
capture alice dwell remove unknown
capture alice dwell remove plain
expect_rc 0 "remove the sessions"
