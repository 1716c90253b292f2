#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-reconnect-terminal.sh — a terminal session's client (connect, watch)
# reconnects by itself, with tmux as the outer terminal and a real sshd
# behind a veth link the test cuts (as in t-reconnect-ssh.sh); dwelld.yaml
# sets heartbeat_interval: 1s (a silent peer is lost in ~3 s).  The session
# prints a counter on one line.
#   - connect -H, the link down for 10 s: the status line shows on the
#     pane's last row, keys typed meanwhile are not sent, and once the link
#     is back the client resumes by itself: the pane shows the session's
#     current screen (a later count, `stty size` right) and typing works;
#   - watch -H, the link down for 10 s: the watcher resumes by itself;
#   - connect on the server, the client stopped (a suspended laptop) and
#     dwelld killed (-9) meanwhile, started again 3 s after the client
#     resumed: reattached, the screen intact;
#   - connect -H --reconnect-timeout 5s (another session), the link down:
#     the client gives up, the terminal restored, with
#     `dwell -H HOST connect late`, exit 255; that command reattaches;
#   - the session printing while the connection breaks (the client stopped
#     on the server; the link down over ssh): after the reconnect the outer
#     terminal's history has every line once (only the lines that scrolled
#     during the break are written again).

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

far_host far 10.78.0 rt || exit 1
ssh_user_key alice laptop
ssh_client_config alice /home/alice/.ssh/cfg laptop
H=alice@10.78.0.2
remote="env DWELL_SSH='ssh -F /home/alice/.ssh/cfg' dwell -H $H"

# The counter's value on the pane (0 if none).
count() { screen | sed -n 's/^count=\([0-9][0-9]*\).*/\1/p' | tail -n 1 | grep . || echo 0; }
# Waits until the counter is above $1.
count_above() { wait_for "[ \$(count) -gt $1 ]" "${2:-15}"; }
client_pid() { pgrep -u alice -x dwell | head -n 1; }
# Ctrl-C to the session's loop, only while a client is attached (else it
# would end the pane).
interrupt() { [ -n "$(client_pid)" ] && keys C-c; }

# The session: a marker, its size, and a counter on one line (90 s at most).
LOOP='clear; echo marker-$((6*7)); stty size; i=0; while [ $i -lt 900 ]; do i=$((i+1)); printf "\rcount=%d " $i; sleep 0.1; done'

# -- 1: connect -H, the link down for 10 s ------------------------------------------
tm_start alice "$remote connect -t work" 100 30
wait_screen '\$ ?$' 20
keys "$LOOP" Enter
count_above 5 || fail "the counter runs" "$(screen)"
far_link down
wait_screen '^dwell: connection to alice@10\.78\.0\.2 lost; reconnecting \(attempt [0-9]+, [0-9]+ s left\)' 10
expect_match "$(screen | tail -n 1)" '^dwell: connection to alice@10\.78\.0\.2 lost; reconnecting' \
        "link down: the status line on the pane's last row"
keys 'typed-in-the-outage'
c=$(count)
sleep 7
far_link up
count_above $((c + 30)) 40 || fail "link back: the counter goes on" "$(screen)"
expect_match "$(screen)" "^count=" "link back: the client resumed by itself and shows the counter"
expect_eq "$(( $(count) > c + 30 ))" 1 "  ... at its current value (the screen rendered again: $(count) > $c + 30)"
expect_match "$(screen)" '^marker-42$' "  ... the session's screen restored (the marker)"
expect_match "$(screen)" '^30 100$' "  ... stty size right"
expect_no_match "$(screen)" 'dwell: connection' "  ... the status line is gone"
interrupt
keys 'echo "after-$((1+1))"; stty size' Enter
wait_screen '^after-2' 10
expect_match "$(screen)" '^after-2$' "  ... typing works again"
expect_no_match "$(screen)" 'typed-in-the-outage' "  ... what was typed during the outage was not sent"
expect_match "$(screen)" '^30 100$' "  ... the size still the pane's"

# -- 2: watch -H, the link down for 10 s ---------------------------------------------
keys "$LOOP" Enter
count_above 3 || fail "the counter runs again" "$(screen)"
tm send-keys -H 1c
wait_screen '^client-exit=0' 10
tm_respawn alice "$remote watch work"
count_above 5 20 || fail "the watcher shows the counter" "$(screen)"
far_link down
wait_screen '^dwell: connection to alice@10\.78\.0\.2 lost; reconnecting' 10 ||
        fail "watch, link down: the status line" "$(screen)"
c=$(count)
sleep 7
far_link up
count_above $((c + 30)) 40
expect_eq "$(( $(count) > c + 30 ))" 1 "watch, link down 10 s: the watcher resumed by itself ($(count) > $c + 30)"
expect_match "$(screen)" '^marker-42$' "  ... with the session's screen"
tm send-keys -H 1c
wait_screen '^client-exit=0' 10
expect_match "$(screen)" '^client-exit=0$' "  ... and the detach key ends it"

