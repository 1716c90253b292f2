#!/bin/sh
# SPDX-License-Identifier: ISC
# make check: replays the seed corpus of every fuzz target (and any crash
# reproducers added to it) through the target linked with the replay main().
# Prints TAP, one result per target.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"

targets="proto config audit worker term-text terminal"
n=0
failed=0
echo "1..$(echo $targets | wc -w)"
log=$(mktemp "${TMPDIR:-/tmp}/dwell-replay.XXXXXX") || exit 99
trap 'rm -f "$log"' EXIT
for t in $targets; do
        n=$((n + 1))
        bin="$top_builddir/tests/fuzz/fuzz-$t"
        corpus="$top_srcdir/tests/fuzz/corpus/$t"
        if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
                echo "not ok $n - fuzz-$t corpus replay # missing $bin or $corpus"
                failed=1
                continue
        fi
        if "$bin" "$corpus"/* >"$log" 2>&1; then
                echo "ok $n - fuzz-$t replays $(ls "$corpus" | wc -l | tr -d " ") corpus files"
                sed 's/^/# /' "$log"
        else
                echo "not ok $n - fuzz-$t corpus replay (exit $?)"
                sed 's/^/# /' "$log"
                failed=1
        fi
done
exit $failed
