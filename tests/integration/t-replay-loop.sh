#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-replay-loop.sh — many receive cycles in one session (the benchmark's
# replay case): a command leaves 4 MiB buffered, a receive drains it to
# /dev/null and leaves, 80 times.  Every receive exits 0 with all the
# bytes, and the session never breaks (a worker that writes to a client
# that has just left must not fall over: it once freed the client in the
# middle of handling it).

. "$(dirname "$0")/lib.sh"

head -c $((4 * 1024 * 1024)) /dev/urandom | base64 -w 76 | head -c $((4 * 1024 * 1024)) >/tmp/replay.txt
chmod 0644 /tmp/replay.txt
size=$(stat -c %s /tmp/replay.txt)

capture alice dwell new -n rp -c replay
expect_rc 0 "alice: new -n rp -c replay"
bad=0
for i in $(seq 1 80); do
        as_user alice dwell invoke -d rp -- 'cat /tmp/replay.txt' >/dev/null 2>&1 || { bad=$((bad + 1)); continue; }
        # wait (bounded) until the command has finished and its output is buffered
        wait_for "as_user alice dwell --json list rp | grep -q '\"command\": null'" 10 || { bad=$((bad + 1)); continue; }
        got=$(as_user alice dwell receive rp 2>/dev/null | wc -c)
        [ "$got" -eq "$size" ] || bad=$((bad + 1))
done
expect_eq "$bad" 0 "80 cycles of invoke -d + receive of 4 MiB: none failed"
capture alice dwell --json list rp
expect_eq "$(json_eval "$OUT" 'd[0]["state"]' 2>&1)" "Disconnected" "  ... and rp is not Broken"
expect_no_match "$(cat "$DWELL_LOG_DIR/dwelld.log")" 'killed by signal' "  ... no worker died"
