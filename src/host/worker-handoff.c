/* SPDX-License-Identifier: ISC */
/*
 * A client handed over by dwelld (PROTO_MSG_HANDOFF, doc/protocol.md): what
 * each verb asks of the session -- invoke (synchronous, -d, a reattach),
 * connect, receive, disconnect, wait, stop, a terminal session's connect
 * and watch -- checked, answered or attached.  The connection's life after
 * that (its frames, the records pumped to it, its end) is worker-client.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outbuf.h"
#include "parse-util.h"
#include "worker-internal.h"

#define INVOKE_WAIT_LIMIT (240 * USEC_PER_SEC)  /* a synchronous invoke waits this long for a busy shell */
#define WAITERS_MAX 32u                         /* `dwell wait` clients of one session at a time */
#define WATCHERS_MAX 16u                        /* `dwell watch` clients of one session at a time */

static int on_invoke_wait_cb(EvSource *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        Worker *w = c->w;

        /* Its command never started: take it out of the queue. */
        for (Command **p = &w->queue; *p; p = &(*p)->next)
                if ((*p)->id == c->invoke_cmd) {
                        Command *dead = *p;
                        *p = dead->next;
                        worker_command_free(dead);
                        break;
                }
        w->queue_tail = NULL;
        for (Command *q = w->queue; q; q = q->next)
                w->queue_tail = q;
        client_abandon(c, PROTO_ERR_TIMEOUT, "the command running in the session did not finish within 4 minutes");
        return 0;
}

/* Answers a handed-off client OK at once and closes it (an error:
 * client_refuse()). */
static void reply_ok(Client *c) {
        (void) proto_put_empty(&c->conn.out, PROTO_MSG_OK);
        c->closing = true;
        client_flush(c);
}

static void attach(Worker *w, Client *c, uint32_t filter) {
        struct proto_session s;

        w->client = c;
        c->last_rx = worker_now(w);
        worker_idle_stop(w);
        {
                char pb[24];

                worker_event(w, AUDIT_SESSION_CONNECTED, "caller", c->caller, "caller_pid", worker_num(pb, c->caller_pid),
                          "origin", c->origin, NULL);
        }
        outbuf_rewind(&w->out, filter);
        worker_session_info(w, &s, SESSION_OPENED);
        s.availability = AVAILABILITY_AVAILABLE;
        (void) proto_put_attached(&c->conn.out, w->p->heartbeat_ms, &s);
        free(s.holder);
        client_start_heartbeats(c);
}

void client_refuse(Client *c, uint16_t code, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        (void) proto_put_error(&c->conn.out, code, msg);
        c->closing = true;
        client_flush(c);
}

static void apply_options(Worker *w, const struct proto_request *req, bool idle_allowed) {
        if (req->buffering != BUFFERING_UNSET)
                w->out.mode = req->buffering;
        if (idle_allowed && req->idle_timeout > 0)
                w->idle_timeout = req->idle_timeout;
        if (w->paused && (w->out.mode == BUFFERING_DROP || outbuf_room(&w->out) > 0))
                worker_set_reading(w, true);
}

/* The shell is gone: nothing can run in the session any more.  invoke and
 * connect are refused alike; receive still hands out the last output. */
static bool refuse_broken(Worker *w, Client *c) {
        if (!w->shell_dead)
                return false;
        client_refuse(c, PROTO_ERR_UNAVAILABLE, "session %s is broken (%s); remove it", w->p->name,
                   w->broken_reason);
        return true;
}

/* Tells a client that reconnects by itself which command it invoked and
 * how much of its stdin the worker has, so that after a reattachment it
 * sends again exactly what did not arrive. */
static void send_invoked(Worker *w, Client *c) {
        bool mine = w->stdin_cmd != 0 && w->stdin_cmd == c->invoke_cmd;
        struct proto_invoked i = {
                .cmd_id = c->invoke_cmd,
                .stdin_written = mine ? w->stdin_received - MIN(buf_len(&w->stdin_buf), w->stdin_received) : 0,
                .stdin_received = mine ? w->stdin_received : 0,
                .stdin_open = mine && !w->stdin_eof,
        };

        if (c->reconnects)
                (void) proto_put_invoked(&c->conn.out, &i);
}

static bool command_queued(Worker *w, uint32_t id) {
        for (Command *q = w->queue; q; q = q->next)
                if (q->id == id)
                        return true;
        return false;
}

/* invoke with PROTO_REQ_F_REATTACH: the client of the last synchronous
 * invoke, lost, comes back (the request's command is the command's Id).
 * It sees that command's records from the first it has not acknowledged,
 * and its stdin goes on from what the worker has taken (INVOKED). */
