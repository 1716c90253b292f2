/* SPDX-License-Identifier: ISC */
/*
 * The worker's side of a terminal session: the pty master of the login
 * shell (pty.c), read at all times, attached or not; every byte goes to
 * the terminal state (terminal.c, libvterm), to the session's output
 * buffer as stdout records (what `dwell receive` reads), to the monitor
 * for the transcript, and to the attached clients as TERM_OUTPUT.  A client
 * attaching gets terminal_render() first: a fresh terminal of its size then
 * shows what the session shows.  A client resuming after a break
 * (PROTO_REQ_F_HISTORY_FROM) has the session's lines up to a position of
 * the live output already: it gets only those that scrolled since
 * (note_scrolled() remembers where lines scrolled), over its screen wiped.
 *
 * The clients come first: each read's output is written to their sockets
 * before it is fed to the terminal state and the records (when the bytes
 * alone say it is all shown, worker_marks_shows_all(): no mark of the
 * shell's can be in it) and before the recording goes to the monitor, so
 * that a keystroke's echo waits for nothing but the socket write.  What is
 * sent, recorded and rendered does not change with the order.
 *
 * Nothing a client does can make the worker block or hold unbounded
 * memory: a client whose socket lags more than TERM_CLIENT_MAX behind
 * gets no live output until it has drained, then a fresh rendering of the
 * screen (as tmux redraws); typed input the program does not read is
 * held up to TERM_INPUT_MAX and the rest dropped (a terminal's own input
 * queue overflows the same way); window sizes are clamped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "parse-util.h"
#include "terminal.h"
#include "worker-internal.h"

#define TERM_INPUT_MAX (256u * 1024)            /* typed bytes held for a program that does not read */
#define TERM_READ_CHUNK (64u * 1024)
#define TERM_READS_PER_WAKEUP 16
#define TERM_READ_SHORT 512                     /* a read this short ends a wakeup's reads */
#define TERM_FALLBACK_1 "xterm-256color"
#define TERM_FALLBACK_2 "vt100"

/* ------------------------------------------------------------- terminfo */

/* Whether the host's terminfo database has an entry for name (a
 * proto_term_valid() name: no '/'). */
bool worker_terminfo_has(const char *name) {
        static const char *const dirs[] = {
                "/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo", "/usr/lib/terminfo",
        };
        char path[256];

        if (!proto_term_valid(name))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(path, sizeof path, "%s/%c/%s", dirs[i], name[0], name);
                if (access(path, R_OK) == 0)
                        return true;
                snprintf(path, sizeof path, "%s/%02x/%s", dirs[i], (unsigned char) name[0], name);
                if (access(path, R_OK) == 0)
                        return true;
        }
        return false;
}

/* The session's TERM: the creating client's if the host knows it, else a
 * fallback the host knows. */
static int resolve_term(HostParams *p) {
        const char *t = NULL;
        char *copy;

        if (*strempty(p->term) && worker_terminfo_has(p->term))
                return 0;
        if (worker_terminfo_has(TERM_FALLBACK_1))
                t = TERM_FALLBACK_1;
        else
                t = TERM_FALLBACK_2;
        if (*strempty(p->term))
                log_info("Session %s: TERM %s is not known here, using %s", p->name, p->term, t);
        copy = strdup(t);
        if (!copy)
                return -ENOMEM;
        free(p->term);
        p->term = copy;
        return 0;
}

/* ------------------------------------------------------------------ pty */

static unsigned clamp_size(unsigned v, unsigned max) {
        return MIN(MAX(v, 1u), max);
}

static void pty_update_events(Worker *w) {
        uint32_t ev = (w->pty_paused || w->pty_eof ? 0 : EPOLLIN) | (buf_len(&w->pty_in) > 0 ? EPOLLOUT : 0);

        if (!w->pty_src)
                return;
        (void) evloop_source_set_io_events(w->pty_src, ev);
        (void) evloop_source_set_enabled(w->pty_src, ev ? EVLOOP_ON : EVLOOP_OFF);
}

void worker_term_set_reading(Worker *w, bool on) {
        w->pty_paused = !on;
        pty_update_events(w);
}

