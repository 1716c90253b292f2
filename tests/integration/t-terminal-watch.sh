#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-watch.sh — dwell watch: read-only watchers of a terminal
# session, through real terminals (tmux as the outer terminal):
#   - carol, an observer of the session's configuration (observers: [carol],
#     and another with observers: ["@admins"]), watches alice's terminal
#     session: she sees what alice types and what it prints, live;
#   - keys typed in the watcher's pane have no effect in the session;
#   - alice is told when carol starts and stops watching; each join is
#     audited (session-watched, with the caller);
#   - list shows the number of watchers (JSON `watchers`, list -l);
#   - bob (not an observer) is refused as if the session did not exist,
#     also after dwelld was killed and re-adopted the session,
#     audited; carol cannot connect, receive or invoke;
#   - watching a command session is refused (not a terminal session);
#   - attacks: a watcher that sends TERM_INPUT itself (raw protocol) is
#     disconnected and nothing reaches the shell; 100 watchers over the
#     bound (16) are refused with limit-exceeded; a watcher that never
#     reads does not slow the typer or the shell.

. "$(dirname "$0")/lib.sh"

mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx

tm() { tmux -S "$DWELL_SANDBOX/tmux.sock" "$@"; }
tm_env() {      # USER: the command line that runs as USER in a pane
        local home
        home=$(getent passwd "$1" | cut -d: -f6)
        echo "cd $home && setpriv --reuid $1 --regid $1 --init-groups --reset-env env HOME=$home USER=$1 \
PATH=$DWELL_BIN_DIR:/usr/bin:/bin LANG=C.UTF-8 TERM=xterm-256color"
}
pane() { tm capture-pane -p -t "$1"; }
watch_tty() {   # USER SESSION: dwell watch in a terminal of its own (script), ended by CMD_TIMEOUT; sets OUT, RC
        capture "$1" script -qec "dwell watch $2" /dev/null
        OUT=$(printf '%s' "$OUT" | tr -d '\r')
}

capture alice dwell new -t -n w -c watched
expect_rc 0 "alice: new -t -n w -c watched"

tm -f /dev/null new-session -d -s owner -x 100 -y 30 "$(tm_env alice) dwell connect w; sleep 600"
track_pid "$(tm display-message -p -t owner '#{pid}')"
wait_for "pane owner | grep -q '\\$ *\$'" 10
tm send-keys -t owner 'echo before-watch' Enter
wait_for "pane owner | grep -q '^before-watch'" 5

dwell_json alice list w
expect_eq "$(json_eval "$OUT" 'd[0]["watchers"]')" "0" "list --json: watchers 0"

tm new-session -d -s watcher -x 100 -y 30 "$(tm_env carol) dwell watch w; echo watch-exit=\$?; sleep 600"
wait_for "pane watcher | grep -q '^before-watch'" 10
expect_match "$(pane watcher)" '^before-watch$' "carol (observer) watches: she sees the screen as it is"
wait_for "pane owner | grep -q 'carol.*watching'" 5
expect_match "$(pane owner)" 'carol.*is watching' "alice is told that carol watches"
expect_match "$(grep 'AUDIT session-watched:' "$DWELL_LOG_DIR/dwelld.log")" 'DWELL_CALLER=carol' \
        "the join is audited (session-watched, caller carol)"

wait_for 'dwell_json alice list w; [ "$(json_eval "$OUT" "d[0][\"watchers\"]")" = 1 ]' 5
expect_eq "$(json_eval "$OUT" 'd[0]["watchers"]')" "1" "list --json: watchers 1"
capture alice dwell list -l w
expect_match "$OUT" 'Watchers' "list -l has a Watchers column"

tm send-keys -t owner 'echo typed-by-alice' Enter
wait_for "pane watcher | grep -q '^typed-by-alice'" 5
expect_match "$(pane watcher)" '^typed-by-alice$' "carol sees what alice types and its output, live"

tm send-keys -t watcher 'echo typed-by-carol' Enter
sleep 1
expect_no_match "$(pane owner)" 'typed-by-carol' "keys typed in the watcher's pane have no effect in the session"
dwell_json alice list -l w
expect_no_match "$OUT" 'typed-by-carol' "  ... no command record of them"
expect_no_match "$(pane watcher)" '^watch-exit=' "  ... and the watcher stays"

