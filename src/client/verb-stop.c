/* SPDX-License-Identifier: ISC */
/*
 * dwell stop SESSION... [--signal SIG] [--all] [--credential USER]
 *
 * Signals the command running in each SESSION (REQ_STOP, one connection
 * per session): its processes - those of the shell's process group started
 * since the command did, children included; the shell itself when the
 * command is the shell's own code - get SIG (default TERM).  A command that
 * ends the shell this way ends; the session and its state go on.  With
 * --all the commands queued behind it are dropped too (each ends at once
 * with 128 + SIG).  Allowed to whoever may reconnect to the session, also
 * while another client holds it; audited (command-stopped: who, which
 * signal).  Stopping an idle session succeeds and does nothing.  Prints
 * nothing on success.
 *
 * Every SESSION is tried; each failure prints its own error (not-found,
 * ambiguous, permission-denied, invalid-argument for an unknown signal)
 * and the exit status is 255 if any failed.
 */
#include <getopt.h>

#include "client.h"
#include "parse-util.h"

typedef struct StopArgs {
        const char *signal;
        bool all;
} StopArgs;

static int take_stop_option(int opt, void *userdata) {
        StopArgs *a = userdata;

        switch (opt) {
        case ARG_SIGNAL:
                if (parse_signal(optarg) < 0)
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "stop: unknown signal '%s' (a name such as INT, TERM, KILL, or a number)",
                                            optarg);
                a->signal = optarg;
                return 1;
        case ARG_ALL:
                a->all = true;
                return 1;
        default:
                return 0;
        }
}

static int verb_stop_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "signal",     required_argument, NULL, ARG_SIGNAL     },
                { "all",        no_argument,       NULL, ARG_ALL        },
                { "credential", required_argument, NULL, ARG_CREDENTIAL },
                {}
        };
        struct proto_request req = {};
        StopArgs a = { .signal = "TERM" };
        int r, ret = 0;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, take_stop_option, &a);
        if (r <= 0)
                return r;
        if (optind >= argc)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "stop: missing SESSION (name or Id)");
        for (int i = optind; i < argc; i++) {
                r = session_arg_check(argv[i]);
                if (r < 0)
                        return r;
        }
        req.command = (char *) a.signal;
        if (a.all)
                req.flags |= PROTO_REQ_F_STOP_ALL;
        for (int i = optind; i < argc; i++) {
                req.session = argv[i];
                r = session_request_ok(PROTO_REQ_STOP, &req);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

const Verb verb_stop = {
        .name = "stop",
        .synopsis = "SESSION... [--signal SIG] [--all] [--credential USER]",
        .help =
        "Signal the command running in each SESSION (its processes, children included); the session\n"
        "and its shell state stay.  Ctrl-C in connect and invoke does the same with INT.\n"
        "\n"
        "      --signal SIG             the signal: TERM (default), INT, HUP, KILL, QUIT, ... or a number\n"
        "      --all                    also drop the commands queued behind it\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_stop_run,
};
