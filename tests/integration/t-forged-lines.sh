#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-forged-lines.sh — what a local user sends cannot break or forge the
# audit lines on dwelld's standard error (no journal in the sandbox, so
# every audit event is such a line) or the lines of a root-written
# transcript (t-forged-lines.d: `audited` keeps one, `restricted` refuses
# commands).  As alice, by hand on $DWELL_SOCK and with the client:
#
# - ORIGIN frames of backslashes and quotes, each followed by a request for
#   bob's session (denied and audited with the origin and a quoted reason):
#   a sweep of lengths up to what the protocol carried once overflowed the
#   one-line audit writer's stack buffer in root dwelld (a stray NUL past
#   it: under ASan a stack-buffer-overflow report, checked for at the end;
#   without, silent corruption).  dwelld stays up and answers; an ORIGIN
#   over PROTO_MAX_ORIGIN (256 bytes), or one holding a control character
#   or a byte above 0x7e, ends its connection and creates nothing.
# - a restricted session's refusals (audited with the command text then the
#   reason, by the session's root monitor) of commands full of backslashes
#   and quotes: the session keeps answering.
# - a command text holding newlines, "# run_as: root", a fake event line
#   and ESC sequences, and a command printing such lines: the transcript
#   keeps one header per key, every other line a timestamped event or output
#   line, no raw control byte; dwelld's log has no raw ESC and every audit
#   line starts with its writer's prefix.

. "$(dirname "$0")/lib.sh"

