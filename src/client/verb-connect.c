/* SPDX-License-Identifier: ISC */
/*
 * dwell connect [-t [-c CONFIG]] SESSION [--detach-keys KEYS] [--no-history] [--output-buffering MODE] [--credential USER]
 *
 * On a terminal session (and with -t, which creates one named SESSION if
 * the caller has no session of that name) the local terminal is joined
 * to the session's pty: term-attach.c.  What follows is the line mode of
 * command sessions.
 *
 * Connects to SESSION and stays connected: first the output produced while
 * it was disconnected (up to the first SYNCED), then a prompt "[NAME]$ "
 * on stderr.  Each command - a line, or the lines that complete it as
 * `bash -n` finds (continued after a "> " prompt) - is sent as a RUN and
 * its output is streamed until the session is idle again; then the next
 * prompt.  With stdin not a terminal the lines of stdin are run the same
 * way, without a prompt.  End of input (Ctrl-D) or a line "exit [N]"
 * disconnects (DETACH) and exits 0; the session and anything still running
 * in it stay.  Lines are read plainly (no line editing); what is typed
 * while a command runs is kept for after it, and Ctrl-D then (on a
 * terminal) disconnects at once.  Ctrl-C at the prompt drops what was
 * typed; while a command runs it interrupts the command, and a second one
 * within a second disconnects.
 * The connection is serviced all the time, heartbeats included, so a user
 * thinking at the prompt is not taken for a lost client.
 *
 * Being disconnected by another client or the session's removal end
 * connect with a notice and exit 0.  Failures exit 255: bad options;
 * dwelld unreachable or refusing (not-found, ambiguous, permission-denied,
 * busy when another client is connected, auth-failed); the connection lost or the
 * worker silent for three heartbeat intervals.  A command refused by the
 * session (e.g. not allowed by its configuration) prints the error and
 * returns to the prompt.
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "parse-util.h"

#define LINE_DETACHED 2
#define LINE_INTERRUPTED 3

typedef struct LineReader {
        size_t len;             /* bytes in buf */
        size_t consumed;        /* bytes of the line last returned */
        bool eof;
        char buf[PROTO_MAX_COMMAND + 1];
} LineReader;

static int line_fill(LineReader *lr, Stream *s) {
        ssize_t k;
        int r;

        if (lr->len >= sizeof lr->buf - 1)
                return client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT,
                                    "input line too long (at most %u bytes)", PROTO_MAX_COMMAND);
        /* Serve the connection until stdin has something. */
        r = stream_run(s, STREAM_UNTIL_INPUT, STDIN_FILENO);
        if (r < 0)
                return r;
        if (r == STREAM_DETACHED)
                return LINE_DETACHED;
        if (r == STREAM_INTERRUPTED)
                return LINE_INTERRUPTED;
        k = read(STDIN_FILENO, lr->buf + lr->len, sizeof lr->buf - 1 - lr->len);
        if (k < 0)
                return errno == EINTR || errno == EAGAIN ? 0 :
                        client_error(-errno, PROTO_ERR_UNAVAILABLE, "failed to read standard input: %m");
        if (k == 0)
                lr->eof = true;
        lr->len += (size_t) k;
        return 0;
}

/* 1 and *ret = the next line (valid until the next call), 0 at the end of
 * input, LINE_DETACHED, LINE_INTERRUPTED, or <0. */
static int line_next(LineReader *lr, Stream *s, char **ret) {
        char *nl;
        int r;

        memmove(lr->buf, lr->buf + lr->consumed, lr->len - lr->consumed);
        lr->len -= lr->consumed;
        lr->consumed = 0;
        for (;;) {
                nl = memchr(lr->buf, '\n', lr->len);
                if (nl || (lr->eof && lr->len > 0)) {
                        size_t n = nl ? (size_t) (nl - lr->buf) : lr->len;

                        lr->buf[n] = 0;
                        lr->consumed = nl ? n + 1 : n;
                        *ret = lr->buf;
                        return 1;
                }
                if (lr->eof)
                        return 0;
                r = line_fill(lr, s);
                if (r != 0)
                        return r;
        }
}

static bool line_is(const char *line, const char *word) {
        size_t n;

        line += strspn(line, " \t");
        n = strlen(word);
        return strncmp(line, word, n) == 0 && line[n + strspn(line + n, " \t\r")] == 0;
}

/* "exit" or "exit N" alone on a line: leave (the session stays). */
static bool line_is_exit(const char *line) {
        line += strspn(line, " \t");
        if (strncmp(line, "exit", 4) != 0)
                return false;
        line += 4;
        if (*line && !strchr(" \t\r", *line))
                return false;
        line += strspn(line, " \t");
        line += strspn(line, "0123456789");
        return line[strspn(line, " \t\r")] == 0;
}

/* Whether bash would need more lines to complete text (an open quote, a
 * compound command without its end, an unterminated here-document, a
 * trailing backslash): `bash -n` parses it without running anything.  A
 * bash parser decides, not ours; it is the client's own bash (LC_ALL=C for
 * its messages), so options the session's shell has set (extglob) are not
 * known to it — that only makes a line count as complete, and the session's
 * shell then parses it with its options.  No bash: every line is complete. */
