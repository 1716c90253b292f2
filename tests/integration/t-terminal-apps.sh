#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-apps.sh — full-screen programs in a terminal session, through
# a real terminal (tmux as the outer terminal emulator):
#   - vim (-u NONE) edits and saves a file, also across a detach and a
#     reattach in the middle of the edit;
#   - top runs; the client detaches and reattaches from a pane of the same
#     size: the screen is exactly what it was (top, at -d 100, has not
#     redrawn: what shows is the worker's rendering of its screen);
#     reattached from a pane of another size, top redraws for that size and
#     `stty size` after leaving top says so;
#   - a whiptail --yesno dialog (as apt and debconf show them) is answered
#     with keys, after a detach and reattach in the middle of it.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

prompt='^alice@[^ ]*:~\$$'
detach() {
        tm send-keys -H 1c
        wait_screen '^client-exit=' 5
}

capture alice dwell new -t -n apps
expect_rc 0 "alice: new -t -n apps"

# vim
tm_start alice "dwell connect apps" 100 30
wait_screen "$prompt" 10
keys 'vim -u NONE -N notes.txt' Enter
wait_screen '^~' 5
expect_match "$(screen)" '^"notes.txt" \[New\]' "vim starts on the alternate screen"
keys i 'first line from vim' Enter 'second line' Escape
sleep 0.3
detach
expect_match "$(screen)" '^dwell: detached from apps' "detached in the middle of the edit"
expect_no_match "$(screen)" 'first line from vim' "  ... the local terminal left the alternate screen"
tm_respawn alice "dwell connect apps"
wait_screen '^first line from vim' 5
expect_match "$(screen)" '^second line$' "reattached: vim's screen is back"
keys o 'third line' Escape ':wq' Enter
wait_screen "$prompt" 5
expect_eq "$(cat "$(getent passwd alice | cut -d: -f6)/notes.txt")" "first line from vim
second line
third line" "vim edits and saves the file"

# top at the same size: the rendering alone must restore the screen.
keys 'clear; top -d 100' Enter
wait_screen '^top - ' 5
wait_screen '^ *PID +USER' 5
sleep 0.5
before=$(screen)
detach
tm_respawn alice "dwell connect apps"
wait_screen '^top - ' 5
sleep 0.5
after=$(screen)
expect_eq "$after" "$before" "top: reattached at the same size, the screen is exactly what it was"

# ... and from a pane of another size.
detach
tm kill-server
tm_start alice "dwell connect apps" 80 24
wait_screen '^ *PID +USER' 5
sleep 0.5
expect_match "$(screen | head -n 1)" '^top - ' "reattached from an 80x24 pane: top's header on the first line"
expect_eq "$(screen | wc -l)" 24 "  ... a 24-line screen"
expect_eq "$(screen | awk '{ if (length($0) > 80) n++ } END { print n + 0 }')" 0 "  ... no line wider than 80"
keys q
wait_screen "$prompt" 5
keys 'echo "size=$(stty size)"' Enter
wait_screen '^size=' 5
expect_match "$(screen)" '^size=24 80$' "  ... stty size after leaving top: 24 80"

# whiptail, as apt and debconf show their questions.
keys 'clear; whiptail --yesno "Restart services now?" 10 40; echo "whiptail=$?"' Enter
wait_screen '<Yes>.*<No>' 5
expect_match "$(screen)" '<Yes>.*<No>' "whiptail --yesno shows its dialog"
detach
tm_respawn alice "dwell connect apps"
wait_screen '<Yes>.*<No>' 5
expect_match "$(screen)" '<Yes>.*<No>' "  ... still there after a detach and reattach"
keys Tab
sleep 0.2
keys Enter
wait_screen '^whiptail=' 5
expect_match "$(screen)" '^whiptail=1$' "  ... answered No with Tab, Enter"

detach
capture alice dwell remove apps
expect_rc 0 "remove apps"
