/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "acct.h"
#include "log.h"
#include "request.h"

struct AcctEntry {
        LIST_LINK(AcctEntry);
        uid_t uid;
        uint64_t expires;       /* CLOCK_MONOTONIC usec */
};

struct AcctCheck {
        Manager *manager;
        LIST_LINK(AcctCheck);
        uid_t uid;
        char user[64];
        pid_t pid;
        Conn conn;
        sd_event_source *child_src;
};

static uint64_t now_usec(Manager *m) {
        uint64_t t = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static bool cache_hit(Manager *m, uid_t uid) {
        uint64_t now = now_usec(m);

        for (AcctEntry *e = m->acct_cache, *n; e; e = n) {
                n = e->next;
                if (e->expires <= now) {
                        LIST_REMOVE(m->acct_cache, e);
                        free(e);
                } else if (e->uid == uid)
                        return true;
        }
        return false;
}

static void cache_add(Manager *m, uid_t uid) {
        AcctEntry *e;

        if (m->acct_cache_usec == 0)
                return;
        e = calloc(1, sizeof *e);
        if (!e)
                return;
        e->uid = uid;
        e->expires = now_usec(m) + m->acct_cache_usec;
        LIST_PREPEND(m->acct_cache, e);
}

static AcctCheck *check_free(AcctCheck *c) {
        if (!c)
                return NULL;
        LIST_REMOVE(c->manager->acct_checks, c);
        sd_event_source_disable_unref(c->child_src);
        conn_done(&c->conn);
        free(c);
        return NULL;
}

/* Reads the helper's verdict: 0, or -errno with a message.  PAM modules
 * explain refusals through the conversation ("Your account has expired"),
 * which the helper relays as CONV_PROMPT frames: keep the last such text. */
static int read_verdict(AcctCheck *c, char **ret_message) {
        _cleanup_free_ char *said = NULL, *failed = NULL;
        int32_t e = -EIO;
        Frame f;
        int r;

        for (;;) {
                r = conn_next(&c->conn, &f);
                if (r == 0) {
                        r = conn_fill(&c->conn);
                        if (r <= 0)
                                return -EIO;
                        continue;
                }
                if (r < 0)
                        return r;
                if (f.type == PROTO_MSG_CONV_PROMPT) {
                        uint8_t style;
                        char *text = NULL;

                        if (proto_get_conv_prompt(&f.payload, &style, &text) >= 0) {
                                free(said);
                                said = text;
                        }
                        conn_consume(&c->conn, &f);
                        continue;
                }
                if (f.type == PROTO_MSG_OK)
                        r = 0;
                else if (f.type == PROTO_MSG_FAILED && proto_get_failed(&f.payload, &e, &failed) >= 0)
                        r = e < 0 ? e : -EPERM;
                else
                        r = -EIO;
                conn_consume(&c->conn, &f);
                break;
        }
        if (r < 0 && said && asprintf(ret_message, "PAM refused the account %s: %s", c->user, said) >= 0)
                return r;
        if (r < 0 && failed)
                *ret_message = TAKE_PTR(failed);
        return r;
}

static int on_helper_exit_cb(sd_event_source *s, const siginfo_t *si, void *userdata) {
        AcctCheck *c = userdata;
        Manager *m = c->manager;
        _cleanup_free_ char *message = NULL;
        uid_t uid = c->uid;
        int r;

        r = read_verdict(c, &message);
        if (r >= 0 && !(si->si_code == CLD_EXITED && si->si_status == 0))
                r = -EIO;
        check_free(c);
        if (r >= 0)
                cache_add(m, uid);
        else if (!message)
                log_warning("PAM account check for uid %u failed without a verdict", (unsigned) uid);

        for (Request *q = m->requests, *n; q; q = n) {
                n = q->next;
                if (q->state == REQUEST_AUTHORIZING && q->uid == uid)
                        request_authorized(q, r, message);
        }
        return 0;
}

static int check_start(Manager *m, uid_t uid, const char *user) {
        _cleanup_close_pair_ int pair[2] = { -EBADF, -EBADF };
        char *argv[] = { (char *) "dwell-auth", (char *) "account", (char *) user, NULL };
        AcctCheck *c;
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->uid = uid;
        snprintf(c->user, sizeof c->user, "%s", user);
        conn_init(&c->conn, -EBADF, 64 * 1024, 64 * 1024);
        LIST_PREPEND(m->acct_checks, c);

        r = manager_spawn(m, "dwell-auth", argv, pair[1], false, &c->pid);
        if (r < 0) {
                check_free(c);
                return r;
        }
        c->conn.fd = TAKE_FD(pair[0]);
        r = sd_event_add_child(m->event, &c->child_src, c->pid, WEXITED, on_helper_exit_cb, c);
        if (r < 0) {
                (void) kill(c->pid, SIGKILL);
                check_free(c);
                return r;
        }
        return 0;
}

int acct_check(Manager *m, Request *req) {
        int r;

        if (cache_hit(m, req->uid)) {
                request_authorized(req, 0, NULL);
                return 0;
        }
        for (AcctCheck *c = m->acct_checks; c; c = c->next)
                if (c->uid == req->uid)
                        return 0;       /* joins the check in flight */
        r = check_start(m, req->uid, req->user);
        if (r < 0) {
                log_error_errno(r, "Failed to start the PAM account check for %s: %m", req->user);
                request_authorized(req, -EIO, "the PAM account check could not be started");
        }
        return r;
}


/* ------------------------------------------------------- --credential */

#define AUTH_FAILURE_FORGET (15 * 60 * USEC_PER_SEC)
#define AUTH_DELAY_MAX (30 * USEC_PER_SEC)

struct AuthConv {
        Manager *manager;
        LIST_LINK(AuthConv);
        Request *req;
        char user[64];
        pid_t pid;
        Conn conn;
        sd_event_source *io_src;
        sd_event_source *child_src;
        sd_event_source *delay_src;
        bool have_verdict;
        int verdict;
        char *message;
};

struct AuthFailure {
        LIST_LINK(AuthFailure);
        uid_t uid;
        unsigned count;
        uint64_t last;
};

AuthConv *auth_free(AuthConv *a) {
        if (!a)
                return NULL;
        /* A helper still running (its client left) is killed; sd-event
         * reaps it when the child source goes. */
        if (a->child_src && a->pid > 0)
                (void) kill(a->pid, SIGKILL);
        LIST_REMOVE(a->manager->auths, a);
        sd_event_source_disable_unref(a->io_src);
        sd_event_source_disable_unref(a->child_src);
        sd_event_source_disable_unref(a->delay_src);
        conn_done(&a->conn);
        free(a->message);
        if (a->req)
                a->req->auth = NULL;
        free(a);
        return NULL;
}

static AuthFailure *failure_get(Manager *m, uid_t uid) {
        uint64_t now = now_usec(m);

        for (AuthFailure *f = m->auth_failures, *n; f; f = n) {
                n = f->next;
                if (now - f->last > AUTH_FAILURE_FORGET) {
                        LIST_REMOVE(m->auth_failures, f);
                        free(f);
                } else if (f->uid == uid)
                        return f;
        }
        return NULL;
}

static void auth_deliver(AuthConv *a) {
        Request *req = a->req;
        int verdict = a->verdict;
        _cleanup_free_ char *message = TAKE_PTR(a->message);

        auth_free(a);
        if (req)
                request_authenticated(req, verdict, message);
}

static int on_auth_delay_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        auth_deliver(userdata);
        return 0;
}