static void handoff_reattach(Worker *w, Client *c, const struct proto_handoff *h) {
        bool running, queued, open;
        uint32_t id;

        if (parse_uint32(strempty(h->req.command), &id) < 0 || id == 0 || id != w->lost_invoke_cmd) {
                client_refuse(c, PROTO_ERR_NOT_FOUND, "session %s has no invoked command %s to reattach to",
                           w->p->name, strempty(h->req.command));
                return;
        }
        running = w->running && w->running->id == id;
        queued = command_queued(w, id);
        if (!running && !queued && !outbuf_has(&w->out, id)) {
                client_refuse(c, PROTO_ERR_NOT_FOUND, "command %u of session %s has ended and its output was received",
                           id, w->p->name);
                return;
        }
        w->lost_invoke_cmd = 0;
        c->invoke_cmd = id;
        c->reconnects = true;
        if (w->lost_temp_cmd == id) {
                /* A temporary session kept for its lost client: temporary again. */
                w->temporary = true;
                w->temp_cmd = id;
                w->lost_temp_cmd = 0;
                if (!running && !queued)
                        w->state = SESSION_CLOSED;
        }
        attach(w, c, id);
        send_invoked(w, c);
        worker_stdin_hold_end(w, false);
        open = w->stdin_cmd == id && !w->stdin_eof;
        if (open) {
                c->stdin_credit = PROTO_STDIN_WINDOW - (uint32_t) MIN(buf_len(&w->stdin_buf), (size_t) PROTO_STDIN_WINDOW);
                if (c->stdin_credit > 0)
                        (void) proto_put_u32_msg(&c->conn.out, PROTO_MSG_STDIN_WINDOW, c->stdin_credit);
        } else
                c->stdin_eof = true;
        if (queued)
                (void) evloop_add_time_relative(w->event, &c->wait_src, INVOKE_WAIT_LIMIT, on_invoke_wait_cb, c);
        worker_send_status(w);
        worker_pump(w);
}

static void handoff_invoke(Worker *w, Client *c, const struct proto_handoff *h) {
        bool hook = !!*strempty(h->req.on_finish);
        uint32_t id;

        if (h->req.flags & PROTO_REQ_F_REATTACH) {
                if (h->req.flags & PROTO_REQ_F_DISCONNECTED)
                        client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "a reattachment cannot be disconnected");
                else
                        handoff_reattach(w, c, h);
                return;
        }
        if (refuse_broken(w, c))
                return;
        if (w->p->terminal) {
                /* Typed at the prompt, if the shell waits there (worker-marks.c). */
                if (worker_marks_invoke(w, c, h))
                        return;
                apply_options(w, &h->req, false);
                c->invoke_cmd = w->next_cmd + 1;
                attach(w, c, c->invoke_cmd);
                worker_marks_invoke_start(w, c, h->req.command);
                worker_send_status(w);
                worker_pump(w);
                return;
        }
        if (hook && !(h->req.flags & PROTO_REQ_F_DISCONNECTED)) {
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "--on-finish applies only to invoke -d");
                return;
        }
        /* A hook is a shell command line: a restricted session runs none
         * (a default one, from the user's options file, is just dropped). */
        if (hook && w->p->commands && (h->req.flags & PROTO_REQ_F_HOOK_DEFAULT))
                hook = false;
        if (hook && w->p->commands) {
                client_refuse(c, PROTO_ERR_PERMISSION_DENIED,
                           "configuration %s runs only its allowed programs: --on-finish hooks are not allowed",
                           w->p->configuration);
                return;
        }
        if (h->req.flags & PROTO_REQ_F_DISCONNECTED) {
                struct proto_session s;

                if (worker_busy(w)) {
                        client_refuse(c, PROTO_ERR_BUSY, "a command is already running in session %s", w->p->name);
                        return;
                }
                apply_options(w, &h->req, true);
                id = worker_queue_command(w, h->req.command, h->caller, hook ? h->req.on_finish : NULL);
                w->temporary = false;
                worker_session_info(w, &s, SESSION_DISCONNECTED);
                (void) proto_put_session(&c->conn.out, PROTO_MSG_SESSION, &s);
                free(s.holder);
                c->closing = true;
                client_flush(c);
                worker_idle_start(w);
                worker_send_status(w);
                return;
        }
        apply_options(w, &h->req, false);
        c->invoke_cmd = w->next_cmd + 1;
        c->reconnects = h->req.flags & PROTO_REQ_F_RECONNECT;
        if (w->temporary)
                w->temp_cmd = c->invoke_cmd;    /* before it is queued: it may end at once */
        attach(w, c, c->invoke_cmd);
        /* A command whose stdin was held for its lost client reads its end
         * now: the client that comes back finds another one in its place. */
        worker_stdin_abandon(w);
        /* Its stdin: the client may send a window's worth at once. */
        buf_consume(&w->stdin_buf, buf_len(&w->stdin_buf));
        w->stdin_cmd = c->invoke_cmd;
        w->stdin_eof = false;
        w->stdin_received = 0;
        w->lost_invoke_cmd = 0;
        send_invoked(w, c);
        c->stdin_credit = PROTO_STDIN_WINDOW;
        (void) proto_put_u32_msg(&c->conn.out, PROTO_MSG_STDIN_WINDOW, PROTO_STDIN_WINDOW);
        if (worker_busy(w))
                (void) evloop_add_time_relative(w->event, &c->wait_src, INVOKE_WAIT_LIMIT, on_invoke_wait_cb, c);
        id = worker_queue_command(w, h->req.command, h->caller, NULL);
        if (id != c->invoke_cmd)
                log_warning("Command ids out of step (%u, %u)", id, c->invoke_cmd);
        worker_send_status(w);
        worker_pump(w);
}

