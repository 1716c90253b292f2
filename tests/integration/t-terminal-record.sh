#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-record.sh — the recording of a terminal session (transcript:
# true): the client types in a tmux pane, detaches, a background job prints
# while nobody is attached, and then
#   - the recording is INSTANCE.cast, root:root 0600 in a 0700 directory;
#     alice can neither read it nor replay it;
#   - every line is valid JSON, the header has the pane's size, TERM and
#     dwell's values; connected/disconnected are markers;
#   - `asciinema cat` prints what was shown, the detached part included, and
#     so does `dwell replay`;
#   - bytes a user prints to break it (invalid UTF-8, quotes, backslashes,
#     "]", newlines, a UTF-8 sequence split across two writes) stay one
#     valid JSON event each, the split sequence whole;
#   - a flood of 300,000 lines while detached is recorded entirely, in
#     order;
#   - a resize is an "r" event; removing the session ends the recording
#     with the "ended" marker.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

tm_start alice "dwell connect -t -c rec rec" 100 30
wait_screen '\$ *$' 15
keys 'echo typed-$((40+2))' Enter
wait_screen '^typed-42' 10
expect_match "$(screen)" '^typed-42$' "the client types in its terminal session"
# The shell's nonce (printed as text), a mark forged without it, and one of
# the shell's own marks printed in two writes (and so, most likely, cut
# between two reads of the pty): a D, as if the shell reported the status.
keys 'echo nonce-is-$__dwell_nonce; printf "\e]133;C;nonce=0123456789abcdef0123456789abcdef;cmdline_url=forged\a"; printf "\e]133;D;0;non"; sleep 0.3; printf "ce=%s\aafter-split\n" $__dwell_nonce' Enter
wait_screen '^after-split' 10
nonce=$(screen | sed -n 's/^nonce-is-\([0-9a-f]\{32\}\)$/\1/p' | head -n 1)
expect_match "$nonce" '^[0-9a-f]{32}$' "the shell's nonce (printed by the user)"

