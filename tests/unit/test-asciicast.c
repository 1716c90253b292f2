/* SPDX-License-Identifier: ISC */
/*
 * asciicast.c on a memory stream: the header, JSON escaping of arbitrary
 * bytes (controls, quotes, invalid UTF-8 as U+FFFD, non-ASCII as \u
 * escapes so the file is printable ASCII), a UTF-8 sequence split across
 * two reads kept whole, times clamped so they never go backwards, resizes
 * and markers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asciicast.h"
#include "macro.h"
#include "tap.h"

static char *escaped(const char *s, size_t n, bool final, size_t *ret_used) {
        char *buf = NULL;
        size_t len = 0, used;
        FILE *f = open_memstream(&buf, &len);

        used = asciicast_escape(f, (const uint8_t *) s, n, final);
        fclose(f);
        if (ret_used)
                *ret_used = used;
        return buf;
}

static void check_escape(const char *in, size_t n, const char *want, const char *name) {
        size_t used;
        char *got = escaped(in, n, true, &used);

        is_str(got, want, name);
        free(got);
}

static bool printable_lines(const char *s) {
        for (; *s; s++)
                if (*s != '\n' && (*s < 0x20 || *s > 0x7e))
                        return false;
        return true;
}

int main(void) {
        const char *fields[] = { "session", "3 work\n", "owner", "alice", NULL };
        AsciicastHeader h = {
                .cols = 100, .rows = 30, .timestamp = 1765000000,
                .term = "xterm-256color", .shell = "/bin/bash", .title = "work \"of\" alice",
                .fields = fields,
        };
        char *buf = NULL, *line;
        size_t len = 0, used;
        Asciicast a;
        FILE *f;

        plan(0);

        check_escape("plain text", 10, "plain text", "printable ASCII is kept");
        check_escape("\"\\", 2, "\\\"\\\\", "quote and backslash are escaped");
        check_escape("\r\n\t\b\f", 5, "\\r\\n\\t\\b\\f", "the short escapes");
        check_escape("\x1b[1m\x7f\x00", 6, "\\u001b[1m\\u007f\\u0000", "other controls, DEL and NUL as \\u");
        check_escape("\xc3\xa9\xe2\x82\xac", 5, "\\u00e9\\u20ac", "UTF-8 becomes \\u escapes");
        check_escape("\xf0\x9f\x98\x80", 4, "\\ud83d\\ude00", "above U+FFFF: a surrogate pair");
        check_escape("\xc2\x9b", 2, "\\u009b", "a C1 control is escaped");
        check_escape("a\xffz", 3, "a\\ufffdz", "an invalid byte becomes U+FFFD");
        check_escape("\xc0\xaf", 2, "\\ufffd\\ufffd", "an overlong form: one U+FFFD per byte");
        check_escape("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd", "a surrogate encoded in UTF-8 is invalid");
        check_escape("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd", "beyond U+10FFFF is invalid");
        check_escape("\x80\xbf", 2, "\\ufffd\\ufffd", "stray continuation bytes");
        check_escape("\xe2\x82", 2, "\\ufffd\\ufffd", "a sequence cut short at the very end (final)");

        line = escaped("ab\xe2\x82", 4, false, &used);
        is_str(line, "ab", "an incomplete sequence at the end waits when not final");
        is_int((int) used, 2, "... and is not consumed");
        free(line);
        line = escaped("ab\xe2(", 4, false, &used);
        is_str(line, "ab\\ufffd(", "a sequence broken before the end is not held back");
        is_int((int) used, 4, "... and everything is consumed");
        free(line);

        f = open_memstream(&buf, &len);
        asciicast_begin(&a, f, 1000000, &h);
        asciicast_output(&a, 1500000, (const uint8_t *) "euro: \xe2", 7);
        asciicast_output(&a, 1600000, (const uint8_t *) "\x82", 1);
        asciicast_output(&a, 1700000, (const uint8_t *) "\xac!", 2);
        asciicast_output(&a, 900000, (const uint8_t *) "early", 5);       /* before time 0, and backwards */
        asciicast_resize(&a, 2000000, 120, 40);
        asciicast_resize(&a, 2100000, 120, 40);                            /* no change: no event */
        asciicast_marker(&a, 2500000, "connected: alice\n\x1b[2J");
        asciicast_output(&a, 3000000, (const uint8_t *) "\xf0\x9f", 2);    /* left unfinished at the end */
        fflush(f);
        asciicast_end(&a);
        ok(a.f == NULL, "asciicast_end closes the stream");

        ok(printable_lines(buf), "the whole file is printable ASCII and newlines");
        is_str(strtok(buf, "\n"),
               "{\"version\": 2, \"width\": 100, \"height\": 30, \"timestamp\": 1765000000, "
               "\"title\": \"work \\\"of\\\" alice\", \"env\": {\"TERM\": \"xterm-256color\", \"SHELL\": \"/bin/bash\"}, "
               "\"dwell\": {\"session\": \"3 work\\n\", \"owner\": \"alice\"}}", "the header");
        is_str(strtok(NULL, "\n"), "[0.500000, \"o\", \"euro: \"]", "output before a split sequence");
        is_str(strtok(NULL, "\n"), "[0.700000, \"o\", \"\\u20ac!\"]", "the split sequence comes whole");
        is_str(strtok(NULL, "\n"), "[0.700000, \"o\", \"early\"]", "time never goes backwards");
        is_str(strtok(NULL, "\n"), "[1.000000, \"r\", \"120x40\"]", "a resize: COLSxROWS");
        is_str(strtok(NULL, "\n"), "[1.500000, \"m\", \"connected: alice\\n\\u001b[2J\"]", "a marker, escaped");
        is_str(strtok(NULL, "\n"), "[2.000000, \"o\", \"\\ufffd\\ufffd\"]", "... and is written as U+FFFD at the end");
        ok(strtok(NULL, "\n") == NULL, "nothing else");
        free(buf);

        /* A huge output event: streamed, one line. */
        {
                size_t n = 200000;
                uint8_t *big = malloc(n);
                size_t lines = 0;

                memset(big, '\x01', n);
                buf = NULL;
                f = open_memstream(&buf, &len);
                asciicast_begin(&a, f, 0, &(AsciicastHeader) {});
                asciicast_output(&a, 1, big, n);
                fflush(f);
                for (char *p = buf; *p; p++)
                        lines += *p == '\n';
                is_int((int) lines, 2, "a large event stays one line");
                ok(strstr(buf, "\"width\": 80, \"height\": 24") != NULL, "default size 80x24");
                asciicast_end(&a);
                free(buf);
                free(big);
        }

        return done_testing();
}