static void pty_flush_input(Worker *w) {
        while (buf_len(&w->pty_in) > 0 && w->runner && w->runner->pty_fd >= 0) {
                ssize_t n = write(w->runner->pty_fd, buf_ptr(&w->pty_in), buf_len(&w->pty_in));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) {
                        /* The terminal is gone (EIO): nobody will read it. */
                        buf_consume(&w->pty_in, buf_len(&w->pty_in));
                        break;
                }
                buf_consume(&w->pty_in, (size_t) n);
        }
        pty_update_events(w);
}

/* Bytes for the program: passed on at once as far as the pty takes them,
 * the rest held up to TERM_INPUT_MAX. */
void worker_term_input(Worker *w, const uint8_t *p, size_t n) {
        size_t room;

        if (n == 0 || !w->runner || w->runner->pty_fd < 0)
                return;
        room = TERM_INPUT_MAX - MIN(buf_len(&w->pty_in), (size_t) TERM_INPUT_MAX);
        if (n > room) {
                if (!w->pty_in_overflow)
                        log_notice("Session %s: the program does not read its terminal; typed input beyond "
                                   "%u bytes dropped", w->p->name, TERM_INPUT_MAX);
                w->pty_in_overflow = true;
                n = room;
        } else
                w->pty_in_overflow = false;
        if (n > 0)
                (void) buf_put(&w->pty_in, p, n);
        pty_flush_input(w);
}

static void on_terminal_reply(const uint8_t *p, size_t n, void *userdata) {
        Worker *w = userdata;

        /* An attached client's own terminal answers the program's queries
         * (they reach it with the output); with none, the emulator does. */
        if (w->client && w->client->term)
                return;
        worker_term_input(w, p, n);
}

/* Sends data to the attached terminal clients, each as far as it keeps up. */
static void term_broadcast(Worker *w, const uint8_t *p, size_t n) {
        Client *next;

        for (Client *c = w->clients; c; c = next) {
                next = c->all_next;
                if (!c->term || c->closing || c->term_stale || c->tty_asked)
                        continue;       /* (asked for its terminal: the rendering to come shows this) */
                if (c->tty_fd >= 0) {
                        /* Its own terminal (worker-tty.c); w->shown is
                         * still where p starts. */
                        worker_tty_put(c, p, n, true);
                        c->tty_pos = w->shown + n;
                        continue;
                }
                if (conn_pending(&c->conn) > TERM_CLIENT_MAX) {
                        /* Behind: no live output until it has drained, then a redraw. */
                        c->term_stale = true;
                        continue;
                }
                (void) proto_put_term_data(&c->conn.out, PROTO_MSG_TERM_OUTPUT, p, n);
        }
}

static void term_flush_clients(Worker *w) {
        Client *next;

        for (Client *c = w->clients; c; c = next) {
                next = c->all_next;
                if (c->term && !c->closing)
                        client_flush(c);        /* may free c */
        }
}

/* The live output is at w->shown, and the terminal state has all of it:
 * where more lines scrolled than at the last position noted, note it. */
static void note_scrolled(Worker *w) {
        uint64_t lines = terminal_scrollback_total(w->term);
        unsigned last = (w->scrolled_head + w->n_scrolled + WORKER_SCROLLED_MAX - 1) % WORKER_SCROLLED_MAX;

        if (lines == (w->n_scrolled > 0 ? w->scrolled[last].lines : 0))
                return;
        if (w->n_scrolled == WORKER_SCROLLED_MAX) {
                w->scrolled_head = (w->scrolled_head + 1) % WORKER_SCROLLED_MAX;
                w->n_scrolled--;
                w->scrolled_lost = true;
        }
        last = (w->scrolled_head + w->n_scrolled++) % WORKER_SCROLLED_MAX;
        w->scrolled[last].pos = w->shown;
        w->scrolled[last].lines = lines;
}

/* How many lines scrolled into the scrollback after live output position
 * pos, or -ESRCH when that is not known (pos is older than the positions
 * noted, or was never shown).  Lines that scrolled between the noted
 * position before pos and pos itself count too: the client sees them
 * again rather than misses them. */
static int64_t scrolled_since(const Worker *w, uint64_t pos) {
        uint64_t now = terminal_scrollback_total(w->term);

        if (pos > w->shown)
                return -ESRCH;
        for (unsigned k = w->n_scrolled; k > 0; k--) {
                unsigned i = (w->scrolled_head + k - 1) % WORKER_SCROLLED_MAX;

                if (w->scrolled[i].pos <= pos)
                        return (int64_t) MIN(now - w->scrolled[i].lines, (uint64_t) INT64_MAX);
        }
        return w->scrolled_lost ? -ESRCH : (int64_t) MIN(now, (uint64_t) INT64_MAX);
}