static void handoff_disconnect(Worker *w, Client *c, const struct proto_handoff *h) {
        apply_options(w, &h->req, true);
        if (w->client) {
                log_info("Session %s disconnected from %s by %s", w->p->name, w->client->who, h->caller);
                client_detach(w, w->client, DETACH_REQUESTED, h->caller);
                session_detached(w);
        } else if (!w->terminating)
                worker_idle_start(w);  /* the new idle timeout counts from now */
        reply_ok(c);
        worker_send_status(w);
}

static int on_waiter_heartbeat_cb(EvSource *s, uint64_t usec, void *userdata) {
        Client *c = userdata;

        /* Only to find out that a waiter is gone: a failed write frees it. */
        (void) evloop_source_set_time_relative(s, (uint64_t) c->w->p->heartbeat_ms * 1000);
        (void) evloop_source_set_enabled(s, EVLOOP_ONESHOT);
        (void) proto_put_empty(&c->conn.out, PROTO_MSG_HEARTBEAT);
        client_flush(c);
        return 0;
}

static void waiter_answer(Worker *w, Client *c) {
        struct proto_synced y = {
                .running = 0,
                .last_cmd = w->last_cmd,
                .last_status = w->last_cmd ? w->last_status : -1,
        };

        c->hb_src = evloop_source_free(c->hb_src);
        if (w->terminating)
                (void) proto_put_error(&c->conn.out, PROTO_ERR_UNAVAILABLE, "the session was removed");
        else
                (void) proto_put_synced(&c->conn.out, &y);
        c->closing = true;
        client_flush(c);
}

void worker_wake_waiters(Worker *w) {
        Client *next;

        if (!w->terminating && !w->shell_dead && (worker_busy(w) || w->exit_pending))
                return;
        for (Client *c = w->clients; c; c = next) {
                next = c->all_next;
                if (c->verb == PROTO_REQ_WAIT && !c->closing)
                        waiter_answer(w, c);
        }
}

/* dwell wait: not attached, so it neither holds the session nor consumes
 * output; answered with SYNCED once nothing runs or is queued. */
static void handoff_wait(Worker *w, Client *c) {
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;
        unsigned n = 0;

        for (Client *o = w->clients; o; o = o->all_next)
                if (o != c && o->verb == PROTO_REQ_WAIT && !o->closing)
                        n++;
        if (n >= WAITERS_MAX) {
                client_refuse(c, PROTO_ERR_LIMIT_EXCEEDED, "session %s already has %u waiting clients", w->p->name, n);
                return;
        }
        if (w->shell_dead || (!worker_busy(w) && !w->exit_pending)) {
                waiter_answer(w, c);
                return;
        }
        if (hb > 0)
                (void) evloop_add_time_relative(w->event, &c->hb_src, hb, on_waiter_heartbeat_cb, c);
        /* The request's first answer, at once: accepted, waiting.  (A
         * failed write frees c.) */
        (void) proto_put_empty(&c->conn.out, PROTO_MSG_HEARTBEAT);
        client_flush(c);
}

/* dwell stop: from anyone dwelld lets reconnect, also while another
 * client holds the session. */
static void handoff_stop(Worker *w, Client *c, const struct proto_handoff *h) {
        int sig = *strempty(h->req.command) ? parse_signal(h->req.command) : SIGTERM;

        if (sig < 0) {
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "unknown signal: %s", h->req.command);
                return;
        }
        (void) worker_stop_command(w, sig, h->req.flags & PROTO_REQ_F_STOP_ALL, h->caller);
        reply_ok(c);
}

/* A holder a reconnecting client of the same caller may replace: one
 * silent for more than one and a half heartbeat intervals (a live client
 * sends one every interval; the worker itself drops it after three). */
static bool client_replaceable(Worker *w, Client *holder, const struct proto_handoff *h) {
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;

        return hb > 0 && !holder->closing && streq(strempty(holder->caller), strempty(h->caller)) &&
               worker_now(w) - holder->last_rx > hb * 3 / 2;
}

