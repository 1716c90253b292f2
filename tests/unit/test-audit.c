/* SPDX-License-Identifier: ISC */
/*
 * escape.c and the one-line audit form (audit_format_line()): plain and
 * quoted values, every kind of byte a user could put in a value (control
 * characters, quotes, backslashes, invalid and unwanted UTF-8), the cut at
 * the length limits, and the worst case staying within AUDIT_LINE_MAX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "escape.h"
#include "macro.h"
#include "tap.h"

static void test_escape(void) {
        static const struct {
                const char *in;
                EscapeFlags flags;
                const char *out;
        } t[] = {
                { "plain text", 0, "plain text" },
                { "back\\slash", 0, "back\\\\slash" },
                { "a \"quote\"", 0, "a \"quote\"" },
                { "a \"quote\"", ESCAPE_QUOTE, "a \\\"quote\\\"" },
                { "new\nline\r\n", 0, "new\\x0aline\\x0d\\x0a" },
                { "tab\there", 0, "tab\\x09here" },
                { "tab\there", ESCAPE_KEEP_TAB, "tab\there" },
                { "\x1b[2J\x1b]0;title\x07", 0, "\\x1b[2J\\x1b]0;title\\x07" },
                { "del\x7f", 0, "del\\x7f" },
                { "\x01\x1f", 0, "\\x01\\x1f" },
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
                { "\xff\xfe", 0, "\\xff\\xfe" },
                { "\xc0\xaf", 0, "\\xc0\\xaf" },                   /* overlong '/' */
                { "\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf" },          /* overlong, 3 bytes */
                { "\xed\xa0\x80", 0, "\\xed\\xa0\\x80" },          /* a surrogate */
                { "\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80" },  /* beyond U+10FFFF */
                { "cut \xe2\x82", 0, "cut \\xe2\\x82" },           /* a sequence cut short */
                { "\x80", 0, "\\x80" },                             /* a lone continuation byte */
                { "\xc2\x9b" "31m", 0, "\\xc2\\x9b31m" },           /* C1 CSI */
                { "\xc2\x85", 0, "\\xc2\\x85" },                    /* C1 NEL */
                { "\xc2\xa0", 0, "\xc2\xa0" },                      /* NBSP stays */
                { "a\xe2\x80\xae" "b", 0, "a\\xe2\\x80\\xaeb" },     /* RIGHT-TO-LEFT OVERRIDE */
                { "\xe2\x81\xa6x\xe2\x81\xa9", 0, "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9" }, /* isolates */
                { "\xe2\x80\x8f", 0, "\\xe2\\x80\\x8f" },            /* RLM */
                { "l\xe2\x80\xa8l\xe2\x80\xa9", 0, "l\\xe2\\x80\\xa8l\\xe2\\x80\\xa9" }, /* separators */
                { "\xef\xbb\xbf", 0, "\\xef\\xbb\\xbf" },            /* BOM */
                { "", 0, "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char buf[256];
                size_t consumed, n = strlen(t[i].in), w;

                w = escape_buf(buf, sizeof buf, t[i].in, n, t[i].flags, &consumed);
                is_str(buf, t[i].out, t[i].out);
                ok(w == strlen(t[i].out) && consumed == n && escape_len(t[i].in, n, t[i].flags) == w,
                   "  ... %zu bytes, all input consumed, escape_len agrees", w);
        }
}

static void test_escape_bounded(void) {
        char buf[8];
        size_t consumed, w;

        /* Whole escapes only: "ab" + "\x0a" would need 6 + NUL. */
        w = escape_buf(buf, 6, "ab\ncd", 5, 0, &consumed);
        is_str(buf, "ab", "escape_buf stops before an escape that does not fit");
        ok(w == 2 && consumed == 2, "  ... having written 2 bytes for 2 input bytes");
        w = escape_buf(buf, sizeof buf, "ab\ncd", 5, 0, &consumed);
        is_str(buf, "ab\\x0ac", "  ... and takes what fits in 7 bytes");
        ok(w == 7 && consumed == 4, "  ... 7 bytes for 4 input bytes");
        w = escape_buf(buf, 1, "abc", 3, 0, &consumed);
        ok(w == 0 && consumed == 0 && buf[0] == 0, "a 1-byte buffer holds the NUL only");
        w = escape_buf(buf, 4, "\xe2\x82\xac", 3, 0, &consumed);
        ok(w == 3 && consumed == 3, "a UTF-8 sequence fits whole");
        w = escape_buf(buf, 3, "\xe2\x82\xac", 3, 0, &consumed);
        ok(w == 0 && consumed == 0, "  ... or not at all");

        ok(printable_ascii("ssh 192.0.2.1 port 22", 256), "printable_ascii: an SSH origin");
        ok(!printable_ascii("", 256), "printable_ascii: not empty");
        ok(!printable_ascii("a\nb", 256), "printable_ascii: no newline");
        ok(!printable_ascii("a\tb", 256), "printable_ascii: no tab");
        ok(!printable_ascii("caf\xc3\xa9", 256), "printable_ascii: ASCII only");
        ok(printable_ascii("abcd", 4) && !printable_ascii("abcde", 4), "printable_ascii: at most max");
}

