/* SPDX-License-Identifier: ISC */
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

#define CLIENT_HIGH_WATER (512u * 1024)         /* queued bytes before we wait for the socket */
#define INVOKE_WAIT_LIMIT (240 * USEC_PER_SEC)  /* a synchronous invoke waits this long for a busy shell */
#define KILL_GRACE (3 * USEC_PER_SEC)
#define STATUS_DELAY (USEC_PER_SEC / 2)         /* buffer-use updates to dwelld are coalesced */
#define READ_CHUNK (PROTO_MAX_DATA)
#define LISTEN_FD 4                             /* fd 3 is the first control connection */
#define MONITOR_FD 5
#define MON_HIGH_WATER (4u * 1024 * 1024)       /* transcript data queued: stop reading output */

/* Exit statuses of the worker, seen by the monitor and passed on. */
#define EXIT_SHELL_GONE 3

typedef struct Worker Worker;

typedef struct Command {
        struct Command *next;
        uint32_t id;
        char *text;
        char *caller;                   /* who asked for it */
        uint64_t started_real;          /* when the worker passed it to the runner: CLOCK_REALTIME usec */
        uint64_t started_mono;          /* ... CLOCK_MONOTONIC usec, for its duration */
} Command;

typedef struct Client {
        Worker *w;
        Conn conn;
        EvSource *io_src;
        EvSource *hb_src;
        EvSource *wait_src;      /* synchronous invoke waiting for the shell */
        uint16_t verb;
        char *who;                      /* "alice (pid 123)" */
        char *caller;
        uint32_t caller_pid;
        char *origin;
        uint32_t invoke_cmd;            /* synchronous invoke: its command */
        uint64_t last_rx;               /* CLOCK_MONOTONIC usec */
        bool closing;                   /* final frame queued: close once written */
        bool resumed;                   /* RESUME arrived: records may flow */
        struct proto_resume resume;     /* its stdout and stderr */
        bool synced_sent;
        struct proto_synced synced;
} Client;

/* A write a client announced (ACK with an intent) and has not yet
 * acknowledged: if the client is lost, the next one's RESUME says from its
 * output file's size how much of it landed. */
typedef struct Intent {
        bool set;
        uint64_t seq, offset, len;
        uint64_t dev, ino, size;
        int stream;                     /* 0 stdout, 1 stderr */
} Intent;

struct Worker {
        EvLoop *event;
        HostParams *p;
        Conn *ctl;
        EvSource *ctl_src;
        EvSource *listen_src;

        Runner *runner;                 /* the shell, or the restricted runner */
        EvSource *out_src, *err_src;
        EvSource *kill_src, *idle_src, *status_timer_src;
        bool paused;                    /* block mode: output reading stopped */
        bool out_eof, err_eof;

        OutBuf out;
        Intent intent;
        uint64_t dropped_before;        /* out.dropped when the running command started */
        Conn mon;                       /* to the monitor: audit events, transcript data */
        EvSource *mon_src;
        Command *queue, *queue_tail;
        Command *running;
        uint32_t next_cmd;
        bool exit_pending;
        int exit_status_pending;
        RunnerStatusSource exit_source_pending;
        uint32_t last_cmd;
        int32_t last_status;
        bool temporary;
        uint32_t temp_cmd;              /* temporary session: the command that ends it */

        Client *client;
        uint64_t idle_timeout;
        uint64_t idle_since;            /* realtime usec, 0 while connected */
        uint8_t state;                  /* SessionState reported to dwelld */
        bool terminating;
        bool shell_dead;                /* the runner can run nothing more */
        char broken_reason[64];
        int exit_code;
};

static void pump(Worker *w);
static void client_free(Client *c);
static void client_lost(Worker *w, const char *why);
static void worker_terminate(Worker *w, uint8_t reason, const char *by);
static void send_status(Worker *w);

static uint64_t now_mono(Worker *w) {
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

static bool busy(const Worker *w) {
        return w->running || w->queue;
}

/* ------------------------------------------------------------------ status */

static void session_info(Worker *w, struct proto_session *s, uint8_t state) {
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
                .created = w->p->created,
                .idle_since = w->idle_since,
                .holder = strdup(holder),
                .origin = w->p->origin,
                .reason = w->broken_reason,
        };
}