cast=$(ls /var/log/dwell/*.cast 2>/dev/null | head -n 1)
expect_match "$cast" '^/var/log/dwell/[0-9a-f-]+\.cast$' "the recording is INSTANCE.cast in the transcript directory"
expect_eq "$(stat -c '%U:%G %a' "$cast")" "root:root 600" "  ... root:root, mode 0600"
expect_eq "$(stat -c '%U:%G %a' /var/log/dwell)" "root:root 700" "  ... in a 0700 directory"

# Bytes chosen to break a naive writer, one of them a UTF-8 sequence split
# across two writes (and so, most likely, two reads of the pty).
keys "printf 'A\\377\\376\"\\\\]\\n[' ; printf '\\342\\202'; sleep 0.3; printf '\\254-euro-%s\\n' end" Enter
wait_screen 'euro-end' 10
# A job that prints while nobody is attached, and a flood.
keys '(sleep 2; echo detached-out-$((1+1)); seq 1 300000; echo flood-$((3*5))) &' Enter
sleep 0.5
keys 'C-\'
wait_screen '^client-exit=' 10
expect_match "$(screen)" '^client-exit=0$' "the client detaches (exit 0)"
wait_for "grep -q 'flood-15' '$cast'" 30
expect_match "$(grep -c 'flood-15' "$cast")" '^1$' "output while nobody is attached is recorded"

check=$("$PYTHON" - "$cast" <<'EOF2'
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
assert lines[-1] == b"", "ends with a newline"
bad = [l for l in lines[:-1] if any(c < 0x20 or c > 0x7e for c in l)]
print("ascii", "yes" if not bad else "no")
h = json.loads(lines[0])
print("header", h["version"], h["width"], h["height"], h["env"]["TERM"], h["dwell"]["owner"], h["dwell"]["configuration"])
out = ""
markers = []
for l in lines[1:-1]:
    t, k, d = json.loads(l)
    if k == "o":
        out += d
    elif k == "m":
        markers.append(d)
print("markers", "|".join(m.split(" (pid")[0] for m in markers))
print("euro", "yes" if "\u20ac-euro-end" in out else "no")
i = out.find("cmdline_url=forged\x07")
print("split-mark-gone", "yes" if out[i:].startswith("cmdline_url=forged\x07after-split\r\n") else repr(out[i:][:80]))
print("bytes", "yes" if 'A\ufffd\ufffd"\\]\r\n[' in out else repr(out[out.find("A\ufffd"):][:20]))
i = out.find("detached-out-2")
nums = out[i:].split("\r\n")[1:300001]
print("flood", "complete" if nums == [str(n) for n in range(1, 300001)] else "incomplete %d" % len(nums))
EOF2
)
expect_match "$check" '^ascii yes$' "the recording is printable ASCII (JSON lines)"
expect_match "$check" '^header 2 100 30 screen-256color alice rec$' "the header: version 2, the pane's size, TERM, dwell's values"
expect_match "$check" '^markers connected: alice\|.*\|disconnected: alice' "connected and disconnected are markers"
expect_match "$(grep -c "nonce=$nonce" "$cast")" '^0$' "the shell's marks (with the session's nonce) are not in the recording"
expect_match "$(grep -c 'u001b]133;C;nonce=0123456789abcdef0123456789abcdef;cmdline_url=forged' "$cast")" '^1$' \
        "  ... a forged one is, as printed"
expect_match "$check" '^split-mark-gone yes$' "  ... nor is one of the shell's marks printed in two writes"
expect_match "$check" '^euro yes$' "a UTF-8 sequence split across two writes is recorded whole"
expect_match "$check" '^bytes yes$' "invalid UTF-8 as U+FFFD, quotes, backslashes and ] stay inside the event"
expect_match "$check" '^flood complete$' "300,000 lines printed while detached are all recorded, in order"

nocsi() { tr -d '\r' | sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g; s/\x1b\][^\x07]*\x07//g'; }
cat_out=$(script -qec "asciinema cat '$cast'" /dev/null 2>&1 | nocsi)
expect_match "$cat_out" '^typed-42$' "asciinema cat prints what was shown"
expect_match "$cat_out" '(^|\$ )detached-out-2$' "  ... including while detached"
expect_match "$cat_out" '^flood-15$' "  ... to the end"
replay_out=$("$DWELL_BIN_DIR/dwell" replay "$cast" | nocsi)
expect_match "$replay_out" '(^|\$ )detached-out-2$' "dwell replay (root) plays it"

# Played in a terminal (root's), at 1000 times the speed.
tmux -S "$DWELL_SANDBOX/replay.sock" -f /dev/null new-session -d -x 100 -y 30 \
        "$DWELL_BIN_DIR/dwell replay --speed 1000 '$cast'; echo replay-exit=\$?; sleep 600"
track_pid "$(tmux -S "$DWELL_SANDBOX/replay.sock" display-message -p '#{pid}')"
wait_for "tmux -S '$DWELL_SANDBOX/replay.sock' capture-pane -p | grep -q '^replay-exit='" 60
rscreen=$(tmux -S "$DWELL_SANDBOX/replay.sock" capture-pane -p)
expect_match "$rscreen" '^replay-exit=0$' "dwell replay --speed 1000 in a terminal plays it to the end"
expect_match "$rscreen" '^flood-15$' "  ... showing the output printed while detached"
tmux -S "$DWELL_SANDBOX/replay.sock" kill-server 2>/dev/null || true

capture alice cat "$cast"
expect_eq "$RC" 1 "alice cannot read her session's recording"
capture alice dwell replay "$cast"
expect_eq "$RC:$ERR" "255:dwell: $cast: Permission denied" "  ... nor replay it"

# Attaching from a terminal of another size resizes.
tm_start alice "dwell connect rec" 90 25
wait_for "grep -q '\"r\", \"90x25\"' '$cast'" 10
expect_match "$(grep -c '"r", "90x25"' "$cast")" '^[1-9]' "attaching from a 90x25 terminal is a resize event"
tm kill-server 2>/dev/null || true
capture alice dwell remove rec
expect_rc 0 "remove rec"
wait_for "tail -n 1 '$cast' | grep -q '\"m\", \"ended\"'" 10
expect_match "$(tail -n 1 "$cast")" '"m", "ended"\]$' "the recording ends with the ended marker"