# Detaching the watcher: alice is told.
tm send-keys -t watcher 'C-\'
wait_for "pane watcher | grep -q '^watch-exit='" 5
expect_match "$(pane watcher)" '^watch-exit=0$' "the watcher detaches (ctrl-\\), exit 0"
wait_for "pane owner | grep -q 'carol.*stopped watching'" 5
expect_match "$(pane owner)" 'carol.*stopped watching' "alice is told that carol left"

# bob is no observer: the session does not exist for him.
watch_tty bob w
expect_eq "$RC" 255 "bob (not an observer) cannot watch"
expect_match "$OUT" 'no such session' "  ... as if the session did not exist"
expect_match "$(grep 'AUDIT access-denied:' "$DWELL_LOG_DIR/dwelld.log" | grep 'DWELL_CALLER=bob')" 'DWELL_SESSION_NAME=w' \
        "  ... audited as access-denied"
# An observer only watches.
for verb in connect receive; do
        capture carol dwell $verb w
        expect_eq "$RC" 255 "an observer cannot $verb"
done
capture carol dwell invoke w -- true
expect_eq "$RC" 255 "an observer cannot invoke"

# A group of observers.
capture alice dwell new -t -n g -c groupwatch
tm new-session -d -s gw -x 80 -y 24 "$(tm_env carol) dwell watch g; echo watch-exit=\$?; sleep 600"
wait_for "pane gw | grep -q '\\$ *\$'" 10
expect_match "$(pane gw)" '\$ *$' "observers: [\"@admins\"]: carol (group admins) watches"
watch_tty bob g
expect_eq "$RC" 255 "  ... bob (not in admins) does not"
tm kill-session -t gw

# dwelld restarted (kill -9): the session is re-adopted with its observers.
restart_dwelld KILL
watch_tty carol w
expect_match "$OUT" 'watching session w of alice read-only' "after kill -9 of dwelld, carol still watches (observers kept)"
watch_tty bob w
expect_eq "$RC" 255 "  ... and bob still does not"

# A command session cannot be watched.
capture alice dwell new -n cmd
watch_tty alice cmd
expect_eq "$RC" 255 "watching a command session is refused"
expect_match "$OUT" 'not a terminal session' "  ... saying why"

# Attacks through the raw protocol: a watcher that types, one that never reads.
cat > "$DWELL_SANDBOX/rawwatch.py" <<'PY'
import os, socket, struct, sys, time
V = int(os.environ["DWELL_PROTO_VERSION"])
REQ_WATCH, TERM_OUTPUT, TERM_INPUT, ERROR = 111, 306, 327, 200
def frame(t, payload=b""):
    return struct.pack("<IHBB", len(payload), t, V, 0) + payload
def s(x):
    x = x.encode()
    return struct.pack("<I", len(x)) + x
req = struct.pack("<I", 0) + s(sys.argv[2]) + s("") + s("") + s("") + s("") + struct.pack("<QB", 0, 0) + s("") \
    + s("xterm") + struct.pack("<HH", 0, 0)
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
c.sendall(frame(REQ_WATCH, req))
if sys.argv[3] == "ack":
    # An acknowledgement of the session's output: not a watcher's to send.
    time.sleep(1)
    c.sendall(frame(320, struct.pack("<QQQQ", 1, 0, 0, 0)))
    c.settimeout(10)
    try:
        while c.recv(65536):
            pass
        print("closed")
    except socket.timeout:
        print("still open")
    sys.exit(0)
if sys.argv[3] == "stall":
    print("watching", flush=True)
    time.sleep(120)
    sys.exit(0)
c.settimeout(10)
buf, got_output, types = b"", False, []
deadline = time.time() + 10
while time.time() < deadline:
    try:
        d = c.recv(65536)
    except socket.timeout:
        break
    if not d:
        print("closed", types)
        sys.exit(0)
    buf += d
    while len(buf) >= 8:
        n, t = struct.unpack("<IH", buf[:6])
        if len(buf) < 8 + n:
            break
        types.append(t)
        buf = buf[8 + n:]
        if t == TERM_OUTPUT and not got_output:
            got_output = True
            c.sendall(frame(TERM_INPUT, b"echo forged-by-watcher\r"))
