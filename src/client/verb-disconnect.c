/* SPDX-License-Identifier: ISC */
/*
 * dwell disconnect SESSION... [--idle-timeout DUR] [--output-buffering MODE]
 *                  [--credential USER]
 *
 * Disconnects whichever client holds each SESSION (REQ_DISCONNECT, one
 * connection per session); that client is told who disconnected it.  The
 * session and its running command stay; its idle clock starts.  The idle
 * timeout and buffering mode given here apply from now on (the idle timeout
 * may not exceed the configuration's maximum).  Disconnecting a session
 * nobody holds succeeds.  Prints nothing on success.
 *
 * Every SESSION is tried; each failure prints its own error (not-found,
 * ambiguous, permission-denied, limit-exceeded for a too long idle timeout, ...) and
 * the exit status is 255 if any failed.
 */
#include <getopt.h>

#include "client.h"

static int verb_disconnect_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "idle-timeout",     required_argument, NULL, ARG_IDLE_TIMEOUT     },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "credential",       required_argument, NULL, ARG_CREDENTIAL       },
                {}
        };
        struct proto_request req = {};
        int r, ret = 0;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, NULL, NULL);
        if (r <= 0)
                return r;
        if (optind >= argc)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "disconnect: missing SESSION (name or Id)");
        for (int i = optind; i < argc; i++) {
                r = session_arg_check(argv[i]);
                if (r < 0)
                        return r;
        }

        for (int i = optind; i < argc; i++) {
                req.session = argv[i];
                r = session_request_ok(PROTO_REQ_DISCONNECT, &req);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

const Verb verb_disconnect = {
        .name = "disconnect",
        .synopsis = "SESSION... [--idle-timeout DUR] [--output-buffering MODE] [--credential USER]",
        .help =
        "Disconnect the client that holds each SESSION; the session and its command keep running.\n"
        "\n"
        "      --idle-timeout DUR       new idle timeout, counted from now (90s, 30m, 2h, 1d)\n"
        "      --output-buffering MODE  block or drop when the output buffer is full\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_disconnect_run,
};
