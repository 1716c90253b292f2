/* SPDX-License-Identifier: ISC */
/*
 * dwell new [-t] [-n NAME] [-c CONFIG] [--idle-timeout DUR]
 *           [--output-buffering block|drop] [--credential USER]
 *
 * Creates a session (REQ_NEW) and prints it; with -t a terminal session
 * (a login shell on a pty, PROTO_REQ_F_TERMINAL), whose TERM and size are
 * ours if we run in a terminal (else the host's fallback, 24x80): a one-row table, or with
 * --json one session object.  What the command line leaves unset of the
 * idle timeout and buffering mode comes from ~/.config/dwell/options.yaml
 * (user-options.c), and what that leaves unset from the configuration.  The new session is not connected to any
 * client; `dwell connect` or `dwell invoke NAME` use it.
 *
 * Fails (exit 255) on a bad option value (checked before anything is sent),
 * when dwelld cannot be reached, and on dwelld's refusals: a name already
 * in use (invalid-argument), an unknown or forbidden configuration
 * (not-found, permission-denied), a broken options file (config-error),
 * an idle timeout above the
 * configuration's maximum, session limits (limit-exceeded), failed PAM
 * authentication with --credential (auth-failed).
 */
#include <getopt.h>

#include "client.h"

static int verb_new_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "name",             required_argument, NULL, 'n'                  },
                { "terminal",         no_argument,       NULL, 't'                  },
                { "config",           required_argument, NULL, 'c'                  },
                { "idle-timeout",     required_argument, NULL, ARG_IDLE_TIMEOUT     },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "credential",       required_argument, NULL, ARG_CREDENTIAL       },
                {}
        };
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = {};
        struct proto_session s;
        Frame f;
        int r;

        r = verb_parse_options(v, argc, argv, ":htn:c:", options, &req, NULL, NULL);
        if (r <= 0)
                return r;
        if (optind < argc)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "new: unexpected argument '%s' (the name is given with -n)", argv[optind]);
        r = user_options_apply(&req, true, false);
        if (r < 0)
                return r;
        if (req.flags & PROTO_REQ_F_TERMINAL)
                (void) term_request_fill(&req);

        r = session_request(PROTO_REQ_NEW, &req, &c);
        if (r < 0)
                return r;
        r = session_wait_answer(&c, &f);
        if (r < 0)
                return r;
        if (f.type != PROTO_MSG_SESSION || proto_get_session(&f.payload, &s) < 0)
                return session_lost_dwelld(-EBADMSG);
        conn_consume(&c, &f);

        r = print_session(&s);
        proto_session_done(&s);
        return r;
}

const Verb verb_new = {
        .name = "new",
        .synopsis = "[-t] [-n NAME] [-c CONFIG] [--idle-timeout DUR] [--output-buffering block|drop] [--credential USER]",
        .help =
        "Create a session and print it.\n"
        "\n"
        "  -t, --terminal               a terminal session: a login shell on a pseudo-terminal, for\n"
        "                               dwell connect (full-screen programs, job control, detach keys)\n"
        "  -n, --name NAME              session name (default: SessionN)\n"
        "  -c, --config CONFIG          session configuration (default: default)\n"
        "      --idle-timeout DUR       remove the session after DUR without a client (90s, 30m, 2h, 1d)\n"
        "      --output-buffering MODE  when the output buffer is full: block the command, or drop old output\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_new_run,
};
