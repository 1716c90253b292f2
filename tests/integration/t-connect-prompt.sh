#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-connect-prompt.sh — the connect prompt, through a real terminal (tmux
# as the outer terminal) and through a pipe:
#   - a `for` loop typed over several lines continues with "> " and runs as
#     one command; a here-document and a trailing backslash likewise;
#   - Ctrl-C at the prompt drops what was typed and shows a new prompt;
#   - Ctrl-C while a command runs interrupts it (the shell goes on, $? is
#     130), not the client; the session's state is intact;
#   - Ctrl-D while a command runs disconnects at once, the command goes on;
#   - connecting while a command runs follows it to its end before the
#     prompt;
#   - `exit 3` at the prompt disconnects (exit 0), the session stays;
#   - `invoke` from a terminal passes each line as it is typed;
#   - from a pipe (no terminal) a multi-line block runs as typed.

. "$(dirname "$0")/lib.sh"

running() {
        dwell_json alice list s
        json_eval "$OUT" '(d[0].get("command") or {}).get("text") or ""' 2>/dev/null
}

capture alice dwell new -n s
expect_rc 0 "alice: new -n s"
capture alice dwell invoke s -- 'KEEP=kept'

# The sandbox's /dev/pts is the host's, without room for new terminals: a
# devpts instance of our own, in the sandbox's mount namespace.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx
TMUX_SOCK=$DWELL_SANDBOX/tmux.sock
home=$(getent passwd alice | cut -d: -f6)
tm() { tmux -S "$TMUX_SOCK" "$@"; }
as_alice="cd $home && setpriv --reuid alice --regid alice --init-groups --reset-env env HOME=$home USER=alice \
PATH=$DWELL_BIN_DIR:/usr/bin:/bin LANG=C.UTF-8 TERM=xterm"
connect_cmd="$as_alice dwell connect s; echo connect-exit=\$?; sleep 600"
tmux_n=0
start_tmux() {          # a new tmux server (socket) each time: none lingers in the way
        tm kill-server 2>/dev/null || true
        tmux_n=$((tmux_n + 1))
        TMUX_SOCK=$DWELL_SANDBOX/tmux.$tmux_n.sock
        tm -f /dev/null new-session -d -x 150 -y 50 "$connect_cmd"
        track_pid "$(tm display-message -p '#{pid}')"
        wait_for "tm capture-pane -p | grep -q '^\[s\]\\$'" 10
}
screen() { tm capture-pane -p -S -100; }
keys() { tm send-keys "$@"; }

start_tmux
expect_match "$(screen)" '^\[s\]\$' "connect in a terminal shows the prompt [s]\$"

keys 'for i in 1 2 3; do' Enter
wait_for "screen | grep -q '^>'" 5
expect_match "$(screen)" '^>' "an open 'for ... do' continues with '> '"
keys 'echo "loop $i"' Enter
wait_for "screen | grep -c '^>' | grep -qx 2" 5
keys 'done' Enter
wait_for "screen | grep -q 'loop 3'" 5
expect_eq "$(screen | grep -o 'loop [0-9]')" "loop 1
loop 2
loop 3" "  ... and runs as one command"

keys 'cat <<EOF' Enter 'here line' Enter 'EOF' Enter
wait_for "screen | grep -q '^here line'" 5
expect_match "$(screen)" '^(> )?here line$' "a here-document typed at the prompt"

keys 'echo back \' Enter 'slash' Enter
wait_for "screen | grep -q 'back slash'" 5
expect_match "$(screen)" '^(> )?back slash$' "a trailing backslash continues the line"

keys 'echo never-run-partial'
sleep 0.3
keys C-c
sleep 0.3
keys 'echo after-ctrl-c' Enter
wait_for "screen | grep -q '^after-ctrl-c'" 5
expect_match "$(screen)" '^after-ctrl-c$' "Ctrl-C at the prompt: a new prompt"
expect_no_match "$(screen | grep -v 'echo never-run-partial')" 'never-run-partial' "  ... what was typed is dropped"

