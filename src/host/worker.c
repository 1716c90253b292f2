/* SPDX-License-Identifier: ISC */
/*
 * The worker's session side: status reports to dwelld, audit events and
 * transcript data to the monitor, the idle clock, the runner's output
 * pipes, the command queue, the end of the session, the control
 * connection and the main loop.  The client protocol is worker-handoff.c
 * and worker-client.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "command.h"
#include "evloop.h"
#include "log.h"
#include "outbuf.h"
#include "parse-util.h"
#include "worker.h"
#include "worker-internal.h"

#define KILL_GRACE (3 * USEC_PER_SEC)
#define STATUS_DELAY (USEC_PER_SEC / 2)         /* buffer-use updates to dwelld are coalesced */
#define READ_CHUNK (PROTO_MAX_DATA)
#define LISTEN_FD 4                             /* fd 3 is the first control connection */
#define MONITOR_FD 5

/* Exit statuses of the worker, seen by the monitor and passed on. */
#define EXIT_SHELL_GONE 3

uint64_t worker_now(Worker *w) {
        return evloop_now(w->event);
}

static uint64_t now_real(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t clock_usec(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

bool worker_busy(const Worker *w) {
        return w->running || w->queue;
}

/* ------------------------------------------------------------------ status */

void worker_session_info(Worker *w, struct proto_session *s, uint8_t state) {
        char holder[PROTO_MAX_TEXT];

        snprintf(holder, sizeof holder, "%s", w->client && !w->client->closing ? w->client->who : "");
        *s = (struct proto_session) {
                .id = w->p->id,
                .instance_id = w->p->instance_id,
                .name = w->p->name,
                .host = w->p->host,
                .owner = w->p->owner,
                .run_as = w->p->run_as,
                .configuration = w->p->configuration,
                .state = state,
                .availability = *holder ? AVAILABILITY_BUSY : AVAILABILITY_NONE,
                .buffering = w->out.mode,
                .temporary = w->temporary,
                .idle_timeout = w->idle_timeout,
                .buffer_size = w->out.max,
                .buffered = w->out.used,
                .dropped = w->out.dropped,
                .command_id = w->running ? w->running->id : 0,
                .command = w->running ? w->running->text : (char *) "",
                .last_command_id = w->last_cmd,
                .last_command = w->last_text ?: (char *) "",
                .last_exit_status = w->last_cmd ? w->last_status : -1,
                .created = w->p->created,
                .idle_since = w->idle_since,
                .holder = strdup(holder),
                .origin = w->p->origin,
                .reason = w->broken_reason,
                .terminal = w->p->terminal,
                .watchers = w->n_watchers,
        };
}

void worker_send_status(Worker *w) {
        struct proto_session s;

        w->status_timer_src = evloop_source_free(w->status_timer_src);
        if (!w->ctl_src)
                return;
        worker_session_info(w, &s, w->state);
        (void) proto_put_session(&w->ctl->out, PROTO_MSG_STATUS, &s);
        free(s.holder);
        if (conn_flush(w->ctl) == 0)
                (void) evloop_source_set_io_events(w->ctl_src, EPOLLIN | EPOLLOUT);
}

static int on_status_timer_cb(EvSource *s, uint64_t usec, void *userdata) {
        worker_send_status(userdata);
        return 0;
}

/* Buffer use changes all the time: tell dwelld at most twice a second. */
void worker_status_later(Worker *w) {
        if (w->status_timer_src || !w->ctl_src)
                return;
        (void) evloop_add_time_relative(w->event, &w->status_timer_src, STATUS_DELAY, on_status_timer_cb, w);
}

/* -------------------------------------------------------------- monitor */

/* The monitor (root) writes the journal and the transcript: the worker,
 * running as the session's user, only reports to it. */
static void mon_flush(Worker *w) {
        int r;

        if (!w->mon_src)
                return;
        r = conn_flush(&w->mon);
        if (r < 0) {
                log_warning_errno(r, "Lost the connection to the monitor: %m");
                w->mon_src = evloop_source_free(w->mon_src);
                return;
        }
        (void) evloop_source_set_io_events(w->mon_src, r == 0 ? EPOLLOUT : 0);
        (void) evloop_source_set_enabled(w->mon_src, r == 0 ? EVLOOP_ON : EVLOOP_OFF);
}

/* key, value, key, value, ..., NULL */
void worker_event(Worker *w, AuditEvent e, ...) {
        struct proto_kv kv = {};
        const char *k;
        va_list ap;
        int r;

        r = proto_kv_add(&kv, "event", audit_event_to_string(e));
        va_start(ap, e);
        while (r >= 0 && (k = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);
                if (v)
                        r = proto_kv_add(&kv, k, v);
        }
        va_end(ap);
        if (r >= 0)
                (void) proto_put_kv(&w->mon.out, PROTO_MSG_KV, &kv);
        proto_kv_done(&kv);
        mon_flush(w);
}

void worker_mon_flush(Worker *w) {
        mon_flush(w);
}


static uint64_t now_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

void worker_record_output(Worker *w, const uint8_t *data, size_t n) {
        uint64_t t;

        if (!w->p->transcript || !w->mon_src)
                return;
        t = now_mono();
        while (n > 0) {
                size_t k = MIN(n, (size_t) PROTO_MAX_DATA);

                (void) proto_put_rec_output(&w->mon.out, t, data, k);
                data += k;
                n -= k;
        }
}

void worker_record_size(Worker *w, unsigned cols, unsigned rows) {
        if (!w->p->transcript || !w->mon_src || cols == 0 || rows == 0 || cols > UINT16_MAX || rows > UINT16_MAX)
                return;
        (void) proto_put_rec_size(&w->mon.out, now_mono(), (uint16_t) cols, (uint16_t) rows);
        mon_flush(w);
}

const char *worker_num(char buf[static 24], uint64_t v) {
        snprintf(buf, 24, "%llu", (unsigned long long) v);
        return buf;
}

/* ------------------------------------------------------------ idle clock */

static int on_idle_cb(EvSource *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;
        char d[32];

        format_duration(d, sizeof d, w->idle_timeout);
        log_info("Session %s idle for %s, removing it", w->p->name, d);
        worker_event(w, AUDIT_IDLE_TIMEOUT, "reason", d, NULL);
        worker_terminate(w, DETACH_TIMEOUT, "idle timeout");
        return 0;
}

void worker_idle_start(Worker *w) {
        w->idle_src = evloop_source_free(w->idle_src);
        if (w->terminating)
                return;
        if (!w->idle_since)
                w->idle_since = now_real();
        (void) evloop_add_time_relative(w->event, &w->idle_src, w->idle_timeout, on_idle_cb, w);
}

void worker_idle_stop(Worker *w) {
        w->idle_src = evloop_source_free(w->idle_src);
        w->idle_since = 0;
}

/* ---------------------------------------------------------------- output */

void worker_set_reading(Worker *w, bool on) {
        if (w->out_src && !w->out_eof)
                (void) evloop_source_set_enabled(w->out_src, on ? EVLOOP_ON : EVLOOP_OFF);
        if (w->err_src && !w->err_eof)
                (void) evloop_source_set_enabled(w->err_src, on ? EVLOOP_ON : EVLOOP_OFF);
        if (w->pty_src)
                worker_term_set_reading(w, on);
        w->paused = !on;
}

/* How much one read may take.  In drop mode no record may be larger than
 * the whole buffer: it would push out everything, itself included. */
static size_t read_budget(Worker *w) {
        if (w->out.mode == BUFFERING_DROP)
                return MIN((size_t) READ_CHUNK, w->out.max);
        return MIN((size_t) READ_CHUNK, outbuf_room(&w->out));
}

/* One read from a pipe into the buffer: >0 bytes, 0 EOF, -EAGAIN, -ENOBUFS (full). */
static int read_pipe(Worker *w, int fd, uint8_t kind) {
        static uint8_t chunk[READ_CHUNK];
        size_t budget = read_budget(w);
        uint32_t cmd = w->running ? w->running->id : w->last_cmd;
        ssize_t n;
        int r;

        if (budget == 0 || conn_pending(&w->mon) > MON_HIGH_WATER) {
                worker_set_reading(w, false);
                return -ENOBUFS;
        }
        n = read(fd, chunk, budget);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (n == 0)
                return 0;
        r = outbuf_append(&w->out, cmd, kind, 0, chunk, (size_t) n, NULL);
        if (r < 0)
                return r;
        if (w->p->transcript && w->mon_src) {
                struct proto_record rec = { .cmd_id = cmd, .kind = kind, .data = chunk, .size = (size_t) n };
                (void) proto_put_record(&w->mon.out, &rec);
                mon_flush(w);
        }
        return (int) n;
}

static int on_output_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        bool is_out = s == w->out_src;
        int r;

        for (int i = 0; i < 16; i++) {
                r = read_pipe(w, fd, is_out ? RECORD_STDOUT : RECORD_STDERR);
                if (r <= 0)
                        break;
        }
        if (r == 0 || (r < 0 && r != -EAGAIN && r != -ENOBUFS)) {
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
                if (is_out)
                        w->out_eof = true;
                else
                        w->err_eof = true;
        }
        if (w->exit_pending)
                worker_finish_command(w);
        worker_pump(w);
        worker_status_later(w);
        return 0;
}

int worker_watch_output(Worker *w) {
        int r;

        if ((r = evloop_add_io(w->event, &w->out_src, w->runner->out_fd, EPOLLIN, on_output_cb, w)) < 0 ||
            (r = evloop_add_io(w->event, &w->err_src, w->runner->err_fd, EPOLLIN, on_output_cb, w)) < 0)
                return r;
        /* Output is read before status lines, command ends and client
         * input, so that a command's output is in the buffer before its
         * exit record. */
        (void) evloop_source_set_priority(w->out_src, -10);
        (void) evloop_source_set_priority(w->err_src, -10);
        return 0;
}

/* Drains both pipes (until EAGAIN) so that a command's output precedes its
 * exit record.  False while the buffer is full (block mode). */
static bool drain_pipes(Worker *w) {
        int fds[2] = { w->out_eof ? -1 : w->runner->out_fd, w->err_eof ? -1 : w->runner->err_fd };
        uint8_t kinds[2] = { RECORD_STDOUT, RECORD_STDERR };

        for (int i = 0; i < 2; i++) {
                if (fds[i] < 0)
                        continue;
                for (;;) {
                        int r = read_pipe(w, fds[i], kinds[i]);
                        if (r == -ENOBUFS)
                                return false;
                        if (r <= 0)
                                break;
                }
        }
        return true;
}

/* ------------------------------------------------------------- commands */

/* A value for a key=value log line: as it is if plain, else in double
 * quotes with \", \\ and \xNN escapes. */
static char *quote_value(const char *v) {
        size_t n = strlen(v);
        char *q, *o;

        if (n > 0 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._+-:@,") == n)
                return strdup(v);
        q = o = malloc(n * 4 + 3);
        if (!q)
                return NULL;
        *o++ = '"';
        for (const unsigned char *c = (const unsigned char *) v; *c; c++) {
                if (*c == '"' || *c == '\\') {
                        *o++ = '\\';
                        *o++ = (char) *c;
                } else if (*c < 0x20 || *c == 0x7f)
                        o += sprintf(o, "\\x%02x", *c);
                else
                        *o++ = (char) *c;
        }
        *o++ = '"';
        *o = 0;
        return q;
}

/* A command the runner ended at once (refused, or not startable). */
static void command_ended_at_once(Worker *w, Command *c, RunnerResult *res) {
        if (res->message)
                (void) outbuf_append(&w->out, c->id, RECORD_STDERR, 0, res->message, strlen(res->message), NULL);
        if (res->refused) {
                _cleanup_free_ char *prog = res->program ? quote_value(res->program) : NULL,
                                    *text = quote_value(c->text);

                /* One line per refusal, key=value fields for whoever reads
                 * the log (the command text last: it may be long). */
                char nb[24], why[512];

                log_notice("refused command session=%s owner=%s configuration=%s program=%s reason=%s "
                           "command_id=%u command=%.1024s",
                           w->p->name, w->p->owner, w->p->configuration, prog ? prog : "-",
                           res->reason ? res->reason : "-", c->id, text ? text : "-");
                snprintf(why, sizeof why, "%s (program %s)", res->reason ? res->reason : "refused",
                         res->program ? res->program : "-");
                worker_event(w, AUDIT_COMMAND_REFUSED, "command_id", worker_num(nb, c->id), "command", c->text,
                          "caller", c->caller, "reason", why, NULL);
        }
        w->exit_pending = true;
        w->exit_status_pending = res->status;
        w->exit_source_pending = RUNNER_STATUS_DWELL;
}

/* ---------------------------------------------------------------- stdin */

static void stdin_close(Worker *w) {
        w->stdin_hold_src = evloop_source_free(w->stdin_hold_src);
        w->stdin_src = evloop_source_free(w->stdin_src);
        w->stdin_w = safe_close(w->stdin_w);
}

/* The command ended: its stdin too, and what was held for it. */
static void stdin_end(Worker *w, uint32_t id) {
        stdin_close(w);
        if (w->stdin_cmd == id) {
                buf_consume(&w->stdin_buf, buf_len(&w->stdin_buf));
                w->stdin_cmd = 0;
                w->stdin_eof = false;
                w->stdin_received = 0;
        }
}

static int on_stdin_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;

        worker_stdin_flush(w);
        worker_pump(w);
        return 0;
}

void worker_stdin_flush(Worker *w) {
        Client *c = w->client;
        bool granting = c && !c->closing && c->verb == PROTO_REQ_INVOKE && w->stdin_cmd != 0 &&
                        c->invoke_cmd == w->stdin_cmd;

        if (w->stdin_w < 0 || !w->running || w->running->id != w->stdin_cmd)
                return;
        while (buf_len(&w->stdin_buf) > 0) {
                ssize_t n = write(w->stdin_w, buf_ptr(&w->stdin_buf), buf_len(&w->stdin_buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        (void) evloop_source_set_enabled(w->stdin_src, EVLOOP_ON);
                        return;
                }
                if (n < 0) {
                        /* Nobody reads it any more (EPIPE): what is left is dropped. */
                        buf_consume(&w->stdin_buf, buf_len(&w->stdin_buf));
                        w->stdin_eof = true;
                        break;
                }
                buf_consume(&w->stdin_buf, (size_t) n);
                if (granting) {
                        c->stdin_credit += (uint32_t) n;
                        (void) proto_put_u32_msg(&c->conn.out, PROTO_MSG_STDIN_WINDOW, (uint32_t) n);
                }
        }
        (void) evloop_source_set_enabled(w->stdin_src, EVLOOP_OFF);
        if (w->stdin_eof)
                stdin_close(w);
}

static int on_stdin_hold_cb(EvSource *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        log_info("Session %s: the client of command %u did not come back; its stdin ends", w->p->name, w->stdin_cmd);
        worker_stdin_hold_end(w, true);
        return 0;
}

void worker_stdin_hold_end(Worker *w, bool eof) {
        w->stdin_hold_src = evloop_source_free(w->stdin_hold_src);
        if (!eof)
                return;
        w->stdin_eof = true;
        worker_stdin_flush(w);
}

void worker_stdin_abandon(Worker *w) {
        w->stdin_hold_src = evloop_source_free(w->stdin_hold_src);
        if (w->stdin_cmd != 0 && w->running && w->running->id == w->stdin_cmd)
                stdin_close(w);
        buf_consume(&w->stdin_buf, buf_len(&w->stdin_buf));
        w->stdin_cmd = 0;
        w->stdin_eof = false;
        w->stdin_received = 0;
}

void worker_stdin_client_gone(Worker *w, Client *c) {
        if (c->verb != PROTO_REQ_INVOKE || w->stdin_cmd == 0 || c->invoke_cmd != w->stdin_cmd)
                return;
        /* Lost, not left, and it reconnects by itself: what it sent stays
         * buffered and the command's stdin open for it, for a while. */
        if (c->keep_stdin && !w->stdin_eof && !w->terminating && !w->stdin_hold_src &&
            evloop_add_time_relative(w->event, &w->stdin_hold_src, PROTO_STDIN_HOLD_USEC, on_stdin_hold_cb, w) >= 0)
                return;
        w->stdin_eof = true;
        worker_stdin_flush(w);
}

/* Right after the runner was given command c: its stdin is the worker's.
 * Only a synchronous invoke's command gets what its client sends; every
 * other command reads end-of-file at once. */
static void stdin_take(Worker *w, Command *c, bool started) {
        stdin_close(w);
        w->stdin_w = TAKE_FD(w->runner->stdin_fd);
        if (!started || w->stdin_w < 0 || w->stdin_cmd != c->id ||
            evloop_add_io(w->event, &w->stdin_src, w->stdin_w, EPOLLOUT, on_stdin_cb, w) < 0) {
                stdin_end(w, c->id);
                return;
        }
        (void) evloop_source_set_enabled(w->stdin_src, EVLOOP_OFF);
        worker_stdin_flush(w);
}

/* ----------------------------------------------------------------- stop */

int worker_stop_command(Worker *w, int sig, bool all, const char *by) {
        const char *name = signal_name(sig);
        unsigned dropped = 0;
        char why[160], nb[24], sn[16];
        int n = 0;

        if (all)
                for (Command *q = w->queue; q; q = q->next)
                        if (!q->drop_signal) {
                                q->drop_signal = sig;
                                free(q->dropped_by);
                                q->dropped_by = strdup(strempty(by));
                                dropped++;
                        }
        if (w->running)
                n = runner_signal(w->runner, sig);
        if (!name) {
                snprintf(sn, sizeof sn, "%d", sig);
                name = sn;
        }
        snprintf(why, sizeof why, "signal %s to %d process%s%s; %u queued command%s dropped", name, n,
                 n == 1 ? "" : "es", w->running ? "" : " (no command running)", dropped, dropped == 1 ? "" : "s");
        log_info("Session %s: %s by %s", w->p->name, why, strempty(by));
        worker_event(w, AUDIT_COMMAND_STOPPED, "command_id", w->running ? worker_num(nb, w->running->id) : NULL,
                     "command", w->running ? w->running->text : NULL, "caller", by, "reason", why, NULL);
        return n;
}

/* ---------------------------------------------------------------- queue */

static void start_next(Worker *w) {
        Command *c = w->queue;
        RunnerResult res;
        char nb[24];
        int r;

        if (w->running || !c || w->shell_dead || w->terminating)
                return;
        w->queue = c->next;
        if (!w->queue)
                w->queue_tail = NULL;
        c->next = NULL;
        w->running = c;
        if (w->client && w->client->wait_src && w->client->invoke_cmd == c->id)
                w->client->wait_src = evloop_source_free(w->client->wait_src);

        c->started_real = clock_usec(CLOCK_REALTIME);
        c->started_mono = clock_usec(CLOCK_MONOTONIC);
        (void) outbuf_append(&w->out, c->id, RECORD_START, (int64_t) c->started_real, c->text, strlen(c->text), NULL);
        log_debug("Command %u started: %s", c->id, c->text);
        w->dropped_before = w->out.dropped;
        worker_event(w, AUDIT_COMMAND_STARTED, "command_id", worker_num(nb, c->id), "command", c->text,
                  "caller", c->caller, NULL);
        if (c->drop_signal) {
                /* dwell stop --all: not run. */
                res = (RunnerResult) { .status = 128 + c->drop_signal };
                if (asprintf(&res.message, "dwell: not run: dropped by dwell stop --all (%s)\n",
                             strempty(c->dropped_by)) < 0)
                        res.message = NULL;
                r = 1;
        } else
                r = runner_run(w->runner, c->text, &res);
        stdin_take(w, c, r == 0);
        if (r < 0) {
                log_warning_errno(r, "Failed to start command %u: %m", c->id);
                res = (RunnerResult) { .status = 126 };
                if (asprintf(&res.message, "dwell: cannot start the command: %s\n", strerror(-r)) < 0)
                        res.message = NULL;
                r = 1;
        }
        if (r > 0) {
                command_ended_at_once(w, c, &res);
                runner_result_done(&res);
                worker_finish_command(w);      /* starts the next one and sends the status ... */
                if (w->exit_pending)
                        worker_send_status(w); /* ... unless the buffer is full (block mode) */
                return;
        }
        worker_send_status(w);
}

uint32_t worker_queue_command(Worker *w, const char *text, const char *caller, const char *on_finish) {
        Command *c = calloc(1, sizeof *c);

        if (!c || !(c->text = strdup(text)) || !(c->caller = strdup(strempty(caller))) ||
            (on_finish && *on_finish && !(c->on_finish = strdup(on_finish)))) {
                worker_command_free(c);
                return 0;
        }
        c->id = ++w->next_cmd;
        if (w->queue_tail)
                w->queue_tail->next = c;
        else
                w->queue = c;
        w->queue_tail = c;
        start_next(w);          /* a command that ends at once is freed here */
        return w->next_cmd;
}

void worker_command_free(Command *c) {
        if (c) {
                free(c->text);
                free(c->caller);
                free(c->on_finish);
                free(c->dropped_by);
                free(c);
        }
}

void worker_finish_command(Worker *w) {
        Command *c = w->running;

        if (!c || !w->exit_pending || !drain_pipes(w))
                return;
        w->exit_pending = false;
        stdin_end(w, c->id);
        {
                /* When it ran and how much of its output was dropped, for
                 * the reader's per-command records. */
                struct proto_exit_info info = {
                        .started = c->started_real,
                        .finished = clock_usec(CLOCK_REALTIME),
                        .dropped = w->out.dropped - w->dropped_before,
                };
                uint8_t data[PROTO_EXIT_INFO_SIZE];

                proto_exit_info_encode(&info, data);
                (void) outbuf_append(&w->out, c->id, RECORD_EXIT, w->exit_status_pending, data, sizeof data, NULL);
        }
        w->last_cmd = c->id;
        w->last_status = w->exit_status_pending;
        free(w->last_text);
        w->last_text = strdup(c->text);
        w->running = NULL;
        log_debug("Command %u finished with status %d", c->id, w->last_status);
        {
                char nb[24], sb[24], bb[24], tb[24], db[24], why[96] = "";
                unsigned ignored = w->runner->ignored_reports;

                /* What the worker saw itself (the command, who sent it, when
                 * it passed it on and when it learned of its end) apart from
                 * what the runner says (the status, and who says it). */
                w->runner->ignored_reports = 0;
                if (ignored > 0)
                        snprintf(why, sizeof why, "%u status report%s ignored (not this command's)", ignored,
                                 ignored == 1 ? "" : "s");
                worker_event(w, AUDIT_COMMAND_FINISHED, "command_id", worker_num(nb, c->id),
                          "exit_status", worker_num(sb, (uint64_t) w->last_status),
                          "status_source", runner_status_source_to_string(w->exit_source_pending),
                          "started_usec", worker_num(tb, c->started_real),
                          "duration_usec", worker_num(db, clock_usec(CLOCK_MONOTONIC) - c->started_mono),
                          "caller", c->caller, "reason", *why ? why : NULL, NULL);
                if (w->out.dropped > w->dropped_before)
                        worker_event(w, AUDIT_OUTPUT_DROPPED, "command_id", nb,
                                  "bytes", worker_num(bb, w->out.dropped - w->dropped_before), NULL);
        }
        if (w->temporary && c->id == w->temp_cmd)
                w->state = SESSION_CLOSED;      /* dwelld hides it; gone once delivered */
        worker_hook_queue(w, c, w->last_status);
        worker_command_free(c);
        start_next(w);
        worker_send_status(w);
        worker_wake_waiters(w);
}

void worker_runner_done(Runner *r, int status, RunnerStatusSource src, void *userdata) {
        Worker *w = userdata;

        if (!w->running)
                return;
        stdin_end(w, w->running->id);
        w->exit_pending = true;
        w->exit_status_pending = status;
        w->exit_source_pending = src;
        worker_finish_command(w);
        worker_pump(w);
}

/* The shell ended during a command and a new one took over: dwelld's idea
 * of the shell's pid (its process group, killed if the host hangs) follows. */
void worker_runner_restarted(Runner *r, void *userdata) {
        Worker *w = userdata;

        if (!w->ctl_src)
                return;
        (void) proto_put_ready(&w->ctl->out, (uint32_t) getpid(), (uint32_t) r->pid);
        if (conn_flush(w->ctl) == 0)
                (void) evloop_source_set_io_events(w->ctl_src, EPOLLIN | EPOLLOUT);
}

void worker_runner_gone(Runner *r, int status, void *userdata) {
        Worker *w = userdata;

        w->shell_dead = true;
        if (w->terminating) {
                evloop_exit(w->event, 0);
                return;
        }
        if (w->p->terminal) {
                /* A terminal session ends with its shell, as a terminal
                 * window closes when its shell exits: the user typed exit. */
                char why[64];

                snprintf(why, sizeof why, "the shell exited with status %d", status);
                log_info("Session %s: %s; the session ends", w->p->name, why);
                worker_term_drain(w);
                worker_event(w, AUDIT_SESSION_ENDED, "reason", why, NULL);
                worker_terminate(w, DETACH_REMOVED, "the shell exited");
                return;
        }
        log_warning("The shell of session %s exited with status %d", w->p->name, status);
        if (w->running) {
                w->exit_pending = true;
                w->exit_status_pending = status;
                w->exit_source_pending = RUNNER_STATUS_PROCESS;        /* the shell's own exit */
                (void) drain_pipes(w);
                w->out_eof = w->err_eof = true;
                worker_finish_command(w);
        }
        while (w->queue) {
                Command *c = w->queue;
                w->queue = c->next;
                worker_command_free(c);
        }
        w->queue_tail = NULL;
        w->state = SESSION_BROKEN;
        snprintf(w->broken_reason, sizeof w->broken_reason, "the shell exited with status %d", status);
        w->exit_code = EXIT_SHELL_GONE;
        /* The monitor closes the PAM session now; we stay to hand out
         * what is buffered until the session is removed. */
        worker_event(w, AUDIT_SESSION_BROKEN, "reason", w->broken_reason, NULL);
        worker_send_status(w);
        worker_wake_waiters(w);
        worker_pump(w);
}

/* ------------------------------------------------------------ ending */

static int on_kill_cb(EvSource *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        runner_kill(w->runner);
        return 0;
}

void worker_terminate(Worker *w, uint8_t reason, const char *by) {
        if (w->terminating)
                return;
        w->terminating = true;
        w->state = SESSION_CLOSED;
        worker_idle_stop(w);
        worker_send_status(w);
        worker_hooks_done(w);
        worker_wake_waiters(w);
        if (w->client)
                client_detach(w, w->client, reason, by);
        /* The shell, or the running command, and its process group. */
        if (w->shell_dead || runner_stop(w->runner) == 0) {
                evloop_exit(w->event, 0);
                return;
        }
        (void) evloop_add_time_relative(w->event, &w->kill_src, KILL_GRACE, on_kill_cb, w);
}

/* -------------------------------------------------------------- control */

static int on_ctl_frame(Worker *w, Frame *f) {
        struct proto_handoff h;
        _cleanup_free_ char *by = NULL;
        int r;

        switch (f->type) {
        case PROTO_MSG_HANDOFF:
                if (f->fd < 0)
                        return -EBADMSG;
                r = proto_get_handoff(&f->payload, &h);
                if (r < 0)
                        return r;
                worker_handoff(w, TAKE_FD(f->fd), &h);
                proto_handoff_done(&h);
                return 0;
        case PROTO_MSG_TERMINATE:
                r = proto_get_str_msg(&f->payload, PROTO_MAX_TEXT, &by);
                if (r < 0)
                        return r;
                log_info("Session %s removed by %s", w->p->name, by);
                worker_terminate(w, DETACH_REMOVED, by);
                return 0;
        default:
                return -EBADMSG;
        }
}

static int on_ctl_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        Frame f;
        int r;

        if (revents & EPOLLOUT && conn_flush(w->ctl) != 0)
                (void) evloop_source_set_io_events(s, EPOLLIN);
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = conn_fill(w->ctl);
        if (r == -EAGAIN)
                return 0;
        if (r > 0) {
                while ((r = conn_next(w->ctl, &f)) > 0) {
                        r = on_ctl_frame(w, &f);
                        conn_consume(w->ctl, &f);
                        if (r < 0)
                                break;
                }
                if (r >= 0)
                        return 0;
        }
        /* dwelld went away (restart): the session lives on without it. */
        log_info("Lost the connection to dwelld; session %s continues", w->p->name);
        w->ctl_src = evloop_source_free(w->ctl_src);
        return 0;
}

/* A (re)started dwelld connects to the session's socket to adopt it.  The
 * socket lives in a root-only directory; the peer must be root too. */
static int on_accept_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        uid_t uid;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        if (peer_cred(cfd, NULL, &uid, NULL) < 0 || uid != 0) {
                safe_close(cfd);
                return 0;
        }
        log_info("Session %s adopted by dwelld", w->p->name);
        w->ctl_src = evloop_source_free(w->ctl_src);
        conn_done(w->ctl);
        conn_init(w->ctl, cfd, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);
        r = evloop_add_io(w->event, &w->ctl_src, cfd, EPOLLIN, on_ctl_cb, w);
        if (r < 0) {
                conn_done(w->ctl);
                return 0;
        }
        (void) proto_put_ready(&w->ctl->out, (uint32_t) getpid(), (uint32_t) w->runner->pid);
        worker_send_status(w);
        return 0;
}

