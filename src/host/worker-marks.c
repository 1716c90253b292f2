/* SPDX-License-Identifier: ISC */
/*
 * A terminal session's command records (osc133.h): the shell's OSC 133
 * marks, handed over by the terminal state (terminal.h) while the pty's
 * output is fed to it, open and close Commands as `invoke` does for a
 * command session: a START record with the command line, the output
 * between the marks as its stdout records, an EXIT record with the status
 * the shell reported; audited (command-started / command-finished, with
 * DWELL_EXIT_STATUS_SOURCE=shell); `list -l` shows the last one.
 *
 * The records are cut exactly at the marks: the pty's output is fed to
 * the terminal state in pieces that end at a string terminator (BEL or
 * ESC \), so that a mark is known before the bytes after it are recorded;
 * the shell's marks themselves go nowhere (below).
 *
 * The shell's own marks (those with the session's nonce) are taken out of
 * the stream that is recorded, sent to clients and watchers and written
 * to the recording (worker_term_show): no client, watcher or reader of a
 * recording learns the nonce, and so none can have the session print a
 * mark with it.  The end
 * of a read that may begin a mark (its intro, or a start of one) is held
 * back until its string terminator comes, at most MARK_MAX bytes (a
 * longer string is not a mark terminal.c passes on): every byte is fed to
 * the terminal state once, and every byte that is not one of the shell's
 * marks is recorded and shown once, in order.
 *
 * A read in which no mark can start (no intro, nor the start of one at its
 * end) and before which nothing is held is shown whole, whatever the
 * terminal state makes of it: worker_marks_shows_all() says so from the
 * bytes alone, and the pty's reader then sends it to the clients before it
 * is fed and recorded here (a keystroke's echo does not wait for the
 * bookkeeping).
 *
 * `invoke` on a terminal session types its command line at the prompt,
 * if the shell waits there and nobody has typed since (osc133_state_idle);
 * else it answers busy.  The invoking client gets the records of that
 * command line (its C mark) and its status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "osc133.h"
#include "strv.h"
#include "terminal.h"
#include "worker-internal.h"

#define MARK_INTRO "\x1b]133;"
#define MARK_INTRO_LEN (sizeof MARK_INTRO - 1)
/* The longest mark terminal.c passes on: intro, kind, ';', TERMINAL_MAX_MARK
 * bytes, ESC '\'. */
#define MARK_MAX (MARK_INTRO_LEN + 2 + TERMINAL_MAX_MARK + 2)
_Static_assert(WORKER_MARK_HOLD >= MARK_MAX, "the hold takes a whole mark");
#define TERM_INVOKE_START_LIMIT (10 * USEC_PER_SEC)    /* the shell must start an invoked line within this */

