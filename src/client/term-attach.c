/* SPDX-License-Identifier: ISC */
/*
 * dwell connect on a terminal session: the local terminal in raw mode,
 * joined to the session's pty.  What is typed goes to the session as
 * TERM_INPUT (Ctrl-C, Ctrl-Z, escape sequences, bracketed paste, mouse
 * reports: bytes like any other), the session's output is written to the
 * terminal as it comes (TERM_OUTPUT; the first is the rendered screen),
 * and the window size follows the local one (SIGWINCH -> TERM_SIZE).
 *
 * The detach keys (default ctrl-\, --detach-keys, detach_keys: in
 * options.yaml) are not sent: they leave, and the session goes on.  A
 * partial match that fails is sent as typed.
 *
 * A broken connection (ssh gone, the network down, dwelld restarted) is
 * mended by reconnecting (reconnect.c, dwell(1) RECONNECTION) unless
 * --reconnect-timeout 0 or --credential: the terminal stays in raw mode,
 * the status line is drawn on its last row, and the reattachment gets the
 * session's screen rendered again as any attach does.  What is typed
 * meanwhile is not sent (the detach keys stop reconnecting; the rest is
 * dropped, and so is what the terminal queued during an attempt).  After
 * the window the terminal is restored and the command that picks the
 * session up is printed (exit status 255).
 *
 * The local terminal is restored on every way out: detach, disconnect by
 * another client, the session's end, a lost connection, an error, and
 * SIGTERM, SIGHUP, SIGINT or SIGQUIT sent to us (atexit covers exit()
 * elsewhere).  Modes the session's programs set (alternate screen, hidden
 * cursor, mouse reporting, bracketed paste, application keys, a scroll
 * region) are reset, and one line says how to return.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "detach-keys.h"
#include "parse-util.h"

#define INPUT_CHUNK 4096
#define OUT_PENDING_MAX (256u * 1024)   /* frames queued to the session before we stop reading keys */

/* Leave the alternate screen, show the cursor, no mouse reporting, no
 * bracketed paste, normal cursor keys and keypad, autowrap, default
 * attributes, the whole screen as scroll region (cursor kept); what we
 * print next starts on a line of its own. */
#define TERM_RESET "\033[?1049l\033[?25h\033[?1000l\033[?1002l\033[?1003l\033[?1005l\033[?1006l\033[?1015l" \
                   "\033[?2004l\033[?1l\033>\033[?7h\033[0m\0337\033[r\0338"

static struct termios saved_tio;
static int saved_fl = -1;               /* stdin's file status flags (a worker may set O_NONBLOCK) */
static volatile sig_atomic_t raw_on = 0;
static volatile sig_atomic_t got_signal = 0;
static int sig_pipe[2] = { -EBADF, -EBADF };

static void raw_restore(void) {
        if (!raw_on)
                return;
        raw_on = 0;
        if (saved_fl >= 0)
                (void) fcntl(STDIN_FILENO, F_SETFL, saved_fl);
        (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
        (void) loop_write(STDOUT_FILENO, TERM_RESET "\r\n", strlen(TERM_RESET "\r\n"));
}

static int raw_enter(void) {
        struct termios raw;

        if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "cannot read the terminal's settings: %m");
        raw = saved_tio;
        cfmakeraw(&raw);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        saved_fl = fcntl(STDIN_FILENO, F_GETFL);
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "cannot put the terminal in raw mode: %m");
        raw_on = 1;
        return 0;
}

static void on_signal(int sig) {
        int saved = errno;
        char ch = sig == SIGWINCH ? 'W' : 'S';

        if (sig != SIGWINCH)
                got_signal = sig;
        if (sig_pipe[1] >= 0)
                (void) !write(sig_pipe[1], &ch, 1);
        errno = saved;
}

static int signals_setup(void) {
        static const int sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGWINCH };
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

        if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "pipe: %m");
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &sa, NULL);
        (void) signal(SIGPIPE, SIG_IGN);
        return 0;
}

static bool window_size(uint16_t *ret_rows, uint16_t *ret_cols) {
        struct winsize ws = {};

        if ((ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0) ||
            ws.ws_row == 0 || ws.ws_col == 0)
                return false;
        *ret_rows = ws.ws_row;
        *ret_cols = ws.ws_col;
        return true;
}

bool term_request_fill(struct proto_request *req) {
        const char *t = getenv("TERM");
        uint16_t rows, cols;

        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
                return false;
        if (!window_size(&rows, &cols)) {
                rows = 24;
                cols = 80;
        }
        req->rows = rows;
        req->cols = cols;
        /* A TERM the protocol cannot carry is not sent: the session
         * falls back to one its host knows. */
        req->term = t && proto_term_valid(t) ? (char *) t : NULL;
        return true;
}