# send_raw ORIGIN-SPEC VERB SESSION NAME CONFIG COMMAND: one connection
# with an ORIGIN frame (ORIGIN-SPEC is a Python expression for its bytes)
# and then a request; prints "error CODE MESSAGE", "session NAME" (the
# first frame of the answer) or "closed" (no answer).
send_raw() {
        as_user alice "$PYTHON" - "$DWELL_SOCK" "$@" <<'PY'
import os, socket, struct, sys
path, origin, verb, session, name, config, command = sys.argv[1:8]
origin = eval(origin)
VERBS = {"new": 100, "list": 101, "invoke": 102}

def frame(t, payload):
    return struct.pack("<IHBB", len(payload), t, int(os.environ["DWELL_PROTO_VERSION"]), 0) + payload

def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<I", len(b)) + b

req = struct.pack("<I", 0) + s(session) + s(name) + s(config) + s("") + s(command) + struct.pack("<QB", 0, 0) + s("") + s("") + struct.pack("<HH", 0, 0)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(20)
sock.connect(path)
try:
    sock.sendall(frame(120, s(origin)) + frame(VERBS[verb], req))
except OSError:
    print("closed")
    sys.exit(0)
data = b""
try:
    while len(data) < 8 or len(data) < 8 + struct.unpack("<I", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
if len(data) < 8:
    print("closed")
    sys.exit(0)
n, t = struct.unpack("<IH", data[:6])
p = data[8:8 + n]
if t == 200:
    code, n = struct.unpack("<HI", p[:6])
    print("error %d %s" % (code, p[6:6 + n].decode(errors="replace")))
elif t == 202:
    print("session")
else:
    print("frame %d" % t)
PY
}

dwelld_alive() {
        kill -0 "$DWELLD_PID" 2>/dev/null
}

capture bob dwell new -n secret
expect_rc 0 "bob: new -n secret"

# ------------------------------------------------- long quoted audit fields
# Escaped, a backslash or a quote takes two bytes: lengths from 3700 to 4096
# (the most an ORIGIN could hold) fill the old 8 KiB line at every offset.
answers=$DWELL_SANDBOX/sweep.txt
: >"$answers"
for len in $(seq 3700 7 4096); do
        dwelld_alive || break
        send_raw "b'\\\\\"' * ($len // 2) + b'x' * ($len % 2)" invoke secret '' '' true >>"$answers" 2>&1
done
if dwelld_alive; then
        pass "dwelld survives ORIGINs of 3700..4096 backslashes and quotes before a denied request"
else
        fail "dwelld survives ORIGINs of 3700..4096 backslashes and quotes before a denied request" \
                "$(tail -n 3 "$answers")" "$(daemon_log 20)"
        # The rest needs a dwelld.
        start_dwelld || fail "dwelld restarts"
fi
expect_no_match "$(sort -u "$answers")" '^error 1 ' \
        "  ... an over-long ORIGIN is not accepted (the connection ends, nothing is answered)"
expect_eq "$(send_raw "b'\\\\' * 65536" invoke secret '' '' true)" closed \
        "a 64 KiB ORIGIN ends its connection"
expect_eq "$(send_raw "b'\\\\\"' * 128" invoke secret '' '' true)" "error 1 no such session: secret" \
        "an ORIGIN of 256 backslashes and quotes (PROTO_MAX_ORIGIN) is accepted; bob's session stays hidden"
log=$(tr -d '\0' <"$DWELL_LOG_DIR/dwelld.log")
line=$(printf '%s\n' "$log" | grep 'AUDIT access-denied:' | grep 'DWELL_ORIGIN="\\\\\\"' | tail -n 1)
expect_match "$line" 'DWELL_ORIGIN="(\\\\\\"){128}" ' "  ... its audit line holds the origin escaped"
expect_match "$line" 'DWELL_REASON="the session is not visible to the caller" -- ' \
        "  ... followed by the reason and the message, intact"

capture alice dwell list
expect_rc 0 "dwelld answers dwell list"

# ------------------------------------------- the root monitor's audit lines
capture alice dwell new -n r -c restricted
expect_rc 0 "alice: new -n r -c restricted"
bad=0
for len in $(seq 7900 23 8300); do
        printf -v cmd '%*s' $((len / 2)) ''
        cmd=/bin/sh${cmd// /'\"'}
        as_user alice dwell invoke r -- "$cmd" >/dev/null 2>&1
        rc=$?
        [ "$rc" -eq 126 ] || bad=$((bad + 1))
done
expect_eq "$bad" 0 "refusals of commands of 7900..8300 bytes of backslashes and quotes: all answered 126"
capture alice dwell --json list r
expect_eq "$(json_eval "$OUT" 'd[0]["state"]' 2>&1)" "Disconnected" "  ... and r is not Broken"
expect_no_match "$(tr -d '\0' <"$DWELL_LOG_DIR/dwelld.log")" 'killed by signal' "  ... no session host died"

# -------------------------------------------------------- forged ORIGINs
esc=$'\e'
for spec in "b'ssh 192.0.2.1 port 22\\n# run_as: root'" "b'ssh \\x1b[2J\\x1b]0;pwned\\x07'" \
            "b'ssh 192.0.2.1\\r2026-01-01T00:00:00.000000Z command 9 finished: exit status 0'" \
            "b'ssh \\xc2\\x9b31m'" "b'ssh \\xff\\xfe'"; do
        expect_eq "$(send_raw "$spec" new '' fake audited '')" closed \
                "an ORIGIN $spec is refused (the connection ends)"
done
capture alice dwell list
expect_no_match "$OUT" '(^| )fake( |$)' "  ... and no session fake was created"

# ------------------------------------------------- forged transcript lines
capture alice dwell new -n tx -c audited
expect_rc 0 "alice: new -n tx -c audited"
forged_cmd=$'printf "x\\n"\n# run_as: root\n2026-01-01T00:00:00.000000Z command 7 started by root: id\r'"${esc}[31mred${esc}[0m"$'\ntrue'
capture alice dwell invoke tx -- "$forged_cmd"
expect_rc 0 "alice: a command whose text holds newlines, a header, an event line and ESC"
capture alice dwell invoke tx -- 'printf "# run_as: root\n# owner: root\n2026-01-01T00:00:00.000000Z command 8 finished: exit status 0\n\033]0;title\007\r\n"'
expect_rc 0 "alice: a command printing header-looking lines and control sequences"
capture alice dwell remove tx
expect_rc 0 "alice: remove tx (its transcript ends)"

t=$(grep -l '^# session: [0-9]* tx$' /var/log/dwell/*.transcript 2>/dev/null | head -n 1)
if [ -n "$t" ]; then
        pass "tx wrote a transcript"
        check=$("$PYTHON" - "$t" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
problems = []
lines = data.split(b"\n")
if lines[-1] != b"":
    problems.append("does not end with a newline")
lines = lines[:-1]
header = re.compile(rb"^# (dwell transcript [0-9]+|(session|instance|owner|run_as|configuration|host|origin|started|ended): .*)$")
event = re.compile(rb"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z ")
seen = {}
body = False
for i, l in enumerate(lines):
    if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", l):
        problems.append("line %d holds a raw control byte: %r" % (i + 1, l[:80]))
    if event.match(l):
        body = True
        rest = l[28:]
        if not re.match(rb"(connected: |disconnected: |command [0-9]+ (started by |finished: |refused: )|[0-9]+ (stdout|stderr): |output dropped |broken: |idle timeout )", rest):
            problems.append("line %d: unknown event: %r" % (i + 1, l[:80]))
        if re.match(rb"command [78] ", rest):
            problems.append("line %d: a forged event: %r" % (i + 1, l[:80]))
        continue
    m = header.match(l)
    if not m:
        problems.append("line %d is neither a header nor an event: %r" % (i + 1, l[:80]))
        continue
    key = l.split(b":")[0]
    seen[key] = seen.get(key, 0) + 1
    if body and not l.startswith(b"# ended: "):
        problems.append("line %d: a header after the events: %r" % (i + 1, l[:80]))
for k, n in seen.items():
    if n != 1:
        problems.append("%d %r headers" % (n, k))
if b"# run_as: -\n" not in data:
    problems.append("the real run_as header is missing")
out = [l for l in lines if re.match(rb"^\S+ 2 stdout: ", l)]
if len(out) != 4 or not out[0].endswith(b"stdout: # run_as: root") or b"\\x1b]0;title\\x07\\x0d" not in out[3]:
    problems.append("command 2's output is not four escaped stdout lines: %r" % out)
if not any(re.match(rb"^\S+ command 1 started by alice: printf \"x\\\\n\"\\x0a# run_as: root\\x0a", l) for l in lines):
    problems.append("command 1's text is not on one line, escaped")
print("\n".join(problems) if problems else "OK %d lines" % len(lines))
PY
)
        expect_match "$check" '^OK' "  ... with no forged header or event line, no raw control byte ($check)"
else
        fail "tx wrote a transcript" "$(ls -la /var/log/dwell 2>&1)"
fi

log=$(tr -d '\0' <"$DWELL_LOG_DIR/dwelld.log")
expect_no_match "$log" "$esc" "dwelld's log holds no raw ESC"
expect_no_match "$log" '^(AUDIT|# |2026-01-01T)' "  ... and no line that starts as an audit line or a transcript line would"
expect_match "$log" 'AUDIT command-started: .*DWELL_COMMAND="printf \\"x\\\\n\\"\\x0a# run_as: root\\x0a' \
        "  ... the command-started line holds the text escaped"
expect_match "$log" 'AUDIT command-refused: ' "  ... the refusals of r are audited"
expect_no_match "$log" 'ERROR: AddressSanitizer|runtime error:' "no sanitizer report in dwelld's log (for sanitizer builds)"
dwelld_alive && pass "dwelld is still running" || fail "dwelld is still running" "$(daemon_log 20)"
