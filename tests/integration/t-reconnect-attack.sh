#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-reconnect-attack.sh — the reconnection requests (doc/protocol.md,
# "Reconnection") from raw clients that abuse them:
#   - REATTACH naming a command that is not the lost invoke's (0, 999, not a
#     number, out of range), or with -d: not-found / invalid-argument, and
#     nothing runs (the session's last command stays the same);
#   - bob REATTACHes to alice's session by its Id: not-found;
#   - RECONNECT from alice's second client while her first one is alive and
#     heartbeating: busy (a live holder is never replaced);
#   - INVOKED goes only to a client that asked (RECONNECT): an old client
#     gets STDIN_WINDOW first, as before;
#   - an invoke client with RECONNECT that vanishes: its command's stdin is
#     held, and a new invoke into the session ends the hold (the held `cat`
#     reads end-of-file and the new command runs at once);
#   - a write intent for a "file" the client never writes, then a RESUME
#     claiming that file grew by 2^63 bytes: only the output the vanished
#     client had been sent is forgotten; what came later is received;
#   - a terminal client resuming from a forged live output position
#     (HISTORY_FROM: 0, not a number, past 64 bits, not shown yet): the
#     whole history, as with none; the session goes on.

. "$(dirname "$0")/lib.sh"

raw() {
        local user=$1
        shift
        as_user "$user" "$PYTHON" - "$DWELL_SOCK" "$@" <<'PY'
import os, re, socket, struct, sys, time
path, case = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else ""
def frame(t, p=b""): return struct.pack("<IHBB", len(p), t, int(os.environ["DWELL_PROTO_VERSION"]), 0) + p
def s_(x): x = x.encode(); return struct.pack("<I", len(x)) + x
def request(t, session, command="", flags=0, rows=0, cols=0):
    return frame(t, struct.pack("<I", flags) + s_(session) + s_("") + s_("") + s_("") + s_(command) + struct.pack("<QB", 0, 0) + s_("")
                 + s_("") + struct.pack("<HH", rows, cols))
REQ_INVOKE, REQ_CONNECT, REQ_RECEIVE = 102, 105, 106
RESUME, STDIN, STDIN_EOF, HEARTBEAT, RECORD, ACK, DETACH = 323, 324, 325, 304, 301, 320, 322
REATTACH, RECONNECT, DISCONNECTED, TERM_POS, HISTORY_FROM = 0x40, 0x80, 0x01, 0x200, 0x400
TERM_OUTPUT, TERM_POS_MSG = 306, 308
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    return s
def frames(s, n):
    got, out = b"", []
    while len(out) < n:
        while len(got) < 8 or len(got) < 8 + struct.unpack("<I", got[:4])[0]:
            d = s.recv(65536)
            if not d:
                return out
            got += d
        ln, t = struct.unpack("<IH", got[:6])
        out.append((t, got[8:8 + ln]))
        got = got[8 + ln:]
    return out
def first_answer(req):
    s = conn()
    s.sendall(req)
    f = frames(s, 1)
    if not f:
        return "closed"
    t, p = f[0]
    if t == 200:
        return "error %d" % struct.unpack("<H", p[:2])[0]
    return "type %d" % t
if case == "reattach":
    print(first_answer(request(REQ_INVOKE, sys.argv[4], arg, REATTACH | RECONNECT)))
elif case == "reattach-d":
    print(first_answer(request(REQ_INVOKE, "s", arg, REATTACH | RECONNECT | DISCONNECTED)))
elif case == "receive-reconnect":
    print(first_answer(request(REQ_RECEIVE, "s", "", RECONNECT)))
elif case == "invoked":
    s = conn()
    s.sendall(request(REQ_INVOKE, "s", "true", int(arg)))
    print(" ".join(str(t) for t, p in frames(s, 2)))
elif case == "vanish":
    s = conn()
    s.sendall(request(REQ_INVOKE, "s", "cat; echo cat-ended", RECONNECT))
    frames(s, 3)                                  # ATTACHED, INVOKED, STDIN_WINDOW
    s.sendall(frame(RESUME, b"\0" * 48) + frame(STDIN, b"abc"))
    time.sleep(0.5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                                     # lost, not left (no DETACH)
    print("vanished")
elif case == "forge-intent":                      # announce a write of a file we never write, vanish
    s = conn()
    s.sendall(request(REQ_RECEIVE, "f"))
    frames(s, 1)                                  # ATTACHED
    s.sendall(frame(RESUME, struct.pack("<6Q", 7, 9, 0, 0, 0, 0)))
    got = b""
    while True:                                   # to the first stdout record ("first")
        while len(got) < 8 or len(got) < 8 + struct.unpack("<I", got[:4])[0]:
            got += s.recv(65536)
        ln, t = struct.unpack("<IH", got[:6])
        p, got = got[8:8 + ln], got[8 + ln:]
        if t == RECORD and p[12] == 1:
            break
    seq = struct.unpack("<Q", p[:8])[0]
    n = struct.unpack("<I", p[21:25])[0]
    s.sendall(frame(ACK, struct.pack("<4Q", seq, 0, n, 0)))
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("forged")
elif case == "forge-resume":                      # the same "file", claimed 2^63 bytes long
    s = conn()
    s.sendall(request(REQ_RECEIVE, "f"))
    frames(s, 1)
    s.sendall(frame(RESUME, struct.pack("<6Q", 7, 9, 1 << 63, 0, 0, 0)) + frame(DETACH))
    frames(s, 100)
    print("resumed")
elif case == "history-from":                      # connect to terminal session t; arg: the position, or "-" none
    flags = RECONNECT | TERM_POS | (HISTORY_FROM if arg != "-" else 0)
    if arg == "old":
        flags = 0                                 # a client that does not take TERM_POS
    s = conn()
    s.sendall(request(REQ_CONNECT, "t", arg if arg not in ("-", "old") else "", flags, 24, 80))
    out, pos, got, t_end = b"", None, b"", time.time() + (1 if arg == "old" else 10)
    s.settimeout(0.2)
    while pos is None and time.time() < t_end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            break
        got += d
        while len(got) >= 8 and len(got) >= 8 + struct.unpack("<I", got[:4])[0]:
            ln, t = struct.unpack("<IH", got[:6])
            p, got = got[8:8 + ln], got[8 + ln:]
            if t == TERM_OUTPUT:
                out += p[4:]
            elif t == TERM_POS_MSG:
                pos = struct.unpack("<Q", p)[0]
    s.sendall(frame(DETACH))
    lines = set(re.findall(rb"hist-[0-9]+", out))
    print("%d %s" % (len(lines), "none" if pos is None else pos))
PY
}
last_cmd() { dwell_json alice list s; json_eval "$OUT" 'd[0]["last_command"]["id"]'; }

capture alice dwell new -n s
capture alice dwell invoke s -- true
before=$(last_cmd)
sid=$(dwell_json alice list s; json_eval "$OUT" 'd[0]["id"]')
for bad in 0 999 abc 4294967296; do
        expect_eq "$(raw alice reattach "$bad" s)" "error 1" "REATTACH to command '$bad' (not the lost invoke's): not-found"
done
expect_eq "$(raw alice reattach-d 1)" "error 5" "REATTACH with -d: invalid-argument"
expect_eq "$(raw bob reattach 1 "$sid")" "error 1" "bob REATTACHes to alice's session by Id: not-found"
expect_eq "$(last_cmd)" "$before" "  ... and none of them ran anything (last command still $before)"

c_out=$DWELL_SANDBOX/c.out; c_err=$DWELL_SANDBOX/c.err
connect_bg alice s "$c_out" "$c_err"
connect_send 'echo holder'
wait_for "grep -qx holder '$c_out'" 10 || fail "the holder is connected"
sleep 2     # heartbeats keep flowing meanwhile
expect_eq "$(raw alice receive-reconnect)" "error 4" "RECONNECT while the holder is alive and heartbeating: busy"
connect_close
wait "$CONNECT_PID" 2>/dev/null

expect_eq "$(raw alice invoked 0)" "300 305" "invoke without RECONNECT: ATTACHED, then STDIN_WINDOW (no INVOKED)"
expect_eq "$(raw alice invoked 128)" "300 340" "invoke with RECONNECT: ATTACHED, then INVOKED"
capture alice dwell receive s

expect_eq "$(raw alice vanish)" vanished "an invoke client with RECONNECT vanishes while its cat reads stdin"
sleep 1
capture alice dwell list -l s
expect_match "$OUT" 'cat; echo cat-ended' "  ... its command still runs (its stdin is held)"
t0=$(date +%s)
capture alice dwell invoke s -- 'echo second'
t1=$(date +%s)
expect_eq "$RC:$OUT" "0:second" "a new invoke ends the hold: the held cat reads end-of-file, the new command runs"
[ $((t1 - t0)) -le 5 ] && pass "  ... at once ($((t1 - t0)) s)" || fail "  ... at once ($((t1 - t0)) s)"
capture alice dwell receive s
expect_eq "$OUT" "abccat-ended" "  ... the held command had its stdin up to the vanishing, then its end"
capture alice dwell remove s

# A forged write intent and a forged file size: the worker forgets at most
# what the announcing client had been sent -- output that came later stays.
capture alice dwell invoke -d -n f -- 'printf "first\n"; sleep 3; printf "second\n"'
expect_eq "$(raw alice forge-intent)" forged "a receive client announces a write to a 'file' it never writes, and vanishes"
capture alice dwell wait f --timeout 20
expect_rc 0 "  ... the command ends meanwhile"
expect_eq "$(raw alice forge-resume)" resumed "  ... the next client claims that file grew by 2^63 bytes"
capture alice dwell receive f
expect_eq "$RC:$OUT" "0:second" "  ... the output the liar was sent is gone (its own to consume), what came after is all there"
capture alice dwell remove f

# A forged position for the history a resuming terminal client gets: at
# worst more or fewer lines of the session's own scrollback, which that
# client may read anyway; nothing else changes.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts       # ptys of the sandbox's own
mount --bind /dev/pts/ptmx /dev/ptmx
capture alice dwell new -t -n t
capture alice dwell invoke t -- 'seq -f hist-%g 300'
expect_rc 0 "a terminal session with 300 lines printed"
read -r n pos <<<"$(raw alice history-from -)"
expect_eq "$n" 300 "a resuming client without a position: all 300 lines (scrollback and screen)"
expect_match "$pos" '^[0-9]+$' "  ... and the live output's position after the rendering (TERM_POS $pos)"
read -r n _ <<<"$(raw alice history-from "$pos")"
expect_eq "$n" 23 "resuming from that position: no history, only the screen's 23 lines (and the prompt)"
for bad in 0 abc -1 "$pos " 18446744073709551616 99999999999999999999999999 $((pos + 1)) 9223372036854775808; do
        read -r n p2 <<<"$(raw alice history-from "$bad")"
        expect_eq "$n:${p2//[0-9]/9}" "300:$(printf '%s' "$pos" | tr '0-9' '9')" \
                "resuming from position '$bad' (0, malformed, too large, not shown yet): all the history, as with none"
done
expect_eq "$(raw alice history-from old)" "300 none" "a client that does not ask for TERM_POS gets none (an older client)"
capture alice dwell invoke t -- 'echo still-$((6*7))'
expect_eq "$RC:$(printf '%s' "$OUT" | tr -d '\r' | grep -x 'still-42')" "0:still-42" "  ... and the session works on"
capture alice dwell remove t

# The window is the user's own, and bounded.
for bad in abc -1 2d 1x; do
        capture alice dwell receive s --reconnect-timeout "$bad"
        expect_match "$RC:$ERR" "^255:dwell: invalid reconnect timeout '$bad'" "--reconnect-timeout $bad: refused before anything is sent"
done
capture alice dwell invoke -d -n y -- 'echo kept'
install -d -o alice -g alice /home/alice/.config/dwell
printf 'reconnect_timeout: soon\n' >/home/alice/.config/dwell/options.yaml
capture alice dwell receive y
expect_match "$RC:$ERR" '^255:dwell: .*options.yaml:1:[0-9]+: reconnect_timeout: ' "options.yaml reconnect_timeout: soon: reported with file:line:column"
expect_no_match "$ERR" 'Disconnected|connected' "  ... before anything is sent"
rm -f /home/alice/.config/dwell/options.yaml
capture alice dwell receive y
expect_eq "$RC:$OUT" "0:kept" "  ... y's output was not consumed by the refused receive"

# Leave nothing running: every session host ends before the sandbox does.
capture alice dwell remove --all
wait_for '[ "$(ps -e -o comm= | grep -c "^dwell-host$")" -eq 0 ]' 15 ||
        fail "every session host ended" "$(ps -e -o pid,user,args | grep dwell-host)"
