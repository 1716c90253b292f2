#!/bin/bash
# SPDX-License-Identifier: ISC
#
# Installs the missing packages of the build and test groups
# (scripts/deps.sh build test), builds, and runs the whole test suite:
#   1. `make check`: unit tests (ASan/UBSan), the fuzz corpus replay and the
#      man page lint — counted per TAP result line (each `ok`/`not ok` of
#      every TAP program is one test; a program that fails to build or
#      crashes counts as failed);
#   2. the integration tests (tests/integration/run.sh, as root, each t-*.sh
#      in its own sandbox) against a second build whose programs — dwelld,
#      dwell-host (spawner, monitor, worker), dwell-auth, dwell-bridge and
#      dwell — run under ASan and UBSan (scripts/build-sanitized.sh, in
#      build-asan/); a test fails if any program wrote a sanitizer report —
#      each test script counts as one, plus one for the check that the host's
#      users and PAM files are unchanged;
#   3. a bounded libFuzzer run of each fuzz target (DWELL_TEST_FUZZ_SECONDS,
#      default 20; 0 skips) — one test per target;
#   4. the Debian packages (skip with DWELL_TEST_DEB=0) — three tests: they
#      build (scripts/build-deb.sh, twice: debian/changelog's version and a
#      higher one to upgrade to), lintian has no error and no warning, and
#      tests/package/t-package.sh installs, uses, upgrades and purges them in
#      a throw-away systemd container;
#   5. the benchmark harness in quick mode (tests/bench-smoke.sh; skip with
#      DWELL_TEST_BENCH=0) — one test: every case ran;
#   6. `make distcheck` — one test (skip with DWELL_TEST_DISTCHECK=0).
# The last line printed is exactly "N passed, N failed"; the exit status is
# non-zero if anything failed. Reads nothing from stdin.
set -u
exec </dev/null

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
passed=0
failed=0
summary=()

# A phase's heading, with the time the run has taken so far.
phase() {
        echo "=== $* === (at $((SECONDS / 60)) min $((SECONDS % 60)) s)"
}

finish() {
        echo
        phase summary
        printf '%s\n' "${summary[@]}"
        echo "$passed passed, $failed failed"
        [ "$failed" -eq 0 ]
        exit
}

# ------------------------------------------------------------------ packages
phase "packages (scripts/deps.sh build test)"
if ! "$top/scripts/deps.sh" build test; then
        failed=$((failed + 1))
        summary+=("packages (scripts/deps.sh build test): FAILED (tests that need them fail or skip)")
fi

# ------------------------------------------------------------------ build
phase "build"
if ! "$top/scripts/build.sh"; then
        failed=$((failed + 1))
        summary+=("build: FAILED (nothing else ran)")
        finish
fi
phase "build with ASan+UBSan programs (build-asan/)"
sanitized=1
if ! "$top/scripts/build-sanitized.sh"; then
        sanitized=0
        failed=$((failed + 1))
        summary+=("sanitized build: FAILED (the integration tests did not run)")
fi

# ------------------------------------------------------------------ unit
phase "make check"
find "$top/tests" -name '*.trs' -delete 2>/dev/null
check_rc=0
make -j"${DWELL_MAKE_JOBS:-2}" check || check_rc=$?
u_pass=0 u_fail=0
while IFS= read -r line; do
        case "$line" in
        ":test-result: PASS"*|":test-result: XFAIL"*) u_pass=$((u_pass + 1));;
        ":test-result: FAIL"*|":test-result: XPASS"*|":test-result: ERROR"*) u_fail=$((u_fail + 1));;
        esac
done < <(find "$top/tests" -name '*.trs' -exec cat {} + 2>/dev/null)
if [ "$check_rc" -ne 0 ] && [ "$u_fail" -eq 0 ]; then
        # make check failed before or outside the test programs (build error).
        u_fail=1
        summary+=("make check: FAILED (exit $check_rc) without a failing test result; see above")
fi
if [ "$u_fail" -gt 0 ]; then
        find "$top/tests" -name '*.trs' | sort | while IFS= read -r trs; do
                grep -q -E '^:test-result: (FAIL|XPASS|ERROR)' "$trs" || continue
                echo "--- ${trs%.trs}.log ---"
                cat "${trs%.trs}.log"
        done
fi
summary+=("unit (make check, per TAP result): $u_pass passed, $u_fail failed")
passed=$((passed + u_pass))
failed=$((failed + u_fail))

# ------------------------------------------------------------------ fuzz
# A short, bounded libFuzzer run of every fuzz target (built by `make fuzz`
# with clang), starting from the seed corpus; each target counts as one test.
if [ "${DWELL_TEST_FUZZ_SECONDS:-20}" -gt 0 ]; then
        phase "fuzzing (${DWELL_TEST_FUZZ_SECONDS:-20} s per target)"
        if make fuzz >"$top/fuzz-build.log" 2>&1; then
                for t in proto config audit worker terminal term-text; do
                        work=$(mktemp -d)
                        cp "$top/tests/fuzz/corpus/$t/"* "$work/"
                        if "$top/tests/fuzz/bin/fuzz-$t" -max_total_time="${DWELL_TEST_FUZZ_SECONDS:-20}" \
                                -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
                                -artifact_prefix="$top/tests/fuzz/crash-$t-" "$work" >"$top/fuzz-$t.log" 2>&1; then
                                passed=$((passed + 1))
                                summary+=("fuzz-$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$top/fuzz-$t.log" | grep -o '[0-9]*$') inputs, no crash")
                        else
                                tail -n 40 "$top/fuzz-$t.log"
                                failed=$((failed + 1))
                                summary+=("fuzz-$t: FAILED (reproducer in tests/fuzz/crash-$t-*)")
                        fi
                        rm -rf "$work"
                done
        else
                tail -n 30 "$top/fuzz-build.log"
                failed=$((failed + 1))
                summary+=("make fuzz: FAILED (see fuzz-build.log)")
        fi
