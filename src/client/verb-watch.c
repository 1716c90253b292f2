/* SPDX-License-Identifier: ISC */
/*
 * dwell watch SESSION [--detach-keys KEYS] [--no-history] [--reconnect-timeout DUR] [--credential USER]
 *
 * Attaches to a terminal session read-only (term-attach.c): the local
 * terminal in raw mode shows the session's screen, then its live output;
 * typed keys go nowhere but to the detach keys, which end the watch.  The
 * window size is not sent (the typer's size rules).  dwelld decides who may
 * watch (the owner, whoever may connect, root, administrators, the
 * configuration's observers); the worker refuses command sessions and
 * more than 16 watchers, tells everyone attached, and the monitor audits
 * the join (session-watched).  A broken connection is mended by
 * reconnecting (reconnect.c), as for connect.
 */
#include <getopt.h>
#include <unistd.h>

#include "client.h"
#include "parse-util.h"

static int watch_option(int opt, void *userdata) {
        const char **keys = userdata;

        if (opt != ARG_DETACH_KEYS)
                return 0;
        *keys = optarg;
        return 1;
}

static int verb_watch_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",        no_argument,       NULL, 'h'             },
                { "detach-keys", required_argument, NULL, ARG_DETACH_KEYS },
                { "no-history",  no_argument,       NULL, ARG_NO_HISTORY  },
                { "credential",  required_argument, NULL, ARG_CREDENTIAL  },
                { "reconnect-timeout", required_argument, NULL, ARG_RECONNECT_TIMEOUT },
                {}
        };
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = {};
        uint8_t keys[DETACH_KEYS_MAX];
        const char *keys_arg = NULL;
        int r, n_keys;
        Frame f;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, watch_option, &keys_arg);
        if (r <= 0)
                return r;
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
                return client_error(-ENOTTY, PROTO_ERR_INVALID_ARGUMENT,
                                    "watch needs a terminal (standard input and output); dwell receive prints "
                                    "what a session showed");
        (void) term_request_fill(&req);
        req.rows = req.cols = 0;        /* a watcher does not size the session */
        req.flags |= PROTO_REQ_F_TERM_POS;
        n_keys = user_options_detach_keys(keys_arg, keys);
        if (n_keys < 0)
                return n_keys;
        r = reconnect_timeout_resolve();
        if (r < 0)
                return r;
        r = session_attach_one("watch", PROTO_REQ_WATCH, argc, argv, &req, &c, &f);
        if (r < 0)
                return r;
        return term_attach_full(&c, &f, keys, (size_t) n_keys, true, !req.credential);
}

const Verb verb_watch = {
        .name = "watch",
        .synopsis = "SESSION [--detach-keys KEYS] [--no-history] [--reconnect-timeout DUR] [--credential USER]",
        .help =
        "Watch the terminal session SESSION read-only: this terminal shows its screen and what it\n"
        "prints, live; keys typed are not sent (the detach keys, default ctrl-\\, end the watch).\n"
        "The session's owner, those who may connect to it, root, administrators and the observers\n"
        "of its configuration may watch; everyone attached is told, and each watch is audited.\n"
        "\n"
        "      --detach-keys KEYS       keys that end the watch (ctrl-a,d; default ctrl-\\)\n"
        "      --no-history             the screen only, without the session's scrollback\n"
        "      --reconnect-timeout DUR  after a broken connection, reconnect for up to DUR (default 4m;\n"
        "                               0: do not)\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_watch_run,
};
