#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-receive-records.sh — `dwell receive` shows each command as its own record:
#   - `dwell --json receive` of three commands that exit 0, 1 and 9 prints
#     JSON Lines (validated with jq): per command a start object (command,
#     text, started), its output chunks (command, stream, data as UTF-8 or
#     data_base64 for bytes that are not UTF-8) and an exit object
#     (command, exit_status, started <= finished, dropped); receive exits 9;
#     in drop mode, dropped objects and the exit object's dropped add up;
#   - on a terminal (the client in a tmux pane) a header line per command
#     (its Id, start time and text) and "exited with status N" after a
#     failed one;
#   - into a pipe or file: the bytes exactly as produced, nothing added;
#   - --fail: a receive whose last command succeeded exits with the status
#     of a failed one received before it (without --fail: 0);
#   - `list -l` and `--json list` show the last finished command's Id, text
#     and exit status.

. "$(dirname "$0")/lib.sh"

# Runs a command in SESSION, disconnected, and waits until it is done.
run_d() {
        local s=$1
        shift
        capture alice dwell invoke -d "$s" -- "$@"
        expect_rc 0 "invoke -d $s -- $*"
        wait_for "as_user alice dwell --json list $s | grep -q '\"command\": null'" 10 ||
                fail "  ... $s finished its command" "$(as_user alice dwell list -l "$s" 2>&1)"
}

# -- --json receive: JSON Lines -------------------------------------------
capture alice dwell new -n rec
expect_rc 0 "new -n rec"
run_d rec 'echo out-a; echo err-a >&2'
run_d rec 'echo out-b; false'
run_d rec 'printf "\377\376bin"; sh -c "exit 9"'

dwell_json alice receive rec
expect_rc 9 "--json receive rec: exits with the last command's status (9)"
lines=$OUT
if printf '%s\n' "$lines" | jq -e -s 'length > 0' >/dev/null 2>&1; then
        pass "  ... every line is a JSON object (jq reads the stream)"
else
        fail "  ... every line is a JSON object (jq reads the stream)" "$lines"
fi
expect_eq "$(printf '%s\n' "$lines" | jq -c -s '[.[] | select(.type == "exit") | [.command, .exit_status]]')" \
        '[[1,0],[2,1],[3,9]]' "  ... one exit object per command: statuses 0, 1, 9"
expect_eq "$(printf '%s\n' "$lines" | jq -c -s '[.[] | select(.type == "start") | [.command, .text]]')" \
        '[[1,"echo out-a; echo err-a >&2"],[2,"echo out-b; false"],[3,"printf \"\\377\\376bin\"; sh -c \"exit 9\""]]' \
        "  ... one start object per command, with its text"
expect_eq "$(printf '%s\n' "$lines" | jq -c -s '[.[] | select(.type == "exit") |
                (.started | type) == "number" and .finished >= .started and .dropped == 0] | unique')" \
        '[true]' "  ... exit objects carry started <= finished and dropped 0"
expect_eq "$(printf '%s\n' "$lines" | jq -r -s '[.[] | select(.type == "output" and .command == 1 and .stream == "stdout") | .data] | add')" \
        "out-a" "  ... command 1's stdout chunk as UTF-8 data"
expect_eq "$(printf '%s\n' "$lines" | jq -r -s '[.[] | select(.type == "output" and .command == 1 and .stream == "stderr") | .data] | add')" \
        "err-a" "  ... command 1's stderr chunk, stream stderr"
expect_eq "$(printf '%s\n' "$lines" | jq -r -s '[.[] | select(.type == "output" and .command == 3) | .data_base64] | add' |
             base64 -d | od -An -c | tr -s ' ')" \
        " 377 376 b i n" "  ... command 3's bytes that are not UTF-8 as data_base64, exact"
expect_eq "$(printf '%s\n' "$lines" | jq -c -s '[.[] | .type] | map(select(. != "output")) ')" \
        '["start","exit","start","exit","start","exit"]' "  ... records in order: start, output, exit per command"

dwell_json alice receive rec
expect_rc 9 "a second --json receive: nothing left, same status"
expect_eq "$OUT" "" "  ... and prints nothing"

# -- --json receive in drop mode: what was dropped ------------------------
capture alice dwell new -n lossy -c small
run_d lossy 'seq 1 100000'
dwell_json alice receive lossy
expect_rc 0 "--json receive lossy (drop mode, 589 KiB into 64 KiB)"
dropped=$(printf '%s\n' "$OUT" | jq -s '[.[] | select(.type == "dropped") | .bytes] | add')
expect_eq "$(printf '%s\n' "$OUT" | jq -s '.[] | select(.type == "exit") | .dropped')" "$dropped" \
        "  ... the exit object's dropped is the sum of the dropped objects' bytes ($dropped)"
