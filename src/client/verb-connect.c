/* SPDX-License-Identifier: ISC */
/*
 * dwell connect SESSION [--output-buffering MODE] [--credential USER]
 *
 * Connects to SESSION and stays connected: first the output produced while
 * it was disconnected (up to the first SYNCED), then a prompt "[NAME]$ "
 * on stderr.  Each non-empty line is sent as a RUN and its output is
 * streamed until the session is idle again; then the next prompt.  With
 * stdin not a terminal the lines of stdin are run the same way, without a
 * prompt.  End of input (Ctrl-D) or a line "exit" disconnects (DETACH) and
 * exits 0; the session and anything still running in it stay.  Lines are
 * read plainly (no line editing); while a command runs stdin is not read.
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
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define LINE_DETACHED 2

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
 * input, LINE_DETACHED, or <0. */
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

/* The prompt loop; returns 0 when the user leaves or we were detached. */
static int connect_prompt_loop(Stream *s) {
        _cleanup_free_ LineReader *lr = calloc(1, sizeof(LineReader));
        bool tty = isatty(STDIN_FILENO);
        char *line = NULL;
        int r;

        if (!lr)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        for (;;) {
                if (tty)
                        fprintf(stderr, "[%s]$ ", s->name);
                r = line_next(lr, s, &line);
                if (r == 0 && tty)
                        fputc('\n', stderr);
                if (r <= 0 || r == LINE_DETACHED)
                        return r < 0 ? r : 0;
                if (line_is(line, ""))
                        continue;
                if (line_is(line, "exit"))
                        return 0;
                r = stream_send_run(s, line);
                if (r < 0)
                        return r;
                r = stream_run(s, STREAM_UNTIL_RUN_DONE, -EBADF);
                if (r < 0)
                        return r;
                if (r == STREAM_DETACHED)
                        return 0;
        }
}

static int connect_session(Conn *c, Frame *attached) {
        _cleanup_(stream_done) Stream s = {};
        int r;

        r = stream_attach(&s, c, attached);
        conn_consume(c, attached);
        if (r < 0)
                return r;
        s.detach_ok = true;

        r = stream_run(&s, STREAM_UNTIL_SYNCED, -EBADF);
        if (r == STREAM_DONE)
                r = connect_prompt_loop(&s);
        else if (r == STREAM_DETACHED)
                r = 0;
        stream_detach(&s);
        return r;
}

static int verb_connect_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "credential",       required_argument, NULL, ARG_CREDENTIAL       },
                {}
        };
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = {};
        Frame f;
        int r;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, NULL, NULL);
        if (r <= 0)
                return r;
        r = session_attach_one("connect", PROTO_REQ_CONNECT, argc, argv, &req, &c, &f);
        if (r < 0)
                return r;
        return connect_session(&c, &f);
}

const Verb verb_connect = {
        .name = "connect",
        .synopsis = "SESSION [--output-buffering MODE] [--credential USER]",
        .help =
        "Connect to SESSION: show what it produced while disconnected, then run each line typed\n"
        "(or each line of stdin) in it.  Ctrl-D or 'exit' disconnects; the session stays.\n"
        "\n"
        "      --output-buffering MODE  block or drop when the output buffer is full (from now on)\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_connect_run,
};
