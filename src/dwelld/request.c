/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acct.h"
#include "escape.h"
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
        if (r->state == REQUEST_AUTHENTICATING)
                auth_request_gone(r);
        LIST_REMOVE(r->manager->requests, r);
        if (r->uid != 0)
                r->manager->n_user_requests--;
        sd_event_source_disable_unref(r->io_src);
        sd_event_source_disable_unref(r->timer_src);
        conn_done(&r->conn);
        proto_request_done(&r->req);
        free(r->user);
        free(r->as_user);
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
        if (r->state == REQUEST_AUTHENTICATING) {
                /* A running attempt ends by its own timeout (acct.c). */
                if (!r->auth)
                        auth_refuse(r, PROTO_ERR_TIMEOUT, "timed out waiting for the caller's previous attempts");
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

/* The connections dwelld holds for uid, and how many of them carry a
 * request being processed (past REQUEST_READING). */
static void count_uid(Manager *m, uid_t uid, unsigned *ret_conns, unsigned *ret_pending) {
        unsigned n = 0, p = 0;

        for (Request *r = m->requests; r; r = r->next)
                if (r->uid == uid) {
                        n++;
                        if (r->state != REQUEST_READING)
                                p++;
                }
        *ret_conns = n;
        if (ret_pending)
                *ret_pending = p;
}

/* Refusals are logged at most every 10 s, with how many there were. */
static void log_refused(Manager *m, uid_t uid, const char *what) {
        uint64_t now = 0;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        m->refused++;
        if (m->refused_logged && now < m->refused_logged + 10 * USEC_PER_SEC)
                return;
        log_notice("Refused a connection of uid %u: %s (%u refusals since the last such message)", (unsigned) uid,
                   what, m->refused);
        m->refused = 0;
        m->refused_logged = now;
}

/* Over a cap: one error frame, sent if the socket takes it at once, and
 * the connection is closed; nothing is kept for it. */
static void refuse_connection(Manager *m, int fd, uid_t uid, const char *what) {
        uint8_t scratch[4096];
        Buf b;

        buf_init(&b, 4096);
        if (proto_put_error(&b, PROTO_ERR_LIMIT_EXCEEDED, what) >= 0)
                (void) send(fd, buf_ptr(&b), buf_len(&b), MSG_DONTWAIT | MSG_NOSIGNAL);
        buf_done(&b);
        (void) shutdown(fd, SHUT_WR);
        /* What the client already sent is read and dropped: closing a unix
         * socket with unread data resets the peer, which might then miss
         * the error.  Bounded: a request is small. */
        for (int i = 0; i < 16; i++)
                if (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
                        break;
        safe_close(fd);
        log_refused(m, uid, what);
}

int request_new(Manager *m, int fd) {
        const DaemonConfig *d = &m->daemon;
        UserRecord u = {};
        unsigned conns;
        char what[160];
        pid_t pid;
        uid_t uid;
        gid_t gid;
        Request *r;
        int k;

        k = peer_cred(fd, &pid, &uid, &gid);
        if (k < 0) {
                log_warning_errno(k, "Failed to identify a caller, dropping it: %m");
                safe_close(fd);
                return k;
        }
        /* Admission: root is never counted nor refused, so that other
         * users' load cannot keep it out. */
        if (uid != 0) {
                if (m->n_user_requests >= d->max_connections) {
                        snprintf(what, sizeof what, "dwelld serves at most %u connections of users at once (max_connections)",
                                 d->max_connections);
                        refuse_connection(m, fd, uid, what);
                        return -EDQUOT;
                }
                count_uid(m, uid, &conns, NULL);
                if (conns >= d->max_connections_per_user) {
                        snprintf(what, sizeof what, "dwelld serves at most %u connections per user at once "
                                 "(max_connections_per_user)", d->max_connections_per_user);
                        refuse_connection(m, fd, uid, what);
                        return -EDQUOT;
                }
        }

        r = calloc(1, sizeof *r);
        if (!r) {
                safe_close(fd);
                return -ENOMEM;
        }
        r->manager = m;
        r->pid = pid;
        r->uid = uid;
        r->gid = gid;
        conn_init(&r->conn, fd, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, REQUEST_MAX_OUT);
        LIST_PREPEND(m->requests, r);
        if (uid != 0)
                m->n_user_requests++;

        k = user_by_uid(r->uid, &u);
        if (k < 0) {
                log_notice("Refusing caller uid %u (pid %d): no such user", (unsigned) r->uid, (int) r->pid);
                request_free(r);
                return k;
        }
        r->user = TAKE_PTR(u.name);
        user_record_done(&u);
        r->as = (Caller) { .uid = r->uid, .gid = r->gid, .user = r->user };

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
        if (r->state != REQUEST_READING && r->state != REQUEST_AUTHENTICATING)
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

static void audit_denied(Request *r, const Session *s, const char *reason) {
        AuditFields f = AUDIT_FIELDS_INIT;

        if (s)
                session_audit_fields(s, &f);
        f.caller = r->as.user;
        f.caller_pid = r->pid;
        f.origin = r->origin ? r->origin : f.origin;
        f.reason = reason;
        audit_log(AUDIT_ACCESS_DENIED, LOG_NOTICE, &f, "Access denied to %s (pid %d): %s", r->as.user,
                  (int) r->pid, reason);
}

/* Naming a session one may not see gives the same answer as naming one
 * that does not exist; the attempt is audited all the same. */
static void reply_not_found(Request *r) {
        const Session *hidden = session_find_any(r->manager, r->req.session);

        if (hidden)
                audit_denied(r, hidden, "the session is not visible to the caller");
        request_reply_error(r, PROTO_ERR_NOT_FOUND, "no such session: %s", r->req.session);
}

/* The session r->req.session names among those the caller may act on (all
 * of them with all = true); NULL when it has replied not-found or, for a
 * name that several sessions of others have, ambiguous. */
static Session *lookup_session(Request *r, bool all) {
        _cleanup_free_ char *which = NULL;
        Session *s;
        int k;

        k = session_lookup(r->manager, &r->as, r->req.session, all, &s);
        if (k >= 0)
                return s;
        if (k != -ENOTUNIQ) {
                reply_not_found(r);
                return NULL;
        }
        which = session_ambiguity(r->manager, &r->as, r->req.session, all);
        if (which)
                request_reply_error(r, PROTO_ERR_AMBIGUOUS, "%s", which);
        else
                request_reply_error(r, PROTO_ERR_AMBIGUOUS, "'%s' matches several sessions; use the Id",
                                    r->req.session);
        return NULL;
}

static int on_frame(Request *r, Frame *f) {
        int k;

        /* The origin is only what the client says: it is recorded (audit
         * events, the session's origin, its transcript), never trusted.
         * What dwell-bridge sends is short printable ASCII; anything else
         * (too long, a control character, a byte above 0x7e) is a
         * malformed frame, not something to clean up and keep. */
        if (f->type == PROTO_MSG_ORIGIN && !r->origin && r->verb == 0) {
                k = proto_get_str_msg(&f->payload, PROTO_MAX_ORIGIN, &r->origin);
                if (k >= 0 && !printable_ascii(r->origin, PROTO_MAX_ORIGIN)) {
                        log_notice("ORIGIN from pid %d (uid %u) is not 1 to %u printable ASCII characters",
                                   (int) r->pid, (unsigned) r->uid, PROTO_MAX_ORIGIN);
                        return -EBADMSG;
                }
                return k;
        }
        if (f->type < PROTO_REQ_NEW || f->type >= _PROTO_REQ_LAST || r->verb != 0)
                return -EBADMSG;
        k = proto_get_request(&f->payload, &r->req);
        if (k < 0)
                return k;
        r->verb = f->type;
        return 1;
}

/* During --credential authentication the client answers PAM's prompts. */
static void on_conv_reply(Request *r) {
        _cleanup_erase_ char *answer = NULL;
        Frame f;
        int k;

        k = conn_fill(&r->conn);
        if (k == -EAGAIN)
                return;
        if (k <= 0) {
                request_free(r);
                return;
        }
        while ((k = conn_next(&r->conn, &f)) > 0) {
                if (f.type != PROTO_MSG_CONV_REPLY || !r->auth)
                        k = -EBADMSG;
                else
                        k = proto_get_str_msg(&f.payload, PROTO_MAX_TEXT, &answer);
                conn_consume(&r->conn, &f);
                if (k >= 0)
                        k = auth_reply(r->auth, answer);
                if (k < 0)
                        break;
        }
        if (k < 0) {
                log_notice_errno(k, "Bad answer to a PAM prompt from pid %d, closing: %m", (int) r->pid);
                request_free(r);
        }
}

void request_conv_prompt(Request *r, uint8_t style, const char *text) {
        (void) proto_put_conv_prompt(&r->conn.out, style, text);
        request_flush(r);
}

/* The request frame arrived: its processing may hold PAM helpers and wait
 * for sessions, so a caller may have only so many at once. */
static int request_received(Request *r) {
        const DaemonConfig *d = &r->manager->daemon;
        unsigned conns, pending;

        if (r->uid != 0) {
                count_uid(r->manager, r->uid, &conns, &pending);
                if (pending >= d->max_pending_per_user) {
                        log_refused(r->manager, r->uid, "too many pending requests (max_pending_per_user)");
                        request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED,
                                            "dwelld processes at most %u requests per user at once "
                                            "(max_pending_per_user)", d->max_pending_per_user);
                        return 0;
                }
        }
        r->state = REQUEST_AUTHORIZING;
        (void) sd_event_source_set_enabled(r->io_src, SD_EVENT_OFF);
        acct_check(r->manager, r);
        return 0;
}

static int on_io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Request *r = userdata;
        Frame f;
        int k;

        if (revents & EPOLLOUT) {
                request_flush(r);
                return 0;
        }
        if (r->state == REQUEST_AUTHENTICATING) {
                on_conv_reply(r);
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
                        return request_received(r);
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
                audit_denied(r, NULL, message ? message : "the PAM account check failed");
                request_reply_error(r, PROTO_ERR_PERMISSION_DENIED, "%s",
                                    message ? message : "the PAM account check failed");
                return;
        }
        if (!*strempty(r->req.credential)) {
                dispatch(r);
                return;
        }
        /* --credential USER: the caller proves it may act as USER.  The
         * attempt waits for the caller's earlier ones and their delays
         * (acct.c); the connection is watched meanwhile, so a client that
         * leaves is noticed (and audited). */
        r->state = REQUEST_AUTHENTICATING;
        (void) arm_timer(r, REQUEST_WAIT_TIMEOUT);
        (void) sd_event_source_set_enabled(r->io_src, SD_EVENT_ON);
        if (auth_enqueue(r->manager, r) < 0)
                auth_refuse(r, PROTO_ERR_UNAVAILABLE, "authentication could not be started");
}

/* The attempt's outcome (audited by acct.c).  Every failure gets the same
 * answer, whatever PAM's reason: an account PAM refuses must not tell a
 * right password from a wrong one. */
void request_authenticated(Request *r, int error) {
        UserRecord u = {};
        int k;

        r->timer_src = sd_event_source_disable_unref(r->timer_src);
        if (error == -ETIMEDOUT) {
                request_reply_error(r, PROTO_ERR_TIMEOUT, "authentication as %s failed: no answer in time",
                                    r->req.credential);
                return;
        }
        if (error < 0) {
                request_reply_error(r, PROTO_ERR_AUTH_FAILED, "authentication as %s failed", r->req.credential);
                return;
        }
        k = user_by_name(r->req.credential, &u);
        if (k < 0) {
                request_reply_error(r, PROTO_ERR_AUTH_FAILED, "authentication as %s failed", r->req.credential);
                return;
        }
        free(r->as_user);
        r->as_user = TAKE_PTR(u.name);
        r->as = (Caller) { .uid = u.uid, .gid = u.gid, .user = r->as_user };
        user_record_done(&u);
        r->state = REQUEST_AUTHORIZING;
        (void) sd_event_source_set_enabled(r->io_src, SD_EVENT_OFF);
        dispatch(r);
}

static void wait_on(Request *r, Session *s) {
        r->state = REQUEST_WAITING;
        r->session = s;
        (void) arm_timer(r, REQUEST_WAIT_TIMEOUT);
}

/* invoke -d: the configuration's allow_on_finish and on_finish.  An
 * explicit --on-finish where hooks are not allowed is refused; a default
 * one (the user's options.yaml) is dropped.  Without a hook, the
 * configuration's on_finish is the default. */
static int check_on_finish(Request *r, Session *s) {
        const SessionConfig *c;
        char why[256];

        if (r->verb != PROTO_REQ_INVOKE || !(r->req.flags & PROTO_REQ_F_DISCONNECTED))
                return 0;
        c = s->config ?: policy_find(r->manager, s->info.configuration);
        if (!c)
                return 0;
        if (*strempty(r->req.on_finish) && !c->allow_on_finish) {
                if (r->req.flags & PROTO_REQ_F_HOOK_DEFAULT) {
                        free(r->req.on_finish);
                        r->req.on_finish = NULL;
                        return 0;
                }
                if (c->commands)
                        snprintf(why, sizeof why, "configuration %s runs only its allowed programs: "
                                 "--on-finish hooks are not allowed", c->name);
                else
                        snprintf(why, sizeof why, "configuration %s does not allow --on-finish hooks "
                                 "(allow_on_finish: false)", c->name);
                audit_denied(r, s, why);
                request_reply_error(r, PROTO_ERR_PERMISSION_DENIED, "%s", why);
                return -EPERM;
        }
        if (!*strempty(r->req.on_finish) && c->on_finish) {
                free(r->req.on_finish);
                r->req.on_finish = strdup(c->on_finish);
                if (!r->req.on_finish) {
                        request_reply_error(r, PROTO_ERR_UNAVAILABLE, "out of memory");
                        return -ENOMEM;
                }
                r->req.flags |= PROTO_REQ_F_HOOK_DEFAULT;
        }
        return 0;
}

/* Passes the connection to the session's worker; the request is done. */
static void handoff(Request *r, Session *s) {
        struct proto_handoff h = {
                .verb = r->verb,
                .req = r->req,
                .caller = (char *) r->as.user,
                .caller_uid = r->as.uid,
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
        if (check_on_finish(r, s) < 0)
                return;
        h.req = r->req;         /* as check_on_finish() left it */
        k = session_handoff(s, TAKE_FD(r->conn.fd), &h);
        if (k < 0) {
                log_error_errno(k, "Failed to hand a client to session %u: %m", s->info.id);
                request_free(r);
                return;
        }
        request_free(r);
}

/* Idle timeout: the request's (command line or the user's options file,
 * which the client applies) or the configuration's; never above the
 * configuration's maximum. */
static int check_idle_timeout(Request *r, const SessionConfig *c) {
        char a[32], b[32];

        if (r->req.idle_timeout > c->max_idle_timeout) {
                request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED,
                                    "idle timeout %s exceeds the maximum idle timeout %s of configuration %s",
                                    format_duration(a, sizeof a, r->req.idle_timeout),
                                    format_duration(b, sizeof b, c->max_idle_timeout), c->name);
                return -ERANGE;
        }
        return 0;
}

/* The configuration a new session of this request uses, if the caller may. */
static SessionConfig *select_config(Request *r) {
        SessionConfig *c = policy_find(r->manager, r->req.config);

        if (!c) {
                request_reply_error(r, PROTO_ERR_NOT_FOUND, "no such configuration: %s", r->req.config);
                return NULL;
        }
        if (!policy_may_use(c, &r->as)) {
                AuditFields f = AUDIT_FIELDS_INIT;
                char reason[256];

                snprintf(reason, sizeof reason, "may not use configuration %s", c->name);
                f.caller = r->as.user;
                f.caller_pid = r->pid;
                f.configuration = c->name;
                f.origin = r->origin;
                f.reason = reason;
                audit_log(AUDIT_ACCESS_DENIED, LOG_NOTICE, &f, "Access denied to %s (pid %d): %s", r->as.user,
                          (int) r->pid, reason);
                request_reply_error(r, PROTO_ERR_PERMISSION_DENIED, "%s may not use configuration %s",
                                    r->as.user, c->name);
                return NULL;
        }
        return c;
}

static int check_limits(Request *r, const SessionConfig *c) {
        const DaemonConfig *d = &r->manager->daemon;
        SessionCounts n = {};

        if (c->max_sessions || c->max_sessions_per_user || d->max_sessions_per_user)
                session_count(r->manager, c->name, r->as.uid, &n);
        if (c->max_sessions && n.config >= c->max_sessions)
                request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED,
                                    "configuration %s allows at most %u sessions", c->name, c->max_sessions);
        else if (c->max_sessions_per_user && n.config_owner >= c->max_sessions_per_user)
                request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED, "configuration %s allows at most %u sessions per user",
                                    c->name, c->max_sessions_per_user);
        else if (d->max_sessions && r->manager->n_sessions >= d->max_sessions)
                request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED, "dwelld allows at most %u sessions", d->max_sessions);
        else if (d->max_sessions_per_user && n.owner >= d->max_sessions_per_user)
                request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED, "dwelld allows at most %u sessions per user",
                                    d->max_sessions_per_user);
        else
                return 0;
        return -EDQUOT;
}