static char *line(AuditEvent e, const AuditFields *f, const char *message) {
        char *l = NULL;
        int r = audit_format_line(e, f, message, &l);

        return r < 0 ? NULL : l;
}

static void check_line(AuditEvent e, const AuditFields *f, const char *message, const char *want, const char *name) {
        char *l = line(e, f, message);

        is_str(l, want, name);
        free(l);
}

static void test_line(void) {
        AuditFields f = AUDIT_FIELDS_INIT;
        char *l = NULL;

        check_line(AUDIT_ADMIN_LIST, NULL, "listed", "AUDIT admin-list: -- listed", "no fields");
        check_line(AUDIT_ADMIN_LIST, &f, "", "AUDIT admin-list: -- ", "no fields, empty message");

        f.session_id = 3;
        f.session_name = "work";
        f.instance_id = "6f1c0a9e-2b57-4f43-a0d1-3c8e5d7b9a12";
        f.owner = "alice";
        f.caller = "bob";
        f.caller_pid = 4242;
        f.run_as = "";
        f.configuration = "audited";
        f.origin = "ssh 192.0.2.7 port 51234";
        f.command_id = 7;
        f.command = "echo \"hi\" \\ there";
        f.exit_status = 0;
        f.bytes = 0;
        f.reason = "the client disconnected";
        f.file = "/etc/dwell/configurations.d/audited.yaml";
        check_line(AUDIT_COMMAND_FINISHED, &f, "done \"ok\"",
                   "AUDIT command-finished: DWELL_SESSION_ID=3 DWELL_SESSION_NAME=work "
                   "DWELL_INSTANCE_ID=6f1c0a9e-2b57-4f43-a0d1-3c8e5d7b9a12 DWELL_OWNER=alice DWELL_CALLER=bob "
                   "DWELL_CALLER_PID=4242 DWELL_CONFIGURATION=audited DWELL_ORIGIN=\"ssh 192.0.2.7 port 51234\" "
                   "DWELL_COMMAND_ID=7 DWELL_COMMAND=\"echo \\\"hi\\\" \\\\ there\" DWELL_EXIT_STATUS=0 DWELL_BYTES=0 "
                   "DWELL_REASON=\"the client disconnected\" DWELL_FILE=/etc/dwell/configurations.d/audited.yaml "
                   "-- done \"ok\"",
                   "every field, in order; spaces, quotes and backslashes quoted and escaped");

        f = (AuditFields) AUDIT_FIELDS_INIT;
        f.origin = "x\n# run_as: root\r\x1b[31m\t\x7f";
        f.reason = "\xff\xc2\x9b\xe2\x80\xae" "caf\xc3\xa9";
        check_line(AUDIT_ACCESS_DENIED, &f, "line\nAUDIT forged: DWELL_CALLER=root -- \x1b[2J",
                   "AUDIT access-denied: DWELL_ORIGIN=\"x\\x0a# run_as: root\\x0d\\x1b[31m\\x09\\x7f\" "
                   "DWELL_REASON=\"\\xff\\xc2\\x9b\\xe2\\x80\\xae" "caf\xc3\xa9\" "
                   "-- line\\x0aAUDIT forged: DWELL_CALLER=root -- \\x1b[2J",
                   "control characters, invalid UTF-8, C1 and bidi controls escaped; valid UTF-8 kept");

        f = (AuditFields) AUDIT_FIELDS_INIT;
        f.caller = "caf\xc3\xa9";
        f.owner = "a=b";
        check_line(AUDIT_AUTH_FAILED, &f, "m", "AUDIT auth-failed: DWELL_OWNER=a=b DWELL_CALLER=\"caf\xc3\xa9\" -- m",
                   "non-ASCII values are quoted; '=' in a value is plain");

        ok(audit_format_line(_AUDIT_EVENT_MAX, NULL, "x", &l) == -EINVAL && !l, "an unknown event: -EINVAL");
        ok(audit_format_line((AuditEvent) -1, NULL, "x", &l) == -EINVAL && !l, "a negative event: -EINVAL");
}

static char *repeat(const char *unit, size_t times) {
        size_t n = strlen(unit);
        char *s = malloc(n * times + 1);

        for (size_t i = 0; i < times; i++)
                memcpy(s + i * n, unit, n);
        s[n * times] = 0;
        return s;
}

