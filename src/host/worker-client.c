/* SPDX-License-Identifier: ISC */
/*
 * The worker's side of the client protocol (doc/protocol.md): a client's
 * connection once it is handed over (what each verb asks at the handoff is
 * worker-handoff.c), its frames (RESUME, ACK with intents, RUN, HEARTBEAT,
 * DETACH), the records pumped to it from the output buffer, its
 * heartbeats, and its end.  The rest of the worker (the commands, the
 * output pipes, dwelld and the monitor) is worker.c; the state they share
 * is in worker-internal.h.  tests/fuzz/fuzz-worker.c drives these files
 * with arbitrary frame sequences.
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
#define INTERRUPT_INTERVAL (USEC_PER_SEC / 5)   /* INTERRUPTs closer together than this are ignored */
#define DRAIN_TIMEOUT (2 * USEC_PER_SEC)        /* a disconnected client's last ACKs are read this long */


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
void term_notice_all(Worker *w, Client *skip, const char *text) {
        for (Client *o = w->clients; o; o = o->all_next)
                if (o != skip && o->term && !o->closing) {
                        (void) proto_put_str_msg(&o->conn.out, PROTO_MSG_TERM_NOTICE, text);
                        if (o->tty_fd >= 0)
                                worker_tty_notice(o, text);     /* it writes nothing itself meanwhile */
                }
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
        worker_tty_release(c);
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
void session_detached(Worker *w) {
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

void client_lost(Worker *w, const char *why) {
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

/* c goes once its last frame (queued) is out; its terminal is let go
 * first, so that it restores it after the worker's last byte.  The
 * session is detached if c held it. */
static void client_end(Client *c) {
        Worker *w = c->w;

        c->wait_src = evloop_source_free(c->wait_src);
        worker_tty_release(c);
        c->closing = true;
        if (w->client == c) {
                w->client = NULL;
                client_flush(c);        /* frees c once the frame is out */
                session_detached(w);
        } else
                client_flush(c);
}

void client_leave_by_keys(Client *c) {
        Worker *w = c->w;

        log_info("Client %s of session %s gone: detached (the detach keys)", c->who, w->p->name);
        if (w->client == c)
                audit_disconnected(w, c, "the client disconnected");
        (void) proto_put_detached(&c->conn.out, DETACH_KEYS, c->caller);
        client_end(c);
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
        worker_tty_release(c);          /* before it hears: it restores its terminal then */
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
        case PROTO_MSG_TERM_TTY:
                return worker_tty_take(w, c, f);
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

void client_abandon(Client *c, uint16_t code, const char *message) {
        (void) proto_put_error(&c->conn.out, code, message);
        client_end(c);
}

Client *client_new(Worker *w, int fd, const struct proto_handoff *h) {
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
        c->caller_uid = h->caller_uid;
        c->tty_fd = -EBADF;
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

/* The heartbeat timer of an attached client (a watcher's: it is freed
 * when silent, holding nothing). */
void client_start_heartbeats(Client *c) {
        Worker *w = c->w;
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;

        if (hb > 0)
                (void) evloop_add_time_relative(w->event, &c->hb_src, hb,
                                                c->watcher ? on_watcher_heartbeat_cb : on_heartbeat_cb, c);
}
