/* SPDX-License-Identifier: ISC */
/*
 * transcript.c on a memory stream: whatever a user controls (the session's
 * name, the origin its client reported, the caller and command text the
 * worker reports, the output) cannot end a line or start one, so no header
 * or event line can be forged; output that looks like a header stays an
 * output line; long lines are cut or continued as documented.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "macro.h"
#include "tap.h"
#include "transcript.h"

#define TS_LEN 28       /* "2026-11-21T03:11:08.547407Z " */

static bool is_timestamped(const char *l) {
        static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ ";

        if (strlen(l) < TS_LEN)
                return false;
        for (size_t i = 0; i < TS_LEN; i++)
                if (pattern[i] == 'd' ? !(l[i] >= '0' && l[i] <= '9') : l[i] != pattern[i])
                        return false;
        return true;
}

/* The lines of the transcript, NUL-terminated, in an array ending with NULL. */
static char **split(char *text, size_t *ret_n) {
        size_t n = 0, cap = 16;
        char **lines = malloc(cap * sizeof *lines), *p = text, *nl;

        while ((nl = strchr(p, '\n'))) {
                *nl = 0;
                if (n + 2 > cap)
                        lines = realloc(lines, (cap *= 2) * sizeof *lines);
                lines[n++] = p;
                p = nl + 1;
        }
        lines[n] = NULL;
        ok(*p == 0, "the transcript ends with a newline");
        *ret_n = n;
        return lines;
}

/* A terminal session: the transcript is an asciicast recording whose
 * header waits for the first window size; dwell's event lines become
 * markers; command output records are not written twice. */
#define HEADER_START "{\"version\": 2, \"width\": 132, \"height\": 43, \"timestamp\": "
static void test_terminal(HostParams p) {
        char *text = NULL, *l;
        size_t size = 0;
        Transcript t = {};
        FILE *f;

        p.terminal = true;
        p.term = (char *) "screen-256color";
        p.shell = (char *) "/bin/bash";
        f = open_memstream(&text, &size);
        transcript_begin(&t, f, &p);
        fflush(f);
        is_int((int) size, 0, "terminal: nothing written before the first event");
        transcript_term_size(&t, 0, 132, 43);
        transcript_line(&t, "connected: %s (pid %d)", "alice\n# x", 42);
        transcript_output(&t, 1, 0, (const uint8_t *) "not twice\n", 10);
        transcript_term_output(&t, UINT64_MAX, (const uint8_t *) "$ ls\r\n", 6);
        transcript_close(&t);

        l = strtok(text, "\n");
        ok(l && strncmp(l, HEADER_START, strlen(HEADER_START)) == 0,
           "terminal: the header has the first window size");
        ok(l && strstr(l, "\"env\": {\"TERM\": \"screen-256color\", \"SHELL\": \"/bin/bash\"}") != NULL,
           "terminal: TERM and SHELL in the header");
        ok(l && strstr(l, "\"origin\": \"ssh 192.0.2.1\\n# run_as: root\\r\\u001b[2J\"") != NULL,
           "terminal: dwell's header values, escaped");
        l = strtok(NULL, "\n");
        ok(l && strncmp(l, "[0.", 3) == 0 && strstr(l, ", \"m\", \"connected: alice\\n# x (pid 42)\"]"),
           "terminal: an event line is a marker");
        l = strtok(NULL, "\n");
        ok(l && strstr(l, ", \"o\", \"$ ls\\r\\n\"]"), "terminal: output, the worker's time clamped to now");
        l = strtok(NULL, "\n");
        ok(l && strstr(l, ", \"m\", \"ended\"]"), "terminal: the end is a marker");
        ok(!strtok(NULL, "\n"), "terminal: command records are not in the recording");
        free(text);
}

