#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-sanitizers.sh — the programs the suite runs are the sanitized ones, and
# dwelld survives users who start requests and leave in the middle of them.
#   - with DWELL_TEST_SANITIZED=1 (scripts/test.sh sets it when it runs the
#     suite against build-asan/): dwelld, the session spawner, a session's
#     monitor and its worker (running as alice) all have ASan's runtime
#     mapped, and the report directory is one a user's process can write to;
#   - alice and bob start 40 `dwell new`, `invoke` and `remove` requests at
#     once and kill half of them after 0.2 s (early close while dwelld waits
#     for a session host, or while a worker serves them); afterwards dwelld
#     answers, every session left can be removed, and (ns-run.sh) no program
#     wrote a sanitizer report.  On the tree before the request_session_ready
#     fix, the first `dwell new` made an ASan dwelld abort.

. "$(dirname "$0")/lib.sh"

ppid_of() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2; }
children_of() {
        local p
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [ "$(ppid_of "$p")" = "$1" ] && echo "$p"
        done
}
has_asan() { grep -q 'libasan' "/proc/$1/maps" 2>/dev/null; }

capture alice dwell new -n probe
expect_rc 0 "alice: dwell new -n probe (an ASan dwelld aborted here before the fix)"
capture alice dwell invoke probe -- 'echo $$'
expect_rc 0 "alice: invoke probe"
shell=$OUT

if [ "${DWELL_TEST_SANITIZED:-0}" = 1 ]; then
        monitor= worker= spawner=
        for c in $(children_of "$DWELLD_PID"); do
                case "$(cat "/proc/$c/comm" 2>/dev/null)" in
                dwell-spawner) spawner=$c;;
                *) [ -n "$shell" ] && [ "$(ppid_of "$(ppid_of "$shell")")" = "$c" ] && monitor=$c;;
                esac
        done
        [ -n "$shell" ] && worker=$(ppid_of "$shell")
        for who in "dwelld:$DWELLD_PID" "spawner:$spawner" "monitor:$monitor" "worker:$worker"; do
                pid=${who#*:}
                if [ -n "$pid" ] && has_asan "$pid"; then
                        pass "the ${who%%:*} (pid $pid) runs with ASan"
                else
                        fail "the ${who%%:*} (pid '$pid') runs with ASan" "shell $shell; dwelld's children: $(children_of "$DWELLD_PID" | tr '\n' ' ')"
                fi
        done
        expect_eq "$(stat -c %U "/proc/$worker" 2>/dev/null)" alice "  ... the worker runs as alice"
        expect_eq "$(stat -c %a /run/dwell-sanitizer)" 1777 "the report directory is writable by any identity (sticky)"
fi

# Requests abandoned half way: 40 clients, every other one killed after 0.2 s.
pids=()
for i in $(seq 1 20); do
        for u in alice bob; do
                case $((i % 4)) in
                0) as_user "$u" dwell new -n "flood$i" >/dev/null 2>&1 &;;
                1) as_user "$u" dwell invoke -- "sleep 0.5; echo $i" >/dev/null 2>&1 &;;
                2) as_user "$u" dwell invoke -d -n "bg$i" -- "sleep 1" >/dev/null 2>&1 &;;
                3) as_user "$u" dwell remove "flood$((i - 3))" >/dev/null 2>&1 &;;
                esac
                pids+=($!)
                track_pid $!
        done
done
sleep 0.2
for ((k = 0; k < ${#pids[@]}; k += 2)); do
        kill -KILL "${pids[$k]}" 2>/dev/null
done
for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
done

capture alice dwell list
expect_rc 0 "dwelld answers after the abandoned requests"
for u in alice bob; do
        capture "$u" dwell remove --all
        expect_rc 0 "$u: remove --all"
        wait_for "[ \"\$(as_user $u dwell --json list 2>/dev/null)\" = '[]' ]" 15
        dwell_json "$u" list
        expect_eq "$OUT" "[]" "  ... $u has no session left"
done
