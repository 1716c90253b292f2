/* SPDX-License-Identifier: ISC */
/*
 * dwell wait SESSION... [--timeout DUR] [--any] [--credential USER]
 *
 * Waits until each SESSION has nothing running or queued (the analogue of
 * PowerShell's Wait-Job) and exits with the last finished command's exit
 * status of the session that became idle last (0 if it ran none); with
 * --any, as soon as the first one is idle, with its status.
 *
 * One REQ_WAIT connection per session.  dwelld hands it to the session's
 * worker, which does not attach it: the session stays free for another
 * client (receive, connect), no output is consumed, and the wait does not
 * count as a connection of the session.  The worker answers SYNCED when
 * the session is idle, and sends HEARTBEATs meanwhile (the first one at
 * once, as the request's first answer).
 *
 * Failures exit 255: bad options, dwelld refusing (not-found, ambiguous,
 * permission-denied, unavailable for a Broken or removed session,
 * limit-exceeded when too many clients wait on one session), the timeout
 * passing (timeout), the connection lost.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>

#include "client.h"
#include "parse-util.h"

#define WAIT_MAX_SESSIONS 64

typedef struct Waiting {
        const char *name;
        Conn conn;
        bool done;
        struct proto_synced synced;
} Waiting;

typedef struct WaitArgs {
        uint64_t timeout;       /* usec, 0 = none */
        bool any;
} WaitArgs;

static int wait_option(int opt, void *userdata) {
        WaitArgs *a = userdata;
        int r;

        switch (opt) {
        case ARG_TIMEOUT:
                r = parse_duration(optarg, &a->timeout);
                if (r < 0 || a->timeout == 0)
                        return client_error(r < 0 ? r : -EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "invalid timeout '%s' (expected a positive duration such as 90s, 30m, 2h)",
                                            optarg);
                return 1;
        case ARG_ANY:
                a->any = true;
                return 1;
        default:
                return 0;
        }
}

static int status_of(const Waiting *w) {
        if (w->synced.last_status < 0)
                return 0;
        return MIN(w->synced.last_status, EXIT_DWELL_FAILURE);
}

static void print_done(const Waiting *w) {
        if (!arg_json)
                return;
        fputs("{\"session\": ", stdout);
        json_print_string(stdout, w->name);
        if (w->synced.last_cmd == 0)
                fputs(", \"command\": null, \"exit_status\": null}\n", stdout);
        else
                printf(", \"command\": %" PRIu32 ", \"exit_status\": %" PRIi32 "}\n", w->synced.last_cmd,
                       w->synced.last_status);
        fflush(stdout);
}

/* One frame from a session's worker: 1 when it is idle, 0 to go on. */
static int wait_frame(Waiting *w, Frame *f) {
        switch (f->type) {
        case PROTO_MSG_HEARTBEAT:
                return 0;
        case PROTO_MSG_SYNCED:
                if (proto_get_synced(&f->payload, &w->synced) < 0)
                        return session_lost_dwelld(-EBADMSG);
                w->done = true;
                print_done(w);
                return 1;
        case PROTO_MSG_ERROR:
                return session_report_error(f);
        default:
                return session_lost_dwelld(-EBADMSG);
        }
}

static int wait_timed_out(Waiting *w, size_t n, uint64_t timeout) {
        char d[32];
        size_t left = 0;

        for (size_t i = 0; i < n; i++)
                left += !w[i].done;
        for (size_t i = 0; i < n; i++)
                if (!w[i].done)
                        return client_error(-ETIMEDOUT, PROTO_ERR_TIMEOUT, "wait: session %s%s still busy after %s",
                                            w[i].name, left > 1 ? " and others" : "",
                                            format_duration(d, sizeof d, timeout));
        return -ETIMEDOUT;
}

