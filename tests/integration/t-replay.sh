#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-replay.sh — `dwell replay`, in a real terminal (tmux as the outer
# terminal) and into a pipe:
#   - an asciicast v2 recording plays with --speed 1000: the output as a
#     terminal shows it, a notice for a recording larger than the terminal;
#     the modes it switched on (alternate screen, hidden cursor) and the
#     termios are restored at its end;
#   - Ctrl-C during a 1000-second pause stops it (status 130), restoring
#     the terminal; --idle-limit caps a long pause;
#   - hostile files: a 5 MiB line, 100000 nested brackets, NaN, negative and
#     huge times, invalid JSON, raw invalid UTF-8, a 40 MiB file without a
#     newline: skipped and counted, bounded memory, no crash;
#   - a command transcript is printed; anything else is refused;
#   - a caller without read access: "dwell: FILE: Permission denied".

. "$(dirname "$0")/lib.sh"

rec=$DWELL_SANDBOX/rec
mkdir -p "$rec"
chmod 755 "$rec"

# A recording: alternate screen, hidden cursor, bracketed paste, a resize
# beyond any terminal here, a marker, then back to the normal screen.
"$PYTHON" - "$rec/a.cast" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"version": 2, "width": 100, "height": 30, "timestamp": 1765000000,
                        "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"}}) + "\n")
    for ev in ([0.1, "o", "\x1b[?1049h\x1b[?25l\x1b[?2004hFULLSCREEN-APP"],
               [0.2, "o", "\r\nsecond line \u20ac"],
               [0.3, "r", "300x100"],
               [0.5, "m", "connected: alice (pid 1)"],
               [0.6, "o", "\x1b[?1049l"],
               [2.0, "o", "after-alt-screen\r\n"]):
        f.write(json.dumps(ev) + "\n")
EOF
cp "$rec/a.cast" "$rec/pause.cast"
printf '[0.7, "o", "\\u001b[?1049h\\u001b[?25lPAUSING"]\n[1000.5, "o", "never-shown"]\n' >>"$rec/pause.cast"
cp "$rec/a.cast" "$rec/idle.cast"
printf '[1000.5, "o", "after-the-pause\\r\\n"]\n' >>"$rec/idle.cast"

mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx
tmux_n=0
tm() { tmux -S "$DWELL_SANDBOX/tmux.$tmux_n.sock" "$@"; }
screen() { tm capture-pane -p -S -100; }
flag() { tm display-message -p "#{$1}"; }
run_in_tmux() {         # one pane, 80x24, running CMD then reporting its status and the tty's echo flag
        tm kill-server 2>/dev/null || true
        tmux_n=$((tmux_n + 1))          # a new server each time: none lingers in the way
        tm -f /dev/null new-session -d -x 80 -y 24 \
                "$1; echo \"replay-exit=\$?\"; stty -a | grep -o -- ' -\?echo ' | head -1 | sed 's/^/stty:/'; sleep 600"
        track_pid "$(tm display-message -p '#{pid}')"
}

run_in_tmux "$DWELL_BIN_DIR/dwell replay --speed 1000 $rec/a.cast"
wait_for "screen | grep -q '^replay-exit='" 10
expect_match "$(screen)" '^replay-exit=0$' "replay --speed 1000 plays to the end (exit 0)"
expect_match "$(screen)" '^after-alt-screen$' "  ... the recorded output is shown"
expect_no_match "$(screen)" 'FULLSCREEN-APP' "  ... what was on the alternate screen is gone with it, as in a terminal"
expect_match "$(screen)" 'the recording is 100x30, this terminal 80x24' "  ... a recording larger than this terminal is said"
expect_no_match "$(screen)" 'connected: alice' "  ... markers are not shown"
expect_eq "$(flag alternate_on):$(flag cursor_flag)" "0:1" "  ... normal screen, cursor visible after it"
expect_match "$(screen)" '^stty: echo$' "  ... echo restored"

# Real time: the recording lasts 2 s; at speed 1000 it took far less.
start=$(date +%s%N)
"$DWELL_BIN_DIR/dwell" replay --speed 1 "$rec/a.cast" >/dev/null
expect_eq "$?" 0 "replay into a pipe (no delays) succeeds"
expect_eq "$(( ($(date +%s%N) - start) / 1000000 < 1500 ))" 1 "  ... without the recording's delays"
expect_eq "$("$DWELL_BIN_DIR/dwell" replay "$rec/a.cast" | tr -d '\r' | grep -c 'second line €')" 1 \
        "  ... the output bytes, UTF-8 decoded"

