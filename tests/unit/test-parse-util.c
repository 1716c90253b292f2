/* SPDX-License-Identifier: ISC */
/*
 * parse-util: durations, sizes and integers (good input, bad input,
 * overflow), the shortest exact formatting and its round trip, and
 * session names.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "detach-keys.h"
#include "parse-util.h"
#include "tap.h"

#define SEC USEC_PER_SEC

static void test_duration_good(void) {
        static const struct {
                const char *s;
                uint64_t usec;
        } t[] = {
                { "0", 0 },
                { "0s", 0 },
                { "90", 90 * SEC },
                { "90s", 90 * SEC },
                { "5m", 300 * SEC },
                { "2h", 7200 * SEC },
                { "1d", 86400 * SEC },
                { "1h30m", 5400 * SEC },
                { "1d2h3m4s", (86400 + 7200 + 180 + 4) * SEC },
                { "30m1h", 5400 * SEC },
                { "007", 7 * SEC },
                { "1m1m", 120 * SEC },
                { "18446744073709s", UINT64_C(18446744073709) * SEC },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 1;
                int r = parse_duration(t[i].s, &v);
                ok(r == 0 && v == t[i].usec, "duration \"%s\" = %llu usec (r=%d, got %llu)",
                   t[i].s, (unsigned long long) t[i].usec, r, (unsigned long long) v);
        }
}

static void test_duration_bad(void) {
        static const struct {
                const char *s;
                int r;
        } t[] = {
                { "", -EINVAL },
                { "-1", -EINVAL },
                { "+1", -EINVAL },
                { " 1", -EINVAL },
                { "1 ", -EINVAL },
                { "1 h", -EINVAL },
                { "1h 30m", -EINVAL },
                { "h", -EINVAL },
                { "1x", -EINVAL },
                { "1H", -EINVAL },
                { "1ms", -EINVAL },
                { "1.5h", -EINVAL },
                { "1h30", -EINVAL },            /* bare number only on its own */
                { "0x10", -EINVAL },
                { "1hh", -EINVAL },
                { "1w", -EINVAL },
                { "18446744073709552s", -ERANGE },      /* * 10^6 overflows */
                { "99999999999999999999", -ERANGE },    /* the number itself overflows */
                { "99999999999999999999x", -EINVAL },   /* syntax beats range */
                { "213503982334d", -ERANGE },
                { "18446744073709s18446744073709s", -ERANGE },     /* the sum overflows */
        };
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                v = 12345;
                is_int(parse_duration(t[i].s, &v), t[i].r, t[i].s[0] ? t[i].s : "(empty duration)");
                ok(v == 12345, "\"%s\": result untouched on error", t[i].s);
        }
        is_int(parse_duration(NULL, &v), -EINVAL, "NULL duration");
}

