#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-echo.sh — a keystroke's echo is the first thing the worker
# sends (issue 15's echo latency, bench/terminal.sh): the client types in
# a tmux pane, one key at a time, while strace follows the session's worker
# (a recorded session, transcript: true, so that the monitor also wants
# every byte).  The client, on this machine and its caller the session's
# owner, has handed its terminal to the worker (worker-tty.c): the worker
# reads the key from it and writes it to the pty.  For every read of the
# pty that returns output without an escape sequence (each echo), the
# worker's very next system call is the write of that output to the
# client's terminal: not a second read of the pty, not the recording's
# write to the monitor, not the terminal state's or the records' work in
# between (no system call shows that, but it comes after this write in the
# same code path).  And after it the worker goes back to sleep
# (epoll_wait) without reading the pty again: a short read (an echo) ends
# the reads, so no read that finds nothing (EAGAIN) delays the sleep.
# Then what was typed is on the screen, in the command record and in the
# recording, once.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

command -v strace >/dev/null || { echo "SKIP: strace is not installed"; exit 77; }

tm_start alice "dwell connect -t -c rec echo" 100 30
wait_screen '\$ *$' 15
keys 'echo warm-$((20+1))' Enter
wait_screen '^warm-21' 10

worker=$(pgrep -u alice -x dwell-host | head -n 1)
expect_match "$worker" '^[0-9]+$' "the session's worker (dwell-host as alice)"
trace=$DWELL_SANDBOX/echo.strace
strace -qq -s 64 -o "$trace" -p "$worker" &
spid=$!
track_pid "$spid"
wait_for "grep -q '^TracerPid:[[:space:]]*$spid\$' /proc/$worker/status" 10
# One key at a time, each echoed before the next is typed.
keys 'echo '
wait_screen '\$ echo $' 5
typed=
for i in $(seq 1 24); do
        keys q
        typed=${typed}q
        wait_screen "\\\$ echo $typed\$" 5
done
keys " end-\$((40+2))" Enter
wait_screen '^qqqqqqqqqqqqqqqqqqqqqqqq end-42$' 10
kill -INT "$spid" 2>/dev/null
wait_for "! kill -0 $spid 2>/dev/null" 10

# The worker's pty (the master, /dev/ptmx) and the client's terminal (the
# tmux pane's /dev/pts/N, handed over).
pty_fd=$(ls -l "/proc/$worker/fd" | sed -n 's|.* \([0-9][0-9]*\) -> /dev/ptmx$|\1|p' | head -n 1)
tty_fd=$(ls -l "/proc/$worker/fd" | sed -n 's|.* \([0-9][0-9]*\) -> /dev/pts/[0-9]*$|\1|p' | head -n 1)
check=$("$PYTHON" - "$trace" "$pty_fd" "$tty_fd" <<'EOF2'
import re, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1], errors="replace")]
call = re.compile(r'^(\w+)\((\d+)')
# The typed "q", read from the client's terminal, then written to the pty
# (the next write the worker makes).
pty, client = sys.argv[2], sys.argv[3]
keys = 0
for i, l in enumerate(lines):
    if l.startswith('read(%s, "q",' % client):
        w = next((l2 for l2 in lines[i + 1:i + 6] if l2.startswith("write(")), "")
        keys += w.startswith('write(%s, "q", 1)' % pty)
print("fds", pty or None, client or None, "keys", keys)
echoes = first = asleep = 0
late = []
again = []
for i, l in enumerate(lines):
    m = re.match(r'^read\(%s, "([^"]*)"(\.\.\.)?, \d+\)\s*= \d+$' % pty, l)
    if not m or "\\33" in m.group(1) or "q" not in m.group(1):
        continue
    echoes += 1
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if nxt.startswith("write(%s," % client):
        first += 1
    else:
        late.append(nxt[:60])
    # Up to the next epoll_wait: no read of the pty (the monitor's sendmsg may come).
    for l2 in lines[i + 1:i + 8]:
        if l2.startswith("epoll_wait("):
            asleep += 1
            break
        if l2.startswith("read(%s," % pty):
            again.append(l2[:60])
            break
print("echoes", echoes)
print("first", "all" if echoes and first == echoes else "%d of %d; next instead: %s" % (first, echoes, late[:3]))
print("asleep", "all" if echoes and asleep == echoes else "%d of %d; read again: %s" % (asleep, echoes, again[:3]))
EOF2
)
expect_match "$check" '^fds [0-9]+ [0-9]+ keys (2[4-9]|[3-9][0-9])$' \
        "strace shows the typed key read by the worker from the client's terminal (handed over) and written to the pty"
expect_match "$check" '^echoes (2[4-9]|[3-9][0-9])$' "  ... and the 24 echoes read from the pty"
expect_match "$check" '^first all$' "each echo is written to the client's terminal right after it is read, before anything else"
expect_match "$check" '^asleep all$' "  ... and then the worker waits (epoll_wait) without reading the pty again"

# Nothing changed in what is shown, recorded and kept.
keys 'C-\'
wait_screen '^client-exit=' 10
expect_match "$(screen)" '^client-exit=0$' "the client detaches (exit 0)"
capture alice dwell receive echo
expect_eq "$(printf '%s\n' "$OUT" | grep -c '\$ echo qqqqqqqqqqqqqqqqqqqqqqqq end-\$((40+2))$')" 1 \
        "receive has the typed line once"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^qqqqqqqqqqqqqqqqqqqqqqqq end-42$')" 1 "  ... and its output once"
capture alice dwell list -l echo
expect_match "$OUT" ' 2: echo qqqqqqqqqqqqqqqqqqqqqqqq end-' "the typed line is the last command record"
cast=$(ls /var/log/dwell/*.cast 2>/dev/null | head -n 1)
nonce_marks=$(grep -c 'nonce=' "$cast")
expect_eq "$nonce_marks" 0 "the recording has none of the shell's marks"
expect_match "$("$PYTHON" -c '
import json, sys
out = "".join(e[2] for e in (json.loads(l) for l in open(sys.argv[1]).read().splitlines()[1:]) if e[1] == "o")
print(out.count("end-42\r\n"))' "$cast")" '^1$' "the recording has the output once"
capture alice dwell remove echo
expect_rc 0 "remove echo"