run_in_tmux "$DWELL_BIN_DIR/dwell replay $rec/pause.cast"
wait_for "screen | grep -q PAUSING" 10
expect_eq "$(flag alternate_on)" 1 "a paused replay: the recording's alternate screen is on"
tm send-keys C-c
wait_for "screen | grep -q '^replay-exit='" 10
expect_match "$(screen)" '^replay-exit=130$' "Ctrl-C stops the replay (status 130)"
expect_match "$(screen)" 'dwell: replay stopped' "  ... saying so"
expect_no_match "$(screen)" 'never-shown' "  ... nothing after the pause is shown"
expect_eq "$(flag alternate_on):$(flag cursor_flag)" "0:1" "  ... normal screen, cursor visible"
expect_match "$(screen)" '^stty: echo$' "  ... echo restored"

run_in_tmux "$DWELL_BIN_DIR/dwell replay --idle-limit 0.2 $rec/idle.cast"
wait_for "screen | grep -q '^replay-exit='" 10
expect_match "$(screen)" '^replay-exit=0$' "--idle-limit 0.2: a 1000-second pause is cut short"
expect_match "$(screen)" '^after-the-pause$' "  ... and the rest is shown"
tm kill-server 2>/dev/null || true

# Hostile recordings.
"$PYTHON" - "$rec/bad.cast" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b'{"version": 2, "width": 80, "height": 24, "x": {"y": [1, 2, {"z": null}]}}\n')
    f.write(b'[0.1, "o", "first\\r\\n"]\n')
    f.write(b'[' * 100000 + b'\n')                              # nesting
    f.write(b'{"a":' * 100000 + b'\n')
    f.write(b'[NaN, "o", "nan\\r\\n"]\n')
    f.write(b'[-1, "o", "negative\\r\\n"]\n')
    f.write(b'[1e400, "o", "infinite\\r\\n"]\n')
    f.write(b'[1e300, "o", "huge\\r\\n"]\n')
    f.write(b'[0.2, "o", "unterminated\n')
    f.write(b'[0.2, "o", "bad escape \\q"]\n')
    f.write(b'[0.2, "o"]\n')
    f.write(b'[0.3, "o", "' + b'x' * (5 * 1024 * 1024) + b'"]\n')    # over the line limit
    f.write(b'[0.4, "o", "raw \xff\xfe bytes, lone \\ud800 surrogate\\r\\n"]\n')
    f.write(b'[0.1, "o", "backwards in time\\r\\n"]\n')
    f.write(b'[0.5, "r", "99999999999x-1"]\n')
    f.write(b'[0.6, "o", "last, no newline"]')
EOF
out=$("$DWELL_BIN_DIR/dwell" replay "$rec/bad.cast" 2>"$rec/bad.err"); rc=$?
expect_eq "$rc" 0 "a hostile recording plays without a crash"
expect_eq "$(printf '%s' "$out" | tr -d '\r' | LC_ALL=C sed 's/raw .* bytes/raw XX bytes/')" "first
raw XX bytes, lone � surrogate
backwards in time
last, no newline" "  ... the valid events only (a lone surrogate as U+FFFD)"
expect_eq "$(printf '%s' "$out" | LC_ALL=C grep -c "$(printf 'raw \xff\xfe bytes')")" 1 \
        "  ... raw bytes in a string go to the terminal as they are"
expect_match "$(cat "$rec/bad.err")" "10 malformed lines skipped" "  ... the others skipped and counted"

head -c $((40 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$rec/huge.cast"
rss=$("$PYTHON" -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$DWELL_BIN_DIR/dwell" replay "$rec/huge.cast")
expect_eq "$(( rss < 20000 ))" 1 "a 40 MiB file without a newline: bounded memory (${rss} KiB)"
{ head -c 100 /dev/urandom; echo; } >"$rec/random.cast"
capture alice dwell replay "$rec/random.cast"
expect_eq "$RC:$ERR" "255:dwell: $rec/random.cast: neither an asciicast v2 recording nor a dwell transcript" \
        "random bytes are refused"
printf '{"version": 1, "width": 80, "height": 24}\n' >"$rec/v1.cast"
capture alice dwell replay "$rec/v1.cast"
expect_eq "$RC" 255 "another asciicast version is refused"

printf '# dwell transcript 2\n# session: 1 s\n2026-12-07T00:00:00.000000Z 1 stdout: hello\n' >"$rec/c.transcript"
capture alice dwell replay "$rec/c.transcript"
expect_eq "$RC:$OUT" "0:# dwell transcript 2
# session: 1 s
2026-12-07T00:00:00.000000Z 1 stdout: hello" "a command transcript is printed"

# The caller's own rights decide.
chmod 600 "$rec/a.cast"
capture alice dwell replay "$rec/a.cast"
expect_eq "$RC:$ERR" "255:dwell: $rec/a.cast: Permission denied" "a user without read access: Permission denied"
capture alice dwell replay --speed 0 "$rec/a.cast"
expect_eq "$RC:$ERR" "255:dwell: invalid speed '0' (expected a positive number)" "--speed 0 is refused"
capture alice dwell -H somewhere replay "$rec/a.cast"
expect_rc 255 "replay with -H is refused"
