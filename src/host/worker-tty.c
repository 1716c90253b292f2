/* SPDX-License-Identifier: ISC */
/*
 * A local typer's own terminal, handed to the worker, as tmux's and
 * screen's clients hand theirs to their server: the worker reads the keys
 * from it and writes the session's output to it, so that neither a
 * keystroke nor its echo passes through the client.
 *
 * Only a client whose caller is the session identity offers it
 * (PROTO_REQ_F_TTY_OFFER: `dwell connect` on this machine, its standard
 * input and output one terminal); the worker asks (TERM_TTY_ASK) instead
 * of rendering, and the client hands over a descriptor of its own
 * (O_NONBLOCK, its own open of the terminal) with its detach keys
 * (TERM_TTY), or none if it cannot.  The worker takes only a terminal
 * (a character device that isatty()); anything else is closed and the
 * client is served over its socket as before.  The descriptor gives the
 * worker nothing its caller did not have: RunAs sessions, teammates,
 * watchers and clients over ssh never hand one over.
 *
 * Until the worker lets the terminal go the client writes nothing to it;
 * the worker lets it go before it sends DETACHED (detach keys, `dwell
 * disconnect`, the session's end) and when the connection ends, so that
 * the client restores its terminal after the worker's last byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"
#include "terminal.h"
#include "worker-internal.h"

#define TTY_READ_CHUNK 4096u

bool worker_tty_ask(Worker *w, Client *c, const struct proto_request *req) {
        if (!(req->flags & PROTO_REQ_F_TTY_OFFER) || c->watcher || c->caller_uid != (uint32_t) geteuid())
                return false;
        if (proto_put_empty(&c->conn.out, PROTO_MSG_TERM_TTY_ASK) < 0)
                return false;
        c->tty_asked = true;
        return true;
}

/* Writes what is queued as far as the terminal takes it; false if it is gone. */
static bool tty_write_out(Client *c) {
        while (buf_len(&c->tty_out) > 0) {
                ssize_t n = write(c->tty_fd, buf_ptr(&c->tty_out), buf_len(&c->tty_out));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                buf_consume(&c->tty_out, (size_t) n);
        }
        return true;
}

static void tty_close(Client *c) {
        c->tty_src = evloop_source_free(c->tty_src);
        c->tty_fd = safe_close(c->tty_fd);
        buf_done(&c->tty_out);
}

void worker_tty_release(Client *c) {
        Worker *w = c->w;
        struct stat st;

        if (c->tty_fd < 0)
                return;
        (void) tty_write_out(c);        /* the last output (the shell's goodbye), as far as it goes */
        /* Where it stands: all that was queued for it is in it. */
        if (fstat(c->tty_fd, &st) == 0 && c->tty_pos_known && buf_len(&c->tty_out) == 0)
                w->tty_left = (typeof(w->tty_left)) {
                        .set = true, .rdev = st.st_rdev, .uid = c->caller_uid, .pos = c->tty_pos,
                };
        else
                w->tty_left.set = false;
        tty_close(c);
}

static void tty_read_keys(Client *c) {
        Worker *w = c->w;
        uint8_t buf[TTY_READ_CHUNK], out[TTY_READ_CHUNK + DETACH_KEYS_MAX];
        ssize_t n = read(c->tty_fd, buf, sizeof buf);
        size_t k;
        bool detach;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                /* The terminal is gone (hung up): the client hears of it too. */
                c->tty_src = evloop_source_free(c->tty_src);
                return;
        }
        detach = detach_match(&c->tty_keys, buf, (size_t) n, out, &k);
        if (k > 0 && w->client == c) {
                worker_marks_typed(w, c);
                worker_term_input(w, out, k);
        }
        if (detach)
                client_leave_by_keys(c);        /* lets the terminal go; may free c */
}

static void tty_update_events(Client *c) {
        if (c->tty_src)
                (void) evloop_source_set_io_events(c->tty_src, EPOLLIN | (buf_len(&c->tty_out) > 0 ? EPOLLOUT : 0));
}

void worker_tty_flush(Client *c) {
        if (!tty_write_out(c)) {
                /* Gone: nothing more is written to it. */
                buf_consume(&c->tty_out, buf_len(&c->tty_out));
                c->tty_pos_known = false;
        }
        if (buf_len(&c->tty_out) == 0 && c->term_stale)
                worker_term_client_drained(c);  /* caught up: a redraw */
        tty_update_events(c);
}

static int on_tty_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;

        if (revents & EPOLLOUT)
                worker_tty_flush(c);
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                tty_read_keys(c);       /* may free c */
        return 0;
}

void worker_tty_put(Client *c, const void *p, size_t n, bool live) {
        if (live && buf_len(&c->tty_out) > TERM_CLIENT_MAX) {
                /* Behind: no live output until it has drained, then a redraw. */
                c->term_stale = true;
                c->tty_pos_known = false;
                return;
        }
        if (buf_put(&c->tty_out, p, n) < 0)
                c->tty_pos_known = false;
}

void worker_tty_notice(Client *c, const char *text) {
        char line[2 + PROTO_MAX_TEXT + 3];
        size_t n;

        /* (Made of names the protocol checked already; escaped anyway, as
         * the audit lines are, so that nothing in it acts on the terminal.) */
        n = escape_buf(line + 2, sizeof line - 4, text, strlen(text), 0, NULL);
        memcpy(line, "\r\n", 2);
        memcpy(line + 2 + n, "\r\n", 2);
        worker_tty_put(c, line, n + 4, false);
        worker_tty_flush(c);
}

/* Whether fd is a terminal.  (Whose is not asked: the client has it open
 * already, and the worker runs as that client's caller.) */
static bool tty_acceptable(int fd) {
        struct stat st;

        return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && isatty(fd);
}

int worker_tty_take(Worker *w, Client *c, Frame *f) {
        uint8_t keys[PROTO_DETACH_KEYS_MAX];
        size_t n_keys;
        int r;

        if (!c->tty_asked)
                return -EBADMSG;
        r = proto_get_term_tty(&f->payload, keys, &n_keys);
        if (r < 0)
                return r;
        c->tty_asked = false;
        if (f->fd >= 0 && tty_acceptable(f->fd) && fd_nonblock(f->fd, true) >= 0) {
                c->tty_fd = f->fd;
                f->fd = -EBADF;         /* ours now */
                buf_init(&c->tty_out, TERM_RENDER_MAX);
                memcpy(c->tty_keys.keys, keys, n_keys);
                c->tty_keys.n_keys = n_keys;
                r = evloop_add_io(w->event, &c->tty_src, c->tty_fd, EPOLLIN, on_tty_cb, c);
                if (r < 0)
                        tty_close(c);
                else
                        (void) evloop_source_set_priority(c->tty_src, -10);
        } else if (f->fd >= 0)
                log_notice("Session %s: %s handed over a descriptor that is not its terminal: not used",
                           w->p->name, c->who);
        worker_term_render_asked(w, c);
        if (c->tty_fd < 0 && conn_pending(&c->conn) > 0 && c->io_src)
                /* Over the socket: written when it is writable. */
                (void) evloop_source_set_io_events(c->io_src, EPOLLIN | EPOLLOUT);
        return 0;
}
