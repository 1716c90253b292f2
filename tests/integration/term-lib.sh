# SPDX-License-Identifier: ISC
# shellcheck shell=bash
#
# term-lib.sh — for the terminal-session tests (sourced after lib.sh): tmux
# as the outer terminal emulator, on a devpts instance of the sandbox's own.
#
#   tm ARGS...                tmux on the current test server's socket
#   tm_start USER CMD [W H]   a new tmux server (the previous one killed)
#                             whose one pane (W x H, default 120 x 40) runs
#                             CMD as USER in a login-like environment
#                             (TERM=screen-256color, LANG=C.UTF-8), then
#                             prints "client-exit=STATUS" and waits
#   tm_respawn USER CMD       the same in the running server's pane
#   screen                    the pane's visible screen (capture-pane -p)
#   keys KEYS...              tmux send-keys to the pane
#   wait_screen ERE [T]       waits (at most T s, default 10) until a line of
#                             the screen matches ERE
#   user_cmd USER CMD         the shell command line that runs CMD as USER

# The sandbox's /dev/pts is the host's, without room for new terminals.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx

TMUX_N=0
TMUX_SOCK=$DWELL_SANDBOX/tmux.0.sock
tm() { tmux -S "$TMUX_SOCK" "$@"; }

user_cmd() {
        local home
        home=$(getent passwd "$1" | cut -d: -f6)
        printf 'cd %s && setpriv --reuid %s --regid %s --init-groups --reset-env env HOME=%s USER=%s LOGNAME=%s PATH=%s:/usr/bin:/bin LANG=C.UTF-8 TERM=screen-256color %s' \
                "$home" "$1" "$1" "$home" "$1" "$1" "$DWELL_BIN_DIR" "$2"
}

tm_start() {
        local w=${3:-120} h=${4:-40}
        tm kill-server 2>/dev/null || true
        TMUX_N=$((TMUX_N + 1))
        TMUX_SOCK=$DWELL_SANDBOX/tmux.$TMUX_N.sock
        tm -f /dev/null new-session -d -x "$w" -y "$h" "$(user_cmd "$1" "$2"); echo client-exit=\$?; sleep 600"
        tm set-option -g window-size manual
        track_pid "$(tm display-message -p '#{pid}')"
}

tm_respawn() {
        tm respawn-pane -k "$(user_cmd "$1" "$2"); echo client-exit=\$?; sleep 600"
}

screen() { tm capture-pane -p; }
keys() { tm send-keys "$@"; }
wait_screen() {
        _wait_screen_re=$1
        wait_for 'screen | grep -Eq -- "$_wait_screen_re"' "${2:-10}"
}