static bool text_incomplete(const char *text) {
        static const char *const markers[] = {
                "unexpected end of file", "unexpected EOF while looking for matching",
                "delimited by end-of-file",
        };
        size_t len = strlen(text), end = len, nb = 0;
        int in[2], err[2];
        char msg[2048];
        size_t got = 0;
        pid_t pid;

        /* A trailing backslash continues the line (bash -n takes it as the end). */
        if (end > 0 && text[end - 1] == '\n')
                end--;
        while (nb < end && text[end - 1 - nb] == '\\')
                nb++;
        if (nb % 2 == 1)
                return true;
        if (pipe2(in, O_CLOEXEC) < 0)
                return false;
        if (pipe2(err, O_CLOEXEC) < 0) {
                safe_close(in[0]);
                safe_close(in[1]);
                return false;
        }
        pid = fork();
        if (pid == 0) {
                char *argv[] = { (char *) "bash", (char *) "--norc", (char *) "--noprofile", (char *) "-n", NULL };
                int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

                (void) signal(SIGINT, SIG_DFL);
                if (dup2(in[0], 0) < 0 || dup2(err[1], 2) < 0 || devnull < 0 || dup2(devnull, 1) < 0)
                        _exit(127);
                (void) setenv("LC_ALL", "C", 1);
                execvp("bash", argv);
                _exit(127);
        }
        safe_close(in[0]);
        safe_close(err[1]);
        if (pid > 0)
                (void) loop_write(in[1], text, len);
        safe_close(in[1]);
        while (pid > 0 && got < sizeof msg - 1) {
                ssize_t k = read(err[0], msg + got, sizeof msg - 1 - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += (size_t) k;
        }
        msg[got] = 0;
        safe_close(err[0]);
        if (pid > 0)
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        for (size_t i = 0; i < ELEMENTSOF(markers); i++)
                if (strstr(msg, markers[i]))
                        return true;
        return false;
}

/* Waits for the command just sent to finish, reading what is typed ahead
 * meanwhile.  0 to go on, 1 to leave (detached, Ctrl-D on a terminal, two
 * Ctrl-C), <0. */
static int connect_wait_run(Stream *s, LineReader *lr, bool tty, StreamUntil until) {
        size_t len = lr->len;
        StreamInput in = { .fd = STDIN_FILENO, .buf = lr->buf, .len = &len, .size = sizeof lr->buf - 1 };
        int r;

        r = stream_run_reading(s, until, lr->eof ? NULL : &in);
        lr->len = len;
        if (r == STREAM_INPUT_EOF) {
                if (tty) {
                        client_notice("disconnected from session %s; the command goes on", s->name);
                        return 1;
                }
                lr->eof = true;         /* input ends: run what was read, then leave */
                r = stream_run(s, until, -EBADF);
        }
        if (r == STREAM_USER_DETACH) {
                client_notice("disconnected from session %s; the command goes on", s->name);
                return 1;
        }
        if (r < 0)
                return r;
        return r == STREAM_DETACHED ? 1 : 0;
}

/* The prompt loop; returns 0 when the user leaves or we were detached. */
static int connect_prompt_loop(Stream *s) {
        _cleanup_free_ LineReader *lr = calloc(1, sizeof(LineReader));
        _cleanup_free_ char *text = malloc(PROTO_MAX_COMMAND + 2);
        bool tty = isatty(STDIN_FILENO);
        char *line = NULL;
        size_t tlen = 0;
        int r;

        if (!lr || !text)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        /* A command running when we connected: followed to its end first. */
        if (s->running) {
                r = connect_wait_run(s, lr, tty, STREAM_UNTIL_IDLE);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        for (;;) {
                if (tty)
                        fprintf(stderr, tlen == 0 ? "[%s]$ " : "> ", s->name);
                r = line_next(lr, s, &line);
                if (r == LINE_INTERRUPTED) {
                        /* Ctrl-C at the prompt: what was typed is dropped. */
                        if (tty)
                                fputc('\n', stderr);
                        tlen = 0;
                        continue;
                }
                if (r == 0 && tty)
                        fputc('\n', stderr);
                if (r < 0 || r == LINE_DETACHED)
                        return r < 0 ? r : 0;
                if (r == 0 && tlen == 0)
                        return 0;
                if (r > 0) {
                        if (tlen == 0 && line_is(line, ""))
                                continue;
                        if (tlen == 0 && line_is_exit(line))
                                return 0;
                        if (tlen + strlen(line) + 1 > PROTO_MAX_COMMAND) {
                                (void) client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT,
                                                    "command too long (at most %u bytes); dropped", PROTO_MAX_COMMAND);
                                tlen = 0;
                                continue;
                        }
                        tlen += (size_t) sprintf(text + tlen, "%s\n", line);
                        if (text_incomplete(text) && !lr->eof)
                                continue;
                }
                /* A whole command (or the end of input): run it. */
                text[tlen > 0 ? tlen - 1 : 0] = 0;
                tlen = 0;
                r = stream_send_run(s, text);
                if (r < 0)
                        return r;
                r = connect_wait_run(s, lr, tty, STREAM_UNTIL_RUN_DONE);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
}

static int connect_session(Conn *c, Frame *attached, bool credential) {
        _cleanup_(stream_done) Stream s = {};
        int r;

        r = stream_attach(&s, c, attached);
        conn_consume(c, attached);
        if (r < 0)
                return r;
        s.detach_ok = true;
        if (!credential)
                s.rc = (Reconnect) { PROTO_REQ_CONNECT, 0, "connect" };
        stream_catch_sigint();

        r = stream_run(&s, STREAM_UNTIL_SYNCED, -EBADF);
        if (r == STREAM_DONE)
                r = connect_prompt_loop(&s);
        else if (r == STREAM_DETACHED)
                r = 0;
        stream_detach(&s);
        return r;
}

static int connect_option(int opt, void *userdata) {
        const char **keys = userdata;

        if (opt != ARG_DETACH_KEYS)
                return 0;
        *keys = optarg;
        return 1;
}

static bool attached_is_terminal(const Frame *f) {
        Buf p = f->payload;
        struct proto_session s;
        uint32_t hb;
        bool t;

        if (proto_get_attached(&p, &hb, &s) < 0)
                return false;
        t = s.terminal;
        proto_session_done(&s);
        return t;
}

static int verb_connect_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "terminal",         no_argument,       NULL, 't'                  },
                { "config",           required_argument, NULL, 'c'                  },
                { "detach-keys",      required_argument, NULL, ARG_DETACH_KEYS      },
                { "no-history",       no_argument,       NULL, ARG_NO_HISTORY       },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "credential",       required_argument, NULL, ARG_CREDENTIAL       },
                { "reconnect-timeout", required_argument, NULL, ARG_RECONNECT_TIMEOUT },
                {}
        };
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = {};
        uint8_t keys[DETACH_KEYS_MAX];
        const char *keys_arg = NULL;
        bool tty;
        Frame f;
        int r, n_keys;

        r = verb_parse_options(v, argc, argv, ":htc:", options, &req, connect_option, &keys_arg);
        if (r <= 0)
                return r;
        if (req.config && !(req.flags & PROTO_REQ_F_TERMINAL))
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "connect: -c applies only with -t (to the terminal session it creates)");
        tty = term_request_fill(&req);
        req.flags |= PROTO_REQ_F_TERM_POS;      /* (a command session ignores them) */
        if (term_can_hand_over())
                req.flags |= PROTO_REQ_F_TTY_OFFER;
        if ((req.flags & PROTO_REQ_F_TERMINAL) && !tty)
                return client_error(-ENOTTY, PROTO_ERR_INVALID_ARGUMENT,
                                    "connect -t needs a terminal (standard input and output); "
                                    "dwell new -t creates a terminal session without one");
        n_keys = user_options_detach_keys(keys_arg, keys);
        if (n_keys < 0)
                return n_keys;
        if (req.flags & PROTO_REQ_F_TERMINAL) {
                r = user_options_apply(&req, true, false);
                if (r < 0)
                        return r;
        }
        r = reconnect_timeout_resolve();
        if (r < 0)
                return r;
        r = session_attach_one("connect", PROTO_REQ_CONNECT, argc, argv, &req, &c, &f);
        if (r < 0)
                return r;
        if (attached_is_terminal(&f))
                return term_attach(&c, &f, keys, (size_t) n_keys, !req.credential);
        return connect_session(&c, &f, req.credential);
}

