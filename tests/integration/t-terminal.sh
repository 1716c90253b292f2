#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal.sh — a terminal session through a real terminal (tmux as the
# outer terminal emulator):
#   - dwell new -t creates one (list and JSON say terminal: true, list -l
#     has the column); connect joins the local terminal to its pty: a login
#     shell of the user, interactive, TERM from the client, the pane's size;
#   - Ctrl-C interrupts `sleep 1000`; Ctrl-Z stops it and `fg` resumes it;
#   - resizing the outer window resizes the session's (stty size);
#   - the detach key (ctrl-\) leaves the session running, with the local
#     terminal restored and a line saying how to return; --detach-keys
#     ctrl-a,d; a partial detach sequence is passed on as typed;
#   - `dwell disconnect` from another shell detaches the client;
#   - reattaching writes the scrollback into the outer terminal's history,
#     --no-history (connect, watch) only the screen;
#   - connect -t creates the session when the caller has none of that name
#     and attaches to it when it has;
#   - connect from a pipe is refused, pointing at receive;
#   - SIGTERM and SIGHUP to the client restore the local terminal too;
#   - receive prints what the session showed; other users cannot see or
#     attach to it; the idle timeout removes it;
#   - `exit` at the session's shell ends the session (audited).

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

capture alice dwell new -t -n work
expect_rc 0 "alice: new -t -n work"
dwell_json alice list
expect_eq "$(json_eval "$OUT" '[s["terminal"] for s in d if s["name"] == "work"]')" "[true]" \
        "list --json: terminal: true"
capture alice dwell list -l
expect_match "$OUT" '^ *Id .*Terminal' "list -l has a Terminal column"
expect_match "$OUT" ' work .* yes( |$)' "  ... yes for the terminal session"

prompt='^alice@[^ ]*:~\$$'
tm_start alice "dwell connect work" 120 40
wait_screen '\$$' 10
expect_match "$(screen)" '^alice@.*:~\$$' "connect: the session's shell prompt"
keys 'echo "tty=$(tty) size=$(stty size) term=$TERM"; shopt -q login_shell && echo login=yes; [[ $- == *i* ]] && echo interactive=yes' Enter
wait_screen '^interactive=yes' 5
expect_match "$(screen)" '^tty=/dev/pts/[0-9]+ size=40 120 term=xterm-256color$' \
        "  ... on a pty of the pane's size (TERM xterm-256color: new -t ran without a terminal)"
expect_match "$(screen)" '^login=yes$' "  ... a login shell"
expect_match "$(screen)" '^interactive=yes$' "  ... interactive"

keys 'sleep 1000' Enter
sleep 0.5
keys C-c
keys 'echo "sleep-status=$?"' Enter
wait_screen '^sleep-status=' 5
expect_match "$(screen)" '^sleep-status=130$' "Ctrl-C interrupts sleep 1000"

keys 'sleep 1000' Enter
sleep 0.5
keys C-z
wait_screen 'Stopped +sleep 1000' 5
expect_match "$(screen)" 'Stopped +sleep 1000' "Ctrl-Z stops the foreground job"
keys 'jobs -l | sed "s/^/JOBS /"' Enter
wait_screen '^JOBS ' 5
expect_match "$(screen)" '^JOBS \[1\]\+ +[0-9]+ Stopped +sleep 1000' "  ... job control sees it"
keys 'fg' Enter
wait_for "screen | grep -c '^sleep 1000' | grep -qx 2" 5
sleep 0.3
keys C-c
keys 'echo "after-fg=$?"' Enter
wait_screen '^after-fg=' 5
expect_match "$(screen)" '^after-fg=130$' "  ... fg resumes it in the foreground (Ctrl-C ends it)"

tm resize-window -x 100 -y 30
sleep 0.5
keys 'clear; echo "resized=$(stty size)"' Enter
wait_screen '^resized=' 5
expect_match "$(screen)" '^resized=30 100$' "resizing the outer terminal resizes the session's (stty size)"

# The detach key: the session goes on, the local terminal is restored.
keys 'printf "\033[?1049h\033[?25l\033[?1000h\033[?2004h"; echo in-alt-screen' Enter
wait_screen '^in-alt-screen' 5
tm send-keys -H 1c
wait_screen '^client-exit=' 5
expect_match "$(screen)" '^dwell: detached from work \(dwell connect work to return\)$' \
        "the detach key (ctrl-\\) detaches, saying how to return"
expect_match "$(screen)" '^client-exit=0$' "  ... exit 0"
expect_eq "$(tm display-message -p '#{alternate_on} #{cursor_flag} #{mouse_any_flag}')" \
        "0 1 0" "  ... the outer terminal is back to the normal screen, cursor shown, no mouse reporting"
capture alice dwell --json list work
expect_eq "$(json_eval "$OUT" '[s["state"] for s in d]')" '["Disconnected"]' "  ... the session stays, disconnected"

# Reattach: the shell's state is there.
tm_respawn alice "dwell connect --detach-keys ctrl-a,d work"
wait_screen '\$$' 10
keys 'echo "ad-$((20+22))"' Enter
wait_screen '^ad-42' 5
keys C-a 'x' 'echo "partial"' Enter
wait_screen 'partial' 5
expect_no_match "$(screen)" '^client-exit=' "--detach-keys ctrl-a,d: ctrl-a then x is passed on"
keys C-a d
wait_screen '^client-exit=' 5
expect_match "$(screen)" '^dwell: detached from work' "  ... ctrl-a,d detaches"

