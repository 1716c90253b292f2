/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <security/pam_appl.h>
#include <sys/wait.h>

#include "acct.h"
#include "audit.h"
#include "log.h"
#include "request.h"
#include "user-util.h"

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

        /* Oldest first (requests is newest first), so that they reach the
         * --credential queue in the order they came. */
        Request *q = m->requests;
        while (q && q->next)
                q = q->next;
        for (Request *p; q; q = p) {
                p = q->prev;
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
                /* Not watched: reaped here (a fresh child, killed, exits at once). */
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
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

/*
 * A --credential attempt is a password guess, so it is rationed per caller
 * (the uid that connected), not per connection:
 *
 *   - at most one attempt of a caller is in flight (its dwell-auth helper
 *     runs); the caller's other --credential requests wait, oldest first;
 *   - an attempt lasts until its helper has exited and been reaped, whether
 *     or not its client is still there: a client that leaves after giving
 *     its answer does not end the attempt early, and the outcome is still
 *     known, counted and audited;
 *   - after an attempt that did not succeed (authentication or account
 *     refused, no answer) the caller's next one starts no earlier than
 *     auth_failure_delay later,
 *     doubling with each further consecutive failure up to
 *     auth_failure_delay_max; a success resets it, and so does a quiet
 *     auth_lockout_window;
 *   - auth_lockout_failures failed guesses of one caller for one target within
 *     auth_lockout_window lock that pair out until the oldest of them
 *     leaves the window: its requests are refused without running PAM;
 *   - every --credential request admitted (request.c's caps) is audited
 *     exactly once
 *     (auth-succeeded or auth-failed, with caller, target, origin and
 *     what happened), when its outcome is known;
 *   - the helper gets auth_prompt_timeout to finish, prompts included;
 *     then it is killed (and reaped).
 */

struct AuthConv {
        Manager *manager;
        AuthCaller *caller;
        Request *req;           /* NULL once its client left */
        char user[64];          /* the target, as the client named it */
        char key[64];           /* the target's canonical name: the lock-out's key */
        char caller_name[64];
        pid_t caller_pid;
        char *origin;
        pid_t pid;
        Conn conn;
        sd_event_source *io_src;
        sd_event_source *child_src;
        sd_event_source *timer_src;
        bool prompt_pending;    /* a prompt was relayed and not answered */
        bool answered;          /* the client gave at least one answer */
        bool timed_out;
        bool have_verdict;
        int verdict;
        char *message;
};

struct AuthCaller {
        Manager *manager;
        LIST_LINK(AuthCaller);
        uid_t uid;
        AuthConv *running;
        unsigned failures;      /* consecutive failed attempts */
        uint64_t not_before;    /* CLOCK_MONOTONIC usec: the next attempt starts no earlier */
        sd_event_source *gate_src;
};

struct AuthFailure {
        LIST_LINK(AuthFailure);
        uid_t uid;              /* the caller */
        char user[64];          /* the target */
        size_t n;
        uint64_t *times;        /* the failures within the window, oldest first */
};

static void caller_kick(AuthCaller *c);

static AuthConv *conv_free(AuthConv *a) {
        if (!a)
                return NULL;
        /* Only for dwelld's exit: otherwise a helper is always reaped first. */
        if (a->child_src && a->pid > 0)
                (void) kill(a->pid, SIGKILL);
        if (a->caller && a->caller->running == a)
                a->caller->running = NULL;
        sd_event_source_disable_unref(a->io_src);
        sd_event_source_disable_unref(a->child_src);
        sd_event_source_disable_unref(a->timer_src);
        conn_done(&a->conn);
        free(a->message);
        free(a->origin);
        if (a->req)
                a->req->auth = NULL;
        free(a);
        return NULL;
}

static void audit_attempt(Manager *m, bool ok, const char *caller, pid_t pid, const char *user, const char *origin,
                          const char *reason);

static AuthCaller *caller_free(AuthCaller *c) {
        if (!c)
                return NULL;
        if (c->running)
                /* Only when dwelld stops: the outcome will not be known. */
                audit_attempt(c->manager, false, c->running->caller_name, c->running->caller_pid, c->running->user,
                              c->running->origin, "dwelld stopped during the attempt");
        conv_free(c->running);
        LIST_REMOVE(c->manager->auth_callers, c);
        sd_event_source_disable_unref(c->gate_src);
        free(c);
        return NULL;
}

static AuthCaller *caller_get(Manager *m, uid_t uid) {
        AuthCaller *c;

        for (c = m->auth_callers; c; c = c->next)
                if (c->uid == uid)
                        return c;
        c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->manager = m;
        c->uid = uid;
        LIST_PREPEND(m->auth_callers, c);
        return c;
}

static AuthFailure *failure_free(Manager *m, AuthFailure *f) {
        LIST_REMOVE(m->auth_failures, f);
        free(f->times);
        free(f);
        return NULL;
}

/* The failures of uid for user still within the window (expired ones and
 * empty entries are dropped on the way). */
static AuthFailure *failure_get(Manager *m, uid_t uid, const char *user) {
        uint64_t now = now_usec(m), window = m->daemon.auth_lockout_window;
        AuthFailure *found = NULL;

        for (AuthFailure *f = m->auth_failures, *n; f; f = n) {
                size_t k = 0;

                n = f->next;
                while (k < f->n && now - f->times[k] >= window)
                        k++;
                if (k > 0) {
                        memmove(f->times, f->times + k, (f->n - k) * sizeof *f->times);
                        f->n -= k;
                }
                if (f->n == 0)
                        failure_free(m, f);
                else if (f->uid == uid && streq(f->user, user))
                        found = f;
        }
        return found;
}

/* The lock-out counts per user, not per spelling: with a directory that
 * resolves names loosely ("Alice"), every spelling of one user is one key. */
static void target_key(const char *name, char *buf, size_t size) {
        UserRecord u = {};

        if (user_by_name(name, &u) >= 0 && u.name)
                snprintf(buf, size, "%s", u.name);
        else
                snprintf(buf, size, "%s", name);
        user_record_done(&u);
}

/* > 0: usec until uid may try user again; 0: not locked out. */
static uint64_t lockout_left(Manager *m, uid_t uid, const char *user) {
        AuthFailure *f = failure_get(m, uid, user);
        uint32_t max = m->daemon.auth_lockout_failures;

        if (!f || f->n < max)
                return 0;
        /* The oldest failure that keeps the count at max leaves the window then. */
        return f->times[f->n - max] + m->daemon.auth_lockout_window - now_usec(m);
}

static void failure_add(Manager *m, uid_t uid, const char *user) {
        AuthFailure *f = failure_get(m, uid, user);
        uint64_t *t;

        if (!f) {
                f = calloc(1, sizeof *f);
                if (!f)
                        return;
                f->uid = uid;
                snprintf(f->user, sizeof f->user, "%s", user);
                LIST_PREPEND(m->auth_failures, f);
        }
        /* No more than the lock-out needs are remembered. */
        if (f->n >= m->daemon.auth_lockout_failures && f->n > 0) {
                memmove(f->times, f->times + 1, (f->n - 1) * sizeof *f->times);
                f->n--;
        }
        t = realloc(f->times, (f->n + 1) * sizeof *t);
        if (!t)
                return;
        f->times = t;
        f->times[f->n++] = now_usec(m);
}

static void audit_attempt(Manager *m, bool ok, const char *caller, pid_t pid, const char *user, const char *origin,
                          const char *reason) {
        AuditFields f = AUDIT_FIELDS_INIT;

        f.caller = caller;
        f.caller_pid = pid;
        f.owner = user;
        f.origin = origin;
        f.reason = reason;
        if (ok)
                audit_log(AUDIT_AUTH_SUCCEEDED, LOG_INFO, &f, "%s (pid %d) authenticated as %s", caller, (int) pid,
                          user);
        else
                audit_log(AUDIT_AUTH_FAILED, LOG_NOTICE, &f, "Authentication as %s by %s (pid %d) failed: %s", user,
                          caller, (int) pid, reason);
        (void) m;
}

void auth_refuse(Request *req, uint16_t code, const char *reason) {
        audit_attempt(req->manager, false, req->user, req->pid, req->req.credential, req->origin, reason);
        request_reply_error(req, code, "authentication as %s failed: %s", req->req.credential, reason);
}

void auth_request_gone(Request *req) {
        if (req->auth) {
                auth_detach(req->auth);
                return;
        }
        /* It was waiting for its turn: no PAM attempt was made for it. */
        audit_attempt(req->manager, false, req->user, req->pid, req->req.credential, req->origin,
                      req->manager->stopping ? "dwelld stopped before its attempt started"
                                             : "the client left before its attempt started");
}

static uint64_t failure_delay(Manager *m, unsigned failures) {
        uint64_t d = m->daemon.auth_failure_delay, max = m->daemon.auth_failure_delay_max;

        if (failures == 0 || d == 0)
                return 0;
        for (unsigned i = 1; i < failures && d < max; i++)
                d *= 2;
        return MIN(d, max);
}

/* The attempt is over and its helper reaped: count it, audit it, answer
 * its client if it is still there, and let the caller's next one go. */
static void conv_finish(AuthConv *a) {
        Manager *m = a->manager;
        AuthCaller *c = a->caller;
        Request *req = a->req;
        const char *reason = a->message;
        char buf[512], buf2[600];
        int verdict = a->verdict;

        if (verdict >= 0) {
                AuthFailure *f = failure_get(m, c->uid, a->key);

                if (f)
                        failure_free(m, f);
                c->failures = 0;
                c->not_before = 0;
        } else {
                /* Any attempt that did not succeed delays the next one, also
                 * one left unanswered (PAM ran all the same); a guess made
                 * counts towards the lock-out, whether or not its client
                 * waited for the answer. */
                c->failures++;
                c->not_before = now_usec(m) + failure_delay(m, c->failures);
                if (a->answered)
                        failure_add(m, c->uid, a->key);
        }
        if (verdict < 0 && !a->answered)
                reason = req ? "no answer was given to the PAM prompt" : "the client left without answering";
        if (verdict < 0 && a->timed_out) {
                snprintf(buf, sizeof buf, "%s; the PAM helper was stopped after %llus", strempty(reason),
                         (unsigned long long) (m->daemon.auth_prompt_timeout / USEC_PER_SEC));
                reason = buf;
        }
        if (verdict < 0 && !reason)
                reason = "the PAM helper ended without a verdict";
        if (verdict < 0 && a->answered && !req) {
                snprintf(buf2, sizeof buf2, "%s (the client left before the answer)", reason);
                reason = buf2;
        }
        audit_attempt(m, verdict >= 0, a->caller_name, a->caller_pid, a->user, a->origin, verdict >= 0 ? NULL : reason);

        a->req = NULL;
        conv_free(a);
        if (req) {
                req->auth = NULL;
                request_authenticated(req, verdict);
        }
        caller_kick(c);
}

static int on_conv_io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
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
                        bool question = style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON;

                        if (a->req) {
                                a->prompt_pending = a->prompt_pending || question;
                                request_conv_prompt(a->req, style, text);
                        } else if (question) {
                                /* Nobody to answer: the helper gets EOF and gives up. */
                                free(text);
                                conn_consume(&a->conn, &f);
                                a->io_src = sd_event_source_disable_unref(a->io_src);
                                a->conn.fd = safe_close(a->conn.fd);
                                return 0;
                        }
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

static int on_conv_exit_cb(sd_event_source *s, const siginfo_t *si, void *userdata) {
        AuthConv *a = userdata;

        a->child_src = sd_event_source_disable_unref(a->child_src);
        /* Whatever the helper wrote before exiting is still in the socket. */
        if (a->io_src)
                (void) on_conv_io_cb(a->io_src, a->conn.fd, EPOLLIN, a);
        /* Success needs both the OK frame and a clean exit. */
        if (!a->have_verdict || !(si->si_code == CLD_EXITED && si->si_status == 0))
                if (a->verdict == 0)
                        a->verdict = a->timed_out ? -ETIMEDOUT : -EIO;
        conv_finish(a);
        return 0;
}

static int on_conv_timeout_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        AuthConv *a = userdata;

        /* Killed, then reaped by on_conv_exit_cb like any other end. */
        a->timed_out = true;
        if (a->pid > 0)
                (void) kill(a->pid, SIGKILL);
        return 0;
}