/* A terminal session (new -t, connect -t): only where the configuration allows them. */
static int check_terminal(Request *r, const SessionConfig *c) {
        char why[256];

        if (!(r->req.flags & PROTO_REQ_F_TERMINAL) || config_terminal_allowed(c))
                return 0;
        if (c->commands)
                snprintf(why, sizeof why, "configuration %s runs only its allowed programs: terminal sessions "
                         "are not allowed", c->name);
        else
                snprintf(why, sizeof why, "configuration %s does not allow terminal sessions (terminal: deny)",
                         c->name);
        audit_denied(r, NULL, why);
        request_reply_error(r, PROTO_ERR_PERMISSION_DENIED, "%s", why);
        return -EPERM;
}

static int create(Request *r, const char *name, bool temporary, Session **ret) {
        _cleanup_(user_record_done) UserRecord owner = {}, runas = {};
        SessionConfig *c;
        SessionParams p;
        int k;

        c = select_config(r);
        if (!c || check_idle_timeout(r, c) < 0 || check_limits(r, c) < 0 || check_terminal(r, c) < 0)
                return -EPERM;
        if (name && *name && !session_name_valid(name)) {
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "invalid session name: %s", name);
                return -EINVAL;
        }
        /* Names are unique per owner: others' sessions of that name, even
         * ones shared with the caller, do not count. */
        if (name && *name && session_find_own(r->manager, r->as.uid, name)) {
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "a session named %s already exists", name);
                return -EEXIST;
        }
        k = user_by_uid(r->as.uid, &owner);
        if (k >= 0 && c->run_as)
                k = user_by_name(c->run_as, &runas);
        if (k < 0) {
                request_reply_error(r, PROTO_ERR_CONFIG_ERROR, "the user %s of configuration %s does not exist",
                                    c->run_as ? c->run_as : r->as.user, c->name);
                return k;
        }
        p = (SessionParams) {
                .name = name && *name ? name : NULL,
                .config = c,
                .owner = &owner,
                .identity = c->run_as ? &runas : &owner,
                .idle_timeout = r->req.idle_timeout ?: c->idle_timeout,
                .buffering = r->req.buffering ?: c->output_buffering,
                .temporary = temporary,
                .origin = r->origin,
                .terminal = r->req.flags & PROTO_REQ_F_TERMINAL,
                .term = r->req.term,
                .rows = r->req.rows,
                .cols = r->req.cols,
        };
        k = session_create(r->manager, &p, ret);
        if (k < 0)
                request_reply_error(r, PROTO_ERR_UNAVAILABLE, "could not start the session: %s", strerror(-k));
        return k;
}

