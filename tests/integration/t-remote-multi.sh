#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-remote-multi.sh — `dwell -H h1,h2,h3`: three "hosts", each a dwelld of its
# own in its own UTS namespace (hostname h1, h2, h3; its own socket and state
# directory) behind its own sshd (127.0.0.2, .3, .4 port 22 in a private
# network namespace; `SetEnv DWELL_SOCKET=...` points the bridge at that
# host's dwelld).  alice's ssh_config maps the aliases h1..h3 to them.
#   - invoke on all three: each line prefixed with its host, in parallel
#     (--throttle 2 too); the exit status is the worst command status;
#   - invoke -d on all three prints one table (one header, three rows);
#     receive --interleave gathers each host's output, prefixed (t-fleet.sh:
#     the blocks);
#   - with h3's sshd killed: h3 gets one clear error line on stderr, the exit
#     status is 255, h1 and h2 still succeed; --json list is one array with
#     h1's and h2's sessions and an error object for h3.

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=40}"

dwelld_bin=$top_builddir/src/dwelld/dwelld
for n in 1 2 3; do
        h=h$n
        install -d -m 0755 "/run/dwell-$h"
        unshare --uts -- /bin/sh -c "hostname $h && exec \"\$0\" \"\$@\"" "$dwelld_bin" \
                --socket "/run/dwell-$h/dwelld.sock" --state-dir "/run/dwell-$h" \
                --config-dir "$DWELL_TEST_CONFIG_DIR" 2>>"$DWELL_LOG_DIR/dwelld-$h.log" </dev/null &
        track_pid $!
        wait_for "[ -S /run/dwell-$h/dwelld.sock ]" 10 || fail "dwelld for $h listens" "$(tail "$DWELL_LOG_DIR/dwelld-$h.log")"
        SSHD_EXTRA="SetEnv DWELL_SOCKET=/run/dwell-$h/dwelld.sock" sshd_start "$h" "127.0.0.$((n + 1))" 22 || exit 1
done
ssh_user_key alice id
ssh_client_config alice /home/alice/.ssh/cfg id h1 127.0.0.2 22 h2 127.0.0.3 22 h3 127.0.0.4 22
SSH="DWELL_SSH=ssh -F /home/alice/.ssh/cfg"

capture alice "$SSH" dwell -H h1,h2,h3 invoke -- 'echo hello from $(hostname)'
expect_rc 0 "-H h1,h2,h3 invoke: exit 0"
expect_eq "$(printf '%s\n' "$OUT" | sort)" "$(printf 'h1: hello from h1\nh2: hello from h2\nh3: hello from h3')" \
        "  ... one line per host, each prefixed with its host"
expect_eq "$ERR" "" "  ... nothing on stderr"

capture alice "$SSH" dwell -H h1,h2,h3 --throttle 1 invoke -- 'echo out; echo err >&2; h=$(hostname); exit ${h#h}'
expect_rc 3 "--throttle 1, commands exiting 1, 2, 3: exit status 3 (the worst)"
expect_eq "$OUT" "$(printf 'h1: out\nh2: out\nh3: out')" "  ... stdout lines prefixed (one host at a time: in order)"
expect_eq "$ERR" "$(printf 'h1: err\nh2: err\nh3: err')" "  ... stderr lines prefixed on stderr"

capture alice "$SSH" dwell -H h1,h2,h3 invoke -d -n job -- 'sleep 0.5; echo done on $(hostname)'
expect_rc 0 "-H h1,h2,h3 invoke -d -n job"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^Id ')" 1 "  ... one table header"
expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1 { print $2, $3, $4 }' | sort | tr '\n' ' ')" \
        "job h1 Disconnected job h2 Disconnected job h3 Disconnected " "  ... and a row per host (Host column)"

capture alice "$SSH" dwell -H h1,h2,h3 --interleave receive job
expect_rc 0 "-H h1,h2,h3 --interleave receive job"
expect_eq "$(printf '%s\n' "$OUT" | grep '^h[0-9]: ' | sort)" "$(printf 'h1: done on h1\nh2: done on h2\nh3: done on h3')" \
        "  ... gathers every host's output, prefixed"

capture alice "$SSH" dwell -H h1,h2 --json list
expect_eq "$(json_eval "$OUT" 'sorted((o["host"], o["name"]) for o in d)' 2>&1)" '[["h1", "job"], ["h2", "job"]]' \
        "-H h1,h2 --json list: one array with both hosts' sessions"

# -- one host down -------------------------------------------------------------------
kill "${SSHD_PID[h3]}"
wait "${SSHD_PID[h3]}" 2>/dev/null
capture alice "$SSH" dwell -H h1,h2,h3 invoke -- 'echo hello from $(hostname)'
expect_rc 255 "h3's sshd gone: exit 255"
expect_eq "$(printf '%s\n' "$OUT" | sort)" "$(printf 'h1: hello from h1\nh2: hello from h2')" \
        "  ... h1 and h2 still ran the command"
expect_match "$ERR" '^h3: dwell: cannot reach dwelld on h3 over ssh: ssh: connect to host 127\.0\.0\.4 port 22: Connection refused$' \
        "  ... h3: one clear error line"
expect_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "  ... and nothing else on stderr"

capture alice "$SSH" dwell -H h1,h2,h3 --json list
expect_rc 255 "-H h1,h2,h3 --json list with h3 down: exit 255"
expect_eq "$(json_eval "$OUT" '[sorted(o["host"] for o in d if "id" in o), [(o["host"], o["error"]) for o in d if "error" in o]]' 2>&1)" \
        '[["h1", "h2"], [["h3", "unavailable"]]]' "  ... one array: h1's and h2's sessions, an error object for h3"
expect_match "$(json_eval "$OUT" '[o["message"] for o in d if "error" in o][0]' 2>&1)" 'Connection refused' \
        "  ... whose message gives ssh's reason"

capture alice "$SSH" dwell -H h1,h2,h3 list
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^Id ')" 1 "-H h1,h2,h3 list: one table header"
expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1 { print $3 }' | sort | tr '\n' ' ')" "h1 h2 " "  ... rows of h1 and h2"

capture alice "$SSH" dwell -H h1,h2 connect job
expect_rc 255 "connect with several hosts is refused"
