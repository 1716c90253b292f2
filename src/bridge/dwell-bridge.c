/* SPDX-License-Identifier: ISC */
/*
 * dwell-bridge: the SSH subsystem "dwell".  sshd runs it as the
 * SSH-authenticated user, with the SSH channel on stdin and stdout:
 *
 *     Subsystem dwell /usr/libexec/dwell/dwell-bridge
 *
 * It connects to the local supervisor socket (DWELL_SOCKET, else the
 * configured default), sends one ORIGIN frame naming the SSH client's
 * address and port (from SSH_CONNECTION), then copies bytes both ways
 * without looking at them.  dwelld identifies the caller by SO_PEERCRED on
 * this connection, i.e. as the user sshd authenticated; the origin is only
 * what this process reports and is shown as such.
 *
 * Ends: end of input on stdin (the SSH client went away) is passed on as
 * shutdown(SHUT_WR), and the bridge goes on relaying the socket's answer
 * until dwelld or the session worker closes; the socket closing ends the
 * bridge once everything read from it has been written to stdout (sshd
 * then closes the channel, which is how the client learns of it).  Exit
 * status 0 after a relay, 1 when dwelld cannot be reached.
 *
 * libc and the shared library only: it runs for every remote request, so
 * it starts fast.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "macro.h"
#include "proto.h"

#ifdef DWELL_RUNDIR
#define DEFAULT_SOCKET DWELL_RUNDIR "/dwelld.sock"
#else
#define DEFAULT_SOCKET "/run/dwell/dwelld.sock"
#endif

#define RELAY_BUFFER_SIZE (512u * 1024u)

typedef struct Pipe {
        uint8_t *data;
        size_t start, end;      /* bytes [start, end) are pending */
        bool eof;               /* no more input */
        bool closed;            /* the output side was shut down */
} Pipe;

static _printf_(1, 2) int fail(const char *fmt, ...);

static int fail(const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        fputs("dwell-bridge: ", stderr);
        va_start(ap, fmt);
        errno = saved;
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -saved;
}

/* "ssh ADDRESS port PORT" from SSH_CONNECTION ("CLIENT CPORT SERVER SPORT"). */
static void origin_from_env(char *buf, size_t size) {
        const char *e = getenv("SSH_CONNECTION");
        char addr[128], port[16];

        if (e && sscanf(e, "%127s %15s", addr, port) == 2 &&
            strspn(port, "0123456789") == strlen(port) &&
            strspn(addr, "0123456789abcdefABCDEF.:%") == strlen(addr))
                snprintf(buf, size, "ssh %s port %s", addr, port);
        else
                snprintf(buf, size, "ssh (address unknown)");
}

static int socket_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof sa.sun_path) {
                errno = ENAMETOOLONG;
                return fail("socket path too long: %s", path);
        }
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fail("failed to create socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return fail("cannot connect to dwelld at %s: %m", path);
        return TAKE_FD(fd);
}

static int send_origin(int fd) {
        char origin[PROTO_MAX_ORIGIN + 1];      /* printable ASCII, as dwelld requires */
        Buf b;
        int r;

        origin_from_env(origin, sizeof origin);
        buf_init(&b, PROTO_HEADER_SIZE + PROTO_MAX_TEXT + 4);
        r = proto_put_str_msg(&b, PROTO_MSG_ORIGIN, origin);
        if (r >= 0)
                r = loop_write(fd, buf_ptr(&b), buf_len(&b));
        buf_done(&b);
        return r;
}

/* One read into p (only when it is empty: data moves straight through). */
static int pipe_fill(Pipe *p, int fd) {
        ssize_t k;

        if (p->start == p->end)
                p->start = p->end = 0;
        k = read(fd, p->data + p->end, RELAY_BUFFER_SIZE - p->end);
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (k == 0)
                p->eof = true;
        p->end += (size_t) k;
        return 0;
}

static int pipe_flush(Pipe *p, int fd) {
        ssize_t k;

        k = write(fd, p->data + p->start, p->end - p->start);
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        p->start += (size_t) k;
        return 0;
}

static bool pipe_empty(const Pipe *p) {
        return p->start == p->end;
}

static int relay(int sock) {
        _cleanup_free_ uint8_t *up_data = malloc(RELAY_BUFFER_SIZE), *down_data = malloc(RELAY_BUFFER_SIZE);
        Pipe up = { .data = up_data }, down = { .data = down_data };    /* stdin -> sock, sock -> stdout */
        int r;

        if (!up_data || !down_data) {
                errno = ENOMEM;
                return fail("out of memory");
        }
        for (int fd = 0; fd < 2; fd++)
                (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        (void) fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = STDIN_FILENO, .events = !up.eof && pipe_empty(&up) ? POLLIN : 0 },
                        { .fd = STDOUT_FILENO, .events = !pipe_empty(&down) ? POLLOUT : 0 },
                        { .fd = sock, .events = (!down.eof && pipe_empty(&down) ? POLLIN : 0) |
                                                (!pipe_empty(&up) ? POLLOUT : 0) },
                };

                /* No interest, no wake-ups (POLLHUP is reported regardless). */
                for (size_t i = 0; i < ELEMENTSOF(p); i++)
                        if (p[i].events == 0)
                                p[i].fd = -1;

                /* The socket closed and all it said is out: done. */
                if (down.eof && pipe_empty(&down))
                        return 0;
                /* Our input ended and is all passed on: half-close once. */
                if (up.eof && pipe_empty(&up) && !up.closed) {
                        (void) shutdown(sock, SHUT_WR);
                        up.closed = true;
                }

                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail("poll failed: %m");
                }
                if (p[0].fd >= 0 && p[0].revents) {
                        r = pipe_fill(&up, STDIN_FILENO);
                        if (r < 0)
                                up.eof = true;  /* the channel is gone: same as EOF */
                }
                if (!pipe_empty(&up) && p[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
                        r = pipe_flush(&up, sock);
                        if (r < 0) {
                                /* dwelld went away: nothing more will be taken. */
                                up.start = up.end = 0;
                                up.eof = up.closed = true;
                        }
                }
                if (p[2].events & POLLIN && p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = pipe_fill(&down, sock);
                        if (r < 0)
                                down.eof = true;
                }
                if (p[1].fd >= 0 && p[1].revents) {
                        r = pipe_flush(&down, STDOUT_FILENO);
                        if (r < 0)
                                /* The SSH client is gone: nobody can read the rest. */
                                return 0;
                }
        }
}

int main(int argc, char *argv[]) {
        _cleanup_close_ int sock = -EBADF;
        const char *path = getenv("DWELL_SOCKET");
        int r;

        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                printf("Usage: %s\n\n"
                       "The dwell SSH subsystem: joins stdin and stdout to dwelld's socket\n"
                       "($DWELL_SOCKET, default %s). Configure it in sshd_config:\n"
                       "  Subsystem dwell %s\n", argv[0], DEFAULT_SOCKET, argv[0]);
                return 0;
        }
        if (argc > 1) {
                fprintf(stderr, "dwell-bridge: takes no arguments (see --help)\n");
                return 2;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        sock = socket_connect(path && path[0] ? path : DEFAULT_SOCKET);
        if (sock < 0)
                return 1;
        r = send_origin(sock);
        if (r < 0) {
                errno = -r;
                fail("failed to send to dwelld: %m");
                return 1;
        }
        r = relay(sock);
        return r < 0 ? 1 : 0;
}