keys 'sleep 1000; echo "sleep-status=$?"' Enter
wait_for '[ "$(running)" = "sleep 1000; echo \"sleep-status=\$?\"" ]' 5
sleep 0.3
keys C-c
wait_for "screen | grep -q 'sleep-status=1'" 5
expect_match "$(screen)" 'sleep-status=130$' "Ctrl-C while a command runs interrupts it (\$? 130), the shell goes on"
keys 'echo "keep=$KEEP"' Enter
wait_for "screen | grep -q '^keep='" 5
expect_match "$(screen)" '^keep=kept$' "  ... the client stayed connected and the state is intact"

keys 'sleep 1001' Enter
wait_for '[ "$(running)" = "sleep 1001" ]' 5
sleep 0.3
keys C-d
wait_for "screen | grep -q '^connect-exit='" 5
expect_match "$(screen)" '^connect-exit=0$' "Ctrl-D while a command runs disconnects at once (exit 0)"
expect_match "$(screen)" 'the command goes on' "  ... saying so"
expect_eq "$(running)" "sleep 1001" "  ... and the command goes on"
capture alice dwell stop s
wait_for '[ -z "$(running)" ]' 5

capture alice dwell invoke -d s -- 'sleep 2; echo first-done'
start_tmux
expect_eq "$(screen | grep -v '^$' | grep -A1 -x 'first-done')" 'first-done
[s]$' "connecting while a command runs: its output to its end, then the prompt"
keys 'exit 3' Enter
wait_for "screen | grep -q '^connect-exit='" 5
expect_match "$(screen)" '^connect-exit=0$' "'exit 3' at the prompt disconnects (exit 0)"
capture alice dwell invoke s -- 'echo $KEEP'
expect_eq "$RC:$OUT" "0:kept" "  ... and the session stays, with its state"
# invoke from a terminal: its input goes line by line, so a command can ask.
connect_cmd="$as_alice dwell invoke s -- 'read -r a; echo \"got \$a\"; read -r b; echo \"got \$b\"'; echo invoke-exit=\$?; sleep 600"
start_tmux() {
        tm kill-server 2>/dev/null || true
        tmux_n=$((tmux_n + 1))
        TMUX_SOCK=$DWELL_SANDBOX/tmux.$tmux_n.sock
        tm -f /dev/null new-session -d -x 150 -y 50 "$connect_cmd"
        track_pid "$(tm display-message -p '#{pid}')"
}
start_tmux
wait_for '[ -n "$(running)" ]' 5
keys 'first answer' Enter
wait_for "screen | grep -q '^got first answer'" 5
expect_match "$(screen)" '^got first answer$' "invoke from a terminal: a line typed reaches the command at once"
keys 'second' Enter
wait_for "screen | grep -q '^invoke-exit='" 5
expect_match "$(screen)" '^got second$' "  ... and the next one"
expect_match "$(screen)" '^invoke-exit=0$' "  ... the invoke ends with the command"
tm kill-server 2>/dev/null || true

# From a pipe: a multi-line block runs as typed.
connect_bg alice s "$DWELL_SANDBOX/p.out" "$DWELL_SANDBOX/p.err"
connect_send 'for w in a b; do'
connect_send '  echo "word $w"'
connect_send 'done'
connect_send 'cat <<END'
connect_send 'piped here'
connect_send 'END'
connect_send 'echo pipe-done'
wait_for "grep -q pipe-done '$DWELL_SANDBOX/p.out'" 10
connect_close
wait_for "! kill -0 $CONNECT_PID 2>/dev/null" 10
expect_eq "$(cat "$DWELL_SANDBOX/p.out")" "word a
word b
piped here
pipe-done" "from a pipe: a for loop and a here-document run as typed"

capture alice dwell remove s
expect_rc 0 "remove s"