# -- 3: on the server, the client stopped while dwelld is killed ----------------------
tm_respawn alice "dwell connect work"
wait_screen '^count=' 10
interrupt
keys "$LOOP" Enter
count_above 5 || fail "local: the counter runs" "$(screen)"
p=$(client_pid)
kill -STOP "$p"
stop_dwelld KILL
sleep 5                                 # the worker drops the silent client
c=$(count)
kill -CONT "$p"
wait_screen '^dwell: connection to localhost lost; reconnecting' 10
expect_match "$(screen | tail -n 1)" '^dwell: connection to localhost lost; reconnecting' \
        "local, client stopped and dwelld killed: the client reconnects (status line)"
sleep 3
start_dwelld || fail "dwelld started again"
count_above $((c + 20)) 30
expect_eq "$(( $(count) > c + 20 ))" 1 "  ... reattached once dwelld is back ($(count) > $c + 20)"
expect_match "$(screen)" '^marker-42$' "  ... the screen intact (the marker)"
expect_match "$(screen)" '^30 100$' "  ... and the size"
expect_eq "$(pgrep -u alice -x dwell | head -n 1)" "$p" "  ... the same client process"

# -- 4: the link down longer than the window -----------------------------------------
tm_respawn alice "$remote connect -t --reconnect-timeout 5s late"
wait_screen '\$ ?$' 20
keys 'echo "before-$((2+2))"' Enter
wait_screen '^before-4' 10
far_link down
wait_screen '^client-exit=' 30
far_link up
expect_match "$(screen)" "^dwell: gave up after 5s; the session keeps running: dwell -H $H connect late\$" \
        "link down longer than --reconnect-timeout 5s: the pick-up command"
expect_match "$(screen)" '^client-exit=255$' "  ... exit 255, at the start of a line (the terminal restored)"
tm_respawn alice "$remote connect late"
wait_screen '^before-4' 20
expect_match "$(screen)" '^before-4$' "  ... which reattaches later"
tm send-keys -H 1c
wait_screen '^client-exit=' 10

# -- 5, 6: the outer terminal's history after a reconnect ----------------------------
# The session prints 100 lines, then a line every 0.05 s; meanwhile the
# connection breaks and the client reconnects by itself.  The pane's
# history then holds every line exactly once: the lines that scrolled
# before the break are not written again, those that scrolled during it
# are, and the stale screen (and the status line) is wiped, not pushed.
#   5: on the server, the client stopped for 5 s (the worker drops it): the
#      client had handed its terminal to the worker, which remembers where
#      that terminal stood;
#   6: over ssh, the link down for 7 s: the client names the position in
#      the session's output its terminal stands at (HISTORY_FROM).
history_once() {        # LABEL CLIENT-COMMAND BREAK-COMMAND
        local hist
        tm_respawn alice "$2"
        wait_screen '\$ ?$' 20
        tm clear-history                # (the pane's, from the scenarios before)
        keys 'clear; seq -f old-%g 100; i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo new-$i; sleep 0.05; done; echo loop-$((5*5))' Enter
        wait_screen '^new-20$' 20 || fail "$1: the lines flow" "$(screen)"
        eval "$3"
        wait_screen '^loop-25$' 40 || fail "$1: the loop ends after the reconnect" "$(screen)"
        hist=$(tm capture-pane -p -S - -E -)
        expect_eq "$(printf '%s\n' "$hist" | grep -cx 'old-[0-9]*')" 100 \
                "$1, reconnected: the pane's history has each of the 100 early lines (written before the break) once"
        expect_eq "$(printf '%s\n' "$hist" | grep -x 'old-[0-9]*' | sort -u | wc -l)" 100 "  ... all of them"
        expect_eq "$(printf '%s\n' "$hist" | grep -cx 'new-[0-9]*')" 150 \
                "  ... and each of the 150 later lines (some printed during the outage) once"
        expect_eq "$(printf '%s\n' "$hist" | grep -x 'new-[0-9]*' | sort -u | wc -l)" 150 "  ... all of them"
        expect_no_match "$hist" 'dwell: connection' "  ... and not the status line"
        tm send-keys -H 1c
        wait_screen '^client-exit=' 10
}
history_once "on the server, the client stopped" "dwell connect -t hist" \
        'p=$(client_pid); kill -STOP "$p"; sleep 5; kill -CONT "$p"'
history_once "over ssh, the link down" "$remote connect -t rhist" \
        'far_link down; sleep 7; far_link up'

capture alice dwell remove --all
expect_rc 0 "remove the session"
tm kill-server 2>/dev/null || true
wait_for '[ "$(ps -e -o comm= | grep -c "^dwell-host$")" -eq 0 ]' 15 ||
        fail "every session host ended" "$(ps -e -o pid,user,args | grep dwell-host)"