typedef struct Attach {
        Conn *conn;
        char *name;
        uint32_t session_id;
        bool reconnect;                 /* a break is mended by reconnecting */
        uint32_t hb_ms;
        int64_t last_rx_ms, next_hb_ms;
        DetachMatch keys;
        bool offered;                   /* PROTO_REQ_F_TTY_OFFER: our terminal may be handed over */
        bool direct;                    /* ... and the worker holds it: we neither read nor write it */
        bool keys_detached;             /* the worker saw the detach keys (DETACH_KEYS) */
        bool stdin_eof;
        bool read_only;                 /* dwell watch: keys other than the detach keys are dropped */
        bool have_pos;                  /* TERM_POS came: pos is where our terminal stands in the */
        uint64_t pos;                   /* session's live output (a reconnect resumes its history there) */
        char notices[4][PROTO_MAX_TEXT];
        unsigned n_notices;
} Attach;

typedef enum Leave {
        LEAVE_NONE,             /* (not leaving) */
        LEAVE_DETACH,           /* the detach keys */
        LEAVE_STDIN,            /* our terminal is gone */
        LEAVE_SIGNAL,
        LEAVE_DETACHED,         /* DETACHED from the session (message in msg) */
        LEAVE_LOST,
        LEAVE_ERROR,            /* reported already (after the terminal was restored) */
} Leave;

static int send_frame(Attach *a, int r) {
        if (r < 0)
                return r;
        r = conn_flush(a->conn);
        return r < 0 ? r : 0;
}

static int send_input(Attach *a, const uint8_t *p, size_t n) {
        if (n == 0 || a->read_only)
                return 0;
        return send_frame(a, proto_put_term_data(&a->conn->out, PROTO_MSG_TERM_INPUT, p, n));
}

/* Typed bytes, the detach keys taken out.  1: detach. */
static int on_keys(Attach *a, const uint8_t *p, size_t n) {
        uint8_t out[INPUT_CHUNK + DETACH_KEYS_MAX];
        size_t k;
        bool detach = detach_match(&a->keys, p, n, out, &k);
        int r = send_input(a, out, k);

        return detach ? 1 : r;
}

/* Whether this client can hand its terminal to the worker: on this
 * machine, its standard input and output one terminal. */
bool term_can_hand_over(void) {
        struct stat in, out;

        return !arg_host && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && fstat(STDIN_FILENO, &in) == 0 &&
               fstat(STDOUT_FILENO, &out) == 0 && in.st_rdev == out.st_rdev;
}

/* TERM_TTY_ASK: our terminal, with the detach keys.  Opened anew when we
 * may (its own O_NONBLOCK, which our stdin and stdout then do not share),
 * else our stdin itself (a terminal someone else owns: the worker's
 * O_NONBLOCK is undone when we restore the terminal); none if neither
 * works: the worker then renders to us as before. */
static int hand_over(Attach *a) {
        const char *path = ttyname(STDIN_FILENO);
        int fd = path ? open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) : -EBADF;
        size_t start = a->conn->out.size;
        int r;

        if (fd < 0)
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);

        r = proto_put_term_tty(&a->conn->out, a->keys.keys, a->keys.n_keys, fd >= 0);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        if (fd >= 0) {
                r = conn_attach_fd(a->conn, start, fd);
                if (r < 0)
                        return r;
                a->direct = true;
        }
        return send_frame(a, 0);
}

static int send_size(Attach *a) {
        uint16_t rows, cols;

        if (a->read_only)
                return 0;       /* the typer's size rules */
        if (!window_size(&rows, &cols))
                return 0;
        return send_frame(a, proto_put_term_size(&a->conn->out, rows, cols));
}

static void notice_add(Attach *a, const char *text) {
        _cleanup_free_ char *safe = terminal_sanitize(text, PROTO_MAX_TEXT - 1);
        char line[PROTO_MAX_TEXT + 8];

        if (!safe)
                return;
        snprintf(line, sizeof line, "\r\n%s\r\n", safe);
        if (!a->direct)         /* (else the worker wrote it into the terminal) */
                (void) loop_write(STDOUT_FILENO, line, strlen(line));
        if (a->n_notices < ELEMENTSOF(a->notices))
                snprintf(a->notices[a->n_notices++], sizeof a->notices[0], "%s", safe);
}