static int verb_wait_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "timeout",    required_argument, NULL, ARG_TIMEOUT    },
                { "any",        no_argument,       NULL, ARG_ANY        },
                { "credential", required_argument, NULL, ARG_CREDENTIAL },
                {}
        };
        struct proto_request req = {};
        WaitArgs a = {};
        Waiting w[WAIT_MAX_SESSIONS] = {};
        size_t n, left;
        int64_t deadline = -1;
        int r, last = 0;

        r = verb_parse_options(v, argc, argv, ":h", options, &req, wait_option, &a);
        if (r <= 0)
                return r;
        if (req.flags || req.name || req.config || req.idle_timeout || req.buffering)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "wait: unsupported option");
        n = (size_t) (argc - optind);
        if (n == 0)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "wait: missing SESSION (see 'dwell wait --help')");
        if (n > WAIT_MAX_SESSIONS)
                return client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT, "wait: at most %d sessions",
                                    WAIT_MAX_SESSIONS);
        for (size_t i = 0; i < n; i++) {
                r = session_arg_check(argv[optind + (int) i]);
                if (r < 0)
                        return r;
                w[i] = (Waiting) { .name = argv[optind + (int) i], .conn = { .fd = -EBADF } };
        }
        if (a.timeout > 0)
                deadline = clock_now_ms() + (int64_t) MIN(a.timeout / 1000, (uint64_t) INT32_MAX * 1000);

        /* Each session's first answer comes at once: SYNCED if it is idle,
         * else a HEARTBEAT. */
        left = n;
        for (size_t i = 0; i < n; i++) {
                Frame f;

                req.session = (char *) w[i].name;
                r = session_request(PROTO_REQ_WAIT, &req, &w[i].conn);
                if (r >= 0)
                        r = session_wait_answer(&w[i].conn, &f);
                if (r >= 0) {
                        r = wait_frame(&w[i], &f);
                        conn_consume(&w[i].conn, &f);
                }
                if (r < 0)
                        goto finish;
                if (r > 0) {
                        left--;
                        last = status_of(&w[i]);
                        if (a.any)
                                goto finish;
                }
        }

        while (left > 0) {
                struct pollfd p[WAIT_MAX_SESSIONS];
                size_t idx[WAIT_MAX_SESSIONS], np = 0;
                int timeout = -1;

                for (size_t i = 0; i < n; i++)
                        if (!w[i].done) {
                                p[np] = (struct pollfd) { .fd = w[i].conn.fd, .events = POLLIN };
                                idx[np++] = i;
                        }
                if (deadline >= 0) {
                        int64_t now = clock_now_ms();

                        if (now >= deadline) {
                                r = wait_timed_out(w, n, a.timeout);
                                goto finish;
                        }
                        timeout = (int) MIN(deadline - now, (int64_t) INT32_MAX);
                }
                r = poll(p, np, timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        r = client_error(-errno, PROTO_ERR_UNAVAILABLE, "poll failed: %m");
                        goto finish;
                }
                for (size_t k = 0; k < np; k++) {
                        Waiting *x = &w[idx[k]];
                        Frame f;

                        if (!p[k].revents)
                                continue;
                        r = conn_fill(&x->conn);
                        if (r == -EAGAIN || r == -EINTR)
                                continue;
                        if (r <= 0) {
                                r = client_error(r < 0 ? r : -ECONNRESET, PROTO_ERR_UNAVAILABLE,
                                                 "wait: lost the connection to session %s", x->name);
                                goto finish;
                        }
                        while (!x->done && (r = conn_next(&x->conn, &f)) > 0) {
                                r = wait_frame(x, &f);
                                conn_consume(&x->conn, &f);
                                if (r < 0)
                                        goto finish;
                        }
                        if (r < 0) {
                                r = session_lost_dwelld(r);
                                goto finish;
                        }
                        if (x->done) {
                                left--;
                                last = status_of(x);
                                if (a.any)
                                        goto finish;
                        }
                }
        }
        r = 0;
finish:
        for (size_t i = 0; i < n; i++)
                conn_done(&w[i].conn);
        return r < 0 ? r : last;
}

const Verb verb_wait = {
        .name = "wait",
        .synopsis = "SESSION... [--timeout DUR] [--any] [--credential USER]",
        .help =
        "Wait until the running and queued commands of each SESSION have finished, without connecting\n"
        "to it (its output stays for receive; another client may be connected), and exit with the last\n"
        "finished command's exit status of the session that finished last.\n"
        "\n"
        "      --timeout DUR            give up after DUR (90s, 30m, 2h): error timeout, exit 255\n"
        "      --any                    return as soon as one SESSION has finished, with its status\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "  -h, --help                   show this help\n",
        .run = verb_wait_run,
};
