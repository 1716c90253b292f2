#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-commands.sh — commands in terminal sessions (OSC 133 marks set
# up through bash's hooks), through a real terminal (tmux):
#   - a command line typed at the prompt becomes a command record with its
#     text and exit status (`false`: 1; `echo hi; (exit 3)`: 3, its output
#     "hi"): list -l --json last_command, receive --json records, audited
#     (command-started with the typer as caller, command-finished with
#     DWELL_EXIT_STATUS_SOURCE=shell); the user's prompt looks the same;
#   - forged marks (printf of an OSC 133 D without the nonce, or with a
#     wrong nonce, a file of marks that is cat'ed) make no record;
#   - invoke on an idle terminal session types the line at the prompt and
#     returns its output (as text) and exit status; while `sleep 100` runs
#     in the foreground it answers busy; with a half-typed line, busy;
#   - receive prints text (no escape sequences), --raw keeps them;
#   - attacks: a flood of valid marks (the user's own, printed in a loop)
#     opens a bounded number of records; a huge command line is cut;
#     a command line with control characters is refused by invoke.

. "$(dirname "$0")/lib.sh"

mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx

tm() { tmux -S "$DWELL_SANDBOX/tmux.sock" "$@"; }
home=$(getent passwd alice | cut -d: -f6)
as_alice="cd $home && setpriv --reuid alice --regid alice --init-groups --reset-env env HOME=$home USER=alice \
PATH=$DWELL_BIN_DIR:/usr/bin:/bin LANG=C.UTF-8 TERM=xterm-256color"
screen() { tm capture-pane -p -t owner; }
keys() { tm send-keys -t owner "$@"; }
last_command() {        # id:exit_status:text of the last finished command
        dwell_json alice list -l t
        json_eval "$OUT" '"%s:%s:%s" % (d[0]["last_command"]["id"], d[0]["last_command"]["exit_status"], d[0]["last_command"]["text"]) if d[0].get("last_command") else "none"' 2>/dev/null
}
running() {
        dwell_json alice list t
        json_eval "$OUT" '(d[0].get("command") or {}).get("text") or ""' 2>/dev/null
}

# The user's own prompt and PROMPT_COMMAND, set the usual way.
cat > "$home/.bashrc" <<'RC'
PS1='alice-prompt> '
PROMPT_COMMAND="${PROMPT_COMMAND:+$PROMPT_COMMAND;}rc_hook=\$((rc_hook+1))"
RC
printf '[ -f ~/.bashrc ] && . ~/.bashrc\n' > "$home/.bash_profile"
chown alice: "$home/.bashrc" "$home/.bash_profile"

capture alice dwell new -t -n t
expect_rc 0 "alice: new -t -n t"
tm -f /dev/null new-session -d -s owner -x 120 -y 40 "$as_alice dwell connect t; echo connect-exit=\$?; sleep 600"
track_pid "$(tm display-message -p -t owner '#{pid}')"
# The session is killed and made again below: the server must not exit
# with its last session (a new-session racing with its exit fails with
# "server exited unexpectedly"), and stays the one tracked.
tm set-option -s exit-empty off
wait_for "screen | grep -q '^alice-prompt> *\$'" 10
expect_match "$(screen)" '^alice-prompt> *$' "the user's own prompt looks the same"

keys 'false' Enter
wait_for '[ "$(last_command)" != none ]' 10
expect_match "$(last_command)" '^[0-9]+:1:false$' "'false' typed at the prompt: a command record, exit status 1"
keys 'echo hi; (exit 3)' Enter
wait_for '[ "$(last_command | cut -d: -f2-)" = "3:echo hi; (exit 3)" ]' 10
expect_match "$(last_command)" '^[0-9]+:3:echo hi; \(exit 3\)$' "'echo hi; (exit 3)': its text, exit status 3"
keys 'echo "hook=$rc_hook"' Enter
wait_for "screen | grep -q '^hook=[0-9]'" 5
expect_match "$(screen)" '^hook=[3-9]$' "the user's PROMPT_COMMAND still runs at each prompt"