/* PAM already waited (pam_faildelay); a caller that keeps failing waits
 * longer each time: 1 s, 2 s, 4 s ... up to 30 s. */
static void auth_finish(AuthConv *a) {
        Manager *m = a->manager;
        uid_t uid = a->req ? a->req->uid : 0;
        AuthFailure *f = failure_get(m, uid);
        uint64_t delay = 0;

        if (a->verdict >= 0) {
                if (f) {
                        LIST_REMOVE(m->auth_failures, f);
                        free(f);
                }
                auth_deliver(a);
                return;
        }
        if (!f && (f = calloc(1, sizeof *f))) {
                f->uid = uid;
                LIST_PREPEND(m->auth_failures, f);
        }
        if (f) {
                f->count++;
                f->last = now_usec(m);
                if (f->count > 1)
                        delay = MIN((uint64_t) USEC_PER_SEC << MIN(f->count - 2, 5u), AUTH_DELAY_MAX);
        }
        if (delay == 0 || sd_event_add_time_relative(m->event, &a->delay_src, CLOCK_MONOTONIC, delay,
                                                     USEC_PER_SEC / 10, on_auth_delay_cb, a) < 0)
                auth_deliver(a);
}

static int on_auth_io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AuthConv *a = userdata;
        Frame f;
        int r;

        if (revents & EPOLLOUT && conn_flush(&a->conn) != 0)
                (void) sd_event_source_set_io_events(s, EPOLLIN);
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = conn_fill(&a->conn);
        if (r == -EAGAIN)
                return 0;
        if (r <= 0) {
                a->io_src = sd_event_source_disable_unref(a->io_src);
                return 0;
        }
        while ((r = conn_next(&a->conn, &f)) > 0) {
                uint8_t style;
                char *text = NULL;
                int32_t e;

                if (f.type == PROTO_MSG_CONV_PROMPT && proto_get_conv_prompt(&f.payload, &style, &text) >= 0) {
                        if (a->req)
                                request_conv_prompt(a->req, style, text);
                        free(text);
                } else if (f.type == PROTO_MSG_OK) {
                        a->have_verdict = true;
                        a->verdict = 0;
                } else if (f.type == PROTO_MSG_FAILED && proto_get_failed(&f.payload, &e, &text) >= 0) {
                        a->have_verdict = true;
                        a->verdict = e < 0 ? e : -EACCES;
                        free(a->message);
                        a->message = text;
                }
                conn_consume(&a->conn, &f);
        }
        return 0;
}