static void do_new(Request *r) {
        Session *s;

        if (create(r, r->req.name, false, &s) < 0)
                return;
        wait_on(r, s);
}

static void do_list(Request *r) {
        bool all = r->req.flags & PROTO_REQ_F_ALL_USERS;
        uint32_t n = 0;

        if (all && !policy_is_admin(r->manager, &r->as)) {
                audit_denied(r, NULL, "list --all-users by a non-administrator");
                request_reply_error(r, PROTO_ERR_PERMISSION_DENIED,
                                    "only root and members of the administrator groups may list all sessions");
                return;
        }
        if (all) {
                AuditFields f = AUDIT_FIELDS_INIT;

                f.caller = r->as.user;
                f.caller_pid = r->pid;
                f.origin = r->origin;
                audit_log(AUDIT_ADMIN_LIST, LOG_NOTICE, &f, "%s (pid %d) lists the sessions of all users",
                          r->as.user, (int) r->pid);
        }
        for (Session *s = r->manager->sessions; s; s = s->next) {
                struct proto_session v;

                /* The set session_lookup() resolves names in. */
                if (!session_listed(s) || (!all && !session_visible(s, &r->as)))
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
                s = lookup_session(r, false);
                if (!s)
                        return;
        } else if (disconnected && *strempty(r->req.name))
                /* -d -n NAME: the caller's own session NAME, or a new one. */
                s = session_find_own(r->manager, r->as.uid, r->req.name);
        if (!s && create(r, r->req.name, !disconnected, &s) < 0)
                return;
        handoff(r, s);
}