static void test_cut(void) {
        AuditFields f = AUDIT_FIELDS_INIT;
        char *v, *want, *l;
        size_t plen = strlen("AUDIT session-created: DWELL_ORIGIN=");

        /* Exactly the limit: plain.  One more: quoted and cut. */
        v = repeat("a", AUDIT_LINE_VALUE_MAX);
        f.origin = v;
        l = line(AUDIT_SESSION_CREATED, &f, "m");
        ok(l && strlen(l) == plen + AUDIT_LINE_VALUE_MAX + strlen(" -- m") && !strchr(l, '"'),
           "a plain value of AUDIT_LINE_VALUE_MAX bytes is written whole, unquoted");
        free(l);
        free(v);

        v = repeat("a", AUDIT_LINE_VALUE_MAX + 1);
        f.origin = v;
        l = line(AUDIT_SESSION_CREATED, &f, "m");
        want = repeat("a", AUDIT_LINE_VALUE_MAX);
        ok(l && strncmp(l + plen, "\"", 1) == 0 && strncmp(l + plen + 1, want, AUDIT_LINE_VALUE_MAX) == 0 &&
           streq(l + plen + 1 + AUDIT_LINE_VALUE_MAX, "\\...\" -- m"),
           "one byte more: quoted, cut at the limit and marked \\...");
        free(want);
        free(l);
        free(v);

        /* Backslashes take two bytes each: 512 fit, the cut is between two escapes. */
        v = repeat("\\", 600);
        f.origin = v;
        l = line(AUDIT_SESSION_CREATED, &f, "m");
        want = repeat("\\\\", AUDIT_LINE_VALUE_MAX / 2);
        ok(l && strncmp(l + plen + 1, want, AUDIT_LINE_VALUE_MAX) == 0 &&
           streq(l + plen + 1 + AUDIT_LINE_VALUE_MAX, "\\...\" -- m"),
           "600 backslashes: 512 escaped, then the mark");
        free(want);
        free(l);
        free(v);

        /* 1023 bytes then a backslash: its escape would pass the limit. */
        v = repeat("a", AUDIT_LINE_VALUE_MAX);
        v[AUDIT_LINE_VALUE_MAX - 1] = '\\';
        f.origin = v;
        l = line(AUDIT_SESSION_CREATED, &f, "m");
        ok(l && strncmp(l + plen + 1 + AUDIT_LINE_VALUE_MAX - 1, "\\...\"", 5) == 0,
           "an escape is never split by the cut");
        free(l);
        free(v);

        /* The message: cut at AUDIT_LINE_MESSAGE_MAX, marked at the end of the line. */
        f = (AuditFields) AUDIT_FIELDS_INIT;
        v = repeat("\n", AUDIT_LINE_MESSAGE_MAX);
        l = line(AUDIT_SESSION_CREATED, &f, v);
        want = repeat("\\x0a", AUDIT_LINE_MESSAGE_MAX / 4);
        ok(l && strncmp(l, "AUDIT session-created: -- ", 26) == 0 &&
           strncmp(l + 26, want, AUDIT_LINE_MESSAGE_MAX) == 0 && streq(l + 26 + AUDIT_LINE_MESSAGE_MAX, "\\..."),
           "a long message: %u bytes of escapes, then the mark", AUDIT_LINE_MESSAGE_MAX);
        free(want);
        free(l);
        free(v);
}

/* Every field at its worst: the line stays within AUDIT_LINE_MAX, one
 * line of printable text. */
static void test_worst_case(void) {
        AuditFields f = AUDIT_FIELDS_INIT;
        char *v = repeat("\x01", 65536), *l;
        bool clean = true;

        f.session_id = UINT32_MAX;
        f.caller_pid = INT32_MAX;
        f.command_id = UINT32_MAX;
        f.exit_status = INT32_MAX;
        f.bytes = INT64_MAX;
        f.session_name = f.instance_id = f.owner = f.caller = f.run_as = f.configuration = f.origin = f.command =
                f.reason = f.file = v;
        l = line(AUDIT_SESSION_DISCONNECTED, &f, v);
        ok(l != NULL, "the worst case is formatted");
        ok(l && strlen(l) <= AUDIT_LINE_MAX, "  ... within AUDIT_LINE_MAX (%zu <= %u)", l ? strlen(l) : 0,
           AUDIT_LINE_MAX);
        for (const char *c = l; c && *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        clean = false;
        ok(clean, "  ... without a control character");
        ok(l && strlen(l) > 7 && streq(l + strlen(l) - 4, "\\..."), "  ... with the message's cut mark at the end");
        free(l);
        free(v);
}

int main(void) {
        plan(0);
        test_escape();
        test_escape_bounded();
        test_line();
        test_cut();
        test_worst_case();
        return done_testing();
}