/* connect on a terminal session: the client becomes the typer, its
 * terminal joined to the session's pty (worker-term.c). */
static void handoff_term_connect(Worker *w, Client *c, const struct proto_handoff *h) {
        if (h->req.rows == 0 || h->req.cols == 0) {
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "session %s is a terminal session: dwell connect needs "
                           "a terminal (its standard input and output); dwell receive %s prints what it showed",
                           w->p->name, w->p->name);
                return;
        }
        apply_options(w, &h->req, false);
        attach(w, c, 0);
        (void) worker_term_attach(w, c, &h->req);
        worker_send_status(w);
        client_flush(c);
}

/* dwell watch: read-only, alongside the typer (dwelld said who may). */
static void handoff_watch(Worker *w, Client *c, const struct proto_handoff *h) {
        char notice[PROTO_MAX_TEXT], pb[24];
        struct proto_session s;

        if (!w->p->terminal || !w->term) {
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "session %s is not a terminal session: only terminal "
                           "sessions (dwell new -t) can be watched", w->p->name);
                return;
        }
        if (w->n_watchers >= WATCHERS_MAX) {
                client_refuse(c, PROTO_ERR_LIMIT_EXCEEDED, "session %s has %u watchers already (at most %u)",
                           w->p->name, w->n_watchers, WATCHERS_MAX);
                return;
        }
        c->watcher = true;
        w->n_watchers++;
        c->last_rx = worker_now(w);
        worker_session_info(w, &s, w->state);
        (void) proto_put_attached(&c->conn.out, w->p->heartbeat_ms, &s);
        free(s.holder);
        worker_term_watch(w, c, &h->req);
        snprintf(notice, sizeof notice, "dwell: watching session %s of %s read-only (%s to leave)", w->p->name,
                 w->p->owner, "the detach keys");
        (void) proto_put_str_msg(&c->conn.out, PROTO_MSG_TERM_NOTICE, notice);
        client_start_heartbeats(c);
        worker_event(w, AUDIT_SESSION_WATCHED, "caller", c->caller, "caller_pid", worker_num(pb, c->caller_pid),
                     "origin", c->origin, NULL);
        snprintf(notice, sizeof notice, "dwell: %s is watching (read-only; %u watching)", c->who, w->n_watchers);
        term_notice_all(w, c, notice);
        for (Client *o = w->clients; o; o = o->all_next)
                if (o != c && o->term && !o->closing && o->io_src)
                        (void) evloop_source_set_io_events(o->io_src, EPOLLIN | EPOLLOUT);
        worker_status_later(w);
        client_flush(c);
}

void worker_handoff(Worker *w, int fd, const struct proto_handoff *h) {
        Client *c = client_new(w, fd, h);

        if (!c)
                return;
        if (w->terminating) {
                client_refuse(c, PROTO_ERR_NOT_FOUND, "no such session: %s", w->p->name);
                return;
        }
        if (h->verb == PROTO_REQ_DISCONNECT) {
                handoff_disconnect(w, c, h);
                return;
        }
        if (h->verb == PROTO_REQ_WAIT) {
                handoff_wait(w, c);
                return;
        }
        if (h->verb == PROTO_REQ_STOP) {
                handoff_stop(w, c, h);
                return;
        }
        if (h->verb == PROTO_REQ_WATCH) {
                handoff_watch(w, c, h);
                return;
        }
        if (w->client && (h->req.flags & PROTO_REQ_F_RECONNECT) && client_replaceable(w, w->client, h)) {
                /* Most likely our caller's own connection, broken before
                 * the worker noticed: the reconnection takes its place. */
                client_lost(w, "replaced by a reconnecting client");
                if (w->terminating) {
                        client_refuse(c, PROTO_ERR_NOT_FOUND, "no such session: %s", w->p->name);
                        return;
                }
        }
        if (w->client) {
                client_refuse(c, PROTO_ERR_BUSY, "session %s is connected to another client (%s); "
                           "to take it over, run: dwell disconnect %s", w->p->name, w->client->who, w->p->name);
                return;
        }
        switch (h->verb) {
        case PROTO_REQ_INVOKE:
                handoff_invoke(w, c, h);
                break;
        case PROTO_REQ_CONNECT:
        case PROTO_REQ_RECEIVE:
                if (h->verb == PROTO_REQ_CONNECT && refuse_broken(w, c))
                        break;
                if (h->verb == PROTO_REQ_CONNECT && w->p->terminal) {
                        handoff_term_connect(w, c, h);
                        break;
                }
                apply_options(w, &h->req, false);
                attach(w, c, 0);
                worker_send_status(w);
                worker_pump(w);
                break;
        default:
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "unsupported request");
                break;
        }
}