/* ----------------------------------------------------------------- main */

static int on_mon_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;

        mon_flush(w);
        if (w->paused && conn_pending(&w->mon) <= MON_HIGH_WATER &&
            (w->p->terminal || w->out.mode == BUFFERING_DROP || outbuf_room(&w->out) > 0))
                worker_set_reading(w, true);
        return 0;
}

static int worker_setup(Worker *w) {
        const RunnerCallbacks callbacks = {
                .done = worker_runner_done, .gone = worker_runner_gone, .restarted = worker_runner_restarted,
                .userdata = w,
        };
        int r, devnull;
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        /* No inherited descriptors beyond our own. */
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
                (void) dup2(devnull, 0);
                (void) dup2(devnull, 1);
                safe_close(devnull);
        }
        /* Our fds at fixed places: 3 dwelld, 4 the adoption socket, 5 the
         * monitor.  Moved out of the way first so no dup2 clobbers another. */
        {
                int *fds[2] = { &w->p->listen_fd, &w->p->monitor_fd };
                int targets[2] = { LISTEN_FD, MONITOR_FD };

                for (int i = 0; i < 2; i++)
                        if (*fds[i] >= 0 && (*fds[i] = fcntl(*fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
                                return -errno;
                for (int i = 0; i < 2; i++) {
                        if (*fds[i] < 0)
                                continue;
                        if (dup3(*fds[i], targets[i], O_CLOEXEC) < 0)
                                return -errno;
                        *fds[i] = targets[i];
                }
        }
        (void) close_range(MONITOR_FD + 1, ~0U, 0);
        (void) fd_nonblock(w->ctl->fd, true);

        r = evloop_new(&w->event);
        if (r < 0)
                return r;
        if (w->p->terminal)
                r = worker_term_start(w, &callbacks);
        else if (w->p->commands)
                r = runner_new_exec(w->event, w->p, &callbacks, &w->runner);
        else
                r = runner_new_shell(w->event, w->p, &callbacks, &w->runner);
        if (r < 0)
                return log_error_errno(r, "Failed to start the %s of session %s: %m",
                                       w->p->terminal ? "terminal" : w->p->commands ? "command runner" : "shell",
                                       w->p->name);

        if ((r = evloop_add_exit_signal(w->event, SIGTERM)) < 0 ||
            (r = evloop_add_exit_signal(w->event, SIGINT)) < 0 ||
            (!w->p->terminal && (r = worker_watch_output(w)) < 0) ||
            (r = evloop_add_io(w->event, &w->ctl_src, w->ctl->fd, EPOLLIN, on_ctl_cb, w)) < 0 ||
            (r = evloop_add_io(w->event, &w->listen_src, LISTEN_FD, EPOLLIN, on_accept_cb, w)) < 0 ||
            (w->p->monitor_fd >= 0 &&
             (r = evloop_add_io(w->event, &w->mon_src, MONITOR_FD, 0, on_mon_cb, w)) < 0))
                return log_error_errno(r, "Failed to set up the worker's event loop: %m");
        return 0;
}

/* Frees what the worker holds: clients, commands, the runner (its pipes
 * and child source), the output buffer, the monitor channel, the loop and
 * with it every event source left.  The control connection is the caller's. */
void worker_done(Worker *w) {
        while (w->clients)
                client_free(w->clients);
        while (w->queue) {
                Command *c = w->queue;

                w->queue = c->next;
                worker_command_free(c);
        }
        w->queue_tail = NULL;
        w->running = (worker_command_free(w->running), NULL);
        worker_hooks_done(w);
        free(w->last_text);
        w->last_text = NULL;
        stdin_close(w);
        buf_done(&w->stdin_buf);
        w->out_src = evloop_source_free(w->out_src);
        w->err_src = evloop_source_free(w->err_src);
        worker_term_done(w);
        w->runner = runner_free(w->runner);
        w->event = evloop_free(w->event);
        outbuf_done(&w->out);
        conn_done(&w->mon);
}

int worker_main(HostParams *p, Conn *control) {
        Worker w = {
                .p = p,
                .ctl = control,
                .idle_timeout = p->idle_timeout,
                .temporary = p->temporary,
                .state = SESSION_DISCONNECTED,
                .last_status = -1,
                .stdin_w = -EBADF,
        };
        int r;

        outbuf_init(&w.out, p->buffer_size, p->buffering);
        buf_init(&w.stdin_buf, PROTO_STDIN_WINDOW);
        /* The monitor channel holds transcript data until the monitor has
         * written it; reading output stops at MON_HIGH_WATER. */
        conn_init(&w.mon, p->monitor_fd, 4096, 64u * 1024 * 1024);
        r = worker_setup(&w);
        w.mon.fd = p->monitor_fd;
        if (r < 0) {
                (void) proto_put_failed(&control->out, r, "the session's shell could not be started");
                (void) conn_flush_all(control, 5000);
                worker_done(&w);
                return 1;
        }
        (void) proto_put_ready(&control->out, (uint32_t) getpid(), (uint32_t) w.runner->pid);
        worker_send_status(&w);
        worker_idle_start(&w);

        r = evloop_run(w.event);

        /* Tell dwelld and the monitor what is left, as far as they listen. */
        if (w.ctl_src)
                (void) conn_flush_all(control, 1000);
        if (w.mon_src)
                (void) conn_flush_all(&w.mon, 5000);
        worker_done(&w);
        return r < 0 ? 1 : w.exit_code;
}