/* root and administrators may remove any session: a name resolves among
 * every session (what their `list --all-users` shows), their own first;
 * one that several other owners' sessions have is ambiguous. */
static void do_remove(Request *r) {
        bool admin = policy_is_admin(r->manager, &r->as);
        Session *s = lookup_session(r, admin);

        if (!s)
                return;
        if (admin && !session_visible(s, &r->as))
                /* session_remove() audits the removal with the caller. */
                log_notice("Administrator %s (pid %d) removes session %u (%s) of %s", r->as.user,
                           (int) r->pid, s->info.id, s->info.name, s->info.owner);
        if (session_remove(s, r->as.user) == 0)
                reply_ok(r);            /* was broken: gone at once */
        else
                wait_on(r, s);
}

/* watch: the owner and whoever may reconnect to the session, root and
 * administrators, and the observers of the session's configuration.  A
 * session the caller may not watch is not found (and the attempt is
 * audited, reply_not_found()). */
static void do_watch(Request *r) {
        bool admin = policy_is_admin(r->manager, &r->as);
        _cleanup_free_ char *which = NULL;
        Session *s;
        int k;

        k = session_lookup_watch(r->manager, &r->as, r->req.session, admin, &s);
        if (k == -ENOTUNIQ) {
                which = session_ambiguity_watch(r->manager, &r->as, r->req.session, admin);
                request_reply_error(r, PROTO_ERR_AMBIGUOUS, "%s", which ? which : "the name matches several "
                                    "sessions; use the Id");
                return;
        }
        if (k < 0) {
                reply_not_found(r);
                return;
        }
        handoff(r, s);
}