/* A client whose terminal stands at live output position pos: at most
 * *lines of scrollback, only what scrolled since, over its screen wiped;
 * unchanged if that is not known. */
static void resume_from(const Worker *w, uint64_t pos, unsigned *lines, TerminalRenderFlags *flags) {
        int64_t n = scrolled_since(w, pos);

        if (n < 0)
                return;
        *lines = (unsigned) MIN((uint64_t) n, (uint64_t) *lines);
        *flags |= TERMINAL_RENDER_WIPE;
}

void worker_term_show(Worker *w, const uint8_t *p, size_t n, bool sent) {
        if (n == 0)
                return;
        if (!sent)
                term_broadcast(w, p, n);
        w->shown += n;
        note_scrolled(w);
        /* The recording (asciicast.h): every byte, attached or not. */
        worker_record_output(w, p, n);
}

/* What is queued for the clients that get live output, written now as far
 * as their sockets take it.  Errors and the redraw of a client that caught
 * up are left to term_flush_clients(), after the terminal state has the
 * output too. */
static void term_send(Worker *w) {
        for (Client *c = w->clients; c; c = c->all_next) {
                if (!c->term || c->closing || c->term_stale)
                        continue;
                if (c->tty_fd >= 0)
                        worker_tty_flush(c);
                else if (conn_pending(&c->conn) > 0)
                        (void) conn_flush(&c->conn);
        }
}

/* One read of the pty: >0 bytes, 0 the terminal is gone, -EAGAIN, -ENOBUFS (the monitor lags). */
static int pty_read(Worker *w) {
        static uint8_t chunk[TERM_READ_CHUNK];
        ssize_t n;

        if (conn_pending(&w->mon) > MON_HIGH_WATER) {
                /* The transcript must be complete: wait for the monitor (root). */
                worker_set_reading(w, false);
                return -ENOBUFS;
        }
        n = read(w->runner->pty_fd, chunk, sizeof chunk);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? -EAGAIN : 0;   /* EIO: no slave left */
        if (n == 0)
                return 0;
        /* To the terminal state; to the output buffer as stdout records
         * of the command line the shell's marks say runs; to the clients,
         * watchers and the recording (worker_term_show) -- all of it but
         * the shell's own marks, which carry the session's nonce.  The
         * clients' sockets are written first: before the rest when no
         * mark can be in it, else at once after it. */
        if (worker_marks_shows_all(w, chunk, (size_t) n)) {
                term_broadcast(w, chunk, (size_t) n);
                term_send(w);
                worker_marks_feed(w, chunk, (size_t) n, true);
        } else {
                worker_marks_feed(w, chunk, (size_t) n, false);
                term_send(w);
        }
        worker_mon_flush(w);
        return (int) n;
}

/* Reads while the pty has output, at most TERM_READS_PER_WAKEUP times.  A
 * short read ends them: the pty had little, so the next read would most
 * likely find nothing (EAGAIN, after waiting for the tty's buffer work),
 * and if more comes epoll says so (level-triggered).  A keystroke's echo
 * costs one read, and the worker sleeps right after its bookkeeping.
 * to_end (the shell has exited): until nothing is left. */
static void pty_drain(Worker *w, bool to_end) {
        for (int i = 0; i < TERM_READS_PER_WAKEUP && !w->pty_eof && !w->pty_paused; i++) {
                int r = pty_read(w);

                if (r == 0) {
                        w->pty_eof = true;
                        worker_marks_flush(w);
                        worker_mon_flush(w);
                        pty_update_events(w);
                }
                if (r <= 0 || (r < TERM_READ_SHORT && !to_end))
                        break;
        }
}

static int on_pty_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;

        if (revents & EPOLLOUT)
                pty_flush_input(w);
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                pty_drain(w, false);
        term_flush_clients(w);
        worker_pump(w);         /* a receive client */
        worker_status_later(w);
        return 0;
}

