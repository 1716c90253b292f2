/* SPDX-License-Identifier: ISC */
/*
 * Conn: a framed connection over a stream socket.  It owns the socket, an
 * input and an output Buf with hard limits, and the file descriptors that
 * arrive with frames (SCM_RIGHTS, MSG_CMSG_CLOEXEC).  It never blocks unless
 * asked to (conn_wait_frame); the daemons drive it from sd-event, the client
 * from poll().  Decoding of payloads is proto.c's job, not this one's.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "proto.h"

#define CONN_MAX_FDS 4

typedef struct ConnFd {
        uint64_t pos;           /* absolute output position of the frame it travels with */
        int fd;
} ConnFd;

typedef struct Conn {
        int fd;
        Buf in;
        Buf out;
        uint64_t out_pos;       /* bytes written so far */
        int in_fds[CONN_MAX_FDS];
        size_t n_in_fds;
        ConnFd out_fds[CONN_MAX_FDS];
        size_t n_out_fds;
} Conn;

typedef struct Frame {
        uint16_t type;
        uint8_t flags;
        uint32_t len;
        Buf payload;            /* view into Conn.in */
        int fd;                 /* attached fd or -EBADF; owned by the caller once returned */
} Frame;

void conn_init(Conn *c, int fd, size_t max_in, size_t max_out);
/* Closes the socket and every queued descriptor. */
void conn_done(Conn *c);

/* One read: >0 bytes read, 0 on EOF, -EAGAIN, or -errno. */
int conn_fill(Conn *c);
/* 1 and *f filled if a whole frame is buffered, 0 if not, <0 on a protocol error. */
int conn_next(Conn *c, Frame *f);
/* Drops the frame returned by conn_next; closes f->fd unless the caller took it. */
void conn_consume(Conn *c, Frame *f);

/* Bytes queued but not yet written. */
static inline size_t conn_pending(const Conn *c) { return buf_len(&c->out); }
/* Attaches fd (ownership passes to Conn) to the frame that starts at out.size = start. */
int conn_attach_fd(Conn *c, size_t start, int fd);
/* Writes what it can: 1 = all written, 0 = more pending (EAGAIN), <0 error. */
int conn_flush(Conn *c);

/* Blocking helpers (client side): flush everything, wait up to timeout_ms
 * (-1 = forever) for one frame. Return 1 with a frame, 0 on EOF, <0 error,
 * -ETIMEDOUT. */
int conn_flush_all(Conn *c, int timeout_ms);
int conn_wait_frame(Conn *c, Frame *f, int timeout_ms);

/* SO_PEERCRED of a connected AF_UNIX socket. */
int peer_cred(int fd, pid_t *ret_pid, uid_t *ret_uid, gid_t *ret_gid);
int fd_nonblock(int fd, bool nonblock);
/* Writes all n bytes, retrying on EINTR and waiting on EAGAIN (an
 * inherited non-blocking descriptor). */
int loop_write(int fd, const void *p, size_t n);
int fd_cloexec(int fd, bool cloexec);