static void test_size(void) {
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } t[] = {
                { "0", 0, 0 },
                { "4096", 0, 4096 },
                { "100B", 0, 100 },
                { "512KiB", 0, 512 * 1024 },
                { "4MiB", 0, 4 * 1024 * 1024 },
                { "1GiB", 0, UINT64_C(1) << 30 },
                { "1536KiB", 0, 1536 * 1024 },
                { "17179869183GiB", 0, UINT64_C(17179869183) << 30 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "17179869184GiB", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "KiB", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "1 KiB", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1KiB ", -EINVAL, 0 },
                { "1K", -EINVAL, 0 },
                { "1M", -EINVAL, 0 },
                { "1G", -EINVAL, 0 },
                { "1KB", -EINVAL, 0 },
                { "1kib", -EINVAL, 0 },
                { "1TiB", -EINVAL, 0 },
                { "1.5MiB", -EINVAL, 0 },
                { "1MiB1KiB", -EINVAL, 0 },
                { "99999999999999999999x", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 777;
                int r = parse_size(t[i].s, &v);

                ok(r == t[i].r && v == (r == 0 ? t[i].v : 777), "size \"%s\" -> %d (got %d, %llu)",
                   t[i].s, t[i].r, r, (unsigned long long) v);
        }
}

static void test_uint32(void) {
        uint32_t v = 0;

        ok(parse_uint32("0", &v) == 0 && v == 0, "uint32 0");
        ok(parse_uint32("42", &v) == 0 && v == 42, "uint32 42");
        ok(parse_uint32("4294967295", &v) == 0 && v == UINT32_MAX, "uint32 max");
        is_int(parse_uint32("4294967296", &v), -ERANGE, "uint32 max + 1");
        is_int(parse_uint32("99999999999999999999999", &v), -ERANGE, "uint32 huge");
        is_int(parse_uint32("", &v), -EINVAL, "uint32 empty");
        is_int(parse_uint32("-1", &v), -EINVAL, "uint32 negative");
        is_int(parse_uint32("+1", &v), -EINVAL, "uint32 plus");
        is_int(parse_uint32(" 1", &v), -EINVAL, "uint32 leading space");
        is_int(parse_uint32("1 ", &v), -EINVAL, "uint32 trailing space");
        is_int(parse_uint32("1a", &v), -EINVAL, "uint32 junk");
        is_int(parse_uint32("0x1", &v), -EINVAL, "uint32 hex");
        is_int(parse_uint32(NULL, &v), -EINVAL, "uint32 NULL");
        is_int(v, UINT32_MAX, "untouched by failures");
}

static void test_uint64(void) {
        uint64_t v = 0;

        ok(parse_uint64("18446744073709551615", &v) == 0 && v == UINT64_MAX, "uint64 max");
        is_int(parse_uint64("18446744073709551616", &v), -ERANGE, "uint64 max + 1");
        is_int(parse_uint64("1 ", &v), -EINVAL, "uint64 trailing space");
        is_int(parse_uint64("-1", &v), -EINVAL, "uint64 negative");
        is_int(parse_uint64("", &v), -EINVAL, "uint64 empty");
        ok(v == UINT64_MAX, "uint64 untouched by failures");
}

static void test_signal(void) {
        is_int(parse_signal("TERM"), SIGTERM, "signal TERM");
        is_int(parse_signal("sigint"), SIGINT, "signal sigint");
        is_int(parse_signal("SIGKILL"), SIGKILL, "signal SIGKILL");
        is_int(parse_signal("Hup"), SIGHUP, "signal Hup");
        is_int(parse_signal("9"), 9, "signal 9");
        is_int(parse_signal("64"), 64, "signal 64");
        is_int(parse_signal("0"), -EINVAL, "signal 0");
        is_int(parse_signal("65"), -EINVAL, "signal 65");
        is_int(parse_signal(""), -EINVAL, "signal empty");
        is_int(parse_signal(NULL), -EINVAL, "signal NULL");
        is_int(parse_signal("SIG"), -EINVAL, "signal SIG alone");
        is_int(parse_signal("NOPE"), -EINVAL, "signal NOPE");
        is_int(parse_signal("-9"), -EINVAL, "signal -9");
        ok(signal_name(SIGTERM) && strcmp(signal_name(SIGTERM), "TERM") == 0, "signal_name TERM");
        ok(signal_name(63) == NULL, "signal_name of an unnamed signal");
}

static void test_format_duration(void) {
        static const struct {
                uint64_t usec;
                const char *s;
        } t[] = {
                { 0, "0s" },
                { 90 * SEC, "1m30s" },
                { 7200 * SEC, "2h" },
                { 86400 * SEC, "1d" },
                { (86400 + 3600 + 60 + 1) * SEC, "1d1h1m1s" },
                { 5400 * SEC, "1h30m" },
                { 59 * SEC, "59s" },
                { 3 * 86400 * SEC + 5 * SEC, "3d5s" },
                { 1500 * 1000, "1s500ms" },
                { 1, "1us" },
                { 1001, "1ms1us" },
                { UINT64_MAX, "213503982d8h1m49s551ms615us" },
        };
        char buf[64];

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                is_str(format_duration(buf, sizeof buf, t[i].usec), t[i].s, t[i].s);

        ok(format_duration(buf, 3, 90 * SEC) == NULL && buf[0] == 0, "too small a buffer gives NULL and \"\"");
        ok(format_duration(buf, 3, 0) == buf, "\"0s\" fits in 3 bytes");
        ok(format_duration(buf, 0, 0) == NULL, "zero-size buffer");
        ok(format_duration(buf, 6, 90 * SEC) == buf, "exact fit");

        /* Whole seconds round trip through the parser. */
        for (uint64_t s = 0; s < 200000; s += 997) {
                uint64_t v = 0;
                const char *f = format_duration(buf, sizeof buf, s * SEC);

                if (!f || parse_duration(f, &v) < 0 || v != s * SEC) {
                        ok(false, "duration round trip of %llu s (%s)", (unsigned long long) s, strempty(f));
                        return;
                }
        }
        ok(true, "durations round trip through format and parse");
}

static void test_format_size(void) {
        static const struct {
                uint64_t v;
                const char *s;
        } t[] = {
                { 0, "0B" },
                { 100, "100B" },
                { 1023, "1023B" },
                { 1024, "1KiB" },
                { 1536 * 1024, "1536KiB" },
                { 4 * 1024 * 1024, "4MiB" },
                { UINT64_C(1) << 30, "1GiB" },
                { UINT64_C(3) << 40, "3072GiB" },
                { 1025, "1025B" },
                { UINT64_MAX, "18446744073709551615B" },
        };
        char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 0;

                is_str(format_size(buf, sizeof buf, t[i].v), t[i].s, t[i].s);
                ok(parse_size(buf, &v) == 0 && v == t[i].v, "\"%s\" parses back", t[i].s);
        }
        ok(format_size(buf, 4, 1024) == NULL, "1KiB does not fit in 4 bytes");
        ok(format_size(buf, 5, 1024) == buf, "but in 5");
}

