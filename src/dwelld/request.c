/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "log.h"
#include "parse-util.h"
#include "request.h"
#include "session.h"
#include "user-util.h"

/* A caller must send its request within this time (stalled connections
 * are dropped); waiting for a session host to start is bounded too. */
#define REQUEST_READ_TIMEOUT (10 * USEC_PER_SEC)
#define REQUEST_WAIT_TIMEOUT (60 * USEC_PER_SEC)
#define REQUEST_MAX_OUT (64u * 1024 * 1024)

static int on_io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static void dispatch(Request *r);

Request *request_free(Request *r) {
        if (!r)
                return NULL;
        LIST_REMOVE(r->manager->requests, r);
        sd_event_source_disable_unref(r->io_src);
        sd_event_source_disable_unref(r->timer_src);
        conn_done(&r->conn);
        proto_request_done(&r->req);
        free(r->user);
        free(r->origin);
        free(r);
        return NULL;
}

static int on_timeout_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Request *r = userdata;

        if (r->state == REQUEST_WAITING) {
                request_reply_error(r, PROTO_ERR_TIMEOUT, "the session did not become ready in time");
                return 0;
        }
        log_debug("Dropping stalled connection from pid %d", (int) r->pid);
        request_free(r);
        return 0;
}

static int arm_timer(Request *r, uint64_t usec) {
        r->timer_src = sd_event_source_disable_unref(r->timer_src);
        return sd_event_add_time_relative(r->manager->event, &r->timer_src, CLOCK_MONOTONIC,
                                          usec, USEC_PER_SEC / 10, on_timeout_cb, r);
}

int request_new(Manager *m, int fd) {
        UserRecord u = {};
        Request *r;
        int k;

        r = calloc(1, sizeof *r);
        if (!r) {
                safe_close(fd);
                return -ENOMEM;
        }
        r->manager = m;
        conn_init(&r->conn, fd, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, REQUEST_MAX_OUT);
        LIST_PREPEND(m->requests, r);

        k = peer_cred(fd, &r->pid, &r->uid, &r->gid);
        if (k < 0) {
                log_warning_errno(k, "Failed to identify a caller, dropping it: %m");
                request_free(r);
                return k;
        }
        k = user_by_uid(r->uid, &u);
        if (k < 0) {
                log_notice("Refusing caller uid %u (pid %d): no such user", (unsigned) r->uid, (int) r->pid);
                request_free(r);
                return k;
        }
        r->user = TAKE_PTR(u.name);
        user_record_done(&u);

        k = sd_event_add_io(m->event, &r->io_src, fd, EPOLLIN, on_io_cb, r);
        if (k >= 0)
                k = arm_timer(r, REQUEST_READ_TIMEOUT);
        if (k < 0) {
                request_free(r);
                return k;
        }
        return 0;
}

/* Writes what is queued; frees the request when an answer is complete. */
static void request_flush(Request *r) {
        int k = conn_flush(&r->conn);

        if (k < 0 || (k > 0 && r->state == REQUEST_REPLYING)) {
                request_free(r);
                return;
        }
        (void) sd_event_source_set_io_events(r->io_src, k == 0 ? EPOLLOUT : EPOLLIN);
        if (r->state != REQUEST_READING)
                (void) sd_event_source_set_enabled(r->io_src, k == 0 ? SD_EVENT_ON : SD_EVENT_OFF);
}

static void request_finish(Request *r) {
        r->state = REQUEST_REPLYING;
        r->session = NULL;
        r->timer_src = sd_event_source_disable_unref(r->timer_src);
        (void) arm_timer(r, REQUEST_READ_TIMEOUT);      /* a client that never reads */
        request_flush(r);
}

void request_reply_error(Request *r, uint16_t code, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        (void) proto_put_error(&r->conn.out, code, msg);
        request_finish(r);
}

static void reply_ok(Request *r) {
        (void) proto_put_empty(&r->conn.out, PROTO_MSG_OK);
        request_finish(r);
}

static void reply_session(Request *r, Session *s, bool held) {
        struct proto_session v;

        session_view(s, held, &v);
        (void) proto_put_session(&r->conn.out, PROTO_MSG_SESSION, &v);
        proto_session_done(&v);
        request_finish(r);
}

static void reply_not_found(Request *r) {
        request_reply_error(r, PROTO_ERR_NOT_FOUND, "no such session: %s", r->req.session);
}