static uint64_t clock_usec(clockid_t id) {
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* KEY=VALUE in env, replacing any KEY=. */
static int env_set(char ***env, const char *key, const char *value) {
        size_t k = strlen(key), j = 0;
        char *kv;

        for (size_t i = 0; *env && (*env)[i]; i++) {
                if (strncmp((*env)[i], key, k) == 0 && (*env)[i][k] == '=')
                        free((*env)[i]);
                else
                        (*env)[j++] = (*env)[i];
        }
        if (*env)
                (*env)[j] = NULL;
        if (asprintf(&kv, "%s=%s", key, value) < 0)
                return -ENOMEM;
        return strv_consume(env, kv);
}

/* Only bash gets the marks: three variables in its environment (osc133.h). */
int worker_marks_env(Worker *w) {
        char nonce[OSC133_NONCE_LEN + 1];
        int r;

        if (!osc133_shell_supported(w->p->shell))
                return 0;
        r = osc133_nonce_new(nonce);
        if (r < 0)
                return log_warning_errno(r, "Session %s: no random nonce for the shell's marks, no command records: %m",
                                         w->p->name);
        r = env_set(&w->p->env, "PROMPT_COMMAND", OSC133_PROMPT_COMMAND);
        r = r < 0 ? r : env_set(&w->p->env, "DWELL_SHELL_INTEGRATION", osc133_bash_script);
        r = r < 0 ? r : env_set(&w->p->env, "DWELL_OSC133_NONCE", nonce);
        if (r < 0)
                return r;
        osc133_state_init(&w->marks, nonce);
        w->marks_on = true;
        return 0;
}

/* ------------------------------------------------------------ records */

static void mark_start(Worker *w, Osc133Mark *m) {
        Client *inv = w->term_invoke;
        Command *c = calloc(1, sizeof *c);
        const char *caller;
        char nb[24];

        if (!c)
                return;
        /* Who typed it: the invoking client, else the client typing now or
         * last (a command line may be started while nobody is attached). */
        caller = inv ? inv->caller : w->client && w->client->term ? w->client->caller : strempty(w->last_typer);
        c->id = ++w->next_cmd;
        c->text = strdup(*strempty(m->cmdline) ? m->cmdline : "(not in the shell's history)");
        c->caller = strdup(caller);
        if (!c->text || !c->caller) {
                worker_command_free(c);
                return;
        }
        c->started_real = clock_usec(CLOCK_REALTIME);
        c->started_mono = clock_usec(CLOCK_MONOTONIC);
        if (inv) {
                inv->wait_src = evloop_source_free(inv->wait_src);
                if (inv->invoke_cmd != c->id)
                        log_warning("Session %s: invoked command ids out of step (%u, %u)", w->p->name,
                                    inv->invoke_cmd, c->id);
                inv->invoke_cmd = c->id;
                w->term_invoke = NULL;
        }
        w->running = c;
        w->dropped_before = w->out.dropped;
        (void) outbuf_append(&w->out, c->id, RECORD_START, (int64_t) c->started_real, c->text, strlen(c->text), NULL);
        worker_event(w, AUDIT_COMMAND_STARTED, "command_id", worker_num(nb, c->id), "command", c->text,
                     "caller", c->caller, NULL);
}

static void mark_finish(Worker *w, int status) {
        Command *c = w->running;
        char nb[24], sb[24], tb[24], db[24], bb[24];
        struct proto_exit_info info;
        uint8_t data[PROTO_EXIT_INFO_SIZE];

        if (!c)
                return;
        info = (struct proto_exit_info) {
                .started = c->started_real,
                .finished = clock_usec(CLOCK_REALTIME),
                .dropped = w->out.dropped - w->dropped_before,
        };
        proto_exit_info_encode(&info, data);
        /* No status (its D mark was lost): reported as -1 nowhere; 255 as
         * for a shell that cannot tell. */
        (void) outbuf_append(&w->out, c->id, RECORD_EXIT, status >= 0 ? status : 255, data, sizeof data, NULL);
        w->last_cmd = c->id;
        w->last_status = status >= 0 ? status : 255;
        free(w->last_text);
        w->last_text = strdup(c->text);
        w->running = NULL;
        worker_event(w, AUDIT_COMMAND_FINISHED, "command_id", worker_num(nb, c->id),
                     "exit_status", worker_num(sb, (uint64_t) w->last_status), "status_source", "shell",
                     "started_usec", worker_num(tb, c->started_real),
                     "duration_usec", worker_num(db, clock_usec(CLOCK_MONOTONIC) - c->started_mono),
                     "caller", c->caller,
                     "reason", status < 0 ? "the shell printed a prompt without the command's exit status" : NULL,
                     NULL);
        if (w->out.dropped > w->dropped_before)
                worker_event(w, AUDIT_OUTPUT_DROPPED, "command_id", nb,
                             "bytes", worker_num(bb, w->out.dropped - w->dropped_before), NULL);
        worker_command_free(c);
        worker_send_status(w);
        worker_wake_waiters(w);
}

/* terminal.h's mark handler: called from terminal_feed(); acted on once
 * the piece fed is recorded (worker_marks_feed). */
static void on_mark(char kind, const char *args, size_t n, void *userdata) {
        Worker *w = userdata;
        Osc133Mark m = { .status = -1 };
        Osc133Action a;

        w->mark_seen = true;
        if (!w->marks_on)
                return;
        a = osc133_state_mark(&w->marks, kind, args, n, clock_usec(CLOCK_MONOTONIC), &m);
        if (a == OSC133_NONE) {
                osc133_mark_done(&m);
                return;
        }
        /* Pieces end at a string terminator: one mark per piece at most. */
        osc133_mark_done(&w->mark);
        w->mark = m;
        w->mark_action = a;
}

void worker_marks_attach(Worker *w) {
        terminal_set_mark_handler(w->term, on_mark, w);
}

static void record(Worker *w, const uint8_t *p, size_t n) {
        uint8_t mode = w->out.mode;

        if (n == 0)
                return;
        /* The text log for receive: the pty is drained at all times, so a
         * full buffer drops its oldest output whatever the buffering mode. */
        w->out.mode = BUFFERING_DROP;
        (void) outbuf_append(&w->out, w->running ? w->running->id : 0, RECORD_STDOUT, 0, p, n, NULL);
        w->out.mode = mode;
}

static bool is_st(const uint8_t *p, size_t i, bool esc_before) {
        return p[i] == 0x07 || (p[i] == '\\' && (i > 0 ? p[i - 1] == 0x1b : esc_before));
}

/* Where the mark that ends p[0..n) starts (n if not in this piece). */
static size_t mark_start_in(const uint8_t *p, size_t n) {
        for (size_t i = n >= MARK_INTRO_LEN ? n - MARK_INTRO_LEN + 1 : 0; i-- > 0;)
                if (memcmp(p + i, MARK_INTRO, MARK_INTRO_LEN) == 0)
                        return i;
        return n;
}

/* Where a string left open at the end of p[0..n) (no terminator after it)
 * may be a mark: its intro, or the start of one cut at the end; n if none. */
static size_t open_mark_in(const uint8_t *p, size_t n) {
        size_t i = mark_start_in(p, n);

        if (i < n)
                return i;
        for (size_t l = MIN(n, MARK_INTRO_LEN - 1); l > 0; l--)
                if (memcmp(p + n - l, MARK_INTRO, l) == 0)
                        return n - l;
        return n;
}

/* Whether all of p[0..n), read from the pty, is shown as it is (see the
 * top): nothing held from before, and no byte of it can begin a mark --
 * no MARK_INTRO in it, nor a start of one at its end (exactly when
 * open_mark_in(p, n) == n, found with memchr). */
bool worker_marks_shows_all(Worker *w, const uint8_t *p, size_t n) {
        const uint8_t *end = p + n;

        if (!w->marks_on)
                return true;
        if (w->mark_hold_len > 0)
                return false;
        for (const uint8_t *q = memchr(p, 0x1b, n); q; q = memchr(q + 1, 0x1b, (size_t) (end - q - 1)))
                if (memcmp(q, MARK_INTRO, MIN((size_t) (end - q), MARK_INTRO_LEN)) == 0)
                        return false;
        return true;
}

/* Whether p[0..n), from an intro to its string terminator, is one of the
 * shell's marks: its bytes are exactly one OSC 133 string (no control
 * byte inside) that carries the session's nonce. */
static bool mark_is_ours(Worker *w, const uint8_t *p, size_t n) {
        size_t st = n > 0 && p[n - 1] == 0x07 ? 1 : 2, len;
        Osc133Mark m;
        const uint8_t *args;
        int r;

        if (n < MARK_INTRO_LEN + 1 + st || memcmp(p, MARK_INTRO, MARK_INTRO_LEN) != 0)
                return false;
        args = p + MARK_INTRO_LEN + 1;
        len = n - MARK_INTRO_LEN - 1 - st;
        if (len > 0) {
                if (args[0] != ';')
                        return false;
                args++;
                len--;
        }
        if (len > TERMINAL_MAX_MARK)
                return false;
        for (size_t i = 0; i < len; i++)
                if (args[i] < 0x20 || args[i] == 0x7f)
                        return false;
        r = osc133_parse((char) p[MARK_INTRO_LEN], (const char *) args, len, w->marks.nonce, &m);
        osc133_mark_done(&m);
        return r != 0;          /* -ENOMEM: the nonce matched, its command line was not decoded */
}

/* p[0..n) in pieces that end at a string terminator: to the terminal
 * state; to the records, cut at the marks; shown (worker_term_show)
 * without the shell's own marks.  An open string from hold_from on that
 * may be a mark waits in mark_hold for its end (SIZE_MAX: nothing waits).
 * sent: the clients have all of p already (worker_marks_shows_all): it
 * only goes to the recording. */
static void feed(Worker *w, const uint8_t *p, size_t n, size_t hold_from, bool sent) {
        size_t off = 0, shown = 0;

        if (w->marks_on && hold_from < n) {
                size_t tail = n, h;

                /* After the last string terminator. */
                while (tail > 0 && !is_st(p, tail - 1, false))
                        tail--;
                tail = MAX(tail, hold_from);
                h = tail + open_mark_in(p + tail, n - tail);
                if (h < n && n - h <= MARK_MAX) {
                        memcpy(w->mark_hold, p + h, n - h);
                        w->mark_hold_len = n - h;
                        n = h;
                }
        }

        while (off < n) {
                const uint8_t *q = p + off;
                size_t len = n - off, cut;
                bool ended = false, ours = false;
                Osc133Action a;

                for (size_t i = 0; i < len; i++)
                        if (is_st(q, i, false)) {
                                len = i + 1;
                                ended = true;
                                break;
                        }
                w->mark_action = OSC133_NONE;
                w->mark_seen = false;
                terminal_feed(w->term, q, len);
                a = w->mark_action;
                w->mark_action = OSC133_NONE;
                /* Where the mark that ends the piece starts (len: none), and
                 * whether it is the shell's: then its bytes go nowhere. */
                cut = w->mark_seen && ended ? mark_start_in(q, len) : len;
                ours = w->marks_on && cut < len && mark_is_ours(w, q + cut, len - cut);
                if (a == OSC133_NONE)
                        record(w, q, ours ? cut : len);
                else if (a == OSC133_START) {
                        /* The C mark ends the prompt's line. */
                        record(w, q, ours ? cut : len);
                        mark_start(w, &w->mark);
                } else {
                        /* The command's output ends where its mark starts
                         * (a mark that is somehow not cut out goes with the
                         * prompt that follows). */
                        record(w, q, cut);
                        mark_finish(w, a == OSC133_FINISH ? w->mark.status : -1);
                        if (!ours)
                                record(w, q + cut, len - cut);
                        if (a == OSC133_FINISH_START)
                                mark_start(w, &w->mark);
                }
                osc133_mark_done(&w->mark);
                if (ours) {
                        /* (Never when sent: no intro in p.) */
                        worker_term_show(w, p + shown, off + cut - shown, sent);
                        shown = off + len;
                }
                off += len;
        }
        worker_term_show(w, p + shown, n - shown, sent);
}

/* The pty's output (sent: worker_marks_shows_all(), and the clients have it). */
void worker_marks_feed(Worker *w, const uint8_t *p, size_t n, bool sent) {
        while (w->mark_hold_len > 0) {
                uint8_t held[WORKER_MARK_HOLD];
                size_t k = 0, len;
                bool ended = false, not_mark = false;

                /* Bytes for the held string, up to its terminator. */
                for (; k < n && w->mark_hold_len + k < MARK_MAX; k++) {
                        size_t at = w->mark_hold_len + k;

                        if (at < MARK_INTRO_LEN && p[k] != (uint8_t) MARK_INTRO[at]) {
                                not_mark = true;
                                break;
                        }
                        if (is_st(p, k, w->mark_hold[w->mark_hold_len - 1] == 0x1b)) {
                                k++;
                                ended = true;
                                break;
                        }
                }
                memcpy(w->mark_hold + w->mark_hold_len, p, k);
                w->mark_hold_len += k;
                p += k;
                n -= k;
                if (!ended && !not_mark && w->mark_hold_len < MARK_MAX)
                        return;         /* (all of p taken) still open */
                /* Whole, not a mark after all, or too long for one (a mark
                 * may start later in it: it may wait again). */
                len = w->mark_hold_len;
                memcpy(held, w->mark_hold, len);
                w->mark_hold_len = 0;
                feed(w, held, len, ended ? SIZE_MAX : 1, false);
        }
        feed(w, p, n, 0, sent);
}

void worker_marks_flush(Worker *w) {
        uint8_t held[WORKER_MARK_HOLD];
        size_t len = w->mark_hold_len;

        if (len == 0)
                return;
        memcpy(held, w->mark_hold, len);
        w->mark_hold_len = 0;
        feed(w, held, len, SIZE_MAX, false);
}

/* A client typed (TERM_INPUT): the prompt is no longer free for invoke. */
void worker_marks_typed(Worker *w, Client *c) {
        w->marks.typed = true;
        if (!streq_ptr(w->last_typer, c->caller)) {
                free(w->last_typer);
                w->last_typer = strdup(c->caller);
        }
}

void worker_marks_done(Worker *w) {
        osc133_mark_done(&w->mark);
        free(w->last_typer);
        w->last_typer = NULL;
}

/* ------------------------------------------------------------ invoke */

static int on_term_invoke_wait_cb(EvSource *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        Worker *w = c->w;

        (void) s;
        (void) usec;
        c->wait_src = evloop_source_free(c->wait_src);
        if (w->term_invoke != c)
                return 0;
        /* The shell did not take the line (an open quote, a prompt of a
         * program that is not the shell's): drop it as Ctrl-C would. */
        w->term_invoke = NULL;
        worker_term_input(w, (const uint8_t *) "\x03", 1);
        {
                char msg[256];

                snprintf(msg, sizeof msg, "the shell of session %s did not run the command line (incomplete, "
                         "or typed into a program)", w->p->name);
                client_abandon(c, PROTO_ERR_UNAVAILABLE, msg);
        }
        return 0;
}

/* Whether text can be typed at a prompt as one command line. */
static bool line_typable(const char *text) {
        size_t n = strlen(text);

        if (n == 0 || n > OSC133_CMDLINE_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *) text; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* invoke on a terminal session (synchronous only): 1 if c was answered. */
int worker_marks_invoke(Worker *w, Client *c, const struct proto_handoff *h) {
        if (h->req.flags & PROTO_REQ_F_DISCONNECTED) {
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "session %s is a terminal session: invoke -d "
                              "is not supported there (type the command at its terminal)", w->p->name);
                return 1;
        }
        if (!line_typable(strempty(h->req.command))) {
                client_refuse(c, PROTO_ERR_INVALID_ARGUMENT, "a command for a terminal session is one line "
                              "of 1 to %u bytes without control characters", OSC133_CMDLINE_MAX);
                return 1;
        }
        if (!w->marks_on) {
                client_refuse(c, PROTO_ERR_UNAVAILABLE, "session %s's shell gives no shell-integration marks "
                              "(only bash does): type the command at its terminal", w->p->name);
                return 1;
        }
        if (w->term_invoke || !osc133_state_idle(&w->marks)) {
                client_refuse(c, PROTO_ERR_BUSY, "session %s is busy: %s", w->p->name,
                              w->marks.phase == OSC133_RUNNING ? "a program runs in the foreground of its terminal" :
                              w->marks.phase == OSC133_UNKNOWN ? "its shell has not shown a prompt" :
                              "a command line is being typed at its prompt");
                return 1;
        }
        return 0;
}

/* c is attached (it gets the records of its command): type the line. */
void worker_marks_invoke_start(Worker *w, Client *c, const char *text) {
        w->term_invoke = c;
        w->marks.typed = true;
        c->invoke_cmd = w->next_cmd + 1;
        worker_term_input(w, (const uint8_t *) text, strlen(text));
        worker_term_input(w, (const uint8_t *) "\r", 1);
        (void) evloop_add_time_relative(w->event, &c->wait_src, TERM_INVOKE_START_LIMIT, on_term_invoke_wait_cb, c);
}

/* c is gone. */
void worker_marks_client_gone(Worker *w, Client *c) {
        if (w->term_invoke == c)
                w->term_invoke = NULL;
}
