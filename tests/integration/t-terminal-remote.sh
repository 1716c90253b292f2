#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-terminal-remote.sh — a terminal session over SSH (dwell -H, through
# dwell-bridge), with tmux as the outer terminal:
#   - dwell -H HOST connect -t work creates and attaches to a terminal
#     session on HOST; typing works, the size follows the pane;
#   - the detach key says how to return, with -H;
#   - a lost connection (ssh killed) with --reconnect-timeout 0 leaves the
#     session running, the local terminal restored (reconnecting by itself:
#     t-reconnect-terminal.sh);
#   - the same session, reattached locally on the server, shows the screen
#     left by the remote client.

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/term-lib.sh"

sshd_start main 127.0.0.1 2222 || exit 1
ssh_user_key alice laptop
ssh_client_config alice /home/alice/.ssh/cfg-laptop laptop
H=alice@127.0.0.1:2222
remote="env DWELL_SSH='ssh -F /home/alice/.ssh/cfg-laptop' dwell -H $H"

tm_start alice "$remote connect -t work" 110 35
wait_screen '\$$' 20
keys 'echo "remote-$((40+2)) size=$(stty size)"' Enter
wait_screen '^remote-42' 10
expect_match "$(screen)" '^remote-42 size=35 110$' "over ssh: connect -t creates a terminal session, typing works, the pane's size"
tm send-keys -H 1c
wait_screen '^client-exit=' 10
expect_match "$(screen)" "^dwell: detached from work \\(dwell -H $H connect work to return\\)$" \
        "the detach key: how to return, with -H"

tm_respawn alice "$remote connect --reconnect-timeout 0 work"
wait_screen 'remote-42' 20
keys 'echo "before-loss"' Enter
wait_screen '^before-loss' 10
pkill -u alice -x ssh
wait_screen '^client-exit=' 10
expect_match "$(screen)" '^dwell: lost the connection to session work; it goes on' "ssh killed: the client says the session goes on"
expect_match "$(screen)" '^client-exit=255$' "  ... exit 255"
dwell_json alice list
expect_eq "$(json_eval "$OUT" '[(s["name"], s["terminal"]) for s in d]')" '[["work", true]]' "  ... and the session is there"

tm_respawn alice "dwell connect work"
wait_screen '^before-loss' 15
expect_match "$(screen)" '^remote-42 size=35 110$' "reattached on the server: the screen the remote client left"
tm send-keys -H 1c
wait_screen '^client-exit=' 10
capture alice dwell remove work
expect_rc 0 "remove work"