int worker_term_start(Worker *w, const RunnerCallbacks *cb) {
        unsigned rows = w->p->rows ? clamp_size(w->p->rows, TERMINAL_MAX_ROWS) : 24,
                 cols = w->p->cols ? clamp_size(w->p->cols, TERMINAL_MAX_COLS) : 80;
        int r;

        r = resolve_term(w->p);
        if (r < 0)
                return r;
        r = terminal_new(rows, cols, w->p->scrollback, &w->term);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the terminal of session %s: %m", w->p->name);
        terminal_set_reply_handler(w->term, on_terminal_reply, w);
        worker_marks_attach(w);
        buf_init(&w->pty_in, TERM_INPUT_MAX);
        r = worker_marks_env(w);
        if (r < 0)
                return r;
        r = runner_new_pty(w->event, w->p, cb, rows, cols, &w->runner);
        if (r < 0)
                return r;
        r = evloop_add_io(w->event, &w->pty_src, w->runner->pty_fd, EPOLLIN, on_pty_cb, w);
        if (r < 0)
                return r;
        (void) evloop_source_set_priority(w->pty_src, -10);
        return 0;
}

void worker_term_done(Worker *w) {
        worker_marks_done(w);
        w->pty_src = evloop_source_free(w->pty_src);
        w->term = terminal_free(w->term);
        buf_done(&w->pty_in);
}

/* The shell exited: what it printed last is read before the session ends. */
void worker_term_drain(Worker *w) {
        if (w->runner && w->runner->pty_fd >= 0 && w->term) {
                w->pty_paused = false;
                pty_drain(w, true);
                term_flush_clients(w);
        }
}

/* ------------------------------------------------------------- clients */

static void term_resize(Worker *w, unsigned rows, unsigned cols) {
        struct winsize ws;
        unsigned cur_rows, cur_cols;

        rows = clamp_size(rows, TERMINAL_MAX_ROWS);
        cols = clamp_size(cols, TERMINAL_MAX_COLS);
        terminal_get_size(w->term, &cur_rows, &cur_cols);
        if (rows == cur_rows && cols == cur_cols)
                return;
        ws = (struct winsize) { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };
        /* The kernel sends SIGWINCH to the foreground process group. */
        if (w->runner && w->runner->pty_fd >= 0)
                (void) ioctl(w->runner->pty_fd, TIOCSWINSZ, &ws);
        (void) terminal_resize(w->term, rows, cols);
        worker_record_size(w, cols, rows);
}

/* What makes c's terminal show the session's: with up to lines of
 * scrollback on attach, the screen alone on a redraw; then, for a client
 * that takes it, where the live output that follows stands. */
static void term_render_to(Worker *w, Client *c, unsigned lines, TerminalRenderFlags flags) {
        Buf b;
        int r;

        buf_init(&b, TERM_RENDER_MAX);
        r = terminal_render(w->term, &b, lines, flags);
        if (r < 0 && lines > 0) {
                buf_reset(&b);
                r = terminal_render(w->term, &b, 0, flags);
        }
        if (r < 0)
                log_warning_errno(r, "Session %s: cannot render the screen for %s: %m", w->p->name, c->who);
        if (c->tty_fd >= 0) {
                /* Its own terminal: the rendering, then the live output from here. */
                c->tty_pos = w->shown;
                c->tty_pos_known = r >= 0;
                if (r >= 0)
                        worker_tty_put(c, buf_ptr(&b), buf_len(&b), false);
                buf_done(&b);
                worker_tty_flush(c);
                return;
        }
        for (size_t off = 0; r >= 0 && off < buf_len(&b); off += PROTO_MAX_DATA) {
                size_t n = MIN((size_t) PROTO_MAX_DATA, buf_len(&b) - off);

                r = proto_put_term_data(&c->conn.out, PROTO_MSG_TERM_OUTPUT, buf_ptr(&b) + off, n);
        }
        buf_done(&b);
        if (c->term_pos)
                (void) proto_put_u64_msg(&c->conn.out, PROTO_MSG_TERM_POS, w->shown);
}

/* The scrollback an attaching client gets: none (--no-history); a client
 * resuming after a break (PROTO_REQ_F_HISTORY_FROM), the lines that
 * scrolled since the position its terminal stands at, its screen wiped
 * (it shows the session's lines already); else all of it. */
