/* SPDX-License-Identifier: ISC */
/*
 * Reconnecting by itself: when the connection to a session breaks during
 * invoke, receive, connect or watch (EOF, a reset, a write that fails, the worker
 * silent for three heartbeat intervals, ssh gone, dwelld not answering
 * while it restarts), the client asks for the session again - a new
 * connection to the local socket, or ssh run again for -H - with backoff
 * (0.5 s doubling to 10 s, jittered by a quarter), for a bounded window
 * (--reconnect-timeout, options.yaml's reconnect_timeout, default 4
 * minutes; 0 disables); a change of the network (an interface, address
 * or route coming up: rtnetlink) cuts a wait short, so that the attempt
 * after an outage follows the network's return, not the backoff.  The
 * record stream then resumes where the
 * acknowledgements say (stream.c): nothing is lost or repeated.
 *
 * What is not retried: a refusal that asking again cannot change (not
 * found, permission denied, authentication failed, ssh's own refusals, an
 * invalid request), the session removed or disconnected by someone else
 * (those are DETACHED frames, not breaks: stream.c never gets here),
 * and busy - except for the first three heartbeat intervals and a bit
 * after the break, while the worker may not yet have noticed that our old
 * connection is gone (a reconnection of the same user replaces a holder
 * silent for more than 1.5 intervals: worker-client.c).  Sessions reached
 * with --credential are not reconnected: the password would have to be
 * asked again (or kept) for every attempt.
 *
 * A terminal session's client (term-attach.c) keeps its terminal in raw
 * mode meanwhile: the status line goes on the terminal's last row, and
 * the keys typed go to its callback (the detach keys stop reconnecting).
 *
 * One status line on stderr, rewritten in place on a terminal:
 *   dwell: connection to HOST lost; reconnecting (attempt 3, 41 s left)
 *   dwell: reconnected to HOST
 * and after the window, exit status 255 and
 *   dwell: gave up after 4m0s; the session keeps running: dwell [-H HOST] receive NAME
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "configuration.h"
#include "parse-util.h"

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS (10 * 1000)
#define ATTEMPT_TIMEOUT_MS (30 * 1000)  /* one attempt: connect (ssh included) and the first answer */
#define BUSY_GRACE_MS 2000              /* after 3 heartbeat intervals */

uint64_t arg_reconnect_timeout = RECONNECT_TIMEOUT_UNSET;

int reconnect_timeout_resolve(void) {
        UserOptions o;
        int r;

        if (arg_reconnect_timeout != RECONNECT_TIMEOUT_UNSET)
                return 0;
        r = user_options_load(&o);
        if (r < 0)
                return r;
        arg_reconnect_timeout = r > 0 && o.reconnect_timeout_set ? o.reconnect_timeout : RECONNECT_TIMEOUT_DEFAULT;
        return 0;
}

uint64_t reconnect_timeout(void) {
        return arg_reconnect_timeout == RECONNECT_TIMEOUT_UNSET ? RECONNECT_TIMEOUT_DEFAULT : arg_reconnect_timeout;
}

static const char *host_name(void) {
        return arg_host ? arg_host : "localhost";
}