got=$(printf '%s\n' "$OUT" | jq -j -s '[.[] | select(.type == "output") | .data] | add' | wc -c)
expect_eq "$((got + dropped))" "$(seq 1 100000 | wc -c)" "  ... output received plus dropped is all of it"

# -- list -l / --json list: the last command ------------------------------
dwell_json alice list rec
expect_eq "$(json_eval "$OUT" '[d[0]["last_command"]["id"], d[0]["last_command"]["exit_status"], d[0]["last_command"]["text"]]' 2>&1)" \
        '[3, 9, "printf \"\\377\\376bin\"; sh -c \"exit 9\""]' "--json list: last_command has the Id, exit status and text"
capture alice dwell list -l rec
expect_match "$OUT" '^Id .* LastCommand +LastStatus +Command$' "list -l has LastCommand and LastStatus columns"
expect_match "$OUT" ' 3: printf .* 9 +- *$' "  ... showing command 3 and its status 9"
capture alice dwell new -n fresh
dwell_json alice list fresh
expect_eq "$(json_eval "$OUT" 'd[0]["last_command"]' 2>&1)" "null" "  ... null for a session that ran nothing"

# -- plain: a pipe or file gets the bytes exactly --------------------------
capture alice dwell new -n plain
run_d plain 'printf "no-newline"'
run_d plain 'printf "second\n"; false'
as_user alice dwell receive plain >"$DWELL_SANDBOX/plain.out" 2>"$DWELL_SANDBOX/plain.err"
expect_eq "$?" 1 "receive plain > file: exits 1 (the last command's status)"
expect_eq "$(od -An -c "$DWELL_SANDBOX/plain.out" | tr -d '\n' | tr -s ' ')" " n o - n e w l i n e s e c o n d \n" \
        "  ... the file holds the output exactly, no headers"

# -- --fail -----------------------------------------------------------------
for s in f1 f2; do
        capture alice dwell new -n $s
        run_d $s 'echo failing; sh -c "exit 6"'
        run_d $s 'echo fine'
done
capture alice dwell receive f1
expect_rc 0 "receive f1 (a failed command, then a good one): exits 0"
capture alice dwell receive --fail f2
expect_rc 6 "receive --fail f2: exits 6, the failed command's status"
expect_eq "$OUT" "$(printf 'failing\nfine')" "  ... with the output as usual"

# -- on a terminal: headers -----------------------------------------------
capture alice dwell new -n term
run_d term 'echo tty-one'
run_d term 'echo tty-two; sh -c "exit 5"'
# The sandbox's /dev/pts is the host's, whose ptmx users may not open: a
# private devpts instance (this mount namespace only) gives tmux its ptys.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts &&
        mount --bind /dev/pts/ptmx /dev/ptmx
sock=$DWELL_SANDBOX/tmux.sock
chmod 0777 "$DWELL_SANDBOX"
as_user alice env TERM=xterm tmux -u -S "$sock" new-session -d -x 120 -y 40 \
        "dwell receive term; echo RC=\$?; sleep 60"
tmux_pid=$(as_user alice tmux -S "$sock" display-message -p '#{pid}' 2>/dev/null)
[ -n "$tmux_pid" ] && track_pid "$tmux_pid"
wait_for "as_user alice tmux -S '$sock' capture-pane -p | grep -q '^RC='" 15
pane=$(as_user alice tmux -S "$sock" capture-pane -p)
printf "# %s\n" "$pane" | head -8
expect_match "$pane" '^==> command 1, started [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}: echo tty-one$' \
        "terminal: a header line for command 1 (Id, start time, text)"
expect_match "$pane" '^tty-one$' "  ... its output below it"
expect_match "$pane" '^==> command 2, started .*: echo tty-two; sh -c "exit 5"$' "  ... a header for command 2"
expect_match "$pane" '^==> command 2 exited with status 5$' "  ... and its non-zero exit status at its end"
expect_no_match "$pane" 'command 1 exited' "  ... nothing for command 1, which succeeded"
expect_match "$pane" '^RC=5$' "  ... receive exits 5"
as_user alice tmux -S "$sock" kill-server 2>/dev/null

capture alice dwell remove --all

