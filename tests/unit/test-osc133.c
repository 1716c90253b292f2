/* SPDX-License-Identifier: ISC */
/*
 * osc133: parsing the shell's marks (the nonce decides; forged, foreign and
 * malformed marks are ignored; statuses and percent-encoded command lines),
 * term-text: escape sequences out of a terminal stream, split anywhere;
 * and the bash hooks themselves, run by a real interactive bash on a pty
 * (skipped where there is no bash): marks for commands, statuses, the
 * command text, none for an empty line, the user's PROMPT_COMMAND kept,
 * the nonce neither exported nor writable.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "osc133.h"
#include "tap.h"
#include "term-text.h"

#define NONCE "0123456789abcdef0123456789abcdef"

static int parse(char kind, const char *args, Osc133Mark *m) {
        return osc133_parse(kind, args, strlen(args), NONCE, m);
}

static void test_parse(void) {
        Osc133Mark m = { .status = -1 };

        is_int(parse('A', "nonce=" NONCE, &m), 1, "A with the nonce");
        is_int(m.kind, 'A', "kind A");
        osc133_mark_done(&m);
        is_int(parse('B', "aid=7;nonce=" NONCE, &m), 1, "other keys are ignored");
        osc133_mark_done(&m);
        is_int(parse('D', "3;nonce=" NONCE, &m), 1, "D with status and nonce");
        is_int(m.status, 3, "status 3");
        osc133_mark_done(&m);
        is_int(parse('D', "nonce=" NONCE, &m), 1, "D without a status");
        is_int(m.status, -1, "no status");
        osc133_mark_done(&m);
        is_int(parse('D', "256;nonce=" NONCE, &m), 0, "a status above 255 is refused");
        is_int(parse('D', "-1;nonce=" NONCE, &m), 0, "a negative status is refused");
        is_int(parse('D', "0", &m), 0, "D without a nonce: forged");
        is_int(parse('D', "0;nonce=0123456789abcdef0123456789abcdee", &m), 0, "another nonce: forged");
        is_int(parse('D', "0;nonce=" NONCE "0", &m), 0, "a longer nonce: forged");
        is_int(parse('D', "0;nonce=0123", &m), 0, "a shorter nonce: forged");
        is_int(parse('D', "0;nonce=" NONCE ";nonce=" NONCE, &m), 0, "two nonces: refused");
        is_int(parse('E', "nonce=" NONCE, &m), 0, "unknown kind");
        is_int(osc133_parse('A', "nonce=" NONCE, strlen("nonce=" NONCE), NULL, &m), 0, "no nonce set: nothing is ours");
        is_int(parse('C', "nonce=" NONCE ";cmdline_url=echo hi%3B (exit 3)", &m), 1, "C with a command line");
        is_str(m.cmdline, "echo hi; (exit 3)", "cmdline decoded");
        osc133_mark_done(&m);
        is_int(parse('C', "nonce=" NONCE ";cmdline_url=a%00b%1b%0Ac%zz%4", &m), 1, "C with odd escapes");
        is_str(m.cmdline, "a?b?\nc%zz%4", "NUL and ESC shown as '?', bad escapes kept");
        osc133_mark_done(&m);
        is_int(parse('C', "nonce=" NONCE, &m), 1, "C without a command line");
        is_str(m.cmdline, "", "empty command line");
        osc133_mark_done(&m);
        is_int(parse('C', "cmdline_url=x;nonce=" NONCE ";cmdline_url=y", &m), 0, "two command lines: refused");
        {
                char big[OSC133_CMDLINE_MAX * 2 + 64];
                size_t n = (size_t) snprintf(big, sizeof big, "nonce=%s;cmdline_url=", NONCE);

                memset(big + n, 'x', sizeof big - n - 1);
                big[sizeof big - 1] = 0;
                is_int(parse('C', big, &m), 1, "a long command line");
                is_int(strlen(m.cmdline), OSC133_CMDLINE_MAX, "cut at OSC133_CMDLINE_MAX");
                osc133_mark_done(&m);
        }
        ok(osc133_shell_supported("/bin/bash") && osc133_shell_supported("bash") &&
           !osc133_shell_supported("/bin/zsh") && !osc133_shell_supported("/bin/sh") &&
           !osc133_shell_supported(NULL), "only bash is supported");
        {
                char a[OSC133_NONCE_LEN + 1], b[OSC133_NONCE_LEN + 1];
                ok(osc133_nonce_new(a) == 0 && osc133_nonce_new(b) == 0 && strlen(a) == 32 &&
                   strspn(a, "0123456789abcdef") == 32 && !streq(a, b), "nonces: 32 hex digits, new each time");
        }
}

static Osc133Action feed(Osc133State *st, char kind, const char *args, uint64_t now, Osc133Mark *m) {
        return osc133_state_mark(st, kind, args, strlen(args), now, m);
}

static void test_state(void) {
        Osc133State st;
        Osc133Mark m = { .status = -1 };
        unsigned started = 0;

        osc133_state_init(&st, NONCE);
        ok(!osc133_state_idle(&st), "no mark yet: not idle");
        is_int(feed(&st, 'A', "nonce=" NONCE, 1, &m), OSC133_NONE, "A: nothing to record");
        ok(osc133_state_idle(&st), "at the prompt: idle");
        st.typed = true;
        ok(!osc133_state_idle(&st), "a client typed: not idle");
        is_int(feed(&st, 'B', "nonce=" NONCE, 2, &m), OSC133_NONE, "B (a redraw)");
        ok(!osc133_state_idle(&st), "the end of a redrawn prompt keeps what was typed");
        is_int(feed(&st, 'A', "nonce=" NONCE, 2, &m), OSC133_NONE, "A (a new prompt: Ctrl-C)");
        ok(osc133_state_idle(&st), "a new prompt: the line is empty");
        st.typed = true;
        is_int(feed(&st, 'D', "0;nonce=" NONCE, 3, &m), OSC133_NONE, "D without C: no record (an empty line)");
        is_int(feed(&st, 'C', "nonce=" NONCE ";cmdline_url=false", 4, &m), OSC133_START, "C starts a record");
        is_str(m.cmdline, "false", "  with its command line");
        osc133_mark_done(&m);
        ok(!osc133_state_idle(&st), "running: not idle");
        is_int(feed(&st, 'D', "1;nonce=" NONCE "x", 5, &m), OSC133_NONE, "a D with a wrong nonce: ignored");
        is_int(feed(&st, 'D', "0", 5, &m), OSC133_NONE, "a D without a nonce: ignored");
        is_int(feed(&st, 'A', "", 5, &m), OSC133_NONE, "an A without a nonce: ignored");
        ok(!osc133_state_idle(&st), "  still running");
        is_int(feed(&st, 'D', "1;nonce=" NONCE, 6, &m), OSC133_FINISH, "D finishes it");
        is_int(m.status, 1, "  with its status");
        osc133_mark_done(&m);
        ok(osc133_state_idle(&st), "back at the prompt: idle (nobody typed since)");
        is_int(feed(&st, 'C', "nonce=" NONCE ";cmdline_url=a", 7, &m), OSC133_START, "C");
        osc133_mark_done(&m);
        is_int(feed(&st, 'C', "nonce=" NONCE ";cmdline_url=b", 8, &m), OSC133_FINISH_START, "C while running: D lost");
        is_str(m.cmdline, "b", "  the new command line");
        osc133_mark_done(&m);
        is_int(feed(&st, 'A', "nonce=" NONCE, 9, &m), OSC133_FINISH, "A while running: finishes it");
        is_int(m.status, -1, "  with no status");
        osc133_mark_done(&m);

        /* A flood of valid marks: at most OSC133_BURST records at once,
         * then OSC133_PER_SEC a second. */
        for (unsigned i = 0; i < 1000; i++) {
                Osc133Action a = feed(&st, 'C', "nonce=" NONCE, 1000000, &m);
                started += a == OSC133_START || a == OSC133_FINISH_START;
                osc133_mark_done(&m);
                (void) feed(&st, 'D', "0;nonce=" NONCE, 1000000, &m);
        }
        ok(started <= OSC133_BURST && started >= OSC133_BURST - 3, "a flood: at most the burst (%u)", started);
        ok(st.ignored >= 1000 - OSC133_BURST, "  the rest ignored and counted");
        is_int(feed(&st, 'C', "nonce=" NONCE, 1000000 + 100000, &m), OSC133_START, "0.1 s later: two more tokens");
        osc133_mark_done(&m);
}