static void term_render_attach(Worker *w, Client *c, const struct proto_request *req) {
        unsigned lines = w->p->scrollback;
        TerminalRenderFlags flags = 0;

        c->term_pos = req->flags & PROTO_REQ_F_TERM_POS;
        if (req->flags & PROTO_REQ_F_NO_HISTORY)
                lines = 0;
        else if (req->flags & PROTO_REQ_F_HISTORY_FROM) {
                uint64_t pos;

                if (parse_uint64(strempty(req->command), &pos) >= 0)
                        resume_from(w, pos, &lines, &flags);
        }
        if (worker_tty_ask(w, c, req)) {
                /* Rendered once its terminal is handed over (or not). */
                c->render_lines = lines;
                c->render_flags = flags;
                c->render_resume = req->flags & PROTO_REQ_F_RECONNECT;
                return;
        }
        term_render_to(w, c, lines, flags);
}

void worker_term_render_asked(Worker *w, Client *c) {
        unsigned lines = c->render_lines;
        TerminalRenderFlags flags = c->render_flags;
        struct stat st;

        /* The same terminal back, its client reconnecting by itself: only
         * what scrolled since it was let go. */
        if (c->tty_fd >= 0 && c->render_resume && lines > 0 && w->tty_left.set &&
            w->tty_left.uid == c->caller_uid && fstat(c->tty_fd, &st) == 0 && st.st_rdev == w->tty_left.rdev)
                resume_from(w, w->tty_left.pos, &lines, &flags);
        w->tty_left.set = false;
        term_render_to(w, c, lines, flags);
}

int worker_term_attach(Worker *w, Client *c, const struct proto_request *req) {
        char notice[PROTO_MAX_TEXT];

        c->term = true;
        if (req->rows > 0 && req->cols > 0)
                term_resize(w, req->rows, req->cols);
        if (*strempty(req->term) && !streq(req->term, w->p->term) && !worker_terminfo_has(req->term)) {
                snprintf(notice, sizeof notice, "dwell: %s has no terminfo entry for TERM=%s; session %s uses TERM=%s",
                         w->p->host, req->term, w->p->name, w->p->term);
                (void) proto_put_str_msg(&c->conn.out, PROTO_MSG_TERM_NOTICE, notice);
        }
        term_render_attach(w, c, req);
        return 0;
}

void worker_term_watch(Worker *w, Client *c, const struct proto_request *req) {
        c->term = true;
        term_render_attach(w, c, req);
}

void worker_term_client_drained(Client *c) {
        Worker *w = c->w;

        if (!c->term || !c->term_stale || c->closing || (c->tty_fd >= 0 && buf_len(&c->tty_out) > 0))
                return;
        c->term_stale = false;
        term_render_to(w, c, 0, 0);
}

int worker_term_frame(Worker *w, Client *c, Frame *f) {
        const uint8_t *p;
        uint16_t rows, cols;
        size_t n;
        int r;

        if (c->watcher) {
                char pb[24];

                /* The typer's size rules; a watcher never types. */
                if (f->type == PROTO_MSG_TERM_SIZE)
                        return 0;
                log_notice("Session %s: watcher %s sent input: disconnected", w->p->name, c->who);
                worker_event(w, AUDIT_ACCESS_DENIED, "caller", c->caller, "caller_pid", worker_num(pb, c->caller_pid),
                             "origin", c->origin, "reason", "a watcher (dwell watch) sent input: disconnected", NULL);
                /* Answered, then closed once that is out (on_client_io_cb). */
                (void) proto_put_error(&c->conn.out, PROTO_ERR_PERMISSION_DENIED, "watchers cannot type");
                c->closing = true;
                return -EPERM;
        }
        if (!c->term || w->client != c)
                return -EBADMSG;        /* only the typer types */
        switch (f->type) {
        case PROTO_MSG_TERM_INPUT:
                r = proto_get_term_data(&f->payload, &p, &n);
                if (r < 0)
                        return r;
                if (n > 0)
                        worker_marks_typed(w, c);
                worker_term_input(w, p, n);
                return 0;
        case PROTO_MSG_TERM_SIZE:
                r = proto_get_term_size(&f->payload, &rows, &cols);
                if (r < 0)
                        return r;
                if (rows == 0 || cols == 0)
                        return 0;       /* not known: nothing changes */
                term_resize(w, rows, cols);
                return 0;
        default:
                return -EBADMSG;
        }
}
