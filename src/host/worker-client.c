/* SPDX-License-Identifier: ISC */
/*
 * The worker's side of the client protocol (doc/protocol.md): a client
 * handed over by dwelld (invoke, connect, receive, disconnect), its frames
 * (RESUME, ACK with intents, RUN, HEARTBEAT, DETACH), the records pumped to
 * it from the output buffer, and its end.  The rest of the worker (the
 * commands, the output pipes, dwelld and the monitor) is worker.c; the
 * state both share is in worker-internal.h.  tests/fuzz/fuzz-worker.c
 * drives this file with arbitrary frame sequences.
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

#define CLIENT_HIGH_WATER (512u * 1024)         /* queued bytes before we wait for the socket */
#define INVOKE_WAIT_LIMIT (240 * USEC_PER_SEC)  /* a synchronous invoke waits this long for a busy shell */
#define WAITERS_MAX 32u                         /* `dwell wait` clients of one session at a time */
#define WATCHERS_MAX 16u                        /* `dwell watch` clients of one session at a time */
#define INTERRUPT_INTERVAL (USEC_PER_SEC / 5)   /* INTERRUPTs closer together than this are ignored */
#define DRAIN_TIMEOUT (2 * USEC_PER_SEC)        /* a disconnected client's last ACKs are read this long */

static void client_lost(Worker *w, const char *why);

static void client_send_synced(Client *c) {
        Worker *w = c->w;
        struct proto_synced s = {
                .running = worker_busy(w),
                .last_cmd = w->last_cmd,
                .last_status = w->last_cmd ? w->last_status : -1,
        };

        if (c->verb != PROTO_REQ_RECEIVE && c->verb != PROTO_REQ_CONNECT)
                return;
        /* Field by field: the struct has padding memcmp() would read. */
        if (c->synced_sent && s.running == c->synced.running && s.last_cmd == c->synced.last_cmd &&
            s.last_status == c->synced.last_status)
                return;
        c->synced = s;
        c->synced_sent = true;
        (void) proto_put_synced(&c->conn.out, &s);
}

static int on_client_frame(Worker *w, Client *c, Frame *f);

/* Before a vanished client is forgotten, take in the acknowledgements it
 * sent before it died: they are still in the socket. */
static void client_read_final(Client *c) {
        Frame f;

        while (conn_fill(&c->conn) > 0)
                while (conn_next(&c->conn, &f) > 0) {
                        if (f.type == PROTO_MSG_ACK)
                                (void) on_client_frame(c->w, c, &f);
                        conn_consume(&c->conn, &f);
                }
}