static int on_auth_exit_cb(sd_event_source *s, const siginfo_t *si, void *userdata) {
        AuthConv *a = userdata;

        a->child_src = sd_event_source_disable_unref(a->child_src);
        /* Whatever the helper wrote before exiting is still in the socket. */
        if (a->io_src)
                (void) on_auth_io_cb(a->io_src, a->conn.fd, EPOLLIN, a);
        /* Success needs both the OK frame and a clean exit. */
        if (!a->have_verdict || !(si->si_code == CLD_EXITED && si->si_status == 0))
                if (a->verdict == 0)
                        a->verdict = -EIO;
        if (a->verdict < 0 && !a->message && asprintf(&a->message, "authentication as %s failed", a->user) < 0)
                a->message = NULL;
        auth_finish(a);
        return 0;
}

int auth_start(Manager *m, Request *req, const char *user) {
        _cleanup_close_pair_ int pair[2] = { -EBADF, -EBADF };
        char *argv[] = { (char *) "dwell-auth", (char *) "authenticate", (char *) user, NULL };
        AuthConv *a;
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->manager = m;
        a->req = req;
        snprintf(a->user, sizeof a->user, "%s", user);
        conn_init(&a->conn, -EBADF, 64 * 1024, 64 * 1024);
        LIST_PREPEND(m->auths, a);
        req->auth = a;

        r = manager_spawn(m, "dwell-auth", argv, pair[1], false, &a->pid);
        if (r < 0) {
                auth_free(a);
                return r;
        }
        (void) fd_nonblock(pair[0], true);
        a->conn.fd = TAKE_FD(pair[0]);
        if ((r = sd_event_add_child(m->event, &a->child_src, a->pid, WEXITED, on_auth_exit_cb, a)) < 0 ||
            (r = sd_event_add_io(m->event, &a->io_src, a->conn.fd, EPOLLIN, on_auth_io_cb, a)) < 0) {
                (void) kill(a->pid, SIGKILL);
                auth_free(a);
                return r;
        }
        return 0;
}

int auth_reply(AuthConv *a, const char *answer) {
        int r = proto_put_str_msg(&a->conn.out, PROTO_MSG_CONV_REPLY, answer);

        if (r < 0)
                return r;
        r = conn_flush(&a->conn);
        if (r == 0 && a->io_src)
                (void) sd_event_source_set_io_events(a->io_src, EPOLLIN | EPOLLOUT);
        return r < 0 ? r : 0;
}

void acct_free_all(Manager *m) {
        while (m->auths)
                auth_free(m->auths);
        while (m->auth_failures) {
                AuthFailure *f = m->auth_failures;
                LIST_REMOVE(m->auth_failures, f);
                free(f);
        }
        while (m->acct_checks)
                check_free(m->acct_checks);
        while (m->acct_cache) {
                AcctEntry *e = m->acct_cache;
                LIST_REMOVE(m->acct_cache, e);
                free(e);
        }
}