/* The text of s fed in pieces of size step. */
static char *text_of(const char *s, size_t step) {
        size_t n = strlen(s), o = 0;
        char *out = malloc(2 * n + 2);
        TermText t = TERM_TEXT_INIT;

        for (size_t i = 0; i < n; i += step) {
                size_t k = MIN(step, n - i);
                o += term_text_feed(&t, (const uint8_t *) s + i, k, (uint8_t *) out + o);
        }
        o += term_text_finish(&t, (uint8_t *) out + o);
        out[o] = 0;
        return out;
}

static void test_text(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "plain text\n", "plain text\n" },
                { "hi\r\n", "hi\n" },
                { "\x1b[1;31mred\x1b[0m\r\n", "red\n" },
                { "\x1b]0;title\x07" "after", "after" },
                { "\x1b]133;D;0;nonce=x\x1b\\after", "after" },
                { "\x1bPq#0;2;0;0;0\x1b\\x", "x" },
                { "\x1b(Bx\x1b=y\x1b>z", "xyz" },
                { "10%\r20%\r100%\r\n", "10%\n20%\n100%\n" },
                { "a\bb\x7f\x01" "c\td", "abc\td" },
                { "\x1b[?2004h$ \x1b[?2004l", "$ " },
                { "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link" },
                { "\x1b]0;cut\x18text", "text" },
                { "\x1b]0;esc\x1b[31mred", "red" },
                { "h\xc3\xa9llo \xe2\x82\xac", "h\xc3\xa9llo \xe2\x82\xac" },
                { "end\r", "end\n" },
                /* A CR at the start of a line does nothing: bash's line
                 * ends so before a command's output (no empty line). */
                { "$ ls\r\n\x1b[?2004l\r\x1b[31mx\r\n", "$ ls\nx\n" },
                { "\r\r\nx\r\r\ny\r\r", "\nx\ny\n" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (size_t step = 1; step <= 4; step += 3) {
                        _cleanup_free_ char *t = text_of(cases[i].in, step);
                        char name[64];

                        snprintf(name, sizeof name, "text case %zu (pieces of %zu)", i, step);
                        is_str(t, cases[i].out, name);
                }
}