static void send_status(Worker *w) {
        struct proto_session s;

        w->status_timer_src = evloop_source_free(w->status_timer_src);
        if (!w->ctl_src)
                return;
        session_info(w, &s, w->state);
        (void) proto_put_session(&w->ctl->out, PROTO_MSG_STATUS, &s);
        free(s.holder);
        if (conn_flush(w->ctl) == 0)
                (void) evloop_source_set_io_events(w->ctl_src, EPOLLIN | EPOLLOUT);
}

static int on_status_timer_cb(EvSource *s, uint64_t usec, void *userdata) {
        send_status(userdata);
        return 0;
}

/* Buffer use changes all the time: tell dwelld at most twice a second. */
static void status_later(Worker *w) {
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
static void mon_event(Worker *w, AuditEvent e, ...) {
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

static const char *num(char buf[static 24], uint64_t v) {
        snprintf(buf, 24, "%llu", (unsigned long long) v);
        return buf;
}

/* ------------------------------------------------------------ idle clock */

static int on_idle_cb(EvSource *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;
        char d[32];

        format_duration(d, sizeof d, w->idle_timeout);
        log_info("Session %s idle for %s, removing it", w->p->name, d);
        mon_event(w, AUDIT_IDLE_TIMEOUT, "reason", d, NULL);
        worker_terminate(w, DETACH_TIMEOUT, "idle timeout");
        return 0;
}

static void idle_start(Worker *w) {
        w->idle_src = evloop_source_free(w->idle_src);
        if (w->terminating)
                return;
        if (!w->idle_since)
                w->idle_since = now_real();
        (void) evloop_add_time_relative(w->event, &w->idle_src, w->idle_timeout, on_idle_cb, w);
}

static void idle_stop(Worker *w) {
        w->idle_src = evloop_source_free(w->idle_src);
        w->idle_since = 0;
}

/* ---------------------------------------------------------------- output */

static void set_reading(Worker *w, bool on) {
        if (w->out_src && !w->out_eof)
                (void) evloop_source_set_enabled(w->out_src, on ? EVLOOP_ON : EVLOOP_OFF);
        if (w->err_src && !w->err_eof)
                (void) evloop_source_set_enabled(w->err_src, on ? EVLOOP_ON : EVLOOP_OFF);
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
                set_reading(w, false);
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

static void finish_command(Worker *w);

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
                finish_command(w);
        pump(w);
        status_later(w);
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
                mon_event(w, AUDIT_COMMAND_REFUSED, "command_id", num(nb, c->id), "command", c->text,
                          "caller", c->caller, "reason", why, NULL);
        }
        w->exit_pending = true;
        w->exit_status_pending = res->status;
        w->exit_source_pending = RUNNER_STATUS_DWELL;
}

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

        (void) outbuf_append(&w->out, c->id, RECORD_START, 0, c->text, strlen(c->text), NULL);
        log_debug("Command %u started: %s", c->id, c->text);
        w->dropped_before = w->out.dropped;
        c->started_real = clock_usec(CLOCK_REALTIME);
        c->started_mono = clock_usec(CLOCK_MONOTONIC);
        mon_event(w, AUDIT_COMMAND_STARTED, "command_id", num(nb, c->id), "command", c->text,
                  "caller", c->caller, NULL);
        r = runner_run(w->runner, c->text, &res);
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
                finish_command(w);      /* starts the next one and sends the status ... */
                if (w->exit_pending)
                        send_status(w); /* ... unless the buffer is full (block mode) */
                return;
        }
        send_status(w);
}

static uint32_t queue_command(Worker *w, const char *text, const char *caller) {
        Command *c = calloc(1, sizeof *c);

        if (!c || !(c->text = strdup(text)) || !(c->caller = strdup(strempty(caller)))) {
                if (c)
                        free(c->text);
                free(c);
                return 0;
        }
        c->id = ++w->next_cmd;
        if (w->queue_tail)
                w->queue_tail->next = c;
        else
                w->queue = c;
        w->queue_tail = c;
        start_next(w);
        return c->id;
}

static void command_free(Command *c) {
        if (c) {
                free(c->text);
                free(c->caller);
                free(c);
        }
}

