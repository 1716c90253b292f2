/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the audit line writer (audit_format_line()) and the
 * escaping it and the transcripts share (escape.c).
 *
 * Input: byte 0 picks the event (one past the last: an invalid event,
 * which must give -EINVAL), byte 1 which numeric fields are set (bits 0-4:
 * session id, caller pid, command id, exit status, bytes; bits 5-6: the
 * escape flags for the escape_buf() check).  The rest is split at NUL
 * bytes into the ten string fields (session name, instance id, owner,
 * caller, run_as, configuration, origin, command, reason, file), the
 * message, and a last piece whose first byte is a buffer size for
 * escape_buf().  A piece starting with 0x02 stands for the rest of it
 * repeated up to 8 KiB, so that short inputs reach the length limits.
 *
 * The line must be: within AUDIT_LINE_MAX bytes; free of control bytes;
 * valid UTF-8 without C1, bidirectional or separator characters; and parse
 * back (AUDIT EVENT: KEY=VALUE ... -- MESSAGE, values bare or quoted with
 * \\, \", \xNN and the cut mark \...) to exactly the fields that are set,
 * in order, each value whole or, where marked as cut, a prefix of it.
 * escape_buf() must never write past its buffer (ASan) and agree with
 * escape_len().  Any violation abort()s.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "escape.h"
#include "macro.h"
#include "fuzz.h"

#define N_STRINGS 10
#define N_PIECES (N_STRINGS + 2)
#define AMPLIFY_MAX 8192

/* A piece of the input as a C string (no NUL inside by construction). */
static char *piece(const uint8_t *p, size_t n) {
        char *s;

        if (n > 0 && p[0] == 0x02) {
                size_t unit = n - 1, total = 0;

                s = malloc(AMPLIFY_MAX + 1);
                CHECK(s);
                while (unit > 0 && total + unit <= AMPLIFY_MAX) {
                        memcpy(s + total, p + 1, unit);
                        total += unit;
                }
                s[total] = 0;
                return s;
        }
        s = malloc(n + 1);
        CHECK(s);
        memcpy(s, p, n);
        s[n] = 0;
        return s;
}

/* Independently of escape.c: the text holds no control byte (but a tab
 * if allowed) and is valid
 * UTF-8 without C1 controls, bidirectional controls, U+2028/9 or U+FEFF. */
static void check_text(const char *s, bool tab) {
        const uint8_t *u = (const uint8_t *) s;

        for (size_t i = 0; u[i];) {
                uint32_t cp;
                size_t len;

                CHECK((u[i] >= 0x20 && u[i] != 0x7f) || (tab && u[i] == '\t'));
                if (u[i] < 0x80) {
                        i++;
                        continue;
                }
                if (u[i] >= 0xc2 && u[i] <= 0xdf)
                        len = 2, cp = u[i] & 0x1f;
                else if (u[i] >= 0xe0 && u[i] <= 0xef)
                        len = 3, cp = u[i] & 0x0f;
                else {
                        CHECK(u[i] >= 0xf0 && u[i] <= 0xf4);
                        len = 4, cp = u[i] & 0x07;
                }
                for (size_t k = 1; k < len; k++) {
                        CHECK((u[i + k] & 0xc0) == 0x80);
                        cp = cp << 6 | (u[i + k] & 0x3f);
                }
                CHECK(!(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000));
                CHECK(!(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff);
                CHECK(!(cp >= 0x80 && cp <= 0x9f));
                CHECK(cp != 0x200e && cp != 0x200f && !(cp >= 0x2028 && cp <= 0x202e));
                CHECK(!(cp >= 0x2066 && cp <= 0x2069) && cp != 0xfeff);
                i += len;
        }
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes escaped text from *pp up to (not including) the stop character
 * (0: the end of the string), into out; returns whether it ends with the
 * cut mark.  *ret_raw is the length of the escaped text before the mark. */
static bool unescape(const char **pp, char stop, bool quote_escapes, char *out, size_t *ret_n, size_t *ret_raw) {
        const char *p = *pp, *start = p;
        size_t n = 0;
        bool cut = false;

        while (*p != stop) {
                CHECK(*p);
                if (*p != '\\') {
                        CHECK(*p != '"' || !quote_escapes);
                        out[n++] = *p++;
                        continue;
                }
                if (p[1] == '\\' || (quote_escapes && p[1] == '"')) {
                        out[n++] = p[1];
                        p += 2;
                } else if (p[1] == 'x') {
                        int hi = hexval(p[2]), lo = hi >= 0 ? hexval(p[3]) : -1;

                        CHECK(hi >= 0 && lo >= 0);
                        out[n++] = (char) (hi << 4 | lo);
                        p += 4;
                } else {
                        CHECK(strncmp(p, ESCAPE_CUT, strlen(ESCAPE_CUT)) == 0);
                        *ret_raw = (size_t) (p - start);
                        p += strlen(ESCAPE_CUT);
                        CHECK(*p == stop);
                        cut = true;
                }
        }
        if (!cut)
                *ret_raw = (size_t) (p - start);
        *pp = p;
        *ret_n = n;
        return cut;
}

static bool plain(const char *v) {
        size_t n = strlen(v);

        if (n == 0 || n > AUDIT_LINE_VALUE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((uint8_t) v[i] <= 0x20 || (uint8_t) v[i] >= 0x7f || v[i] == '"' || v[i] == '\\')
                        return false;
        return true;
}

/* decoded[0..n) is the value, or (cut) a shorter prefix of it. */
static void check_decoded(const char *value, const char *decoded, size_t n, bool cut) {
        size_t len = strlen(value);

        if (cut)
                CHECK(n < len);
        else
                CHECK(n == len);
        CHECK(memcmp(value, decoded, n) == 0);
}

typedef struct Expect {
        const char *key;
        const char *value;
        char num[24];
} Expect;

static void check_line(AuditEvent e, const AuditFields *f, const char *message, const char *line) {
        static const char *const keys[N_STRINGS] = {
                "DWELL_SESSION_NAME", "DWELL_INSTANCE_ID", "DWELL_OWNER", "DWELL_CALLER", "DWELL_RUN_AS",
                "DWELL_CONFIGURATION", "DWELL_ORIGIN", "DWELL_COMMAND", "DWELL_REASON", "DWELL_FILE",
        };
        const char *strings[N_STRINGS] = {
                f->session_name, f->instance_id, f->owner, f->caller, f->run_as,
                f->configuration, f->origin, f->command, f->reason, f->file,
        };
        Expect x[16];
        size_t n = 0, raw, dn;
        const char *p = line;
        char *decoded;
        bool cut;

#define NUM(k, v) do { x[n].key = (k); snprintf(x[n].num, sizeof x[n].num, "%" PRIi64, (int64_t) (v)); \
                       x[n].value = x[n].num; n++; } while (0)
#define STR(i) do { if (strings[i] && *strings[i]) { x[n].key = keys[i]; x[n].value = strings[i]; n++; } } while (0)
        if (f->session_id)
                NUM("DWELL_SESSION_ID", f->session_id);
        STR(0); STR(1); STR(2); STR(3);
        if (f->caller_pid > 0)
                NUM("DWELL_CALLER_PID", f->caller_pid);
        STR(4); STR(5); STR(6);
        if (f->command_id)
                NUM("DWELL_COMMAND_ID", f->command_id);
        STR(7);
        if (f->exit_status >= 0)
                NUM("DWELL_EXIT_STATUS", f->exit_status);
        if (f->bytes >= 0)
                NUM("DWELL_BYTES", f->bytes);
        STR(8); STR(9);
#undef NUM
#undef STR

        CHECK(strlen(line) <= AUDIT_LINE_MAX);
        check_text(line, false);
        decoded = malloc(strlen(line) + 1);
        CHECK(decoded);

        CHECK(strncmp(p, "AUDIT ", 6) == 0);
        p += 6;
        CHECK(strncmp(p, audit_event_to_string(e), strlen(audit_event_to_string(e))) == 0);
        p += strlen(audit_event_to_string(e));
        CHECK(*p++ == ':');
        for (size_t i = 0; i < n; i++) {
                CHECK(*p++ == ' ');
                CHECK(strncmp(p, x[i].key, strlen(x[i].key)) == 0 && p[strlen(x[i].key)] == '=');
                p += strlen(x[i].key) + 1;
                if (*p == '"') {
                        p++;
                        cut = unescape(&p, '"', true, decoded, &dn, &raw);
                        p++;
                        CHECK(raw <= AUDIT_LINE_VALUE_MAX);
                        check_decoded(x[i].value, decoded, dn, cut);
                        CHECK(!plain(x[i].value));      /* quoted only when needed */
                } else {
                        size_t len = strcspn(p, " ");

                        CHECK(len == strlen(x[i].value) && memcmp(p, x[i].value, len) == 0);
                        CHECK(plain(x[i].value));
                        p += len;
                }
        }
        CHECK(strncmp(p, " -- ", 4) == 0);
        p += 4;
        cut = unescape(&p, 0, false, decoded, &dn, &raw);
        CHECK(raw <= AUDIT_LINE_MESSAGE_MAX);
        check_decoded(message, decoded, dn, cut);
        free(decoded);
}

static void check_escape_buf(const char *s, size_t size, EscapeFlags flags) {
        size_t n = strlen(s), consumed, w;
        char *buf = malloc(size);       /* exactly size bytes: ASan sees any overrun */

        CHECK(buf);
        w = escape_buf(buf, size, s, n, flags, &consumed);
        CHECK(w <= size - 1 && buf[w] == 0 && strlen(buf) == w);
        CHECK(consumed <= n);
        CHECK(escape_len(s, consumed, flags) == w);
        check_text(buf, flags & ESCAPE_KEEP_TAB);
        if (consumed < n) {
                char unit[ESCAPE_UNIT_MAX];
                size_t len;

                /* It stopped because the next unit did not fit. */
                escape_unit(s + consumed, n - consumed, flags, unit, &len);
                CHECK(w + len > size - 1);
        }
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AuditFields f = AUDIT_FIELDS_INIT;
        char *pieces[N_PIECES] = {};
        const char **strings[N_STRINGS] = {
                &f.session_name, &f.instance_id, &f.owner, &f.caller, &f.run_as,
                &f.configuration, &f.origin, &f.command, &f.reason, &f.file,
        };
        size_t np = 0, o = 2;
        char *line = NULL;
        AuditEvent e;
        uint8_t mask;
        int r;

        if (size < 2)
                return 0;
        e = (AuditEvent) (data[0] % (_AUDIT_EVENT_MAX + 1));
        mask = data[1];
        while (o <= size && np < N_PIECES) {
                const uint8_t *z = memchr(data + o, 0, size - o);
                size_t len = z ? (size_t) (z - (data + o)) : size - o;

                pieces[np++] = piece(data + o, len);
                o += len + 1;
        }
        for (size_t i = 0; i < N_STRINGS && i < np; i++)
                *strings[i] = pieces[i];
        if (mask & 0x01)
                f.session_id = (uint32_t) size * 2654435761u;
        if (mask & 0x02)
                f.caller_pid = (pid_t) (size % 4194304) + 1;
        if (mask & 0x04)
                f.command_id = UINT32_MAX - (uint32_t) size;
        if (mask & 0x08)
                f.exit_status = data[0];
        if (mask & 0x10)
                f.bytes = (int64_t) size << 40;

        r = audit_format_line(e, &f, np > N_STRINGS ? pieces[N_STRINGS] : NULL, &line);
        if (e == _AUDIT_EVENT_MAX)
                CHECK(r == -EINVAL && !line);
        else {
                CHECK(r == 0 && line);
                check_line(e, &f, np > N_STRINGS ? pieces[N_STRINGS] : "", line);
        }
        free(line);

        if (np > N_STRINGS + 1 && pieces[N_STRINGS + 1][0]) {
                const char *s = pieces[N_STRINGS + 1];

                check_escape_buf(s + 1, (uint8_t) s[0], (EscapeFlags) ((mask >> 5) & 3));
        }
        for (size_t i = 0; i < np; i++)
                free(pieces[i]);
        return 0;
}