/* ---------------------------------------------------------------- a real bash */

static int spawn_bash(const char *home, pid_t *ret_pid) {
        int master;
        pid_t pid = forkpty(&master, NULL, NULL, NULL);

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char *env[] = {
                        (char *) "PATH=/usr/bin:/bin", (char *) "TERM=dumb", (char *) "PS1=$ ",
                        (char *) "HISTCONTROL=ignoreboth", (char *) "DWELL_OSC133_NONCE=" NONCE,
                        (char *) "PROMPT_COMMAND=" OSC133_PROMPT_COMMAND, NULL, NULL, NULL,
                };
                char *script = NULL, *h = NULL;

                if (asprintf(&script, "DWELL_SHELL_INTEGRATION=%s", osc133_bash_script) < 0 ||
                    asprintf(&h, "HOME=%s", home) < 0)
                        _exit(127);
                env[6] = script;
                env[7] = h;
                execle("/bin/bash", "bash", "--noprofile", "--rcfile", "rc", "-i", (char *) NULL, env);
                _exit(127);
        }
        *ret_pid = pid;
        return master;
}

/* Reads until want appears (or 5 s); returns what was read. */
static char *read_until(int fd, const char *want) {
        size_t n = 0, size = 65536;
        char *b = calloc(1, size + 1);
        struct timespec start, now;

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;

                b[n] = 0;
                if (strstr(b, want))
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec > 5 || n == size)
                        break;
                if (poll(&p, 1, 200) <= 0)
                        continue;
                k = read(fd, b + n, size - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        return b;
}