static int on_frame(Request *r, Frame *f) {
        int k;

        if (f->type == PROTO_MSG_ORIGIN && !r->origin && r->verb == 0)
                return proto_get_str_msg(&f->payload, PROTO_MAX_TEXT, &r->origin);
        if (f->type < PROTO_REQ_NEW || f->type >= _PROTO_REQ_LAST || r->verb != 0)
                return -EBADMSG;
        k = proto_get_request(&f->payload, &r->req);
        if (k < 0)
                return k;
        r->verb = f->type;
        return 1;
}

static int on_io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Request *r = userdata;
        Frame f;
        int k;

        if (revents & EPOLLOUT) {
                request_flush(r);
                return 0;
        }
        if (r->state != REQUEST_READING) {
                /* Nothing may arrive before the answer; EOF means the caller left. */
                request_free(r);
                return 0;
        }
        k = conn_fill(&r->conn);
        if (k == -EAGAIN)
                return 0;
        if (k <= 0) {
                request_free(r);
                return 0;
        }
        while ((k = conn_next(&r->conn, &f)) > 0) {
                k = on_frame(r, &f);
                conn_consume(&r->conn, &f);
                if (k < 0)
                        break;
                if (k > 0) {
                        if (buf_len(&r->conn.in) > 0) {
                                k = -EBADMSG;   /* sent more than one request */
                                break;
                        }
                        r->state = REQUEST_AUTHORIZING;
                        (void) sd_event_source_set_enabled(r->io_src, SD_EVENT_OFF);
                        acct_check(r->manager, r);
                        return 0;
                }
        }
        if (k < 0) {
                log_notice_errno(k, "Malformed request from pid %d (uid %u), closing its connection: %m",
                                 (int) r->pid, (unsigned) r->uid);
                request_free(r);
        }
        return 0;
}

void request_authorized(Request *r, int error, const char *message) {
        if (error < 0) {
                log_notice("Refusing %s (pid %d): %s", r->user, (int) r->pid,
                           message ? message : "PAM account check failed");
                request_reply_error(r, PROTO_ERR_PERMISSION_DENIED, "%s",
                                    message ? message : "the PAM account check failed");
                return;
        }
        dispatch(r);
}

static void wait_on(Request *r, Session *s) {
        r->state = REQUEST_WAITING;
        r->session = s;
        (void) arm_timer(r, REQUEST_WAIT_TIMEOUT);
}

/* Passes the connection to the session's worker; the request is done. */
static void handoff(Request *r, Session *s) {
        struct proto_handoff h = {
                .verb = r->verb,
                .req = r->req,
                .caller = r->user,
                .caller_uid = r->uid,
                .caller_pid = (uint32_t) r->pid,
                .origin = r->origin,
        };
        int k;

        if (s->phase == PHASE_BROKEN) {
                request_reply_error(r, PROTO_ERR_UNAVAILABLE, "session %s is broken: %s",
                                    s->info.name, s->broken_reason ? s->broken_reason : "its host died");
                return;
        }
        if (s->phase == PHASE_STARTING) {
                wait_on(r, s);
                return;
        }
        if (s->phase != PHASE_READY) {
                reply_not_found(r);
                return;
        }
        k = session_handoff(s, TAKE_FD(r->conn.fd), &h);
        if (k < 0) {
                log_error_errno(k, "Failed to hand a client to session %u: %m", s->info.id);
                request_free(r);
                return;
        }
        request_free(r);
}

static int check_idle_timeout(Request *r) {
        Manager *m = r->manager;
        char a[32], b[32];

        if (r->req.idle_timeout > m->max_idle_timeout) {
                request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED,
                                    "idle timeout %s exceeds the maximum idle timeout %s",
                                    format_duration(a, sizeof a, r->req.idle_timeout),
                                    format_duration(b, sizeof b, m->max_idle_timeout));
                return -ERANGE;
        }
        return 0;
}