static void test_names(void) {
        static const char *const good[] = {
                "a", "Session1", "_x", "web-01.prod", "A_b-c.d", "z9",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
        };
        static const char *const bad[] = {
                "", "1", "42", "-a", ".a", "a b", "a/b", "a:b", "ä", "a\n", "a\tb", "a@b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ok(session_name_valid(good[i]), "valid name \"%s\"", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ok(!session_name_valid(bad[i]), "invalid name #%zu (%zu bytes)", i, strlen(bad[i]));
        ok(!session_name_valid(NULL), "NULL name invalid");
}

static void test_detach_keys(void) {
        static const struct {
                const char *s;
                int n;                  /* -EINVAL: refused */
                const char *bytes;
        } t[] = {
                { "ctrl-\\", 1, "\034" },
                { "ctrl-a,d", 2, "\001d" },
                { "CTRL-P,ctrl-Q", 2, "\020\021" },
                { "ctrl-@", 1, "\0" },
                { "ctrl-[,ctrl-],ctrl-^,ctrl-_", 4, "\033\035\036\037" },
                { "a,b,c,d,e,f,g,h", 8, "abcdefgh" },
                { "a,b,c,d,e,f,g,h,i", -EINVAL, NULL },
                { "", -EINVAL, NULL },
                { "ctrl-", -EINVAL, NULL },
                { "ctrl-1", -EINVAL, NULL },
                { "ctrl-ab", -EINVAL, NULL },
                { "ab", -EINVAL, NULL },
                { "a,,b", -EINVAL, NULL },
                { "a,", -EINVAL, NULL },
                { ",", -EINVAL, NULL },
                { " ", -EINVAL, NULL },
                { "\t", -EINVAL, NULL },
                { "\xc3\xa9", -EINVAL, NULL },
        };
        uint8_t keys[DETACH_KEYS_MAX];

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                int r = parse_detach_keys(t[i].s, keys);

                if (t[i].n < 0)
                        ok(r == t[i].n, "detach keys '%s' refused", t[i].s);
                else
                        ok(r == t[i].n && memcmp(keys, t[i].bytes, (size_t) r) == 0, "detach keys '%s'", t[i].s);
        }
        ok(parse_detach_keys(DETACH_KEYS_DEFAULT, keys) == 1 && keys[0] == 0x1c, "the default is ctrl-\\ (0x1c)");

        /* Matching them in what is typed (the client's, or the worker's for a handed-over terminal). */
        {
                DetachMatch m = { .keys = { 0x01, 'd' }, .n_keys = 2 };
                uint8_t out[16 + DETACH_KEYS_MAX];
                size_t n;

                ok(!detach_match(&m, (const uint8_t *) "ab\001", 3, out, &n) && n == 2 && memcmp(out, "ab", 2) == 0,
                   "detach_match: a partial match is held back");
                ok(!detach_match(&m, (const uint8_t *) "x", 1, out, &n) && n == 2 && memcmp(out, "\001x", 2) == 0,
                   "  ... and passed on as typed when it fails");
                ok(!detach_match(&m, (const uint8_t *) "\001", 1, out, &n) && n == 0, "  ... held again");
                ok(detach_match(&m, (const uint8_t *) "dzz", 3, out, &n) && n == 0, "  ... completed across reads: detach");
                ok(!detach_match(&m, (const uint8_t *) "\001\001d", 2, out, &n) && n == 1 && out[0] == 0x01,
                   "  ... a repeated first key restarts the match");
                ok(detach_match(&m, (const uint8_t *) "d", 1, out, &n) && n == 0, "  ... which then completes");
                m = (DetachMatch) { .keys = { 0x1c }, .n_keys = 1 };
                ok(detach_match(&m, (const uint8_t *) "ab\034cd", 5, out, &n) && n == 2 && memcmp(out, "ab", 2) == 0,
                   "detach_match: one key; what came before it goes on, what came after is dropped");
                m = (DetachMatch) { .n_keys = 0 };
                ok(!detach_match(&m, (const uint8_t *) "\034", 1, out, &n) && n == 1, "detach_match: no keys: all goes on");
        }
}

int main(void) {
        plan(0);
        test_duration_good();
        test_duration_bad();
        test_size();
        test_uint32();
        test_uint64();
        test_signal();
        test_format_duration();
        test_format_size();
        test_names();
        test_detach_keys();
        return done_testing();
}
