/* SPDX-License-Identifier: ISC */
/*
 * dwell receive SESSION [--output-buffering MODE] [--no-wait] [--fail] [--credential USER]
 *
 * Connects to SESSION, prints the output buffered while it was
 * disconnected (each record acknowledged once written, so an interrupted
 * receive loses and repeats nothing), follows the running command to its
 * end, disconnects and exits with the last finished command's exit status
 * (0 if none finished).  With --no-wait it stops as soon as the buffered
 * output is out, even if a command still runs.  --output-buffering changes
 * the session's mode from now on.  --fail: a failed command received makes
 * the exit status non-zero even if the last one succeeded.
 *
 * A terminal session's output is a terminal stream: printed as text
 * (term-text.h: escape sequences and control bytes removed, no headers),
 * or with --raw as it is.
 *
 * Presentation (stream.c): to a terminal, a header line per command
 * and its non-zero status after it; with --json, JSON Lines (one object per
 * record); to anything else the output bytes exactly, so that a pipe or a
 * file resumes byte for byte.  Headers are presentation only: raw output
 * is written and acknowledged as without them.  A JSON line is
 * acknowledged once written whole (no intents): a receive killed between
 * the two shows that record again, which its seq and offset tell.
 *
 * Failures exit 255: bad options; dwelld unreachable or refusing (not-found,
 * ambiguous, permission-denied, busy when another client is connected, auth-failed);
 * the session disconnected by another client or removed while receiving;
 * the connection lost or the worker silent for three heartbeat intervals.
 */
#include <getopt.h>
#include <unistd.h>

#include "client.h"

typedef struct ReceiveOptions {
        bool fail;
        bool raw;
} ReceiveOptions;

static int receive_stream(Conn *c, Frame *attached, bool no_wait, const ReceiveOptions *o, bool credential) {
        _cleanup_(stream_done) Stream s = {};
        int r;

        r = stream_attach_raw(&s, c, attached, o->raw);
        conn_consume(c, attached);
        if (r < 0)
                return r;
        /* A break is mended by receiving again (not with --credential:
         * the password would be asked for again). */
        if (!credential)
                s.rc = (Reconnect) { PROTO_REQ_RECEIVE, no_wait ? PROTO_REQ_F_NO_WAIT : 0, "receive" };
        /* Headers and JSON are presentation: a pipe or file gets the bytes
         * exactly as produced (and exact resumption). */
        s.present = arg_json ? PRESENT_JSON : isatty(STDOUT_FILENO) ? PRESENT_TERMINAL : PRESENT_RAW;
        /* A terminal session's output is what its terminal showed, prompts
         * and command lines included: no headers. */
        if (s.terminal && s.present == PRESENT_TERMINAL)
                s.present = PRESENT_RAW;
        r = stream_run(&s, no_wait ? STREAM_UNTIL_SYNCED : STREAM_UNTIL_IDLE, -EBADF);
        stream_detach(&s);
        if (multi_result_fd >= 0)
                /* A fan-out: the numbers for the summary, even after a failure. */
                (void) multi_send_stats(s.rx_bytes, s.rx_dropped,
                                        s.rx_finished_usec >= s.rx_started_usec && s.rx_started_usec > 0 ?
                                        (int64_t) (s.rx_finished_usec - s.rx_started_usec) : -1);
        if (r < 0)
                return r;
        r = stream_exit_status(&s);
        if (o->fail && r == 0 && s.failed_status > 0)
                r = s.failed_status;
        return r;
}

static int receive_option(int opt, void *userdata) {
        ReceiveOptions *o = userdata;

        if (opt == ARG_FAIL)
                o->fail = true;
        else if (opt == ARG_RAW)
                o->raw = true;
        else
                return 0;
        return 1;
}

static int verb_receive_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "no-wait",          no_argument,       NULL, ARG_NO_WAIT          },
                { "credential",       required_argument, NULL, ARG_CREDENTIAL       },
                { "fail",             no_argument,       NULL, ARG_FAIL             },
                { "raw",              no_argument,       NULL, ARG_RAW              },
                { "reconnect-timeout", required_argument, NULL, ARG_RECONNECT_TIMEOUT },
                {}
        };
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = {};
        ReceiveOptions o = {};
        Frame f;
        int r;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, receive_option, &o);
        if (r <= 0)
                return r;
        r = reconnect_timeout_resolve();
        if (r < 0)
                return r;
        r = session_attach_one("receive", PROTO_REQ_RECEIVE, argc, argv, &req, &c, &f);
        if (r < 0)
                return r;
        return receive_stream(&c, &f, req.flags & PROTO_REQ_F_NO_WAIT, &o, req.credential);
}

const Verb verb_receive = {
        .name = "receive",
        .synopsis = "SESSION [--output-buffering MODE] [--no-wait] [--fail] [--raw] [--reconnect-timeout DUR] "
                    "[--credential USER]",
        .help =
        "Print the output produced while SESSION was disconnected, follow the running command to\n"
        "its end, disconnect, and exit with the last finished command's exit status.\n"
        "On a terminal each command's output follows a header line (its Id, start time and text)\n"
        "and a non-zero exit status is shown at its end; into a pipe or file the output is written\n"
        "exactly as produced; with --json (dwell --json receive) each record is one JSON object per\n"
        "line: output chunks, command starts and ends with their exit status (see dwell(1)).\n"
        "A terminal session's output is printed as text, escape sequences removed (--raw: as it is).\n"
        "\n"
        "      --fail                   exit non-zero if any command received failed (with the status\n"
        "                               of the last one that failed, unless the last command failed)\n"
        "      --output-buffering MODE  block or drop when the output buffer is full (from now on)\n"
        "      --no-wait                do not wait for a running command; stop after the buffered output\n"
        "      --raw                    a terminal session's output with its escape sequences\n"
        "      --reconnect-timeout DUR  after a broken connection, reconnect for up to DUR (default 4m;\n"
        "                               0: do not)\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_receive_run,
};
