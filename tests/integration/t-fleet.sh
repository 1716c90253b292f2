#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-fleet.sh — a fleet: 20 "hosts", each a dwelld of its own in its own UTS
# namespace (hostname h1..h20, its own socket and state directory) behind its
# own sshd on 127.0.0.2..127.0.0.21 port 22 (a private network namespace), and
# h21 (127.0.0.22) where nothing listens.  alice's hosts file lists them all
# (comments, blank lines, a duplicate, USER@ and :PORT forms).
#   - `dwell -H @FILE invoke -d -n upgrade -- CMD`: one row per host (h21's
#     "unreachable"), exit 255;
#   - `receive upgrade`: each host's three lines (written 0.2 s apart, so that
#     they would interleave) in one block under "==> hN <==", stderr in
#     "==> hN (stderr) <==" blocks, then the summary table: h7 exited 3, h21
#     unreachable, the others 0 with their byte counts; exit 255; without h21
#     exit 3;
#   - `--json receive`: one object per host (jq), records inside; the output
#     of more than 64 KiB per host (spooled to a file) comes out byte-exact;
#   - `--interleave`: the live prefixed lines, then the summary;
#   - `wait` and `list` fan out the same way;
#   - ControlMaster: `wait A B` makes two requests per host and one ssh
#     handshake per host (sshd's "Accepted publickey" lines); with
#     DWELL_SSH_SHARE=0 two; the control directory is gone afterwards, no ssh
#     master is left, also after a SIGTERM in the middle of a fan-out, and
#     after SIGTERM or SIGINT to a one-host receive;
#   - attacks on the hosts file: 100k lines, a huge line, control characters,
#     a host starting with '-' (never an ssh option: its ProxyCommand never
#     runs), a symbolic link to /etc/shadow (refused, nothing of it shown).

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=60}"
N=20

command -v jq >/dev/null || { echo "SKIP: jq not installed" >&2; exit 77; }

dwelld_bin=$top_builddir/src/dwelld/dwelld
aliases=()
for ((n = 1; n <= N; n++)); do
        h=h$n
        install -d -m 0755 "/run/dwell-$h"
        unshare --uts -- /bin/sh -c "hostname $h && exec \"\$0\" \"\$@\"" "$dwelld_bin" \
                --socket "/run/dwell-$h/dwelld.sock" --state-dir "/run/dwell-$h" \
                --config-dir "$DWELL_TEST_CONFIG_DIR" 2>>"$DWELL_LOG_DIR/dwelld-$h.log" </dev/null &
        track_pid $!
        aliases+=("$h" "127.0.0.$((n + 1))" 22)
done
for ((n = 1; n <= N; n++)); do
        h=h$n
        wait_for "[ -S /run/dwell-$h/dwelld.sock ]" 20 || fail "dwelld for $h listens" "$(tail "$DWELL_LOG_DIR/dwelld-$h.log")"
        SSHD_EXTRA="SetEnv DWELL_SOCKET=/run/dwell-$h/dwelld.sock" sshd_start "$h" "127.0.0.$((n + 1))" 22 || exit 1
done
ssh_user_key alice id
ssh_client_config alice /home/alice/.ssh/cfg id "${aliases[@]}" h21 127.0.0.22 22
SSH="DWELL_SSH=ssh -F /home/alice/.ssh/cfg"

fleet=/home/alice/fleet
{
        echo "# the web fleet"
        echo
        for ((n = 1; n <= N; n++)); do
                case $n in
                3) echo "alice@h3";;
                4) echo "  h4:22   # with its port";;
                *) echo "h$n";;
                esac
        done
        echo "h1"
        echo "h21	# down for maintenance"
} > "$fleet"
grep -v '^h21' "$fleet" > /home/alice/fleet-up
chown alice:alice "$fleet" /home/alice/fleet-up