/* One frame from the session: 0 go on, 1 leave (msg set), <0 error. */
static int on_frame(Attach *a, Frame *f, char *msg, size_t msg_size) {
        _cleanup_free_ char *text = NULL;
        const uint8_t *p;
        uint8_t reason;
        size_t n;
        int r;

        switch (f->type) {
        case PROTO_MSG_TERM_OUTPUT:
                r = proto_get_term_data(&f->payload, &p, &n);
                if (r < 0)
                        return r;
                a->direct = false;      /* the worker did not take our terminal */
                r = loop_write(STDOUT_FILENO, p, n);
                if (r < 0)
                        return 1;       /* our terminal is gone */
                a->pos += n;
                return 0;
        case PROTO_MSG_TERM_POS:
                r = proto_get_u64_msg(&f->payload, &a->pos);
                if (r < 0)
                        return r;
                a->have_pos = true;
                return 0;
        case PROTO_MSG_TERM_TTY_ASK:
                r = proto_expect_end(&f->payload);
                if (r < 0)
                        return r;
                if (!a->offered || a->direct)
                        return -EBADMSG;
                return hand_over(a);
        case PROTO_MSG_TERM_NOTICE:
                r = proto_get_str_msg(&f->payload, PROTO_MAX_TEXT, &text);
                if (r < 0)
                        return r;
                notice_add(a, text);
                return 0;
        case PROTO_MSG_HEARTBEAT:
                return proto_expect_end(&f->payload);
        case PROTO_MSG_DETACHED: {
                _cleanup_free_ char *by_safe = NULL;

                r = proto_get_detached(&f->payload, &reason, &text);
                if (r < 0)
                        return r;
                by_safe = terminal_sanitize(text, 256);
                if (reason == DETACH_KEYS)
                        a->keys_detached = true;        /* typed at our terminal, read by the worker */
                else if (reason == DETACH_REQUESTED)
                        snprintf(msg, msg_size, "detached from %s by %s", a->name, strempty(by_safe));
                else if (reason == DETACH_TIMEOUT)
                        snprintf(msg, msg_size, "session %s ended: %s", a->name, strempty(by_safe));
                else if (streq(strempty(text), "the shell exited"))
                        snprintf(msg, msg_size, "session %s ended: the shell exited", a->name);
                else
                        snprintf(msg, msg_size, "session %s removed by %s", a->name, strempty(by_safe));
                return 1;
        }
        case PROTO_MSG_ERROR:
                return -EREMOTEIO;
        default:
                return -EBADMSG;
        }
}

/* Handles the frames buffered in the connection. */
static Leave drain_frames(Attach *a, char *msg, size_t msg_size, int *ret_error) {
        Frame f;
        int r;

        while ((r = conn_next(a->conn, &f)) > 0) {
                r = on_frame(a, &f, msg, msg_size);
                if (r == -EREMOTEIO) {
                        raw_restore();
                        *ret_error = session_report_error(&f);
                        conn_consume(a->conn, &f);
                        return LEAVE_ERROR;
                }
                conn_consume(a->conn, &f);
                if (r < 0) {
                        *ret_error = r;
                        return LEAVE_LOST;
                }
                if (r > 0)
                        return a->keys_detached ? LEAVE_DETACH : *msg ? LEAVE_DETACHED : LEAVE_STDIN;
        }
        if (r < 0) {
                *ret_error = r;
                return LEAVE_LOST;
        }
        return LEAVE_NONE;
}