int main(void) {
        HostParams p = {
                .id = 3,
                .instance_id = (char *) "6f1c0a9e-2b57-4f43-a0d1-3c8e5d7b9a12",
                .name = (char *) "work",
                .host = (char *) "srv1",
                .owner = (char *) "alice",
                .run_as = (char *) "",
                .configuration = (char *) "audited",
                .origin = (char *) "ssh 192.0.2.1\n# run_as: root\r\x1b[2J",
        };
        static const uint8_t out1[] = "# run_as: root\n2026-01-01T00:00:00.000000Z command 9 finished: exit status 0\n"
                                      "\x1b]0;title\x07\r\n\xff\xc2\x9b ok caf\xc3\xa9\tx\\\n";
        Transcript t = {};
        char *text = NULL, **lines, *big;
        size_t size = 0, n, headers = 0, run_as = 0;
        FILE *f;
        bool shape = true;

        plan(0);
        f = open_memstream(&text, &size);
        if (!f)
                return 1;
        transcript_begin(&t, f, &p);
        transcript_line(&t, "connected: %s (pid %d)", "alice\n# owner: root", 42);
        transcript_line(&t, "command %u started by %s: %s", 1u, "alice", "echo a\n# run_as: root\necho b\\");
        transcript_output(&t, 1, 0, out1, sizeof out1 - 1);
        transcript_output(&t, 1, 1, (const uint8_t *) "no newline \x1b[0m", 15);
        transcript_flush(&t);      /* as the monitor does before a command's end */
        transcript_line(&t, "command %u finished: exit status %d", 1u, 0);
        big = malloc(TRANSCRIPT_LINE_MAX + 100);
        memset(big, 'x', TRANSCRIPT_LINE_MAX + 99);
        big[TRANSCRIPT_LINE_MAX + 99] = 0;
        transcript_line(&t, "command %u started by alice: %s", 2u, big);
        free(big);
        transcript_close(&t);

        lines = split(text, &n);
        for (size_t i = 0; i < n; i++) {
                const char *l = lines[i];

                for (const char *c = l; *c; c++)
                        if ((unsigned char) *c < 0x20 && *c != '\t')
                                shape = false;
                if (strncmp(l, "# ", 2) == 0) {
                        headers++;
                        if (i > 8 && !(i == n - 1 && strncmp(l, "# ended: ", 9) == 0))
                                shape = false;
                        if (strncmp(l, "# run_as: ", 10) == 0)
                                run_as++;
                } else if (!is_timestamped(l))
                        shape = false;
        }
        ok(shape, "every line is a header (first nine, and the last) or starts with a timestamp; no control byte");
        is_int(headers, 10, "ten header lines");
        is_int(run_as, 1, "  ... one of them run_as");
        is_int(n, 10 + 9, "nine event and output lines");
        if (n != 19) {
                for (size_t i = 0; i < n; i++)
                        diag("%.200s", lines[i]);
                free(lines);
                free(text);
                return done_testing();
        }
        is_str(lines[0], "# dwell transcript 2", "format version 2");
        is_str(lines[1], "# session: 3 work", "session header");
        is_str(lines[4], "# run_as: -", "run_as header: - for none");
        is_str(lines[7], "# origin: ssh 192.0.2.1\\x0a# run_as: root\\x0d\\x1b[2J", "the origin header, escaped");
        is_str(lines[9] + TS_LEN, "connected: alice\\x0a# owner: root (pid 42)", "the caller, escaped");
        is_str(lines[10] + TS_LEN, "command 1 started by alice: echo a\\x0a# run_as: root\\x0aecho b\\\\",
               "the command text, escaped");
        is_str(lines[11] + TS_LEN, "1 stdout: # run_as: root", "output that looks like a header is an output line");
        is_str(lines[12] + TS_LEN, "1 stdout: 2026-01-01T00:00:00.000000Z command 9 finished: exit status 0",
               "output that looks like an event is an output line");
        is_str(lines[13] + TS_LEN, "1 stdout: \\x1b]0;title\\x07\\x0d", "control characters in output escaped");
        is_str(lines[14] + TS_LEN, "1 stdout: \\xff\\xc2\\x9b ok caf\xc3\xa9\tx\\\\",
               "invalid UTF-8 and C1 escaped; UTF-8 and tab kept; a backslash doubled");
        is_str(lines[15] + TS_LEN, "1 stderr: no newline \\x1b[0m\\", "an unfinished line ends with a single \\");
        is_str(lines[16] + TS_LEN, "command 1 finished: exit status 0", "the end of the command");
        ok(strlen(lines[17]) == TS_LEN + strlen("command 2 started by alice: ") + (TRANSCRIPT_LINE_MAX -
           strlen("command 2 started by alice: ")) + strlen(ESCAPE_CUT) &&
           streq(lines[17] + strlen(lines[17]) - 4, "\\..."),
           "an event line over TRANSCRIPT_LINE_MAX is cut and marked \\...");
        ok(strncmp(lines[18], "# ended: ", 9) == 0, "the last line: # ended");
        free(lines);
        free(text);
        test_terminal(p);
        return done_testing();
}