const Verb verb_connect = {
        .name = "connect",
        .synopsis = "[-t [-c CONFIG]] SESSION [--detach-keys KEYS] [--no-history] [--output-buffering MODE] "
                    "[--reconnect-timeout DUR] [--credential USER]",
        .help =
        "Connect to SESSION: show what it produced while disconnected, then run each command typed\n"
        "(or read from stdin) in it; an incomplete line continues after '> '.  Ctrl-C interrupts the\n"
        "running command (twice: disconnects).  Ctrl-D or 'exit' disconnects; the session stays.\n"
        "A terminal session (new -t) is joined to this terminal in raw mode instead: the detach keys\n"
        "(default ctrl-\\) leave it running.\n"
        "\n"
        "  -t, --terminal               create a terminal session SESSION if you have none of that name\n"
        "  -c, --config CONFIG          ... with this configuration\n"
        "      --detach-keys KEYS       keys that detach from a terminal session (ctrl-a,d; default ctrl-\\)\n"
        "      --no-history             a terminal session's screen only, without its scrollback\n"
        "      --output-buffering MODE  block or drop when the output buffer is full (from now on)\n"
        "      --reconnect-timeout DUR  after a broken connection, reconnect for up to DUR (default 4m;\n"
        "                               0: do not)\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_connect_run,
};