expect_match "$(grep 'AUDIT command-started:' "$DWELL_LOG_DIR/dwelld.log" | grep 'DWELL_COMMAND=false')" 'DWELL_CALLER=alice' \
        "command-started audited, with the typer as caller"
expect_match "$(grep 'AUDIT command-finished:' "$DWELL_LOG_DIR/dwelld.log" | grep 'DWELL_EXIT_STATUS=3')" 'DWELL_EXIT_STATUS_SOURCE=shell' \
        "command-finished audited, exit status 3 as the shell reported it"

# Forged marks: without the nonce, with a wrong one, from a file.
before=$(last_command)
keys "printf '\\e]133;D;0\\a'; printf '\\e]133;C;nonce=00000000000000000000000000000000;cmdline_url=forged\\a'; (exit 7)" Enter
wait_for '[ "$(last_command | cut -d: -f2)" = 7 ]' 10
printf '\e]133;A;nonce=0123456789abcdef0123456789abcdef\a\e]133;C;cmdline_url=forged-from-file\a\e]133;D;0\a' > "$home/marks.txt"
chown alice: "$home/marks.txt"
keys 'cat marks.txt; (exit 5)' Enter
wait_for '[ "$(last_command | cut -d: -f2)" = 5 ]' 10
dwell_json alice list -l t
expect_no_match "$OUT" 'forged' "forged marks (no nonce, a wrong nonce, a file of marks) make no record"
expect_match "$(last_command)" ':5:cat marks.txt; \(exit 5\)$' "  ... the command that printed them is recorded as it is"
n_started=$(grep 'AUDIT command-started:' "$DWELL_LOG_DIR/dwelld.log" | grep -c 'DWELL_SESSION_NAME=t')
expect_eq "$n_started" 5 "  ... five command lines, five records"

# invoke: not while alice is connected; at an idle prompt, yes.
capture alice dwell invoke t -- 'echo from-invoke'
expect_eq "$RC" 255 "invoke while a client is connected: refused"
expect_match "$ERR" 'connected to another client' "  ... busy: connected to another client"
tm send-keys -t owner 'C-\'
wait_for "screen | grep -q '^connect-exit='" 5
capture alice dwell invoke t -- 'echo "from-invoke $((6*7))"; (exit 4)'
expect_eq "$RC:$OUT" "4:from-invoke 42" "invoke on an idle terminal session: its output as text, its exit status"
expect_match "$(last_command)" ':4:echo "from-invoke' "  ... a command record"
capture alice dwell invoke t -- $'echo a\necho b'
expect_eq "$RC" 255 "invoke of a line with control characters: refused"

# receive: text (--json too), then --raw.
attach_type() {         # MARK CMD: types CMD at t's prompt, waits for the line MARK it prints, detaches
        tm kill-session -t owner 2>/dev/null || true
        tm new-session -d -s owner -x 120 -y 40 "$as_alice dwell connect t; echo connect-exit=\$?; sleep 600"
        wait_for "screen | grep -q 'alice-prompt> *\$'" 10
        keys "$2" Enter
        wait_for "screen | grep -q '^$1\$'" 10
        tm send-keys -t owner 'C-\'
        wait_for "screen | grep -q '^connect-exit='" 5
}
attach_type last-1 'printf "\e[31mred-text\e[0m\n"; echo last-1'
capture alice dwell --json receive --no-wait t
expect_match "$OUT" '"type": "exit", "command": [0-9]+, "exit_status": 3' "receive --json: the exit record of 'echo hi; (exit 3)'"
expect_match "$OUT" '"type": "start", "command": [0-9]+, "text": "false"' "  ... the start record of 'false'"
expect_match "$OUT" '"data": "red-text\\n' "  ... output as text"
expect_no_match "$OUT" '\\u001b' "  ... no escape sequences"
attach_type last-2 'printf "\e[32mgreen-text\e[0m\n"; echo last-2'
capture alice dwell receive --no-wait --raw t
expect_match "$OUT" $'\e\\[32mgreen-text' "receive --raw keeps the escape sequences"
expect_no_match "$OUT" 'red-text' "  ... and shows only what came since the last receive"
expect_no_match "$OUT" $'\e\\]133;' "  ... but not the shell's marks (they carry the session's nonce)"
attach_type last-3 'printf "\e[34mblue-text\e[0m\n"; echo last-3'
capture alice dwell receive --no-wait t
expect_match "$OUT" '^blue-text$' "receive: the text as the terminal showed it"
expect_no_match "$OUT" $'\e' "  ... without escape sequences"

