/* SPDX-License-Identifier: ISC */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn.h"
#include "macro.h"

void conn_init(Conn *c, int fd, size_t max_in, size_t max_out) {
        *c = (Conn) { .fd = fd };
        buf_init(&c->in, max_in);
        buf_init(&c->out, max_out);
}

void conn_done(Conn *c) {
        c->fd = safe_close(c->fd);
        for (size_t i = 0; i < c->n_in_fds; i++)
                safe_close(c->in_fds[i]);
        for (size_t i = 0; i < c->n_out_fds; i++)
                safe_close(c->out_fds[i].fd);
        c->n_in_fds = c->n_out_fds = 0;
        buf_done(&c->in);
        buf_done(&c->out);
}

int conn_fill(Conn *c) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int) * CONN_MAX_FDS)];
        } control;
        struct msghdr mh = {};
        struct iovec iov;
        uint8_t *p;
        size_t want = 64 * 1024;
        ssize_t n;
        int r;

        if (c->in.max - buf_len(&c->in) < want)
                want = c->in.max - buf_len(&c->in);
        if (want == 0)
                return -ENOBUFS;
        r = buf_reserve(&c->in, want, &p);
        if (r < 0)
                return r;

        iov = (struct iovec) { .iov_base = p, .iov_len = want };
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = &control;
        mh.msg_controllen = sizeof control;

        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *) CMSG_DATA(cm);
                for (size_t i = 0; i < k; i++) {
                        if (c->n_in_fds >= CONN_MAX_FDS) {
                                safe_close(fds[i]);
                                r = -EBADMSG;
                        } else
                                c->in_fds[c->n_in_fds++] = fds[i];
                }
        }
        if (mh.msg_flags & MSG_CTRUNC)
                return -EBADMSG;
        if (r < 0)
                return r;
        buf_commit(&c->in, (size_t) n);
        return (int) MIN(n, (ssize_t) INT32_MAX);
}

int conn_next(Conn *c, Frame *f) {
        uint16_t type;
        uint8_t flags;
        uint32_t len;
        int r;

        r = proto_parse_header(buf_ptr(&c->in), buf_len(&c->in), &type, &flags, &len);
        if (r == -EAGAIN)
                return 0;
        if (r < 0)
                return r;
        if (buf_len(&c->in) < PROTO_HEADER_SIZE + (size_t) len)
                return 0;

        *f = (Frame) { .type = type, .flags = flags, .len = len, .fd = -EBADF };
        if (flags & PROTO_FLAG_FD) {
                if (c->n_in_fds == 0)
                        return -EBADMSG;
                f->fd = c->in_fds[0];
                memmove(c->in_fds, c->in_fds + 1, (--c->n_in_fds) * sizeof(int));
        }
        buf_init_view(&f->payload, buf_ptr(&c->in) + PROTO_HEADER_SIZE, len);
        return 1;
}

void conn_consume(Conn *c, Frame *f) {
        buf_consume(&c->in, PROTO_HEADER_SIZE + (size_t) f->len);
        f->fd = safe_close(f->fd);
}

int conn_attach_fd(Conn *c, size_t start, int fd) {
        uint64_t pos;

        if (c->n_out_fds >= CONN_MAX_FDS || start < c->out.offset) {
                safe_close(fd);
                return -ENOBUFS;
        }
        pos = c->out_pos + (start - c->out.offset);
        /* One fd per frame, in frame order: conn_flush() relies on it. */
        if (c->n_out_fds > 0 && c->out_fds[c->n_out_fds - 1].pos >= pos) {
                safe_close(fd);
                return -EINVAL;
        }
        c->out_fds[c->n_out_fds++] = (ConnFd) {
                .pos = pos,
                .fd = fd,
        };
        return 0;
}

int conn_flush(Conn *c) {
        while (buf_len(&c->out) > 0) {
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(int))];
                } control;
                struct msghdr mh = {};
                struct iovec iov = { .iov_base = (void *) buf_ptr(&c->out), .iov_len = buf_len(&c->out) };
                bool with_fd = false;
                size_t next = 0;
                ssize_t n;

                if (c->n_out_fds > 0 && c->out_fds[0].pos == c->out_pos) {
                        with_fd = true;
                        next = 1;
                        memset(&control, 0, sizeof control);
                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int));
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cm), &c->out_fds[0].fd, sizeof(int));
                }
                /* Stop before the frame that carries the next fd, so that
                 * every fd travels with the first byte of its own frame. */
                if (c->n_out_fds > next) {
                        uint64_t pos = c->out_fds[next].pos;

                        assert(pos > c->out_pos);
                        if (pos - c->out_pos < iov.iov_len)
                                iov.iov_len = pos - c->out_pos;
                }
                mh.msg_iov = &iov;
                mh.msg_iovlen = 1;

                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EWOULDBLOCK)
                                return 0;
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (with_fd) {
                        safe_close(c->out_fds[0].fd);
                        memmove(c->out_fds, c->out_fds + 1, (--c->n_out_fds) * sizeof(ConnFd));
                }
                c->out_pos += (uint64_t) n;
                buf_consume(&c->out, (size_t) n);
        }
        return 1;
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline) {
        int64_t left;

        if (deadline < 0)
                return -1;
        left = deadline - now_ms();
        return left < 0 ? 0 : (int) left;
}

int conn_flush_all(Conn *c, int timeout_ms) {
        int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

        for (;;) {
                struct pollfd p = { .fd = c->fd, .events = POLLOUT };
                int r = conn_flush(c);
                if (r != 0)
                        return r < 0 ? r : 0;
                r = poll(&p, 1, remaining(deadline));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
        }
}

int conn_wait_frame(Conn *c, Frame *f, int timeout_ms) {
        int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
        int r;

        r = conn_flush_all(c, timeout_ms);
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd p = { .fd = c->fd, .events = POLLIN };

                r = conn_next(c, f);
                if (r != 0)
                        return r;
                r = conn_fill(c);
                if (r == 0)
                        return buf_len(&c->in) > 0 ? -EBADMSG : 0;
                if (r > 0)
                        continue;
                if (r != -EAGAIN && r != -EINTR)
                        return r;
                r = poll(&p, 1, remaining(deadline));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
        }
}

int peer_cred(int fd, pid_t *ret_pid, uid_t *ret_uid, gid_t *ret_gid) {
        struct ucred uc;
        socklen_t l = sizeof uc;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0)
                return -errno;
        if (l != sizeof uc)
                return -EIO;
        if (ret_pid)
                *ret_pid = uc.pid;
        if (ret_uid)
                *ret_uid = uc.uid;
        if (ret_gid)
                *ret_gid = uc.gid;
        return 0;
}

int fd_nonblock(int fd, bool nonblock) {
        int f = fcntl(fd, F_GETFL);
        if (f < 0)
                return -errno;
        f = nonblock ? (f | O_NONBLOCK) : (f & ~O_NONBLOCK);
        return fcntl(fd, F_SETFL, f) < 0 ? -errno : 0;
}

int fd_cloexec(int fd, bool cloexec) {
        int f = fcntl(fd, F_GETFD);
        if (f < 0)
                return -errno;
        f = cloexec ? (f | FD_CLOEXEC) : (f & ~FD_CLOEXEC);
        return fcntl(fd, F_SETFD, f) < 0 ? -errno : 0;
}

int loop_write(int fd, const void *p, size_t n) {
        const uint8_t *q = p;

        while (n > 0) {
                ssize_t k = write(fd, q, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void) poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                q += k;
                n -= (size_t) k;
        }
        return 0;
}