static int conv_start(AuthCaller *c, Request *req) {
        _cleanup_close_pair_ int pair[2] = { -EBADF, -EBADF };
        Manager *m = c->manager;
        char *argv[] = { (char *) "dwell-auth", (char *) "authenticate", req->req.credential, req->user, NULL };
        AuthConv *a;
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->manager = m;
        a->caller = c;
        snprintf(a->user, sizeof a->user, "%s", req->req.credential);
        target_key(a->user, a->key, sizeof a->key);
        snprintf(a->caller_name, sizeof a->caller_name, "%s", req->user);
        a->caller_pid = req->pid;
        a->origin = req->origin ? strdup(req->origin) : NULL;
        conn_init(&a->conn, -EBADF, 64 * 1024, 64 * 1024);

        r = manager_spawn(m, "dwell-auth", argv, pair[1], false, &a->pid);
        if (r < 0) {
                conv_free(a);
                return r;
        }
        (void) fd_nonblock(pair[0], true);
        a->conn.fd = TAKE_FD(pair[0]);
        if ((r = sd_event_add_child(m->event, &a->child_src, a->pid, WEXITED, on_conv_exit_cb, a)) < 0) {
                (void) kill(a->pid, SIGKILL);
                (void) waitpid(a->pid, NULL, 0);
                a->pid = 0;
                conv_free(a);
                return r;
        }
        if ((r = sd_event_add_io(m->event, &a->io_src, a->conn.fd, EPOLLIN, on_conv_io_cb, a)) < 0 ||
            (r = sd_event_add_time_relative(m->event, &a->timer_src, CLOCK_MONOTONIC, m->daemon.auth_prompt_timeout,
                                            USEC_PER_SEC / 10, on_conv_timeout_cb, a)) < 0)
                /* It runs and is reaped; without its conversation it fails. */
                (void) kill(a->pid, SIGKILL);
        c->running = a;
        a->req = req;
        req->auth = a;
        return 0;
}

