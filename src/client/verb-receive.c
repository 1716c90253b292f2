/* SPDX-License-Identifier: ISC */
/*
 * dwell receive SESSION [--output-buffering MODE] [--no-wait] [--credential USER]
 *
 * Connects to SESSION, prints the output buffered while it was
 * disconnected (each record acknowledged once written, so an interrupted
 * receive loses and repeats nothing), follows the running command to its
 * end, disconnects and exits with the last finished command's exit status
 * (0 if none finished).  With --no-wait it stops as soon as the buffered
 * output is out, even if a command still runs.  --output-buffering changes
 * the session's mode from now on.
 *
 * Failures exit 255: bad options; dwelld unreachable or refusing (not-found,
 * ambiguous, permission-denied, busy when another client is connected, auth-failed);
 * the session disconnected by another client or removed while receiving;
 * the connection lost or the worker silent for three heartbeat intervals.
 */
#include <getopt.h>

#include "client.h"

static int receive_stream(Conn *c, Frame *attached, bool no_wait) {
        _cleanup_(stream_done) Stream s = {};
        int r;

        r = stream_attach(&s, c, attached);
        conn_consume(c, attached);
        if (r < 0)
                return r;
        r = stream_run(&s, no_wait ? STREAM_UNTIL_SYNCED : STREAM_UNTIL_IDLE, -EBADF);
        stream_detach(&s);
        return r < 0 ? r : stream_exit_status(&s);
}

static int verb_receive_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "no-wait",          no_argument,       NULL, ARG_NO_WAIT          },
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
        r = session_attach_one("receive", PROTO_REQ_RECEIVE, argc, argv, &req, &c, &f);
        if (r < 0)
                return r;
        return receive_stream(&c, &f, req.flags & PROTO_REQ_F_NO_WAIT);
}

const Verb verb_receive = {
        .name = "receive",
        .synopsis = "SESSION [--output-buffering MODE] [--no-wait] [--credential USER]",
        .help =
        "Print the output produced while SESSION was disconnected, follow the running command to\n"
        "its end, disconnect, and exit with the last finished command's exit status.\n"
        "\n"
        "      --output-buffering MODE  block or drop when the output buffer is full (from now on)\n"
        "      --no-wait                do not wait for a running command; stop after the buffered output\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_receive_run,
};