# dwell disconnect from elsewhere.
tm_respawn alice "dwell connect work"
wait_screen '\$$' 10
capture alice dwell disconnect work
expect_rc 0 "dwell disconnect work from another shell"
wait_screen '^client-exit=' 5
expect_match "$(screen)" '^dwell: detached from work by alice' "  ... detaches the attached client"

# The scrollback on reattach: written first by default, so that it lands in
# the outer terminal's own history; --no-history draws the screen only.
tm_respawn alice "dwell connect work"
wait_screen '\$$' 10
keys 'printf "\033[?1049l"; clear; seq -f "hist-%g" 1 200' Enter      # the main screen (the alternate has no history)
wait_screen '^hist-200$' 5
tm send-keys -H 1c
wait_screen '^client-exit=' 5
history_after_attach() {
        tm clear-history
        tm_respawn alice "dwell $1 work"
        wait_for '! screen | grep -q "^client-exit=" && screen | grep -Eq "^hist-200$"' 10
        sleep 0.5
        tm capture-pane -p -S - -E -
        tm send-keys -H 1c
        wait_screen '^client-exit=' 5
}
expect_match "$(history_after_attach connect)" '^hist-1$' \
        "reattach: the session's scrollback lands in the outer terminal's history"
hist=$(history_after_attach "connect --no-history")
expect_no_match "$hist" '^hist-1$' "reattach --no-history: the screen only, no scrollback"
expect_match "$hist" '^hist-200$' "  ... with the screen as it is"
hist=$(history_after_attach "watch --no-history")
expect_no_match "$hist" '^hist-1$' "watch --no-history: the screen only too"
expect_match "$hist" '^hist-200$' "  ... with the screen as it is"

# Signals to the client: detached, the local terminal restored (cooked mode, echo).
modes='if stty -a | grep -Eq -- "(^| )-(icanon|echo|isig)( |;|$)"; then echo tty=raw; else echo tty=cooked; fi'
for sig in TERM HUP; do
        tm respawn-pane -k "$(user_cmd alice "dwell connect work"); echo client-exit=\$?; $modes; sleep 600"
        wait_screen "$prompt" 10
        pkill -"$sig" -u alice -x dwell
        wait_screen '^tty=' 5
        expect_match "$(screen)" "^dwell: detached from work \(.*; dwell connect work to return\)$" \
                "SIG$sig to the client: detached, saying so"
        expect_match "$(screen)" '^tty=cooked$' "  ... and the local terminal is back in cooked mode with echo"
done

# receive: what the session showed, from its output buffer.
capture alice dwell receive work
expect_match "$OUT" 'ad-42' "receive on a terminal session prints what it showed"
# Other users: not found.
capture bob dwell connect work
expect_rc 255 "bob cannot connect to alice's terminal session"
expect_match "$ERR" 'no such session' "  ... it does not exist for him"

# invoke: typed at the idle prompt (t-terminal-commands has the rest).
capture alice dwell invoke work -- 'echo x'
expect_eq "$RC:$OUT" "0:x" "invoke on an idle terminal session runs the line at its prompt"

# Not a terminal: refused with a pointer to receive.
capture alice dwell connect work
expect_rc 255 "connect with stdin not a terminal is refused"
expect_match "$ERR" 'terminal session: dwell connect needs a terminal.*dwell receive work' "  ... saying what to use"

# connect -t: attaches to the caller's session of that name ...
tm_respawn alice "dwell connect -t work"
wait_screen '\$$' 10
keys 'echo "same=$((6*7))"; history | tail -n 3 | grep -c "ad-" ' Enter
wait_screen '^same=42' 5
tm send-keys -H 1c
wait_screen '^client-exit=' 5
capture alice dwell --json list
expect_eq "$(json_names "$OUT")" "work" "connect -t NAME attaches to the caller's own session NAME"
# ... and creates one when there is none (bob has no 'work').
tm_respawn bob "dwell connect -t work"
wait_screen '\$$' 10
keys 'echo "bob-is=$(id -un) term=$TERM"' Enter
wait_screen '^bob-is=' 5
expect_match "$(screen)" '^bob-is=bob term=screen-256color$' \
        "connect -t NAME creates a terminal session when the caller has none (TERM from the client)"
dwell_json bob list
expect_eq "$(json_eval "$OUT" '[(s["name"], s["terminal"]) for s in d]')" '[["work", true]]' "  ... bob's own, a terminal session"

# exit at the shell: the session ends.
keys 'exit' Enter
wait_screen '^client-exit=' 5
expect_match "$(screen)" '^dwell: session work ended: the shell exited$' "exit at the shell ends the session"
wait_for '[ "$(as_user bob dwell list | wc -l)" -le 1 ]' 5
dwell_json bob list
expect_eq "$(json_len "$OUT")" 0 "  ... and it is gone"
wait_for "grep -q 'session-ended' '$DWELL_LOG_DIR/audit.log' 2>/dev/null || grep -rq 'ended: the shell exited' '$DWELL_LOG_DIR'" 5
expect_match "$(cat "$DWELL_LOG_DIR"/* 2>/dev/null)" 'ended: the shell exited' "  ... audited"

capture alice dwell remove work
expect_rc 0 "remove work"

# The idle timeout applies as to any session.
capture alice dwell new -t -n brief --idle-timeout 2s
expect_rc 0 "new -t --idle-timeout 2s"
wait_for '[ "$(as_user alice dwell list 2>/dev/null | grep -c brief)" = 0 ]' 10
dwell_json alice list
expect_eq "$(json_len "$OUT")" 0 "  ... removed after its idle timeout"