static int on_gate_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        AuthCaller *c = userdata;

        c->gate_src = sd_event_source_disable_unref(c->gate_src);
        caller_kick(c);
        return 0;
}

/* Starts the caller's oldest waiting request when its turn has come. */
static void caller_kick(AuthCaller *c) {
        Manager *m = c->manager;
        uint64_t now = now_usec(m), left;
        Request *next = NULL;
        char reason[128], key[64];
        int r;

        /* A quiet window forgets the caller's failures. */
        if (c->failures > 0 && now >= c->not_before + m->daemon.auth_lockout_window)
                c->failures = 0;
        for (;;) {
                if (c->running)
                        return;
                next = NULL;
                /* requests is newest first: the last match waited longest. */
                for (Request *q = m->requests; q; q = q->next)
                        if (q->uid == c->uid && q->state == REQUEST_AUTHENTICATING && !q->auth)
                                next = q;
                if (!next) {
                        if (c->failures == 0)
                                caller_free(c);
                        return;
                }
                if (now < c->not_before) {
                        if (!c->gate_src &&
                            sd_event_add_time(m->event, &c->gate_src, CLOCK_MONOTONIC, c->not_before,
                                              USEC_PER_SEC / 100, on_gate_cb, c) < 0)
                                c->gate_src = NULL;
                        return;
                }
                target_key(next->req.credential, key, sizeof key);
                left = lockout_left(m, c->uid, key);
                if (left > 0) {
                        snprintf(reason, sizeof reason, "too many failures, locked out for %llu more seconds",
                                 (unsigned long long) ((left + USEC_PER_SEC - 1) / USEC_PER_SEC));
                        auth_refuse(next, PROTO_ERR_AUTH_FAILED, reason);
                        continue;
                }
                r = conv_start(c, next);
                if (r < 0) {
                        log_error_errno(r, "Failed to start authentication for %s: %m", next->user);
                        auth_refuse(next, PROTO_ERR_UNAVAILABLE, "authentication could not be started");
                        continue;
                }
                return;
        }
}