fi

# ------------------------------------------------------------------ integration
phase "integration tests (programs under ASan+UBSan)"
i_pass=0 i_fail=0
ilog=$(mktemp)
irc=0
asan_tree=$top/build-asan/src
if [ "$sanitized" = 1 ]; then
        rm -rf "$asan_tree/tests/integration-logs"
        DWELL_TEST_SANITIZED=1 top_builddir=$asan_tree bash "$top/tests/integration/run.sh" 2>&1 | tee "$ilog"
        irc=${PIPESTATUS[0]}
        reports=$(grep -l '^not ok - sanitizer reports from the programs' "$asan_tree"/tests/integration-logs/*.log 2>/dev/null | wc -l)
        summary+=("sanitizer reports (ASan+UBSan, every program of every integration test): in $reports test(s)")
else
        irc=1
fi
i_pass=$(grep -c '^PASS: ' "$ilog")
i_fail=$(grep -c '^FAIL: ' "$ilog")
if [ "$irc" -eq 77 ]; then
        summary+=("integration: SKIPPED ($(tail -n 1 "$ilog"))")
else
        if [ "$irc" -ne 0 ] && [ "$i_fail" -eq 0 ]; then
                i_fail=1
        fi
        summary+=("integration (per test script): $i_pass passed, $i_fail failed")
        fails=$(grep '^FAIL: ' "$ilog" | sed 's/^/  /')
        [ -n "$fails" ] && summary+=("$fails")
fi
rm -f "$ilog"
passed=$((passed + i_pass))
failed=$((failed + i_fail))

# ------------------------------------------------------------------ Debian packages
# Built without their `make check` (DEB_BUILD_OPTIONS=nocheck): the same
# sources passed it above.
if [ "${DWELL_TEST_DEB:-1}" = 1 ]; then
        phase "Debian packages (build, lintian, install/upgrade/purge)"
        debdir=$top/build-deb
        rm -rf "$debdir"
        t0=$SECONDS
        if DEB_BUILD_OPTIONS=nocheck "$top/scripts/build-deb.sh" >"$top/build-deb.log" 2>&1 &&
           DEB_BUILD_OPTIONS=nocheck DWELL_DEB_OUT=$debdir/upgrade \
           DWELL_DEB_VERSION="$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)+upgrade1" \
                "$top/scripts/build-deb.sh" >>"$top/build-deb.log" 2>&1; then
                passed=$((passed + 1))
                summary+=("Debian packages build (twice, for the upgrade): passed ($((SECONDS - t0)) s)")
                t0=$SECONDS
                if lintian -I --pedantic --fail-on error,warning "$debdir"/dwell_*.changes >"$top/lintian.log" 2>&1; then
                        passed=$((passed + 1))
                        summary+=("lintian: no error, no warning ($((SECONDS - t0)) s)")
                else
                        cat "$top/lintian.log"
                        failed=$((failed + 1))
                        summary+=("lintian: FAILED (see lintian.log)")
                fi
                t0=$SECONDS
                plog=$(mktemp)
                if DWELL_TEST_NO_DAEMON=1 DWELL_TEST_TIMEOUT=300 \
                        bash "$top/tests/integration/run.sh" "$top/tests/package/t-package.sh" >"$plog" 2>&1; then
                        passed=$((passed + 1))
                        summary+=("package install/upgrade/purge (tests/package/t-package.sh): passed ($((SECONDS - t0)) s)")
                else
                        cat "$plog"
                        failed=$((failed + 1))
                        summary+=("package install/upgrade/purge (tests/package/t-package.sh): FAILED")
                fi
                rm -f "$plog"
        else
                tail -n 60 "$top/build-deb.log"
                failed=$((failed + 1))
                summary+=("Debian packages build: FAILED (see build-deb.log; lintian and the package test did not run)")
        fi
fi

# ------------------------------------------------------------------ bench smoke
# The benchmark harness in quick mode: every case must run (not how fast).
if [ "${DWELL_TEST_BENCH:-1}" = 1 ]; then
        phase "benchmark harness smoke test"
        brc=0
        bash "$top/tests/bench-smoke.sh" >"$top/bench-smoke.log" 2>&1 || brc=$?
        if [ "$brc" -eq 0 ]; then
                passed=$((passed + 1))
                summary+=("bench smoke (scripts/bench.sh --quick): passed")
        elif [ "$brc" -eq 77 ]; then
                summary+=("bench smoke: SKIPPED ($(tail -n 1 "$top/bench-smoke.log"))")
        else
                tail -n 40 "$top/bench-smoke.log"
                failed=$((failed + 1))
                summary+=("bench smoke: FAILED (see bench-smoke.log)")
        fi
fi

# ------------------------------------------------------------------ distcheck
if [ "${DWELL_TEST_DISTCHECK:-1}" = 1 ]; then
        phase "make distcheck"
        if timeout -k 10 600 make -j"${DWELL_MAKE_JOBS:-2}" distcheck >"$top/distcheck.log" 2>&1; then
                passed=$((passed + 1))
                summary+=("make distcheck: passed")
        else
                tail -n 60 "$top/distcheck.log"
                failed=$((failed + 1))
                summary+=("make distcheck: FAILED (see distcheck.log)")
        fi
fi

finish
