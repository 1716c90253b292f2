/* SPDX-License-Identifier: ISC */
/*
 * dwell remove SESSION... | --all   [--credential USER]
 *
 * Removes each SESSION (REQ_REMOVE, one connection per session): a client
 * connected to it is told, the session's processes are ended, its PAM
 * session is closed and its buffered output discarded.  With --all every
 * session this caller can see (REQ_LIST, without --all-users) is removed,
 * by Id.  Prints nothing on success.
 *
 * Every session is tried; each failure prints its own error (not-found,
 * ambiguous: a name that several other owners' sessions have, ...) and the
 * exit status is 255 if any failed.  For root and administrators a name
 * is looked up among every user's sessions, their own first.
 * SESSION and --all together, or neither, is a usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "client.h"

static int remove_one(struct proto_request *req, const char *session) {
        req->session = (char *) session;
        return session_request_ok(PROTO_REQ_REMOVE, req);
}

static int remove_all(struct proto_request *req) {
        struct proto_session *sessions = NULL;
        size_t n = 0;
        int r, ret = 0;

        r = session_list(0, req->credential, &sessions, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char id[16];

                snprintf(id, sizeof id, "%" PRIu32, sessions[i].id);
                r = remove_one(req, id);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        session_array_free(sessions, n);
        return ret;
}

static int take_all(int opt, void *userdata) {
        if (opt != ARG_ALL)
                return 0;
        *(bool *) userdata = true;
        return 1;
}

static int verb_remove_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "all",        no_argument,       NULL, ARG_ALL        },
                { "credential", required_argument, NULL, ARG_CREDENTIAL },
                {}
        };
        struct proto_request req = {};
        bool all = false;
        int r, ret = 0;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, take_all, &all);
        if (r <= 0)
                return r;
        if (all == (optind < argc))
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    all ? "remove: --all takes no SESSION" : "remove: missing SESSION (name or Id) or --all");
        if (all)
                return remove_all(&req);

        for (int i = optind; i < argc; i++) {
                r = session_arg_check(argv[i]);
                if (r < 0)
                        return r;
        }
        for (int i = optind; i < argc; i++) {
                r = remove_one(&req, argv[i]);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

const Verb verb_remove = {
        .name = "remove",
        .synopsis = "SESSION... | --all [--credential USER]",
        .help =
        "Remove sessions: end their processes and discard their output.\n"
        "\n"
        "      --all              remove every session you can see\n"
        "      --credential USER  authenticate as USER (password prompted)\n"
        "  -h, --help             show this help\n",
        .run = verb_remove_run,
};