/* "4m0s", "5s", "1h2m3s" */
static void format_window(char *buf, size_t size, uint64_t usec) {
        uint64_t sec = (usec + USEC_PER_SEC / 2) / USEC_PER_SEC;

        if (sec >= 3600)
                snprintf(buf, size, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", sec / 3600, sec / 60 % 60, sec % 60);
        else if (sec >= 60)
                snprintf(buf, size, "%" PRIu64 "m%" PRIu64 "s", sec / 60, sec % 60);
        else
                snprintf(buf, size, "%" PRIu64 "s", sec);
}

static const ReconnectTerminal *raw_term;     /* a raw terminal shows a session: term-attach.c */

void reconnect_set_terminal(const ReconnectTerminal *t) {
        raw_term = t;
}

/* On a raw terminal: the last row, the cursor saved and restored (no
 * newline: the terminal does not turn it into CR LF). */
#define RAW_STATUS_BEGIN "\0337\033[9999;1H\r\033[2K"
#define RAW_STATUS_END "\0338"

static void status_line(bool tty, bool final, const char *fmt, ...) _printf_(3, 4);
static void status_line(bool tty, bool final, const char *fmt, ...) {
        bool raw = tty && raw_term;
        va_list ap;

        if (raw)
                fputs(RAW_STATUS_BEGIN, stderr);
        else if (tty)
                fputs("\r\033[K", stderr);
        fputs("dwell: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        if (raw)
                fputs(RAW_STATUS_END, stderr);
        else if (!tty || final)
                fputc('\n', stderr);
        fflush(stderr);
}

/* Before the last message (an error or giving up): the line cleared, a
 * raw terminal restored. */
static void status_clear(bool tty) {
        if (tty && raw_term)
                fputs(RAW_STATUS_BEGIN RAW_STATUS_END, stderr);
        else if (tty)
                fputs("\r\033[K", stderr);
        fflush(stderr);
        if (raw_term && raw_term->leave_raw)
                raw_term->leave_raw();
}

/* Whether an attempt's failure may go away by itself. */
static bool retryable(int r, uint16_t code, bool busy_ok) {
        if (r == -EREMOTEIO)            /* an ERROR frame from dwelld or the worker */
                return code == PROTO_ERR_LIMIT_EXCEEDED || (code == PROTO_ERR_BUSY && busy_ok);
        switch (r) {
        case -EACCES:
        case -EPERM:
        case -EBADMSG:
        case -ENOMEM:
        case -ENAMETOOLONG:
        case -E2BIG:
                return false;
        default:
                return code == PROTO_ERR_UNAVAILABLE;
        }
}

/* A netlink socket that hears of links, addresses and routes coming and
 * going: a network that is back ends the wait at once (the interface up,
 * a Wi-Fi address, a route), not at the end of the backoff.  -1 if none. */
static int network_watch_open(void) {
        struct sockaddr_nl sa = {
                .nl_family = AF_NETLINK,
                .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                             RTMGRP_IPV6_ROUTE,
        };
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                safe_close(fd);
                return -1;
        }
        return fd;
}

static bool network_watch_drain(int fd) {
        char buf[4096];
        bool any = false;

        while (fd >= 0 && recv(fd, buf, sizeof buf, 0) > 0)
                any = true;
        return any;
}

/* Sleeps ms, less if the network changes (after at least NETWORK_MIN_WAIT_MS),
 * or until Ctrl-C (true). */
#define NETWORK_MIN_WAIT_MS 200
static bool pause_ms(int64_t ms, int net_fd) {
        int64_t start = clock_now_ms(), end = start + ms;

        for (;;) {
                int64_t now = clock_now_ms(), left = end - now;
                struct pollfd p[2] = {
                        { .fd = net_fd, .events = POLLIN },
                        { .fd = raw_term ? raw_term->input_fd : -1, .events = POLLIN },
                };
                int k;

                if (stream_take_sigint())
                        return true;
                if (raw_term && raw_term->interrupted(raw_term->userdata, false))
                        return true;
                if (left <= 0)
                        return false;
                k = poll(p, 2, (int) MIN(left, (int64_t) 1000));
                if (k <= 0)
                        continue;
                if (p[1].revents && raw_term->interrupted(raw_term->userdata, true))
                        return true;
                if (p[0].revents && network_watch_drain(net_fd))
                        end = MIN(end, MAX(clock_now_ms(), start + NETWORK_MIN_WAIT_MS));
        }
}

static int attempt(uint16_t type, const struct proto_request *req, int timeout_ms, Conn *c, Frame *ret) {
        int r;

        conn_done(c);
        *c = (Conn) { .fd = -EBADF };
        if (arg_host)
                remote_abandon();
        session_set_answer_timeout(timeout_ms);
        r = session_request(type, req, c);
        if (r >= 0)
                r = session_wait_answer(c, ret);
        session_set_answer_timeout(-1);
        if (r >= 0 && ret->type != PROTO_MSG_ATTACHED) {
                conn_consume(c, ret);
                r = session_lost_dwelld(-EBADMSG);
        }
        return r;
}

int session_reconnect(uint16_t type, const struct proto_request *req, const char *name, const char *pickup,
                      uint32_t heartbeat_ms, int64_t lost_ms, Conn *c, Frame *ret) {
        uint64_t window = reconnect_timeout();
        int64_t deadline = lost_ms + (int64_t) MIN(window / 1000, (uint64_t) INT32_MAX * 1000);
        int64_t busy_until = lost_ms + 3 * (int64_t) heartbeat_ms + BUSY_GRACE_MS;
        bool tty = isatty(STDERR_FILENO);
        int64_t delay = BACKOFF_FIRST_MS;
        _cleanup_close_ int net_fd = network_watch_open();
        char took[32];
        unsigned n;
        int r;

        srand((unsigned) getpid() ^ (unsigned) clock_now_ms());
        for (n = 1;; n++) {
                int64_t now = clock_now_ms(), left = deadline - now;
                const char *msg;
                uint16_t code;
                int err;

                if (left <= 0)
                        break;
                status_line(tty, false, "connection to %s lost; reconnecting (attempt %u, %" PRIi64 " s left)",
                            host_name(), n, (left + 999) / 1000);
                (void) network_watch_drain(net_fd);     /* only what happens from now on counts */
                client_set_quiet(true);
                r = attempt(type, req, (int) MIN(MAX(left, (int64_t) 5000), (int64_t) ATTEMPT_TIMEOUT_MS), c, ret);
                client_set_quiet(false);
                if (r >= 0) {
                        status_line(tty, true, "reconnected to %s", host_name());
                        return 0;
                }
                err = client_quiet_error(&code, &msg);
                if (!retryable(err < 0 ? err : r, code, clock_now_ms() < busy_until)) {
                        status_clear(tty);
                        return client_error(err < 0 ? err : r, code, "%s", msg[0] ? msg : strerror(-r));
                }
                /* The next attempt after the backoff, jittered by up to a quarter either way. */
                left = deadline - clock_now_ms();
                if (left <= 0)
                        break;
                if (pause_ms(MIN(left, delay - delay / 4 + rand() % (delay / 2 + 1)), net_fd)) {
                        status_clear(tty);
                        return client_error(-EINTR, PROTO_ERR_UNAVAILABLE,
                                            "%s; the session keeps running: dwell%s%s %s %s",
                                            raw_term ? "stopped reconnecting" : "interrupted",
                                            arg_host ? " -H " : "", arg_host ? arg_host : "", pickup, name);
                }
                delay = MIN(delay * 2, (int64_t) BACKOFF_MAX_MS);
        }
        conn_done(c);
        *c = (Conn) { .fd = -EBADF };
        if (arg_host)
                remote_abandon();
        status_clear(tty);
        format_window(took, sizeof took, window);
        return client_error(-ETIMEDOUT, PROTO_ERR_UNAVAILABLE,
                            "gave up after %s; the session keeps running: dwell%s%s %s %s",
                            took, arg_host ? " -H " : "", arg_host ? arg_host : "", pickup, name);
}