print("still open", types)
PY
out=$(as_user carol python3 "$DWELL_SANDBOX/rawwatch.py" "${DWELL_SOCK:-/run/dwell/dwelld.sock}" w type 2>&1)
expect_match "$out" '^closed .*200' "a watcher that sends TERM_INPUT itself gets an error and is disconnected"
sleep 1
expect_no_match "$(pane owner)" 'forged-by-watcher' "  ... nothing of it reaches the session"
expect_match "$(grep 'AUDIT access-denied:' "$DWELL_LOG_DIR/dwelld.log" | grep 'DWELL_CALLER=carol')" 'watcher .*sent input' \
        "  ... audited as access-denied"
dwell_json alice list w
buffered=$(json_eval "$OUT" 'd[0]["buffered"]')
out=$(as_user carol python3 "$DWELL_SANDBOX/rawwatch.py" "${DWELL_SOCK:-/run/dwell/dwelld.sock}" w ack 2>&1)
expect_eq "$out" "closed" "a watcher that acknowledges output (ACK) is disconnected"
dwell_json alice list w
after=$(json_eval "$OUT" 'd[0]["buffered"]')
[ "$buffered" -gt 0 ] && [ "$after" -ge "$buffered" ] && pass "  ... and consumed none of the session's output ($buffered, $after bytes)" ||
        fail "  ... and consumed none of the session's output" "buffered before $buffered, after $after"
as_user carol python3 "$DWELL_SANDBOX/rawwatch.py" "${DWELL_SOCK:-/run/dwell/dwelld.sock}" w stall >"$DWELL_SANDBOX/stall.out" 2>&1 &
track_pid $!
wait_for "grep -q watching '$DWELL_SANDBOX/stall.out'" 10
sleep 0.5
t0=$(date +%s)
tm send-keys -t owner 'head -c 30000000 /dev/zero | tr "\0" x | fold -w 100; echo big-done' Enter
wait_for "pane owner | grep -q '^big-done'" 60
t1=$(date +%s)
expect_match "$(pane owner)" '^big-done$' "a watcher that never reads: 30 MB of output reach the typer ($((t1 - t0)) s)"
tm send-keys -t owner 'echo after-big' Enter
wait_for "pane owner | grep -q '^after-big'" 5
expect_match "$(pane owner)" '^after-big$' "  ... and the typer goes on typing"

# The bound: at most 16 watchers at once; the rest are refused.
mkdir -p "$DWELL_SANDBOX/flood"
for i in $(seq 1 100); do
        ( sleep 25 | as_user carol script -qfec "dwell watch w" /dev/null >"$DWELL_SANDBOX/flood/$i.out" 2>&1 ) &
        track_pid $!
        # In waves of 10, below dwelld's max_pending_per_user (16).
        [ $((i % 10)) -ne 0 ] || sleep 0.5
done
# Refused by the worker (the bound), or before by dwelld's admission
# control (max_pending_per_user: 100 requests at once).
refused() { grep -lE 'watchers already|max_pending_per_user' "$DWELL_SANDBOX"/flood/*.out 2>/dev/null | wc -l; }
wait_for '[ "$(refused)" -ge 84 ]' 30
n=$(refused)
[ "$n" -ge 84 ] && pass "100 watchers: the ones over the bound (16) are refused ($n)" ||
        fail "100 watchers: the ones over the bound are refused" "refused: $n; $(cat "$DWELL_SANDBOX"/flood/1.out)"
m=$(grep -l 'watchers already' "$DWELL_SANDBOX"/flood/*.out 2>/dev/null | wc -l)
[ "$m" -ge 1 ] && pass "  ... by the worker's bound ($m): limit-exceeded" || fail "  ... by the worker's bound" "none"
dwell_json alice list w
expect_eq "$(json_eval "$OUT" 'd[0]["watchers"] <= 16')" "true" "  ... at most 16 watch"
tm send-keys -t owner 'echo still-typing' Enter
wait_for "pane owner | grep -q '^still-typing'" 5
expect_match "$(pane owner)" '^still-typing$' "  ... the typer goes on"
