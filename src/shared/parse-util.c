/* SPDX-License-Identifier: ISC */
/*
 * Strict parsers: no whitespace, no signs, no locale, decimal digits only.
 * Every parser either consumes the whole string or fails.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

/* Reads a run of decimal digits at *p. -EINVAL if there is none, -ERANGE
 * on overflow (the whole run is still consumed so errors are stable). */
static int read_digits(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        bool overflow = false;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned) (*s - '0');

                if (v > (UINT64_MAX - d) / 10)
                        overflow = true;
                else
                        v = v * 10 + d;
        }
        *p = s;
        if (overflow)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *ret) {
        if (b != 0 && a > UINT64_MAX / b)
                return -ERANGE;
        *ret = a * b;
        return 0;
}

int parse_duration(const char *s, uint64_t *ret_usec) {
        static const struct {
                char suffix;
                uint64_t usec;
        } units[] = {
                { 's', USEC_PER_SEC },
                { 'm', 60 * USEC_PER_SEC },
                { 'h', 60 * 60 * USEC_PER_SEC },
                { 'd', 24 * 60 * 60 * USEC_PER_SEC },
        };
        uint64_t total = 0;
        bool any = false;
        int r;

        assert(ret_usec);
        if (!s || !*s)
                return -EINVAL;

        while (*s) {
                uint64_t n, unit = 0, v;

                r = read_digits(&s, &n);
                if (r == -EINVAL)
                        return r;
                /* Syntax errors after an overflowing number still win. */
                if (*s == 0) {
                        /* A bare number is seconds, but only on its own: "1m30" is ambiguous. */
                        if (any)
                                return -EINVAL;
                        unit = USEC_PER_SEC;
                } else {
                        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                                if (*s == units[i].suffix)
                                        unit = units[i].usec;
                        if (unit == 0)
                                return -EINVAL;
                        s++;
                }
                if (r < 0)
                        return r;
                if (mul_u64(n, unit, &v) < 0 || v > UINT64_MAX - total)
                        return -ERANGE;
                total += v;
                any = true;
        }

        *ret_usec = total;
        return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes) {
        static const struct {
                const char *suffix;
                uint64_t factor;
        } units[] = {
                { "",    1 },
                { "B",   1 },
                { "KiB", UINT64_C(1) << 10 },
                { "MiB", UINT64_C(1) << 20 },
                { "GiB", UINT64_C(1) << 30 },
        };
        uint64_t n;
        int r;

        assert(ret_bytes);
        if (!s)
                return -EINVAL;

        r = read_digits(&s, &n);
        if (r == -EINVAL)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (!streq(s, units[i].suffix))
                        continue;
                if (r < 0)
                        return r;
                return mul_u64(n, units[i].factor, ret_bytes);
        }
        return -EINVAL;
}

int parse_uint64(const char *s, uint64_t *ret) {
        uint64_t n;
        int r;

        assert(ret);
        if (!s)
                return -EINVAL;
        r = read_digits(&s, &n);
        if (r == -EINVAL || *s != 0)
                return -EINVAL;
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}

int parse_uint32(const char *s, uint32_t *ret) {
        uint64_t n;
        int r;

        assert(ret);
        r = parse_uint64(s, &n);
        if (r < 0)
                return r;
        if (n > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) n;
        return 0;
}

/* Appends to buf at *pos; false if it did not fit. */
static bool append(char *buf, size_t n, size_t *pos, uint64_t v, const char *unit) {
        int k = snprintf(buf + *pos, n - *pos, "%" PRIu64 "%s", v, unit);

        if (k < 0 || (size_t) k >= n - *pos)
                return false;
        *pos += (size_t) k;
        return true;
}

char *format_duration(char *buf, size_t n, uint64_t usec) {
        /* Seconds and up are what parse_duration() reads back; a sub-second
         * remainder (never produced by parsing) is shown as ms and us so the
         * output stays exact. */
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "d",  24 * 60 * 60 * USEC_PER_SEC },
                { "h",  60 * 60 * USEC_PER_SEC },
                { "m",  60 * USEC_PER_SEC },
                { "s",  USEC_PER_SEC },
                { "ms", 1000 },
                { "us", 1 },
        };
        size_t pos = 0;

        assert(buf || n == 0);
        if (n == 0)
                return NULL;
        buf[0] = 0;

        if (usec == 0)
                return append(buf, n, &pos, 0, "s") ? buf : NULL;

        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                uint64_t k = usec / units[i].usec;

                if (k == 0)
                        continue;
                if (!append(buf, n, &pos, k, units[i].suffix)) {
                        buf[0] = 0;
                        return NULL;
                }
                usec -= k * units[i].usec;
        }
        return buf;
}

char *format_size(char *buf, size_t n, uint64_t bytes) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                { "GiB", 30 },
                { "MiB", 20 },
                { "KiB", 10 },
        };
        const char *suffix = "B";
        uint64_t v = bytes;
        size_t pos = 0;

        assert(buf || n == 0);
        if (n == 0)
                return NULL;

        if (bytes != 0)
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if ((bytes & ((UINT64_C(1) << units[i].shift) - 1)) == 0) {
                                v = bytes >> units[i].shift;
                                suffix = units[i].suffix;
                                break;
                        }

        if (!append(buf, n, &pos, v, suffix)) {
                buf[0] = 0;
                return NULL;
        }
        return buf;
}

bool session_name_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 1 || n > 64)
                return false;
        if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static const struct {
        int sig;
        const char *name;
} signal_names[] = {
        { SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGKILL, "KILL" },
        { SIGUSR1, "USR1" }, { SIGUSR2, "USR2" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" },
        { SIGCONT, "CONT" }, { SIGSTOP, "STOP" }, { SIGTSTP, "TSTP" }, { SIGWINCH, "WINCH" },
        { SIGPIPE, "PIPE" }, { SIGABRT, "ABRT" },
};

const char *signal_name(int sig) {
        for (size_t i = 0; i < ELEMENTSOF(signal_names); i++)
                if (signal_names[i].sig == sig)
                        return signal_names[i].name;
        return NULL;
}

int parse_signal(const char *s) {
        uint32_t n;

        if (!s || !*s)
                return -EINVAL;
        if (parse_uint32(s, &n) >= 0)
                return n >= 1 && n <= 64 ? (int) n : -EINVAL;
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(signal_names); i++)
                if (strcasecmp(s, signal_names[i].name) == 0)
                        return signal_names[i].sig;
        return -EINVAL;
}

int parse_detach_keys(const char *s, uint8_t ret[static DETACH_KEYS_MAX]) {
        size_t n = 0;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                size_t len = strcspn(s, ",");

                if (n >= DETACH_KEYS_MAX)
                        return -EINVAL;
                if (len == 1 && s[0] > ' ' && s[0] < 0x7f)
                        ret[n++] = (uint8_t) s[0];
                else if (len == 6 && strncasecmp(s, "ctrl-", 5) == 0) {
                        char c = s[5];

                        if (c >= 'a' && c <= 'z')
                                ret[n++] = (uint8_t) (c - 'a' + 1);
                        else if (c >= 'A' && c <= 'Z')
                                ret[n++] = (uint8_t) (c - 'A' + 1);
                        else if (strchr("@[\\]^_", c) && c)
                                ret[n++] = (uint8_t) (c & 0x1f);
                        else
                                return -EINVAL;
                } else
                        return -EINVAL;
                if (s[len] == 0)
                        return (int) n;
                s += len + 1;
        }
}