static void finish_command(Worker *w) {
        Command *c = w->running;

        if (!c || !w->exit_pending || !drain_pipes(w))
                return;
        w->exit_pending = false;
        (void) outbuf_append(&w->out, c->id, RECORD_EXIT, w->exit_status_pending, NULL, 0, NULL);
        w->last_cmd = c->id;
        w->last_status = w->exit_status_pending;
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
                mon_event(w, AUDIT_COMMAND_FINISHED, "command_id", num(nb, c->id),
                          "exit_status", num(sb, (uint64_t) w->last_status),
                          "status_source", runner_status_source_to_string(w->exit_source_pending),
                          "started_usec", num(tb, c->started_real),
                          "duration_usec", num(db, clock_usec(CLOCK_MONOTONIC) - c->started_mono),
                          "caller", c->caller, "reason", *why ? why : NULL, NULL);
                if (w->out.dropped > w->dropped_before)
                        mon_event(w, AUDIT_OUTPUT_DROPPED, "command_id", nb,
                                  "bytes", num(bb, w->out.dropped - w->dropped_before), NULL);
        }
        if (w->temporary && c->id == w->temp_cmd)
                w->state = SESSION_CLOSED;      /* dwelld hides it; gone once delivered */
        command_free(c);
        start_next(w);
        send_status(w);
}

static void on_runner_done(Runner *r, int status, RunnerStatusSource src, void *userdata) {
        Worker *w = userdata;

        if (!w->running)
                return;
        w->exit_pending = true;
        w->exit_status_pending = status;
        w->exit_source_pending = src;
        finish_command(w);
        pump(w);
}

static void on_runner_gone(Runner *r, int status, void *userdata) {
        Worker *w = userdata;

        w->shell_dead = true;
        if (w->terminating) {
                evloop_exit(w->event, 0);
                return;
        }
        log_warning("The shell of session %s exited with status %d", w->p->name, status);
        if (w->running) {
                w->exit_pending = true;
                w->exit_status_pending = status;
                w->exit_source_pending = RUNNER_STATUS_PROCESS;        /* the shell's own exit */
                (void) drain_pipes(w);
                w->out_eof = w->err_eof = true;
                finish_command(w);
        }
        while (w->queue) {
                Command *c = w->queue;
                w->queue = c->next;
                command_free(c);
        }
        w->queue_tail = NULL;
        w->state = SESSION_BROKEN;
        snprintf(w->broken_reason, sizeof w->broken_reason, "the shell exited with status %d", status);
        w->exit_code = EXIT_SHELL_GONE;
        /* The monitor closes the PAM session now; we stay to hand out
         * what is buffered until the session is removed. */
        mon_event(w, AUDIT_SESSION_BROKEN, "reason", w->broken_reason, NULL);
        send_status(w);
        pump(w);
}

/* ---------------------------------------------------------------- client */