static Leave attach_loop(Attach *a, char *msg, size_t msg_size, int *ret_error) {
        uint8_t buf[INPUT_CHUNK];
        int r;

        for (;;) {
                int64_t now = clock_now_ms(), timeout = -1;
                Leave how;
                struct pollfd fds[3] = {
                        { .fd = sig_pipe[0], .events = POLLIN },
                        { .fd = a->conn->fd, .events = POLLIN | (conn_pending(a->conn) > 0 ? POLLOUT : 0) },
                        { .fd = a->stdin_eof || a->direct || conn_pending(a->conn) > OUT_PENDING_MAX ? -1 : STDIN_FILENO,
                          .events = POLLIN },
                };

                /* Frames that arrived with earlier reads (ATTACHED's). */
                how = drain_frames(a, msg, msg_size, ret_error);
                if (how != LEAVE_NONE)
                        return how;
                if (a->hb_ms > 0) {
                        if (now - a->last_rx_ms > 3 * (int64_t) a->hb_ms)
                                return LEAVE_LOST;
                        if (now >= a->next_hb_ms) {
                                if (send_frame(a, proto_put_empty(&a->conn->out, PROTO_MSG_HEARTBEAT)) < 0)
                                        return LEAVE_LOST;
                                a->next_hb_ms = now + a->hb_ms;
                        }
                        timeout = MAX(a->next_hb_ms - now, (int64_t) 1);
                }
                r = poll(fds, ELEMENTSOF(fds), (int) MIN(timeout, (int64_t) INT32_MAX));
                if (r < 0 && errno != EINTR) {
                        *ret_error = -errno;
                        return LEAVE_LOST;
                }
                if (got_signal)
                        return LEAVE_SIGNAL;
                if (r <= 0)
                        continue;
                if (fds[0].revents & POLLIN) {
                        char sb[64];
                        bool winch = false;
                        ssize_t k;

                        while ((k = read(sig_pipe[0], sb, sizeof sb)) > 0)
                                winch = winch || memchr(sb, 'W', (size_t) k);
                        if (winch && send_size(a) < 0)
                                return LEAVE_LOST;
                }
                if (fds[1].revents & POLLOUT && conn_flush(a->conn) < 0)
                        return LEAVE_LOST;
                if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = conn_fill(a->conn);
                        if (r == 0 || (r < 0 && r != -EAGAIN))
                                return LEAVE_LOST;
                        if (r > 0)
                                a->last_rx_ms = clock_now_ms();
                        how = drain_frames(a, msg, msg_size, ret_error);
                        if (how != LEAVE_NONE)
                                return how;
                }
                if (fds[2].fd >= 0 && fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t k = read(STDIN_FILENO, buf, sizeof buf);

                        if (k < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (k <= 0)
                                return LEAVE_STDIN;
                        r = on_keys(a, buf, (size_t) k);
                        if (r < 0)
                                return LEAVE_LOST;
                        if (r > 0)
                                return LEAVE_DETACH;
                }
        }
}

/* During an outage: keys are dropped, except the detach keys, which stop
 * reconnecting; so do the signals that would end the attachment. */
static bool outage_input(void *userdata, bool readable) {
        Attach *a = userdata;
        uint8_t buf[INPUT_CHUNK], out[INPUT_CHUNK + DETACH_KEYS_MAX];
        ssize_t k;
        size_t n;

        if (got_signal)
                return true;
        if (!readable)
                return false;
        k = read(STDIN_FILENO, buf, sizeof buf);
        if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
                return true;            /* our terminal is gone */
        return k > 0 && detach_match(&a->keys, buf, (size_t) k, out, &n);
}

/* After LEAVE_LOST: the session again (reconnect.c), by its Id, with our
 * terminal's type and size; the worker then sends the screen.  0, or <0
 * (reported, the terminal restored). */
static int attach_reconnect(Attach *a) {
        char sid[16], pos[24];
        struct proto_request req = {
                .flags = PROTO_REQ_F_RECONNECT | PROTO_REQ_F_TERM_POS |
                         (arg_no_history ? PROTO_REQ_F_NO_HISTORY : 0) | (a->offered ? PROTO_REQ_F_TTY_OFFER : 0),
                .session = sid,
        };
        const ReconnectTerminal t = {
                .input_fd = STDIN_FILENO,
                .interrupted = outage_input,
                .leave_raw = raw_restore,
                .userdata = a,
        };
        struct proto_session s;
        uint32_t hb;
        Frame f;
        int r;

        snprintf(sid, sizeof sid, "%" PRIu32, a->session_id);
        if (a->have_pos) {
                /* Our terminal has the session's lines up to there: only
                 * those that scrolled since come as history. */
                snprintf(pos, sizeof pos, "%" PRIu64, a->pos);
                req.flags |= PROTO_REQ_F_HISTORY_FROM;
                req.command = pos;
        }
        a->have_pos = false;            /* until this attachment's TERM_POS */
        a->direct = false;              /* the worker let our terminal go with the connection */
        (void) term_request_fill(&req);
        if (a->read_only)
                req.rows = req.cols = 0;        /* a watcher does not size the session */
        a->keys.matched = 0;
        reconnect_set_terminal(&t);
        r = session_reconnect(a->read_only ? PROTO_REQ_WATCH : PROTO_REQ_CONNECT, &req, a->name,
                              a->read_only ? "watch" : "connect", a->hb_ms, clock_now_ms(), a->conn, &f);
        reconnect_set_terminal(NULL);
        if (r < 0)
                return r;
        r = proto_get_attached(&f.payload, &hb, &s);
        conn_consume(a->conn, &f);
        if (r < 0) {
                raw_restore();
                return session_lost_dwelld(r);
        }
        proto_session_done(&s);
        a->hb_ms = hb;
        a->last_rx_ms = clock_now_ms();
        a->next_hb_ms = a->last_rx_ms + hb;
        a->keys.matched = 0;
        (void) fd_nonblock(a->conn->fd, true);
        /* Typed during the outage: not sent. */
        (void) tcflush(STDIN_FILENO, TCIFLUSH);
        return 0;
}

