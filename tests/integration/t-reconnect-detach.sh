#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-reconnect-detach.sh — `dwell disconnect` while a receive writes into a
# file, many times over: the acknowledgements the receiver sends until it
# reads DETACHED still count (the worker reads them until the client closes,
# at most 2 s), so the next receive neither repeats nor loses a byte.  Found
# by t-soak.sh (one 4 KiB record written twice in 1,262 disconnects).  40
# rounds of 2 MiB each: a receive into FILE, `dwell disconnect` 0-60 ms
# later, again until the command is done; sha256 of FILE.

. "$(dirname "$0")/lib.sh"

: "${ROUNDS:=40}"
W=$DWELL_SANDBOX/writer.py
data_writer "$W"
SIZE=$((2 * 1024 * 1024))
EXPECT=$("$PYTHON" "$W" "$SIZE" | sha256sum | cut -d' ' -f1)
capture alice dwell new -n d
bad=0 detached=0
for ((n = 0; n < ROUNDS; n++)); do
        out=$DWELL_SANDBOX/d.$n
        : >"$out"; chmod 0666 "$out"
        as_user alice dwell invoke -d d -- "python3 $W $SIZE" >/dev/null 2>&1
        for ((k = 0; k < 200; k++)); do
                as_user alice dwell receive d --reconnect-timeout 0 >>"$out" 2>/dev/null &
                rp=$!
                sleep "0.0$((RANDOM % 6))"
                as_user alice dwell disconnect d >/dev/null 2>&1
                rc=0; wait "$rp" || rc=$?
                [ "$rc" -eq 255 ] && detached=$((detached + 1))
                [ "$rc" -eq 0 ] && break
        done
        [ "$(sha256sum <"$out" | cut -d" " -f1)" = "$EXPECT" ] || { bad=$((bad + 1)); echo "# round $n: $(stat -c %s "$out") bytes, want $SIZE"; }
        rm -f "$out"
done
expect_eq "$bad" 0 "$ROUNDS rounds of receive and disconnect ($detached receives disconnected): every output byte-exact"
capture alice dwell remove d