static void client_send_synced(Client *c) {
        Worker *w = c->w;
        struct proto_synced s = {
                .running = busy(w),
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

static void client_flush(Client *c) {
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
        if (r > 0 && c->closing) {
                client_free(c);
                return;
        }
        (void) evloop_source_set_io_events(c->io_src, r == 0 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Sends buffered records to the connected client, as far as its socket takes them. */
static void pump(Worker *w) {
        Client *c = w->client;
        const OutRecord *rec;

        if (!c || c->closing)
                return;
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

static void client_free(Client *c) {
        Worker *w;

        if (!c)
                return;
        w = c->w;
        if (w->client == c)
                w->client = NULL;
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
        outbuf_rewind(&w->out, 0);
        if (w->temporary) {
                if (w->state == SESSION_CLOSED && !outbuf_has(&w->out, w->temp_cmd)) {
                        worker_terminate(w, DETACH_REMOVED, "temporary session done");
                        return;
                }
                if (!busy(w) && !outbuf_has(&w->out, 0)) {
                        worker_terminate(w, DETACH_REMOVED, "temporary session idle");
                        return;
                }
                /* Lost while its command ran: kept so its output can be received. */
                w->temporary = false;
                w->state = SESSION_DISCONNECTED;
        }
        idle_start(w);
        send_status(w);
}

static void audit_disconnected(Worker *w, Client *c, const char *reason) {
        char pb[24];

        mon_event(w, AUDIT_SESSION_DISCONNECTED, "caller", c->caller, "caller_pid", num(pb, c->caller_pid),
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
        else
                snprintf(reason, sizeof reason, "the client was lost (%s)", why);
        audit_disconnected(w, c, reason);
        client_free(c);
        session_detached(w);
}

static void client_detach(Worker *w, Client *c, uint8_t reason, const char *by) {
        char why[256];

        snprintf(why, sizeof why, "%s %s", reason == DETACH_REQUESTED ? "disconnected by" :
                 reason == DETACH_TIMEOUT ? "session ended:" : "session removed:", by);
        audit_disconnected(w, c, why);
        (void) proto_put_detached(&c->conn.out, reason, by);
        c->closing = true;
        if (w->client == c)
                w->client = NULL;
        client_flush(c);
}

static void note_intent(Worker *w, Client *c, const struct proto_ack *ack) {
        const OutRecord *rec = w->out.head;

        w->intent.set = false;
        if (ack->intent_len == 0)
                return;
        while (rec && rec->seq < ack->seq)
                rec = rec->next;
        if (!rec || rec->seq != ack->seq || (rec->kind != RECORD_STDOUT && rec->kind != RECORD_STDERR))
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
}

/* The previous client announced a write and vanished: if this client
 * appends to the same file, its size says how much of the write landed. */
static void apply_intent(Worker *w, Client *c) {
        Intent *i = &w->intent;
        int s = i->stream;
        uint64_t landed;

        if (!i->set)
                return;
        i->set = false;
        if (c->resume.dev[s] != i->dev || c->resume.ino[s] != i->ino || c->resume.size[s] < i->size)
                return;
        landed = MIN(c->resume.size[s] - i->size, i->len);
        if (landed > 0)
                (void) outbuf_forget(&w->out, i->seq, i->offset + landed);
}

static int on_client_frame(Worker *w, Client *c, Frame *f) {
        _cleanup_free_ char *text = NULL;
        struct proto_ack ack;
        int r;

        switch (f->type) {
        case PROTO_MSG_HEARTBEAT:
                return proto_expect_end(&f->payload);
        case PROTO_MSG_ACK:
                r = proto_get_ack(&f->payload, &ack);
                if (r < 0)
                        return r;
                r = outbuf_ack_bytes(&w->out, ack.seq, ack.offset);
                if (r < 0)
                        return r;
                note_intent(w, c, &ack);
                if (w->paused && outbuf_room(&w->out) > 0)
                        set_reading(w, true);
                if (w->exit_pending)
                        finish_command(w);
                status_later(w);
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
        case PROTO_MSG_RUN:
                if (c->verb != PROTO_REQ_CONNECT)
                        return -EBADMSG;
                r = proto_get_str_msg(&f->payload, PROTO_MAX_COMMAND, &text);
                if (r < 0)
                        return r;
                if (w->shell_dead)
                        return proto_put_error(&c->conn.out, PROTO_ERR_UNAVAILABLE,
                                               "the session's shell has exited; remove the session");
                if (queue_command(w, text, c->caller) == 0)
                        return -ENOMEM;
                return 0;
        case PROTO_MSG_DETACH:
                r = proto_expect_end(&f->payload);
                if (r < 0)
                        return r;
                return -ECONNRESET;
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
                pump(w);
                if (w->client != c)
                        return 0;       /* a failed write in pump() lost (and freed) it */
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = conn_fill(&c->conn);
        if (r == -EAGAIN)
                return 0;
        if (r <= 0) {
                if (c->closing)
                        client_free(c);
                else
                        client_lost(w, r == 0 ? "connection closed" : "read failed");
                return 0;
        }
        c->last_rx = now_mono(w);
        while ((r = conn_next(&c->conn, &f)) > 0) {
                r = on_client_frame(w, c, &f);
                conn_consume(&c->conn, &f);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                if (c->closing)
                        client_free(c);
                else
                        client_lost(w, r == -ECONNRESET ? "detached" : "protocol error");
                return 0;
        }
        pump(w);
        return 0;
}

static int on_heartbeat_cb(EvSource *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        Worker *w = c->w;
        uint64_t hb = (uint64_t) w->p->heartbeat_ms * 1000;

        if (now_mono(w) - c->last_rx > 3 * hb) {
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
                        command_free(dead);
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

static Client *client_new(Worker *w, int fd, const struct proto_handoff *h) {
        Client *c = calloc(1, sizeof *c);

        if (!c) {
                safe_close(fd);
                return NULL;
        }
        c->w = w;
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
        c->last_rx = now_mono(w);
        idle_stop(w);
        {
                char pb[24];

                mon_event(w, AUDIT_SESSION_CONNECTED, "caller", c->caller, "caller_pid", num(pb, c->caller_pid),
                          "origin", c->origin, NULL);
        }
        outbuf_rewind(&w->out, filter);
        session_info(w, &s, SESSION_OPENED);
        s.availability = AVAILABILITY_AVAILABLE;
        (void) proto_put_attached(&c->conn.out, w->p->heartbeat_ms, &s);
        free(s.holder);
        if (hb > 0)
                (void) evloop_add_time_relative(w->event, &c->hb_src, hb, on_heartbeat_cb, c);
}

static void apply_options(Worker *w, const struct proto_request *req, bool idle_allowed) {
        if (req->buffering != BUFFERING_UNSET)
                w->out.mode = req->buffering;
        if (idle_allowed && req->idle_timeout > 0)
                w->idle_timeout = req->idle_timeout;
        if (w->paused && (w->out.mode == BUFFERING_DROP || outbuf_room(&w->out) > 0))
                set_reading(w, true);
}

static void handoff_invoke(Worker *w, Client *c, const struct proto_handoff *h) {
        uint32_t id;

        if (w->shell_dead) {
                reply_once(c, PROTO_ERR_UNAVAILABLE, "session %s is broken (%s); remove it", w->p->name,
                           w->broken_reason);
                return;
        }
        if (h->req.flags & PROTO_REQ_F_DISCONNECTED) {
                struct proto_session s;

                if (busy(w)) {
                        reply_once(c, PROTO_ERR_BUSY, "a command is already running in session %s", w->p->name);
                        return;
                }
                apply_options(w, &h->req, true);
                id = queue_command(w, h->req.command, h->caller);
                w->temporary = false;
                session_info(w, &s, SESSION_DISCONNECTED);
                (void) proto_put_session(&c->conn.out, PROTO_MSG_SESSION, &s);
                free(s.holder);
                c->closing = true;
                client_flush(c);
                idle_start(w);
                send_status(w);
                return;
        }
        apply_options(w, &h->req, false);
        c->invoke_cmd = w->next_cmd + 1;
        if (w->temporary)
                w->temp_cmd = c->invoke_cmd;    /* before it is queued: it may end at once */
        attach(w, c, c->invoke_cmd);
        if (busy(w))
                (void) evloop_add_time_relative(w->event, &c->wait_src, INVOKE_WAIT_LIMIT, on_invoke_wait_cb, c);
        id = queue_command(w, h->req.command, h->caller);
        if (id != c->invoke_cmd)
                log_warning("Command ids out of step (%u, %u)", id, c->invoke_cmd);
        send_status(w);
        pump(w);
}

static void handoff_disconnect(Worker *w, Client *c, const struct proto_handoff *h) {
        apply_options(w, &h->req, true);
        if (w->client) {
                log_info("Session %s disconnected from %s by %s", w->p->name, w->client->who, h->caller);
                client_detach(w, w->client, DETACH_REQUESTED, h->caller);
                session_detached(w);
        } else if (!w->terminating)
                idle_start(w);  /* the new idle timeout counts from now */
        reply_once(c, 0, NULL);
        send_status(w);
}

static void on_handoff(Worker *w, int fd, const struct proto_handoff *h) {
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
        if (w->client) {
                reply_once(c, PROTO_ERR_BUSY, "session %s is connected to another client (%s)",
                           w->p->name, w->client->who);
                return;
        }
        switch (h->verb) {
        case PROTO_REQ_INVOKE:
                handoff_invoke(w, c, h);
                break;
        case PROTO_REQ_CONNECT:
        case PROTO_REQ_RECEIVE:
                apply_options(w, &h->req, false);
                attach(w, c, 0);
                send_status(w);
                pump(w);
                break;
        default:
                reply_once(c, PROTO_ERR_INVALID_ARGUMENT, "unsupported request");
                break;
        }
}

/* ------------------------------------------------------------ ending */

static int on_kill_cb(EvSource *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        runner_kill(w->runner);
        return 0;
}

static void worker_terminate(Worker *w, uint8_t reason, const char *by) {
        if (w->terminating)
                return;
        w->terminating = true;
        w->state = SESSION_CLOSED;
        idle_stop(w);
        send_status(w);
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
                on_handoff(w, TAKE_FD(f->fd), &h);
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
        send_status(w);
        return 0;
}

/* ----------------------------------------------------------------- main */

static int on_mon_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;

        mon_flush(w);
        if (w->paused && conn_pending(&w->mon) <= MON_HIGH_WATER &&
            (w->out.mode == BUFFERING_DROP || outbuf_room(&w->out) > 0))
                set_reading(w, true);
        return 0;
}

static int worker_setup(Worker *w) {
        const RunnerCallbacks callbacks = { .done = on_runner_done, .gone = on_runner_gone, .userdata = w };
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
        if (w->p->commands)
                r = runner_new_exec(w->event, w->p, &callbacks, &w->runner);
        else
                r = runner_new_shell(w->event, w->p, &callbacks, &w->runner);
        if (r < 0)
                return log_error_errno(r, "Failed to start the %s of session %s: %m",
                                       w->p->commands ? "command runner" : "shell", w->p->name);

        if ((r = evloop_add_exit_signal(w->event, SIGTERM)) < 0 ||
            (r = evloop_add_exit_signal(w->event, SIGINT)) < 0 ||
            (r = evloop_add_io(w->event, &w->out_src, w->runner->out_fd, EPOLLIN, on_output_cb, w)) < 0 ||
            (r = evloop_add_io(w->event, &w->err_src, w->runner->err_fd, EPOLLIN, on_output_cb, w)) < 0 ||
            (r = evloop_add_io(w->event, &w->ctl_src, w->ctl->fd, EPOLLIN, on_ctl_cb, w)) < 0 ||
            (r = evloop_add_io(w->event, &w->listen_src, LISTEN_FD, EPOLLIN, on_accept_cb, w)) < 0 ||
            (w->p->monitor_fd >= 0 &&
             (r = evloop_add_io(w->event, &w->mon_src, MONITOR_FD, 0, on_mon_cb, w)) < 0))
                return log_error_errno(r, "Failed to set up the worker's event loop: %m");
        /* Output is read before status lines, command ends and client
         * input, so that a command's output is in the buffer before its
         * exit record. */
        (void) evloop_source_set_priority(w->out_src, -10);
        (void) evloop_source_set_priority(w->err_src, -10);
        return 0;
}

int worker_main(HostParams *p, Conn *control) {
        Worker w = {
                .p = p,
                .ctl = control,
                .idle_timeout = p->idle_timeout,
                .temporary = p->temporary,
                .state = SESSION_DISCONNECTED,
                .last_status = -1,
        };
        int r;

        outbuf_init(&w.out, p->buffer_size, p->buffering);
        /* The monitor channel holds transcript data until the monitor has
         * written it; reading output stops at MON_HIGH_WATER. */
        conn_init(&w.mon, p->monitor_fd, 4096, 64u * 1024 * 1024);
        r = worker_setup(&w);
        w.mon.fd = p->monitor_fd;
        if (r < 0) {
                (void) proto_put_failed(&control->out, r, "the session's shell could not be started");
                (void) conn_flush_all(control, 5000);
                return 1;
        }
        (void) proto_put_ready(&control->out, (uint32_t) getpid(), (uint32_t) w.runner->pid);
        send_status(&w);
        idle_start(&w);

        r = evloop_run(w.event);

        /* Tell dwelld and the monitor what is left, as far as they listen. */
        if (w.ctl_src)
                (void) conn_flush_all(control, 1000);
        if (w.mon_src)
                (void) conn_flush_all(&w.mon, 5000);
        return r < 0 ? 1 : w.exit_code;
}