accepted() {    # sshd's publickey logins so far, all hosts
        cat "$DWELL_LOG_DIR"/sshd-h*.log 2>/dev/null | grep -c 'Accepted publickey' || true
}
masters_left() {        # ssh master processes still running
        pgrep -u alice -f 'dwell-ssh\.' 2>/dev/null | wc -l
}
control_dirs() {
        find /tmp "${XDG_RUNTIME_DIR:-/nonexistent}" -maxdepth 1 -name 'dwell-ssh.*' 2>/dev/null | wc -l
}

# -- invoke -d on every host: one row each ----------------------------------------
cmd='for i in 1 2 3; do echo "$(hostname) line $i"; sleep 0.2; done; echo "err-$(hostname)" >&2; [ "$(hostname)" = h7 ] && exit 3; exit 0'
capture alice "$SSH" dwell -H @"$fleet" invoke -d -n upgrade -- "$cmd"
expect_rc 255 "-H @FILE invoke -d -n upgrade: exit 255 (h21 unreachable)"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^Id ')" 1 "  ... one table header"
expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1 && $2 == "upgrade" && $4 == "Disconnected" { print $3 }' | sort -V | tr '\n' ' ')" \
        "$(seq -f 'h%g' 1 $N | tr '\n' ' ')" "  ... a session row for each of the 20 hosts (USER@ and :PORT forms too, h1 once)"
expect_match "$OUT" '^- +- +h21 +unreachable( +-)+$' "  ... and a row for h21: unreachable"
expect_match "$ERR" '^h21: dwell: cannot reach dwelld on h21 over ssh: .*Connection refused' "  ... with ssh's reason on stderr"
expect_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "  ... and nothing else on stderr"

capture alice "$SSH" dwell -H @"$fleet" invoke -d -n second -- 'echo second on $(hostname)'
expect_rc 255 "a second job on every host"

# -- wait: per host, one ssh connection per host for two requests ----------------------
before=$(accepted)
capture alice "$SSH" dwell -H @"$fleet" wait second upgrade
expect_rc 255 "-H @FILE wait second upgrade: exit 255"
after=$(accepted)
expect_eq "$((after - before))" "$N" "  ... two requests per host, one ssh handshake per host (ControlMaster)"
expect_eq "$(printf '%s\n' "$OUT" | awk '$1 == "Host" { print $1, $2, $3 }')" "Host Status Duration" "  ... a summary table"
expect_eq "$(printf '%s\n' "$OUT" | awk '$1 == "h7" || $1 == "h21" || $1 == "alice@h3" || $1 == "h2" { print $1, $2 }' | tr '\n' ' ')" \
        "h2 0 alice@h3 0 h7 3 h21 unreachable " "  ... h7's status 3, h21 unreachable, the others 0"
expect_eq "$(control_dirs)" 0 "  ... the control directory is gone"
expect_eq "$(masters_left)" 0 "  ... and no ssh master is left"

before=$(accepted)
capture alice "$SSH" DWELL_SSH_SHARE=0 dwell -H @/home/alice/fleet-up wait second upgrade
expect_rc 3 "DWELL_SSH_SHARE=0 wait (without h21): exit 3 (h7's)"
after=$(accepted)
expect_eq "$((after - before))" "$((2 * N))" "  ... and without sharing: two ssh handshakes per host"

# A DWELL_SSH that is not named ssh: no sharing, unless DWELL_SSH_SHARE=1.
before=$(accepted)
capture alice "DWELL_SSH=/usr/bin/env ssh -F /home/alice/.ssh/cfg" dwell -H h1,h2 wait second upgrade
after=$(accepted)
expect_eq "$((after - before))" 4 "DWELL_SSH=env ssh ...: not shared (two handshakes per host)"
before=$(accepted)
capture alice "DWELL_SSH=/usr/bin/env ssh -F /home/alice/.ssh/cfg" DWELL_SSH_SHARE=1 dwell -H h1,h2 wait second upgrade
after=$(accepted)
expect_eq "$((after - before))" 2 "  ... with DWELL_SSH_SHARE=1: shared"
expect_eq "$(control_dirs)" 0 "  ... and cleaned up"