static int create(Request *r, const char *name, bool temporary, Session **ret) {
        SessionParams p = {
                .name = name && *name ? name : NULL,
                .idle_timeout = r->req.idle_timeout ?: r->manager->default_idle_timeout,
                .buffering = r->req.buffering ?: BUFFERING_BLOCK,
                .temporary = temporary,
                .origin = r->origin,
        };
        int k;

        if (*strempty(r->req.config) && !streq(r->req.config, "default")) {
                request_reply_error(r, PROTO_ERR_NOT_FOUND, "no such configuration: %s", r->req.config);
                return -ENOENT;
        }
        if (p.name && !session_name_valid(p.name)) {
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "invalid session name: %s", p.name);
                return -EINVAL;
        }
        if (p.name && session_find(r->manager, r->uid, p.name)) {
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "a session named %s already exists", p.name);
                return -EEXIST;
        }
        k = session_create(r->manager, r, &p, ret);
        if (k < 0)
                request_reply_error(r, PROTO_ERR_UNAVAILABLE, "could not start the session: %s", strerror(-k));
        return k;
}

static void do_new(Request *r) {
        Session *s;

        if (check_idle_timeout(r) < 0 || create(r, r->req.name, false, &s) < 0)
                return;
        wait_on(r, s);
}

static void do_list(Request *r) {
        uint32_t n = 0;

        for (Session *s = r->manager->sessions; s; s = s->next) {
                struct proto_session v;

                if (!session_visible(s, r->uid) && !((r->req.flags & PROTO_REQ_F_ALL_USERS) && r->uid == 0))
                        continue;
                if (s->info.state == SESSION_CLOSED)
                        continue;
                session_view(s, false, &v);
                (void) proto_put_session(&r->conn.out, PROTO_MSG_SESSION, &v);
                proto_session_done(&v);
                n++;
        }
        (void) proto_put_u32_msg(&r->conn.out, PROTO_MSG_END, n);
        request_finish(r);
}

static void do_invoke(Request *r) {
        Session *s = NULL;
        bool disconnected = r->req.flags & PROTO_REQ_F_DISCONNECTED;

        if (!*strempty(r->req.command)) {
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "no command given");
                return;
        }
        if (*r->req.session) {
                s = session_find(r->manager, r->uid, r->req.session);
                if (!s) {
                        reply_not_found(r);
                        return;
                }
        } else if (disconnected && *strempty(r->req.name))
                s = session_find(r->manager, r->uid, r->req.name);
        if (!s) {
                if (check_idle_timeout(r) < 0 || create(r, r->req.name, !disconnected, &s) < 0)
                        return;
        }
        handoff(r, s);
}

static void do_session_verb(Request *r) {
        Session *s = session_find(r->manager, r->uid, r->req.session);

        if (!s) {
                reply_not_found(r);
                return;
        }
        switch (r->verb) {
        case PROTO_REQ_REMOVE:
                if (session_remove(s, r->user) == 0)
                        reply_ok(r);            /* was broken: gone at once */
                else
                        wait_on(r, s);
                return;
        case PROTO_REQ_DISCONNECT:
                if (check_idle_timeout(r) < 0)
                        return;
                break;
        default:
                break;
        }
        handoff(r, s);
}

static void dispatch(Request *r) {
        log_debug("%s (pid %d) requests %s", r->user, (int) r->pid, proto_msg_to_string(r->verb));
        switch (r->verb) {
        case PROTO_REQ_NEW:
                do_new(r);
                break;
        case PROTO_REQ_LIST:
                do_list(r);
                break;
        case PROTO_REQ_INVOKE:
                do_invoke(r);
                break;
        case PROTO_REQ_REMOVE:
        case PROTO_REQ_DISCONNECT:
        case PROTO_REQ_CONNECT:
        case PROTO_REQ_RECEIVE:
                do_session_verb(r);
                break;
        default:
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "%s is not supported by this dwelld",
                                    proto_msg_to_string(r->verb));
                break;
        }
}

void request_session_ready(Request *r) {
        Session *s = r->session;

        r->timer_src = sd_event_source_disable_unref(r->timer_src);
        r->session = NULL;
        if (r->verb == PROTO_REQ_NEW)
                reply_session(r, s, true);
        else if (r->verb == PROTO_REQ_REMOVE)
                ;       /* keeps waiting for the end */
        else
                handoff(r, s);
        if (r->verb == PROTO_REQ_REMOVE)
                r->session = s;
}

void request_session_failed(Request *r, uint16_t code, const char *message) {
        request_reply_error(r, code, "%s", message);
}

void request_session_ended(Request *r) {
        if (r->verb == PROTO_REQ_REMOVE)
                reply_ok(r);
        else
                request_reply_error(r, PROTO_ERR_UNAVAILABLE, "the session ended");
}