void client_flush(Client *c) {
        int r = conn_flush(&c->conn);

        if (r < 0) {
                if (c->w->client != c) {
                        client_free(c);         /* already detached */
                        return;
                }
                client_read_final(c);
                client_lost(c->w, "write failed");
                return;
        }
        if (r > 0 && c->closing && !c->draining) {
                client_free(c);
                return;
        }
        if (r > 0 && c->term_stale) {
                /* It caught up: a redraw, sent as far as the socket takes it. */
                worker_term_client_drained(c);
                r = conn_flush(&c->conn);
                if (r < 0) {
                        if (c->w->client != c)
                                client_free(c);
                        else
                                client_lost(c->w, "write failed");
                        return;
                }
        }
        (void) evloop_source_set_io_events(c->io_src, r == 0 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Sends buffered records to the connected client, as far as its socket takes them. */
void worker_pump(Worker *w) {
        Client *c = w->client;
        const OutRecord *rec;

        if (!c || c->closing || c->term)
                return;         /* a terminal client gets TERM_OUTPUT (worker-term.c), no records */
        /* Nothing but ATTACHED before the client's RESUME. */
        while (c->resumed && conn_pending(&c->conn) < CLIENT_HIGH_WATER && (rec = outbuf_peek(&w->out))) {
                /* A partly acknowledged record goes out from where the
                 * acknowledged bytes end; value says where that is. */
                bool output = rec->kind == RECORD_STDOUT || rec->kind == RECORD_STDERR;
                struct proto_record pr = {
                        .seq = rec->seq, .cmd_id = rec->cmd_id, .kind = rec->kind,
                        .value = output ? (int64_t) rec->skip : rec->value,
                        .data = rec->data + rec->skip, .size = rec->size - rec->skip,
                };
                if (proto_put_record(&c->conn.out, &pr) < 0)
                        break;
                outbuf_advance(&w->out);
        }
        if (c->resumed && !outbuf_peek(&w->out) && !w->exit_pending)
                client_send_synced(c);
        client_flush(c);
}

/* A one-line notice to every terminal client but skip. */
static void term_notice_all(Worker *w, Client *skip, const char *text) {
        for (Client *o = w->clients; o; o = o->all_next)
                if (o != skip && o->term && !o->closing)
                        (void) proto_put_str_msg(&o->conn.out, PROTO_MSG_TERM_NOTICE, text);
}

static void watcher_left(Worker *w, Client *c) {
        char notice[PROTO_MAX_TEXT], pb[24];

        c->watcher = false;
        if (w->n_watchers > 0)
                w->n_watchers--;
        if (w->terminating)
                return;
        snprintf(notice, sizeof notice, "dwell: %s stopped watching (%u watching)", c->who, w->n_watchers);
        term_notice_all(w, c, notice);
        worker_event(w, AUDIT_SESSION_DISCONNECTED, "caller", c->caller, "caller_pid", worker_num(pb, c->caller_pid),
                     "origin", c->origin, "reason", "watcher left", NULL);
        worker_status_later(w);
        /* Their sockets are written when they are next writable. */
        for (Client *o = w->clients; o; o = o->all_next)
                if (o != c && o->term && !o->closing && o->io_src)
                        (void) evloop_source_set_io_events(o->io_src, EPOLLIN | EPOLLOUT);
}

void client_free(Client *c) {
        Worker *w;

        if (!c)
                return;
        w = c->w;
        if (w->client == c) {
                w->client = NULL;
                if (c->verb == PROTO_REQ_INVOKE)
                        w->lost_invoke_cmd = c->invoke_cmd;
        }
        if (c->watcher)
                watcher_left(w, c);
        worker_marks_client_gone(w, c);
        worker_stdin_client_gone(w, c);
        if (c->all_prev)
                c->all_prev->all_next = c->all_next;
        else
                w->clients = c->all_next;
        if (c->all_next)
                c->all_next->all_prev = c->all_prev;
        evloop_source_free(c->io_src);
        evloop_source_free(c->hb_src);
        evloop_source_free(c->wait_src);
        conn_done(&c->conn);
        free(c->who);
        free(c->caller);
        free(c->origin);
        free(c);
}

/* The session loses its client (left, vanished or was disconnected). */
static void session_detached(Worker *w) {
        /* What the client that left was sent (its last intent may be
         * followed by writes we never heard of). */
        w->intent.filter = w->out.filter;
        w->intent.horizon = outbuf_sent_horizon(&w->out);
        outbuf_rewind(&w->out, 0);
        if (w->temporary) {
                if (w->state == SESSION_CLOSED && !outbuf_has(&w->out, w->temp_cmd)) {
                        worker_terminate(w, DETACH_REMOVED, "temporary session done");
                        return;
                }
                if (!worker_busy(w) && !outbuf_has(&w->out, 0)) {
                        worker_terminate(w, DETACH_REMOVED, "temporary session idle");
                        return;
                }
                /* Lost while its command ran: kept so its output can be received. */
                w->lost_temp_cmd = w->temp_cmd;
                w->temporary = false;
                w->state = SESSION_DISCONNECTED;
        }
        worker_idle_start(w);
        worker_send_status(w);
}

static void audit_disconnected(Worker *w, Client *c, const char *reason) {
        char pb[24];

        worker_event(w, AUDIT_SESSION_DISCONNECTED, "caller", c->caller, "caller_pid", worker_num(pb, c->caller_pid),
                  "origin", c->origin, "reason", reason, NULL);
}

static void client_lost(Worker *w, const char *why) {
        Client *c = w->client;
        char reason[128];

        if (!c)
                return;
        log_info("Client %s of session %s gone: %s", c->who, w->p->name, why);
        if (streq(why, "detached"))
                snprintf(reason, sizeof reason, "the client disconnected");
        else {
                snprintf(reason, sizeof reason, "the client was lost (%s)", why);
                c->keep_stdin = c->reconnects;
        }
        audit_disconnected(w, c, reason);
        client_free(c);
        session_detached(w);
}

static int on_drain_timeout_cb(EvSource *s, uint64_t usec, void *userdata) {
        client_free(userdata);
        return 0;
}

void client_detach(Worker *w, Client *c, uint8_t reason, const char *by) {
        char why[256];

        snprintf(why, sizeof why, "%s %s", reason == DETACH_REQUESTED ? "disconnected by" :
                 reason == DETACH_TIMEOUT ? "session ended:" : "session removed:", by);
        audit_disconnected(w, c, why);
        (void) proto_put_detached(&c->conn.out, reason, by);
        c->closing = true;
        if (w->client == c)
                w->client = NULL;
        /* Disconnected by someone else: the ACKs it sends until it reads
         * DETACHED count (output it wrote and acknowledged is not sent
         * again to the next client), so it is read until it closes, for
         * DRAIN_TIMEOUT at most; nothing else it sends is acted on. */
        c->hb_src = evloop_source_free(c->hb_src);
        c->wait_src = evloop_source_free(c->wait_src);
        c->drain_horizon = outbuf_sent_horizon(&w->out);
        c->drain_filter = w->out.filter;
        if (reason == DETACH_REQUESTED &&
            evloop_add_time_relative(w->event, &c->wait_src, DRAIN_TIMEOUT, on_drain_timeout_cb, c) >= 0)
                c->draining = true;
        client_flush(c);
}

static void note_intent(Worker *w, Client *c, const struct proto_ack *ack) {
        const OutRecord *rec = w->out.head;
        Intent *i = &w->intent;

        if (ack->intent_len == 0) {
                /* The announced write done: the file is that much longer,
                 * and the next write starts there -- still measurable if
                 * its announcement never reaches us. */
                if (i->set && ack->seq == i->seq && ack->offset == i->offset + i->len) {
                        i->offset += i->len;
                        i->size += i->len;
                        i->len = 0;
                } else
                        i->set = false;
                return;
        }
        i->set = false;
        while (rec && rec->seq < ack->seq)
                rec = rec->next;
        /* Only a write of output this client was sent. */
        if (!rec || rec->seq != ack->seq || (rec->kind != RECORD_STDOUT && rec->kind != RECORD_STDERR) ||
            !outbuf_was_sent(&w->out, rec->seq))
                return;
        w->intent = (Intent) {
                .set = true,
                .seq = ack->seq,
                .offset = ack->offset,
                .len = ack->intent_len,
                .size = ack->intent_size,
                .stream = rec->kind == RECORD_STDOUT ? 0 : 1,
        };
        w->intent.dev = c->resume.dev[w->intent.stream];
        w->intent.ino = c->resume.ino[w->intent.stream];
        if (w->intent.dev == 0 && w->intent.ino == 0)
                w->intent.set = false;  /* not a file: nothing to measure later */
        for (int k = 0; k < 2; k++)
                w->intent.in_file[k] = c->resume.dev[k] == w->intent.dev && c->resume.ino[k] == w->intent.ino;
}

/* The previous client announced a write and vanished: if this client
 * appends to the same file, its size says how much of the write landed --
 * and of the writes after it that the previous client made while its
 * acknowledgements could no longer reach us (a link down: ssh still had
 * output to hand it), in order, up to what it had been sent. */
static void apply_intent(Worker *w, Client *c) {
        Intent *i = &w->intent;
        int s = i->stream;

        if (!i->set)
                return;
        i->set = false;
        if (c->resume.dev[s] != i->dev || c->resume.ino[s] != i->ino || c->resume.size[s] <= i->size)
                return;
        (void) outbuf_forget_written(&w->out, i->filter, i->horizon, i->seq, i->offset, i->in_file,
                                     c->resume.size[s] - i->size);
}

static int on_client_frame(Worker *w, Client *c, Frame *f) {
        _cleanup_free_ char *text = NULL;
        struct proto_ack ack;
        int r;

        /* A client being disconnected: only its acknowledgements count. */
        if (c->draining && f->type != PROTO_MSG_ACK && f->type != PROTO_MSG_DETACH)
                return 0;
        /* A watcher reads the screen and nothing else: it acknowledges
         * no output (that would consume what receive gets), runs,
         * interrupts and sends nothing. */
        if (c->watcher && f->type != PROTO_MSG_HEARTBEAT && f->type != PROTO_MSG_DETACH &&
            f->type != PROTO_MSG_TERM_INPUT && f->type != PROTO_MSG_TERM_SIZE)
                return -EBADMSG;
        switch (f->type) {
        case PROTO_MSG_HEARTBEAT:
                return proto_expect_end(&f->payload);
        case PROTO_MSG_ACK:
                r = proto_get_ack(&f->payload, &ack);
                if (r < 0)
                        return r;
                r = c->draining ?
                        outbuf_ack_bytes_past(&w->out, c->drain_filter, c->drain_horizon, ack.seq, ack.offset) :
                        outbuf_ack_bytes(&w->out, ack.seq, ack.offset);
                if (r < 0)
                        return r;
                if (!c->draining)
                        note_intent(w, c, &ack);
                if (w->paused && outbuf_room(&w->out) > 0)
                        worker_set_reading(w, true);
                if (w->exit_pending)
                        worker_finish_command(w);
                worker_status_later(w);
                return 0;
        case PROTO_MSG_RESUME:
                if (c->resumed)
                        return -EBADMSG;
                r = proto_get_resume(&f->payload, &c->resume);
                if (r < 0)
                        return r;
                c->resumed = true;
                apply_intent(w, c);
                return 0;
        case PROTO_MSG_TERM_INPUT:
        case PROTO_MSG_TERM_SIZE:
                return worker_term_frame(w, c, f);
        case PROTO_MSG_RUN:
                if (c->verb != PROTO_REQ_CONNECT || c->term)
                        return -EBADMSG;
                r = proto_get_str_msg(&f->payload, PROTO_MAX_COMMAND, &text);
                if (r < 0)
                        return r;
                if (w->shell_dead)
                        return proto_put_error(&c->conn.out, PROTO_ERR_UNAVAILABLE,
                                               "the session's shell has exited; remove the session");
                if (worker_queue_command(w, text, c->caller, NULL) == 0)
                        return -ENOMEM;
                return 0;
        case PROTO_MSG_DETACH:
                r = proto_expect_end(&f->payload);
                if (r < 0)
                        return r;
                return -ECONNRESET;
        case PROTO_MSG_STDIN: {
                size_t n = buf_len(&f->payload);

                /* Only a synchronous invoke sends stdin, and never more
                 * than it was granted: the worker holds at most the window. */
                if (c->verb != PROTO_REQ_INVOKE || c->stdin_eof || n > c->stdin_credit)
                        return -EBADMSG;
                c->stdin_credit -= (uint32_t) n;
                if (w->stdin_cmd != c->invoke_cmd || n == 0)
                        return 0;       /* its command has ended: dropped */
                r = buf_put(&w->stdin_buf, buf_ptr(&f->payload), n);
                if (r < 0)
                        return -EBADMSG;
                w->stdin_received += n;
                worker_stdin_flush(w);
                return 0;
        }
        case PROTO_MSG_STDIN_EOF:
                r = proto_expect_end(&f->payload);
                if (r < 0)
                        return r;
                if (c->verb != PROTO_REQ_INVOKE || c->stdin_eof)
                        return -EBADMSG;
                c->stdin_eof = true;
                if (w->stdin_cmd == c->invoke_cmd) {
                        w->stdin_eof = true;
                        worker_stdin_flush(w);
                }
                return 0;
        case PROTO_MSG_INTERRUPT: {
                uint64_t now = worker_now(w);

                r = proto_expect_end(&f->payload);
                if (r < 0)
                        return r;
                if (c->verb != PROTO_REQ_INVOKE && c->verb != PROTO_REQ_CONNECT)
                        return -EBADMSG;
                /* Its own command only (an invoke's), and not in a flood. */
                if (!w->running || (c->verb == PROTO_REQ_INVOKE && w->running->id != c->invoke_cmd) ||
                    (c->last_interrupt && now - c->last_interrupt < INTERRUPT_INTERVAL))
                        return 0;
                c->last_interrupt = now;
                (void) worker_stop_command(w, SIGINT, false, c->caller);
                return 0;
        }
        default:
                return -EBADMSG;
        }
}

static int on_client_io_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;
        Worker *w = c->w;
        Frame f;
        int r;

        if (revents & EPOLLOUT) {
                client_flush(c);
                if (w->client != c)
                        return 0;       /* c may be gone */
                worker_pump(w);
                if (w->client != c)
                        return 0;       /* a failed write in worker_pump() lost (and freed) it */
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = conn_fill(&c->conn);
        if (r == -EAGAIN)
                return 0;
        if (c->verb == PROTO_REQ_WAIT) {
                /* A waiter sends nothing: it left, or broke the protocol. */
                client_free(c);
                return 0;
        }
        if (r <= 0) {
                if (c->closing || c->watcher)
                        client_free(c);
                else
                        client_lost(w, r == 0 ? "connection closed" : "read failed");
                return 0;
        }
        c->last_rx = worker_now(w);
        while ((r = conn_next(&c->conn, &f)) > 0) {
                r = on_client_frame(w, c, &f);
                conn_consume(&c->conn, &f);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                if (c->closing && c->watcher)
                        client_flush(c);        /* its error goes out, then it is freed */
                else if (c->closing || c->watcher || w->client != c)
                        client_free(c);
                else
                        client_lost(w, r == -ECONNRESET ? "detached" : "protocol error");
                return 0;
        }
        worker_pump(w);
        return 0;
}

static int on_watcher_heartbeat_cb(EvSource *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        Worker *w = c->w;
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;

        (void) usec;
        if (worker_now(w) - c->last_rx > 3 * hb) {
                client_free(c);
                return 0;
        }
        (void) evloop_source_set_time_relative(s, hb);
        (void) evloop_source_set_enabled(s, EVLOOP_ONESHOT);
        if (!c->term_stale)
                (void) proto_put_empty(&c->conn.out, PROTO_MSG_HEARTBEAT);
        client_flush(c);
        return 0;
}

static int on_heartbeat_cb(EvSource *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        Worker *w = c->w;
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;

        if (worker_now(w) - c->last_rx > 3 * hb) {
                client_lost(w, "heartbeats stopped");
                return 0;
        }
        (void) evloop_source_set_time_relative(s, hb);
        (void) evloop_source_set_enabled(s, EVLOOP_ONESHOT);
        (void) proto_put_empty(&c->conn.out, PROTO_MSG_HEARTBEAT);
        client_flush(c);
        return 0;
}

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
        c->wait_src = evloop_source_free(c->wait_src);
        (void) proto_put_error(&c->conn.out, PROTO_ERR_TIMEOUT,
                               "the command running in the session did not finish within 4 minutes");
        c->closing = true;
        w->client = NULL;
        client_flush(c);
        session_detached(w);
        return 0;
}

void client_abandon(Client *c, uint16_t code, const char *message) {
        Worker *w = c->w;

        c->wait_src = evloop_source_free(c->wait_src);
        (void) proto_put_error(&c->conn.out, code, message);
        c->closing = true;
        if (w->client == c) {
                w->client = NULL;
                client_flush(c);
                session_detached(w);
        } else
                client_flush(c);
}

static Client *client_new(Worker *w, int fd, const struct proto_handoff *h) {
        Client *c = calloc(1, sizeof *c);

        if (!c) {
                safe_close(fd);
                return NULL;
        }
        c->w = w;
        c->all_next = w->clients;
        if (w->clients)
                w->clients->all_prev = c;
        w->clients = c;
        c->verb = h->verb;
        c->caller_pid = h->caller_pid;
        conn_init(&c->conn, fd, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 64u * 1024 * 1024);
        (void) fd_nonblock(fd, true);
        if (!(c->caller = strdup(strempty(h->caller))) || !(c->origin = strdup(strempty(h->origin))) ||
            asprintf(&c->who, "%s (pid %u)", h->caller, h->caller_pid) < 0 ||
            evloop_add_io(w->event, &c->io_src, fd, EPOLLIN, on_client_io_cb, c) < 0) {
                client_free(c);
                return NULL;
        }
        return c;
}

/* Answers a handed-off client at once and closes it. */
static void reply_once(Client *c, uint16_t code, const char *fmt, ...) _printf_(3, 4);
static void reply_once(Client *c, uint16_t code, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        if (fmt) {
                va_start(ap, fmt);
                vsnprintf(msg, sizeof msg, fmt, ap);
                va_end(ap);
                (void) proto_put_error(&c->conn.out, code, msg);
        } else
                (void) proto_put_empty(&c->conn.out, PROTO_MSG_OK);
        c->closing = true;
        client_flush(c);
}

static void attach(Worker *w, Client *c, uint32_t filter) {
        struct proto_session s;
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;

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
        if (hb > 0)
                (void) evloop_add_time_relative(w->event, &c->hb_src, hb, on_heartbeat_cb, c);
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
        reply_once(c, PROTO_ERR_UNAVAILABLE, "session %s is broken (%s); remove it", w->p->name,
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
                reply_once(c, PROTO_ERR_NOT_FOUND, "session %s has no invoked command %s to reattach to",
                           w->p->name, strempty(h->req.command));
                return;
        }
        running = w->running && w->running->id == id;
        queued = command_queued(w, id);
        if (!running && !queued && !outbuf_has(&w->out, id)) {
                reply_once(c, PROTO_ERR_NOT_FOUND, "command %u of session %s has ended and its output was received",
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
                        reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "a reattachment cannot be disconnected");
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
                reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "--on-finish applies only to invoke -d");
                return;
        }
        /* A hook is a shell command line: a restricted session runs none
         * (a default one, from the user's options file, is just dropped). */
        if (hook && w->p->commands && (h->req.flags & PROTO_REQ_F_HOOK_DEFAULT))
                hook = false;
        if (hook && w->p->commands) {
                reply_once(c, PROTO_ERR_PERMISSION_DENIED,
                           "configuration %s runs only its allowed programs: --on-finish hooks are not allowed",
                           w->p->configuration);
                return;
        }
        if (h->req.flags & PROTO_REQ_F_DISCONNECTED) {
                struct proto_session s;

                if (worker_busy(w)) {
                        reply_once(c, PROTO_ERR_BUSY, "a command is already running in session %s", w->p->name);
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
        reply_once(c, 0, NULL);
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
                reply_once(c, PROTO_ERR_LIMIT_EXCEEDED, "session %s already has %u waiting clients", w->p->name, n);
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
                reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "unknown signal: %s", h->req.command);
                return;
        }
        (void) worker_stop_command(w, sig, h->req.flags & PROTO_REQ_F_STOP_ALL, h->caller);
        reply_once(c, 0, NULL);
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
                reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "session %s is a terminal session: dwell connect needs "
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
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;
        char notice[PROTO_MAX_TEXT], pb[24];
        struct proto_session s;

        if (!w->p->terminal || !w->term) {
                reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "session %s is not a terminal session: only terminal "
                           "sessions (dwell new -t) can be watched", w->p->name);
                return;
        }
        if (w->n_watchers >= WATCHERS_MAX) {
                reply_once(c, PROTO_ERR_LIMIT_EXCEEDED, "session %s has %u watchers already (at most %u)",
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
        if (hb > 0)
                (void) evloop_add_time_relative(w->event, &c->hb_src, hb, on_watcher_heartbeat_cb, c);
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
                reply_once(c, PROTO_ERR_NOT_FOUND, "no such session: %s", w->p->name);
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
                        reply_once(c, PROTO_ERR_NOT_FOUND, "no such session: %s", w->p->name);
                        return;
                }
        }
        if (w->client) {
                reply_once(c, PROTO_ERR_BUSY, "session %s is connected to another client (%s); "
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
                reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "unsupported request");
                break;
        }
}