# -- receive: blocks, then the summary ------------------------------------------------
capture alice "$SSH" dwell -H @"$fleet" receive upgrade
expect_rc 255 "-H @FILE receive upgrade: exit 255"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^==> .* <==$')" "$N" "  ... one block per host that had output"
bad=$(printf '%s\n' "$OUT" | awk '
        /^==> .* <==$/ { host = $2; sub(/^alice@/, "", host); sub(/:22$/, "", host); lines = 0; next }
        /^Host / { exit }
        /^$/ { next }
        { if ($1 != host || $2 != "line" || $3 != ++lines) { print "line \"" $0 "\" in the block of " host; exit } }')
expect_eq "$bad" "" "  ... each block has only its host's lines, in order (not interleaved)"
expect_eq "$(printf '%s\n' "$OUT" | grep -c ' line ')" "$((3 * N))" "  ... all 60 lines"
expect_eq "$(printf '%s\n' "$ERR" | grep -A1 '^==> h5 (stderr) <==$')" "$(printf '==> h5 (stderr) <==\nerr-h5')" \
        "  ... stderr in blocks on stderr"
summary=$(printf '%s\n' "$OUT" | sed -n '/^Host /,$p')
expect_eq "$(printf '%s\n' "$summary" | head -n 1 | tr -s ' ')" "Host Status Bytes Dropped Duration" "  ... a summary table"
expect_eq "$(printf '%s\n' "$summary" | sed 1d | wc -l)" 21 "  ... one row per host"
expect_eq "$(printf '%s\n' "$summary" | awk '$1 == "h7" || $1 == "h21" || $1 == "h12" { print $1, $2, $3, $4 }' | tr '\n' ' ')" \
        "h7 3 37B 0B h12 0 41B 0B h21 unreachable - - " "  ... statuses, bytes (3 lines and the stderr line), dropped"
expect_match "$(printf '%s\n' "$summary" | awk '$1 == "h12" { print $5 }')" '^[0-9]+ms$' "  ... and the command's duration"

capture alice "$SSH" dwell -H @/home/alice/fleet-up receive second
expect_rc 0 "receive second without h21: exit 0"
capture alice "$SSH" dwell -H h7,h8 invoke -d -n third -- 'echo x; exit 3'
capture alice "$SSH" dwell -H h7,h8 receive third
expect_rc 3 "receive where h7's command exited 3 and all hosts reachable: exit 3"

# -- --json receive: one object per host ---------------------------------------------
capture alice "$SSH" dwell -H @"$fleet" invoke -d -n big -- 'seq 1 30000; echo "$(hostname) done"'
capture alice "$SSH" dwell -H @"$fleet" --json receive big
expect_rc 255 "--json receive big: exit 255"
expect_eq "$(printf '%s\n' "$OUT" | jq -s 'length' 2>&1)" 21 "  ... 21 JSON objects (jq)"
expect_eq "$(printf '%s\n' "$OUT" | jq -r 'select(.host == "h21") | [.unreachable, .error, .exit_status] | @tsv' 2>&1)" \
        "true	unavailable	" "  ... h21: unreachable, error, no exit status"
expect_eq "$(printf '%s\n' "$OUT" | jq -r 'select(.host == "h9") | [.exit_status, .bytes, .dropped, .error] | @tsv' 2>&1)" \
        "0	168902	0	" "  ... h9: exit 0, its byte count"
expect_eq "$(printf '%s\n' "$OUT" | jq -j 'select(.host == "h9") | [.records[] | select(.type == "output") | .data] | join("")' | sha256sum | cut -d' ' -f1)" \
        "$( (seq 1 30000; echo "h9 done") | sha256sum | cut -d' ' -f1)" "  ... its records hold the output, byte-exact (over 64 KiB: spooled)"
expect_eq "$(printf '%s\n' "$OUT" | jq -r 'select(.host == "h9") | .records[] | select(.type == "exit") | .exit_status' 2>&1)" 0 \
        "  ... with the exit record"
expect_no_match "$OUT" '^h[0-9]+: ' "  ... and no line prefixed with a host"

# Blocks of more than 64 KiB, byte-exact.
capture alice "$SSH" dwell -H h1,h2 invoke -d -n big2 -- 'seq 1 50000'
capture alice "$SSH" dwell -H h1,h2 receive big2
expect_rc 0 "receive of 289 KB per host"
expect_eq "$(printf '%s\n' "$OUT" | awk '/^==> h2 <==$/ { on = 1; next } /^$/ { on = 0 } on' | sha256sum | cut -d' ' -f1)" \
        "$(seq 1 50000 | sha256sum | cut -d' ' -f1)" "  ... h2's block byte-exact"

# -- --interleave ------------------------------------------------------------------------
capture alice "$SSH" dwell -H h1,h2,h3 invoke -d -n live -- 'echo one; sleep 0.3; echo two'
capture alice "$SSH" dwell -H h1,h2,h3 --interleave receive live
expect_rc 0 "--interleave receive"
expect_eq "$(printf '%s\n' "$OUT" | grep -E '^h[0-9]+: ' | sort | tr '\n' ' ')" \
        "h1: one h1: two h2: one h2: two h3: one h3: two " "  ... lines prefixed with their host"
expect_match "$OUT" '^Host +Status +Bytes +Dropped +Duration$' "  ... then the summary"

# -- list -------------------------------------------------------------------------------
capture alice "$SSH" dwell -H @"$fleet" list upgrade
expect_rc 255 "-H @FILE list: exit 255 (h21)"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^Id ')" 1 "  ... one table"
expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1 { print $3 }' | sort -u | wc -l)" "$N" "  ... with the sessions of the 20 hosts"
capture alice "$SSH" dwell -H @"$fleet" --json list upgrade
expect_eq "$(printf '%s\n' "$OUT" | jq -r '[.[] | select(.id) | .host] | length' 2>&1)" "$N" "--json list: one array (jq), 20 sessions"
expect_eq "$(printf '%s\n' "$OUT" | jq -r '.[] | select(.error) | [.host, .error, .unreachable] | @tsv' 2>&1)" \
        "h21	unavailable	true" "  ... and an error object for h21"

capture alice "$SSH" dwell -H @"$fleet" --json wait upgrade
expect_eq "$(printf '%s\n' "$OUT" | jq -s '[.[] | select(.exit_status == 0)] | length' 2>&1)" "$((N - 1))" \
        "--json wait: one object per host, 19 with status 0"
expect_eq "$(printf '%s\n' "$OUT" | jq -r 'select(.host == "h7") | [.exit_status, .sessions[0].session] | @tsv' 2>&1)" \
        "3	upgrade" "  ... h7's with status 3 and its session"

# -- SIGTERM in the middle of a run: the masters end, the directory goes ---------------
capture alice "$SSH" dwell -H @/home/alice/fleet-up invoke -d -n slow -- 'sleep 30'
# Directly (no timeout(1) in between): $! is dwell's pid.
(cd /home/alice && exec setpriv --reuid alice --regid alice --init-groups --reset-env env HOME=/home/alice \
        PATH="$DWELL_BIN_DIR:/usr/bin:/bin" "$SSH" dwell -H @/home/alice/fleet-up receive slow >/dev/null 2>&1) &
bg=$!
track_pid "$bg"
wait_for '[ "$(find /tmp -maxdepth 2 -path "/tmp/dwell-ssh.*/*" -type s 2>/dev/null | wc -l)" -ge '"$N"' ]' 20 ||
        fail "the masters of the receive are up"
kill -TERM "$bg"
rc=0
wait "$bg" || rc=$?
expect_eq "$rc" 143 "SIGTERM during a fan-out receive: exit 143"
expect_eq "$(control_dirs)" 0 "  ... the control directory is gone"
wait_for '[ "$(masters_left)" = 0 ]' 5
expect_eq "$(masters_left)" 0 "  ... and no ssh master is left"

# One host (no fan-out): SIGTERM and SIGINT end its master too (a
# background job starts with SIGINT ignored: env gives it back).
for sig in TERM INT; do
        (cd /home/alice && exec setpriv --reuid alice --regid alice --init-groups --reset-env \
                env --default-signal=INT HOME=/home/alice \
                PATH="$DWELL_BIN_DIR:/usr/bin:/bin" "$SSH" dwell -H h1 receive slow >/dev/null 2>&1) &
        bg=$!
        track_pid "$bg"
        wait_for '[ "$(find /tmp -maxdepth 2 -path "/tmp/dwell-ssh.*/*" -type s 2>/dev/null | wc -l)" -ge 1 ]' 20 ||
                fail "the master of the one-host receive is up"
        sleep 0.5
        kill -"$sig" "$bg"
        rc=0
        wait "$bg" || rc=$?
        expect_eq "$rc" "$((128 + $(kill -l "$sig")))" "SIG$sig during a one-host receive: it dies of it"
        expect_eq "$(control_dirs)" 0 "  ... the control directory is gone"
        wait_for '[ "$(masters_left)" = 0 ]' 5
        expect_eq "$(masters_left)" 0 "  ... and no ssh master is left"
done

# -- attacks on the hosts file -----------------------------------------------------------
seq -f 'web%g' 1 100000 > /home/alice/huge
printf 'web1\n%s\n' "$(head -c 100000 /dev/zero | tr '\0' a)" > /home/alice/longline
printf 'web1\nweb\0332\033[31mred\n' > /home/alice/ctl
printf 'web1\n-oProxyCommand=touch${IFS}/tmp/pwned\n' > /home/alice/dash
ln -sf /etc/shadow /home/alice/shadow
printf 'web1\nroot:$y$j9T$secret:19000:0:99999:7:::\n' > /home/alice/shadowlike
chown -h alice:alice /home/alice/huge /home/alice/longline /home/alice/ctl /home/alice/dash /home/alice/shadow \
        /home/alice/shadowlike

start=$(date +%s)
capture alice "$SSH" dwell -H @/home/alice/huge list
expect_rc 255 "100k hosts: refused"
expect_eq "$ERR" "dwell: /home/alice/huge:4097: too many hosts (at most 4096)" "  ... at the 4097th, file:line"
expect_eq "$(( $(date +%s) - start < 10 ))" 1 "  ... quickly, before any ssh"
capture alice "$SSH" dwell --hosts-file /home/alice/longline list
expect_eq "$ERR" "dwell: /home/alice/longline:2: line too long (at most 2048 bytes)" "a 100 KB line: file:line"
capture alice "$SSH" dwell -H @/home/alice/ctl list
expect_eq "$ERR" "dwell: /home/alice/ctl:2: invalid host: bad host name (expected [USER@]HOST[:PORT])" \
        "control characters: file:line, nothing of the line echoed"
capture alice "$SSH" dwell -H @/home/alice/dash list
expect_eq "$ERR" "dwell: /home/alice/dash:2: invalid host: bad host name (expected [USER@]HOST[:PORT])" \
        "a host starting with '-': refused"
capture alice "$SSH" dwell -H 'web1,-oProxyCommand=touch${IFS}/tmp/pwned' list
expect_rc 255 "  ... on the command line too"
expect_eq "$(ls /tmp/pwned 2>&1)" "ls: cannot access '/tmp/pwned': No such file or directory" "  ... its ProxyCommand never ran"
capture alice "$SSH" dwell -H @/home/alice/shadow list
expect_eq "$ERR" "dwell: cannot open hosts file /home/alice/shadow: Permission denied" "a link to /etc/shadow: permission denied"
capture alice "$SSH" dwell -H @/home/alice/shadowlike list
expect_no_match "$ERR" 'secret|root' "a line that is not a host: not echoed"
dwell_json alice -H @/home/alice/ctl list
expect_eq "$(printf '%s\n' "$OUT" | jq -r '.error' 2>&1)" "invalid-argument" "  ... --json (after -H): an invalid-argument object"
capture alice "$SSH" dwell -H @/home/alice/nonexistent list
expect_eq "$ERR" "dwell: cannot open hosts file /home/alice/nonexistent: No such file or directory" "a missing hosts file"
expect_eq "$(control_dirs)" 0 "no control directory left by any of these"
