#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-buffer-block.sh — `block` buffering with a small buffer suspends the
# command while nobody is connected, and loses nothing:
#   - configuration `small` (t-buffer-block.d/configurations.d/small.yaml:
#     output_buffer_size 64KiB, output_buffering block);
#   - `invoke -d -c small -n big` runs a writer of exactly 10 MiB of known
#     data that records its progress in /tmp;
#   - with nobody connected its progress stops (no advance over 1 s) far
#     below 10 MiB (< 2 MiB: 64 KiB buffer + 1 MiB pipe + slack), and
#     `list --json` shows the session in block mode with its buffer in use;
#   - `receive` drains it: exit 0, exactly 10 MiB received with the writer's
#     sha256, the writer's progress reaches 10 MiB and no command runs any
#     more.

. "$(dirname "$0")/lib.sh"

total=$((10 * 1024 * 1024))
gen=/tmp/gen.py
progress=/tmp/big.progress
data_writer "$gen"
expected=$("$PYTHON" "$gen" "$total" | sha256sum | cut -d' ' -f1)

progress_now() {
        local v
        v=$(cat "$progress" 2>/dev/null) || v=0
        echo "${v:-0}"
}

capture alice dwell invoke -d -c small -n big -- "python3 $gen $total $progress"
expect_rc 0 "invoke -d -c small -n big -- (10 MiB writer)"
if [ "$RC" -ne 0 ]; then
        fail "cannot go on without the session big" "$(_last)"
        exit 1
fi

# Wait until the progress stops advancing for 1 s (at most 15 s).
stalled=no
prev=-1
for _ in $(seq 1 15); do
        now=$(progress_now)
        if [ "$now" -gt 0 ] && [ "$now" = "$prev" ]; then
                stalled=yes
                break
        fi
        prev=$now
        sleep 1
done
if [ "$stalled" = yes ]; then
        pass "with nobody connected, the writer stops (at $now bytes)"
else
        fail "with nobody connected, the writer stops" "progress still moving: $(progress_now)"
fi
if [ "$now" -lt $((2 * 1024 * 1024)) ]; then
        pass "  ... far below 10 MiB (< 2 MiB)"
else
        fail "  ... far below 10 MiB (< 2 MiB)" "progress: $now of $total"
fi

dwell_json alice list big
expect_eq "$(json_eval "$OUT" '[d[0]["output_buffering"], d[0]["command"] is not None]' 2>&1)" \
        '["block", true]' "list --json: block mode, the command still running"
buffered=$(json_eval "$OUT" 'd[0]["buffered"]' 2>/dev/null || echo invalid)
if [[ "$buffered" =~ ^[0-9]+$ ]] && [ "$buffered" -gt 0 ] && [ "$buffered" -le 65536 ]; then
        pass "  ... its buffer in use, at most 64 KiB ($buffered bytes)"
else
        fail "  ... its buffer in use, at most 64 KiB" "buffered: $buffered"
fi
dwell_json alice list big
expect_eq "$(json_eval "$OUT" 'd[0]["dropped"]' 2>&1)" 0 "  ... nothing dropped"

sleep 1
expect_eq "$(progress_now)" "$now" "the writer is still suspended 1 s later"

# -- receive drains it -----------------------------------------------------
recv=$DWELL_SANDBOX/received
rc=0
as_user alice dwell receive big >"$recv" 2>"$recv.err" || rc=$?
expect_eq "$rc" 0 "receive big: exits 0"
expect_eq "$(cat "$recv.err")" "" "  ... nothing on stderr"
expect_eq "$(stat -c %s "$recv")" "$total" "  ... received exactly 10 MiB"
expect_eq "$(sha256sum <"$recv" | cut -d' ' -f1)" "$expected" "  ... the bytes written (sha256)"
expect_eq "$(progress_now)" "$total" "the writer completed"
dwell_json alice list big
expect_eq "$(json_eval "$OUT" '[d[0]["command"], d[0]["buffered"], d[0]["dropped"]]' 2>&1)" \
        '[null, 0, 0]' "list --json: no command running, buffer empty, nothing dropped"

capture alice dwell remove big
expect_rc 0 "remove big"