int auth_enqueue(Manager *m, Request *req) {
        AuthCaller *c = caller_get(m, req->uid);

        if (!c)
                return -ENOMEM;
        caller_kick(c);
        return 0;
}

void auth_detach(AuthConv *a) {
        if (!a)
                return;
        if (a->req)
                a->req->auth = NULL;
        a->req = NULL;
        /* A question nobody will answer: the helper gets EOF and gives up.
         * An answer already given runs to its verdict. */
        if (a->prompt_pending) {
                a->io_src = sd_event_source_disable_unref(a->io_src);
                a->conn.fd = safe_close(a->conn.fd);
        }
}

int auth_reply(AuthConv *a, const char *answer) {
        int r;

        if (a->conn.fd < 0)
                return -ECONNRESET;
        r = proto_put_str_msg(&a->conn.out, PROTO_MSG_CONV_REPLY, answer);
        if (r < 0)
                return r;
        a->prompt_pending = false;
        a->answered = true;
        r = conn_flush(&a->conn);
        if (r == 0 && a->io_src)
                (void) sd_event_source_set_io_events(a->io_src, EPOLLIN | EPOLLOUT);
        return r < 0 ? r : 0;
}

void acct_free_all(Manager *m) {
        while (m->auth_callers)
                caller_free(m->auth_callers);
        while (m->auth_failures)
                failure_free(m, m->auth_failures);
        while (m->acct_checks)
                check_free(m->acct_checks);
        while (m->acct_cache) {
                AcctEntry *e = m->acct_cache;
                LIST_REMOVE(m->acct_cache, e);
                free(e);
        }
}