static void send_line(int fd, const char *s) {
        (void) !write(fd, s, strlen(s));
        (void) !write(fd, "\n", 1);
}

#define M(k, rest) "\x1b]133;" k rest "\x07"

static void test_bash(void) {
        char home[] = "/tmp/dwell-osc133.XXXXXX";
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;
        FILE *rc;
        pid_t pid;
        int fd;

        if (access("/bin/bash", X_OK) < 0 || !mkdtemp(home)) {
                ok(true, "# SKIP no /bin/bash");
                return;
        }
        if (chdir(home) < 0)
                return;
        rc = fopen("rc", "we");
        if (!rc)
                return;
        /* A user's own hook, set the usual way, and a prompt of their own. */
        fputs("PROMPT_COMMAND=\"$PROMPT_COMMAND;userhook=\\$((userhook+1))\"\nPS1='user> '\n", rc);
        fclose(rc);
        fd = spawn_bash(home, &pid);
        if (fd < 0) {
                ok(false, "forkpty: %s", strerror(-fd));
                return;
        }
        a = read_until(fd, M("B", ";nonce=" NONCE));
        ok(strstr(a, M("A", ";nonce=" NONCE) "user> " M("B", ";nonce=" NONCE)) != NULL,
           "the first prompt: A, the user's own PS1, B");
        ok(!strstr(a, M("D", "")), "no D before any command");
        send_line(fd, "false");
        b = read_until(fd, "user> ");
        ok(strstr(b, M("C", ";nonce=" NONCE ";cmdline_url=false") M("D", ";1;nonce=" NONCE)) != NULL,
           "false: C with its text, D with status 1");
        send_line(fd, "echo hi; (exit 3)");
        c = read_until(fd, "user> ");
        ok(strstr(c, M("C", ";nonce=" NONCE ";cmdline_url=echo hi%3B (exit 3)") "hi\r\n" M("D", ";3;nonce=" NONCE)) != NULL,
           "echo hi; (exit 3): the output between C and D, status 3");
        send_line(fd, "");
        d = read_until(fd, "user> ");
        ok(!strstr(d, M("C", "")) && !strstr(d, M("D", "")), "an empty line: no C, no D");
        send_line(fd, " echo secret");
        e = read_until(fd, "user> ");
        ok(strstr(e, M("C", ";nonce=" NONCE ";cmdline_url=") "secret") != NULL,
           "a line history did not save: C without its text");
        send_line(fd, "echo \"[${userhook}][${DWELL_OSC133_NONCE-unset}][${DWELL_SHELL_INTEGRATION-unset}]"
                  "[$(printenv __dwell_nonce || echo unexported)]\"; __dwell_nonce=x");
        f = read_until(fd, "user> ");
        ok(strstr(f, "[5][unset][unset][unexported]") != NULL,
           "the user's PROMPT_COMMAND ran at each prompt; the variables are gone; the nonce is not exported");
        if (!ok(strstr(f, "readonly variable"), "the nonce cannot be changed"))
                diag("%s", f);
        send_line(fd, "exit");
        close(fd);
        kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        (void) unlink("rc");
        (void) unlink(".bash_history");
        (void) chdir("/");
        (void) rmdir(home);
}

int main(void) {
        plan(0);
        test_parse();
        test_state();
        test_text();
        test_bash();
        return done_testing();
}
