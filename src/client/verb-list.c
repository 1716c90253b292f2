/* SPDX-License-Identifier: ISC */
/*
 * dwell list [NAME|ID ...] [-c CONFIG] [--state STATE] [-l] [--all-users]
 *
 * Lists the sessions the caller may see (REQ_LIST; with --all-users, root
 * and the daemon's admin_groups see everyone's, with an Owner column),
 * sorted by Id.  State and Availability
 * are relative to this client, so a session another client holds shows as
 * Disconnected/Busy.  The filters are applied here: an argument of digits
 * matches the Id, anything else the name; -c the configuration; --state
 * the state name, case-insensitively.  A filter that matches nothing is
 * not an error: the table then has only its header (or the array is
 * empty), as with any other empty listing.
 *
 * Fails (exit 255) on a bad option or state name, when dwelld cannot be
 * reached, and on dwelld's refusals (--all-users without the right:
 * permission-denied).
 */
#include <getopt.h>
#include <stdlib.h>
#include <strings.h>

#include "client.h"

typedef struct ListFilter {
        char **names;           /* positional NAME|ID arguments */
        size_t n_names;
        const char *config;
        int state;              /* SessionState, 0 = any */
} ListFilter;

static bool filter_match(const ListFilter *flt, const struct proto_session *s) {
        bool found = flt->n_names == 0;

        for (size_t i = 0; !found && i < flt->n_names; i++)
                found = string_is_id(flt->names[i]) ? strtoul(flt->names[i], NULL, 10) == s->id
                                                     : streq_ptr(flt->names[i], s->name);
        if (!found)
                return false;
        if (flt->config && !streq_ptr(flt->config, s->configuration))
                return false;
        return flt->state == 0 || flt->state == s->state;
}

/* Keeps the matching sessions at the front; returns how many. */
static size_t filter_apply(const ListFilter *flt, struct proto_session *s, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                struct proto_session t;

                if (!filter_match(flt, s + i))
                        continue;
                t = s[k];
                s[k++] = s[i];
                s[i] = t;
        }
        return k;
}

static int cmp_session_id(const void *a, const void *b) {
        const struct proto_session *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id;
}

static int parse_state(const char *arg) {
        for (int st = 1; st < _SESSION_STATE_MAX; st++)
                if (strcasecmp(arg, session_state_to_string((uint8_t) st)) == 0)
                        return st;
        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                            "invalid state '%s' (expected Opened, Disconnected, Broken or Closed)", arg);
}

static int verb_list_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "config",     required_argument, NULL, 'c'            },
                { "state",      required_argument, NULL, ARG_STATE      },
                { "long",       no_argument,       NULL, 'l'            },
                { "all-users",  no_argument,       NULL, ARG_ALL_USERS  },
                { "credential", required_argument, NULL, ARG_CREDENTIAL },
                {}
        };
        struct proto_request req = {};
        struct proto_session *sessions = NULL;
        ListFilter flt = {};
        bool long_format = false;
        size_t n = 0, n_shown;
        int opt, r;

        while ((opt = getopt_long(argc, argv, ":hc:l", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        return verb_help(v);
                case 'l':
                        long_format = true;
                        break;
                case ARG_ALL_USERS:
                        req.flags |= PROTO_REQ_F_ALL_USERS;
                        break;
                case ARG_STATE:
                        r = parse_state(optarg);
                        if (r < 0)
                                return r;
                        flt.state = r;
                        break;
                default:
                        r = request_parse_option(opt, optarg, &req);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return verb_bad_option(v, opt, optind, argv);
                }
        for (int i = optind; i < argc; i++) {
                r = session_arg_check(argv[i]);
                if (r < 0)
                        return r;
        }
        flt.names = argv + optind;
        flt.n_names = (size_t) (argc - optind);
        flt.config = req.config;

        r = session_list(req.flags, req.credential, &sessions, &n);
        if (r < 0)
                return r;
        n_shown = filter_apply(&flt, sessions, n);
        /* dwelld lists the newest first; rows are shown by Id. */
        if (n_shown > 1)
                qsort(sessions, n_shown, sizeof *sessions, cmp_session_id);
        r = print_sessions(sessions, n_shown,
                           long_format ? TABLE_LONG : req.flags & PROTO_REQ_F_ALL_USERS ? TABLE_OWNER : TABLE_SHORT);
        session_array_free(sessions, n);
        return r;
}

const Verb verb_list = {
        .name = "list",
        .synopsis = "[NAME|ID ...] [-c CONFIG] [--state STATE] [-l] [--all-users] [--credential USER]",
        .help =
        "List sessions: all those you may see, or those named.\n"
        "\n"
        "  -c, --config CONFIG    only sessions of this configuration\n"
        "      --state STATE      only sessions in this state (Opened, Disconnected, Broken, Closed)\n"
        "  -l, --long             also show Owner, RunAs, IdleTimeout, Buffering, Buffered, Dropped, Command\n"
        "      --all-users        every user's sessions, with their Owner (root and admin groups)\n"
        "      --credential USER  authenticate as USER (password prompted) and see USER's sessions\n"
        "  -h, --help             show this help\n",
        .run = verb_list_run,
};
