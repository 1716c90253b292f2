#!/bin/bash
# SPDX-License-Identifier: ISC
#
# run.sh [TEST...] — runs the integration tests, each in its own sandbox
# (ns-run.sh) and under a time limit, and prints "PASS: name" / "FAIL: name"
# (with the test's output on failure) / "SKIP: name", then
# "integration: N passed, N failed, N skipped".
#
# TEST is a name like t-remove or a path; default: every tests/integration/t-*.sh.
# Besides the tests, one more counted check: the host's users and PAM files
# (/etc/passwd, group, shadow, gshadow, nsswitch.conf, /etc/pam.d) are byte
# for byte the same after the run as before it.
#
# Tests run DWELL_TEST_JOBS at a time (default 2): each sandbox has its own
# mount, pid and uts namespaces, and the tests that need a network have
# their own network namespace.  A test whose header has the line
# "# dwell-test: alone" runs by itself after the others: what it checks
# depends on the whole machine (a per-user limit such as RLIMIT_NPROC
# counts the test user's processes in every sandbox) or it loads it.
#
# Environment: DWELL_TEST_TIMEOUT (seconds per test, default 120; 600 with
# DWELL_SOAK=full, the long soak run of t-soak.sh), DWELL_TEST_JOBS,
# top_srcdir, top_builddir (default: this tree). Each test's full output is
# kept in $top_builddir/tests/integration-logs/NAME.log.
#
# Exit status: 0 if nothing failed, 1 if something failed, 77 if the tests
# cannot run here at all (not root, no namespaces).

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
export top_srcdir top_builddir
timeout_s=${DWELL_TEST_TIMEOUT:-120}
# The full soak test (t-soak.sh) runs up to 5 minutes.
[ "${DWELL_SOAK:-}" = full ] && timeout_s=${DWELL_TEST_TIMEOUT:-600}

if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: integration tests need root"
        exit 77
fi
if ! unshare --mount --pid --fork --uts true 2>/dev/null; then
        echo "SKIP: cannot create mount/pid/uts namespaces here"
        exit 77
fi

tests=()
if [ $# -gt 0 ]; then
        for t in "$@"; do
                case "$t" in
                */*) tests+=("$t");;
                *) tests+=("$here/${t%.sh}.sh");;
                esac
        done
else
        for t in "$here"/t-*.sh; do
                [ -e "$t" ] && tests+=("$t")
        done
fi

logdir=$top_builddir/tests/integration-logs
mkdir -p "$logdir"

host_state() {
        local f
        for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/nsswitch.conf; do
                [ -e "$f" ] && sha256sum "$f"
        done
        (cd /etc && find pam.d -print0 | sort -z | xargs -0 ls -ld --time-style=+%s && \
                find pam.d -type f -print0 | sort -z | xargs -0 sha256sum)
}
before=$(host_state)

jobs=${DWELL_TEST_JOBS:-2}
[[ "$jobs" =~ ^[1-9][0-9]?$ ]] || { echo "run.sh: DWELL_TEST_JOBS must be 1 to 99" >&2; exit 1; }
status_dir=$(mktemp -d "${TMPDIR:-/tmp}/dwell-run.XXXXXX")
trap 'rm -rf "$status_dir"' EXIT

# run_one TEST: runs it in its sandbox; its exit status and time go to
# $status_dir/NAME.
run_one() {
        local t=$1 name start rc=0
        name=$(basename "$t" .sh)
        start=$(date +%s)
        timeout -k 10 "$timeout_s" "$here/ns-run.sh" "$t" </dev/null >"$logdir/$name.log" 2>&1 || rc=$?
        echo "$rc $(( $(date +%s) - start ))" >"$status_dir/$name.tmp"
        mv "$status_dir/$name.tmp" "$status_dir/$name"
}

passed=0 failed=0 skipped=0
# Prints and counts the results of the tests that have finished.
report() {
        local f name rc secs why
        for f in "$status_dir"/*; do
                [ -f "$f" ] && [ "${f%.tmp}" = "$f" ] || continue
                name=$(basename "$f")
                read -r rc secs <"$f"
                rm -f "$f"
                case $rc in
                0)
                        echo "PASS: $name (${secs}s)"
                        passed=$((passed + 1));;
                77)
                        echo "SKIP: $name: $(tail -n 1 "$logdir/$name.log")"
                        skipped=$((skipped + 1));;
                *)
                        why="exit status $rc"
                        [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timed out after ${timeout_s}s"
                        echo "FAIL: $name ($why, ${secs}s)"
                        sed 's/^/    /' "$logdir/$name.log"
                        failed=$((failed + 1));;
                esac
        done
}

together=() alone=()
for t in "${tests[@]}"; do
        if [ ! -f "$t" ]; then
                echo "FAIL: $(basename "$t" .sh) (no such test: $t)"
                failed=$((failed + 1))
        elif grep -q '^# dwell-test: alone$' "$t"; then
                alone+=("$t")
        else
                together+=("$t")
        fi
done
for t in "${together[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
                wait -n
                report
        done
        run_one "$t" &
done
wait
report
for t in "${alone[@]}"; do
        run_one "$t"
        report
done

after=$(host_state)
if [ "$before" = "$after" ]; then
        echo "PASS: host-files-unchanged"
        passed=$((passed + 1))
else
        echo "FAIL: host-files-unchanged"
        diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
        failed=$((failed + 1))
fi

echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