# A foreground program: busy.
tm kill-session -t owner
tm new-session -d -s owner -x 120 -y 40 "$as_alice dwell connect t; echo connect-exit=\$?; sleep 600"
wait_for "screen | grep -q 'alice-prompt> *\$'" 10
keys 'sleep 100' Enter
wait_for '[ "$(running)" = "sleep 100" ]' 10
tm send-keys -t owner 'C-\'
wait_for "screen | grep -q '^connect-exit='" 5
capture alice dwell invoke t -- 'echo never'
expect_eq "$RC" 255 "invoke while sleep 100 runs in the foreground: refused"
expect_match "$ERR" 'busy' "  ... busy"
capture alice dwell stop t
wait_for '[ -z "$(running)" ]' 10
expect_match "$(last_command)" ':143:sleep 100$' "dwell stop ends it: exit status 143 (SIGTERM), as the shell reports"
capture alice dwell invoke t -- 'echo after-stop'
expect_eq "$RC:$OUT" "0:after-stop" "  ... and the prompt is free again"

# A half-typed line: busy.
tm kill-session -t owner
tm new-session -d -s owner -x 120 -y 40 "$as_alice dwell connect t; echo connect-exit=\$?; sleep 600"
wait_for "screen | grep -q 'alice-prompt> *\$'" 10
keys 'echo half'
sleep 0.3
tm send-keys -t owner 'C-\'
wait_for "screen | grep -q '^connect-exit='" 5
capture alice dwell invoke t -- 'echo never'
expect_match "$RC:$ERR" '^255:.*busy' "invoke with a half-typed line at the prompt: busy"

# Attacks: the user's own valid marks in a loop (a record flood) and a huge line.
n0=$(grep 'AUDIT command-started:' "$DWELL_LOG_DIR/dwelld.log" | grep -c 'DWELL_SESSION_NAME=t')
capture alice dwell new -t -n flood
tm kill-session -t owner
tm new-session -d -s owner -x 120 -y 40 "$as_alice dwell connect flood; echo connect-exit=\$?; sleep 600"
wait_for "screen | grep -q 'alice-prompt> *\$'" 10
keys 'for i in $(seq 2000); do printf "\e]133;C;nonce=%s;cmdline_url=x\a\e]133;D;0;nonce=%s\a" $__dwell_nonce $__dwell_nonce; done; echo flood-done' Enter
wait_for "screen | grep -q '^flood-done'" 20
n=$(grep 'AUDIT command-started:' "$DWELL_LOG_DIR/dwelld.log" | grep -c 'DWELL_SESSION_NAME=flood')
[ "$n" -le 200 ] && pass "2000 valid marks printed in a loop: $n records (bounded)" ||
        fail "a flood of valid marks is bounded" "$n records"
keys "echo $(head -c 6000 /dev/zero | tr '\0' x) >/dev/null" Enter
sleep 1
dwell_json alice list -l flood
t=$(json_eval "$OUT" 'len(d[0]["last_command"]["text"]) if d[0].get("last_command") else 0')
[ "$t" -le 4096 ] && pass "a 6000-byte command line: its text is cut ($t bytes)" ||
        fail "a huge command line is cut" "$t"
tm kill-server
