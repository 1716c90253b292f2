/* SPDX-License-Identifier: ISC */
/*
 * A tiny header-only TAP producer for the unit tests.
 *
 *   plan(n);                      "1..n" up front (or plan(0): print it at the end)
 *   ok(cond, fmt, ...)            "ok N - name" / "not ok N - name"
 *   is_int(got, want, name)       ok() plus "# got/expected" diagnostics
 *   is_str(got, want, name)       the same for strings (NULL allowed)
 *   diag(fmt, ...)                "# ..." on stdout
 *   return done_testing();        0 if every test passed and the plan was met
 *
 * Output goes to stdout unbuffered so that a crash leaves a useful log.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static unsigned tap_planned;
static unsigned tap_run;
static unsigned tap_failed;

static inline void plan(unsigned n) {
        setvbuf(stdout, NULL, _IONBF, 0);
        tap_planned = n;
        if (n > 0)
                printf("1..%u\n", n);
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...) {
        va_list ap;

        fputs("# ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
}

static inline bool tap_vok(bool cond, const char *fmt, va_list ap) {
        tap_run++;
        if (!cond)
                tap_failed++;
        printf("%sok %u - ", cond ? "" : "not ", tap_run);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        return cond;
}

__attribute__((format(printf, 2, 3)))
static inline bool ok(bool cond, const char *fmt, ...) {
        va_list ap;
        bool r;

        va_start(ap, fmt);
        r = tap_vok(cond, fmt, ap);
        va_end(ap);
        return r;
}

static inline bool tap_is_int(long long got, long long want, const char *name) {
        if (ok(got == want, "%s", name ? name : ""))
                return true;
        diag("  got:      %lld", got);
        diag("  expected: %lld", want);
        return false;
}
#define is_int(got, want, name) tap_is_int((long long) (got), (long long) (want), (name))

static inline bool is_str(const char *got, const char *want, const char *name) {
        bool same = (!got && !want) || (got && want && strcmp(got, want) == 0);

        if (ok(same, "%s", name ? name : ""))
                return true;
        diag("  got:      %s%s%s", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
        diag("  expected: %s%s%s", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
        return false;
}

static inline int done_testing(void) {
        if (tap_planned == 0)
                printf("1..%u\n", tap_run);
        else if (tap_run != tap_planned) {
                diag("planned %u tests but ran %u", tap_planned, tap_run);
                return 1;
        }
        if (tap_failed > 0) {
                diag("failed %u of %u tests", tap_failed, tap_run);
                return 1;
        }
        return 0;
}