/* Reads (and drops) until the worker closes the connection, for timeout_ms at most. */
static void wait_closed(Conn *c, int timeout_ms) {
        int64_t end = clock_now_ms() + timeout_ms;
        Frame f;

        for (;;) {
                int64_t left = end - clock_now_ms();
                int r;

                if (left <= 0)
                        return;
                r = conn_wait_frame(c, &f, (int) left);
                if (r <= 0)
                        return;
                conn_consume(c, &f);
        }
}

static void return_hint(char *buf, size_t size, const char *name, bool watch) {
        if (arg_host)
                snprintf(buf, size, "dwell -H %s %s %s", arg_host, watch ? "watch" : "connect", name);
        else
                snprintf(buf, size, "dwell %s %s", watch ? "watch" : "connect", name);
}

int term_attach(Conn *c, Frame *attached, const uint8_t *keys, size_t n_keys, bool reconnect) {
        return term_attach_full(c, attached, keys, n_keys, false, reconnect);
}

int term_attach_full(Conn *c, Frame *attached, const uint8_t *keys, size_t n_keys, bool read_only, bool reconnect) {
        struct proto_session s;
        char msg[PROTO_MAX_TEXT + 512] = "", hint[PROTO_MAX_NAME * 2 + 64];
        Attach a = {
                .conn = c,
                .keys.n_keys = MIN(n_keys, (size_t) DETACH_KEYS_MAX),
                .read_only = read_only,
                .offered = !read_only && term_can_hand_over(),
        };
        _cleanup_free_ char *name = NULL;
        int error = 0, r;
        Leave how;

        r = proto_get_attached(&attached->payload, &a.hb_ms, &s);
        conn_consume(c, attached);
        if (r < 0)
                return session_lost_dwelld(r);
        memcpy(a.keys.keys, keys, a.keys.n_keys);
        name = terminal_sanitize(strempty(s.name), PROTO_MAX_NAME);
        a.session_id = s.id;
        proto_session_done(&s);
        if (!name)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        a.name = name;
        a.reconnect = reconnect;
        return_hint(hint, sizeof hint, name, read_only);
        a.last_rx_ms = clock_now_ms();
        a.next_hb_ms = a.last_rx_ms + a.hb_ms;

        (void) fd_nonblock(c->fd, true);
        r = signals_setup();
        if (r < 0)
                return r;
        r = raw_enter();
        if (r < 0)
                return r;
        (void) atexit(raw_restore);

        for (;;) {
                how = attach_loop(&a, msg, sizeof msg, &error);
                if (how != LEAVE_LOST || !a.reconnect || error == -EBADMSG || reconnect_timeout() == 0)
                        break;
                r = attach_reconnect(&a);
                if (r < 0) {
                        /* Reported (the pick-up command included), the terminal restored. */
                        for (unsigned i = 0; i < a.n_notices; i++)
                                fprintf(stderr, "%s\n", a.notices[i]);
                        return r;
                }
                error = 0;
        }

        if ((how == LEAVE_DETACH && !a.keys_detached) || how == LEAVE_STDIN || how == LEAVE_SIGNAL) {
                /* The session stays; we go. */
                if (proto_put_empty(&c->out, PROTO_MSG_DETACH) >= 0)
                        (void) conn_flush_all(c, 1000);
                /* A worker writing to our terminal lets it go, then closes:
                 * its last byte comes before our restoring ones. */
                if (a.direct)
                        wait_closed(c, 1000);
        }
        raw_restore();
        for (unsigned i = 0; i < a.n_notices; i++)
                fprintf(stderr, "%s\n", a.notices[i]);
        switch (how) {
        case LEAVE_DETACH:
        case LEAVE_STDIN:
                if (read_only)
                        client_notice("stopped watching %s (%s to return)", name, hint);
                else
                        client_notice("detached from %s (%s to return)", name, hint);
                return 0;
        case LEAVE_SIGNAL:
                client_notice("detached from %s (%s; %s to return)", name, strsignal(got_signal), hint);
                return 128 + got_signal;
        case LEAVE_DETACHED:
                if (strstr(msg, "detached from"))
                        client_notice("%s (%s to return)", msg, hint);
                else
                        client_notice("%s", msg);
                return 0;
        case LEAVE_ERROR:
                return error < 0 ? error : -EREMOTEIO;
        case LEAVE_LOST:
        default:
                return client_error(error < 0 ? error : -ECONNRESET, PROTO_ERR_UNAVAILABLE,
                                    "lost the connection to session %s; it goes on (%s to return)", name, hint);
        }
}