/* connect -t NAME: the caller's own session NAME, or a new terminal
 * session of that name (as tmux new -A). */
static void do_connect_terminal(Request *r) {
        Session *s = session_find_own(r->manager, r->as.uid, r->req.session);

        if (!s) {
                if (create(r, r->req.session, false, &s) < 0)
                        return;
                wait_on(r, s);          /* handed to the worker once it is ready */
                return;
        }
        handoff(r, s);
}

static void do_session_verb(Request *r) {
        Session *s;

        if (r->verb == PROTO_REQ_CONNECT && (r->req.flags & PROTO_REQ_F_TERMINAL)) {
                do_connect_terminal(r);
                return;
        }
        s = lookup_session(r, false);
        if (!s)
                return;
        if (r->verb == PROTO_REQ_DISCONNECT && r->req.idle_timeout > 0) {
                /* The session keeps the maximum of the configuration it was created with. */
                uint64_t max = s->max_idle_timeout;
                char a[32], b[32];

                if (r->req.idle_timeout > max) {
                        request_reply_error(r, PROTO_ERR_LIMIT_EXCEEDED,
                                            "idle timeout %s exceeds the maximum idle timeout %s of configuration %s",
                                            format_duration(a, sizeof a, r->req.idle_timeout),
                                            format_duration(b, sizeof b, max), s->info.configuration);
                        return;
                }
        }
        handoff(r, s);
}

static int config_kv(const SessionConfig *c, bool with_yaml, struct proto_kv *kv) {
        char v[32];
        int k = 0;

        k = k < 0 ? k : proto_kv_add(kv, "name", c->name);
        k = k < 0 ? k : proto_kv_add(kv, "description", strempty(c->description));
        k = k < 0 ? k : proto_kv_add(kv, "run_as", strempty(c->run_as));
        snprintf(v, sizeof v, "%llu", (unsigned long long) (c->idle_timeout / USEC_PER_SEC));
        k = k < 0 ? k : proto_kv_add(kv, "idle_timeout", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long) (c->max_idle_timeout / USEC_PER_SEC));
        k = k < 0 ? k : proto_kv_add(kv, "max_idle_timeout", v);
        k = k < 0 ? k : proto_kv_add(kv, "output_buffering", buffering_to_string(c->output_buffering));
        snprintf(v, sizeof v, "%llu", (unsigned long long) c->output_buffer_size);
        k = k < 0 ? k : proto_kv_add(kv, "output_buffer_size", v);
        k = k < 0 ? k : proto_kv_add(kv, "share_with_access", c->share_with_access ? "true" : "false");
        k = k < 0 ? k : proto_kv_add(kv, "restricted", c->commands ? "true" : "false");
        k = k < 0 ? k : proto_kv_add(kv, "terminal", config_terminal_allowed(c) ? "true" : "false");
        if (k >= 0 && with_yaml) {
                _cleanup_free_ char *text = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&text, &size);

                if (!f)
                        return -ENOMEM;
                k = config_session_format(c, f);
                if (fclose(f) != 0 && k >= 0)
                        k = -EIO;
                if (k >= 0)
                        k = proto_kv_add(kv, "yaml", text);
        }
        return k;
}

/* config list / config show: only the configurations the caller may use;
 * the others are "not found", as if they did not exist. */
static void do_config(Request *r) {
        Manager *m = r->manager;
        uint32_t n = 0;

        for (size_t i = 0; i < m->n_configs; i++) {
                SessionConfig *c = m->configs[i];
                struct proto_kv kv = {};

                if (!policy_may_use(c, &r->as))
                        continue;
                if (r->verb == PROTO_REQ_CONFIG_SHOW && !streq(c->name, strempty(r->req.config)))
                        continue;
                if (config_kv(c, r->verb == PROTO_REQ_CONFIG_SHOW, &kv) >= 0)
                        (void) proto_put_kv(&r->conn.out, PROTO_MSG_KV, &kv);
                proto_kv_done(&kv);
                n++;
        }
        if (r->verb == PROTO_REQ_CONFIG_SHOW && n == 0) {
                request_reply_error(r, PROTO_ERR_NOT_FOUND, "no such configuration: %s", strempty(r->req.config));
                return;
        }
        (void) proto_put_u32_msg(&r->conn.out, PROTO_MSG_END, n);
        request_finish(r);
}

static void dispatch(Request *r) {
        log_debug("%s (pid %d, as %s) requests %s", r->user, (int) r->pid, r->as.user,
                  proto_msg_to_string(r->verb));
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
                do_remove(r);
                break;
        case PROTO_REQ_DISCONNECT:
        case PROTO_REQ_STOP:
        case PROTO_REQ_CONNECT:
        case PROTO_REQ_RECEIVE:
        case PROTO_REQ_WAIT:
                do_session_verb(r);
                break;
        case PROTO_REQ_WATCH:
                do_watch(r);
                break;
        case PROTO_REQ_CONFIG_LIST:
        case PROTO_REQ_CONFIG_SHOW:
                do_config(r);
                break;
        default:
                request_reply_error(r, PROTO_ERR_INVALID_ARGUMENT, "%s is not supported by this dwelld",
                                    proto_msg_to_string(r->verb));
                break;
        }
}

/* reply_session() and handoff() may free r: nothing reads it after them. */
void request_session_ready(Request *r) {
        Session *s = r->session;

        r->timer_src = sd_event_source_disable_unref(r->timer_src);
        if (r->verb == PROTO_REQ_REMOVE)
                return;         /* keeps waiting (on r->session) for the end */
        r->session = NULL;
        if (r->verb == PROTO_REQ_NEW)
                reply_session(r, s, true);
        else
                handoff(r, s);
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
