/* SPDX-License-Identifier: ISC */
/*
 * dwelld's side of the session spawner (src/host/spawner.c): one dwell-host
 * started once and kept loaded, which clones itself into each new session
 * host.  The clones are dwelld's children (CLONE_PARENT), watched like any
 * other.  The exchange is synchronous: the spawner answers a FORK with the
 * clone's pid as soon as clone() returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawner.h"

/* A clone takes well under a millisecond; the first FORK also waits for
 * the spawner's start (exec, loading the PAM modules). */
#define SPAWNER_TIMEOUT_MS 5000

struct Spawner {
        Manager *manager;
        pid_t pid;
        Conn conn;
        sd_event_source *child_src;
};

static Spawner *spawner_free(Spawner *sp) {
        if (!sp)
                return NULL;
        if (sp->manager->spawner == sp)
                sp->manager->spawner = NULL;
        sd_event_source_disable_unref(sp->child_src);
        conn_done(&sp->conn);
        free(sp);
        return NULL;
}

static int on_spawner_exit_cb(sd_event_source *src, const siginfo_t *si, void *userdata) {
        Spawner *sp = userdata;

        if (sp->manager->spawner == sp)
                log_warning("The session spawner (pid %d) %s %d; the next session starts another",
                            (int) sp->pid, si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                            si->si_status);
        spawner_free(sp);
        return 0;
}

int spawner_start(Manager *m) {
        _cleanup_close_pair_ int pair[2] = { -EBADF, -EBADF };
        char *argv[] = { (char *) "dwell-host", NULL };
        Spawner *sp;
        int r;

        if (m->spawner)
                return 0;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return log_error_errno(errno, "Failed to create the spawner's socket: %m");
        sp = calloc(1, sizeof *sp);
        if (!sp)
                return -ENOMEM;
        sp->manager = m;
        conn_init(&sp->conn, -EBADF, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 64 * 1024);
        r = proto_put_empty(&sp->conn.out, PROTO_MSG_SPAWNER);
        if (r >= 0)
                r = manager_spawn(m, "dwell-host", argv, pair[1], true, &sp->pid);
        if (r < 0) {
                spawner_free(sp);
                return r;
        }
        r = sd_event_add_child(m->event, &sp->child_src, sp->pid, WEXITED, on_spawner_exit_cb, sp);
        if (r < 0) {
                (void) kill(sp->pid, SIGKILL);
                (void) waitpid(sp->pid, NULL, 0);
                spawner_free(sp);
                return log_error_errno(r, "Failed to watch the session spawner: %m");
        }
        (void) fd_nonblock(pair[0], true);
        sp->conn.fd = TAKE_FD(pair[0]);
        m->spawner = sp;
        r = conn_flush_all(&sp->conn, SPAWNER_TIMEOUT_MS);     /* an empty socket: at once */
        if (r < 0) {
                spawner_stop(m, true);
                return log_error_errno(r, "Failed to start the session spawner: %m");
        }
        log_debug("Session spawner started, pid %d", (int) sp->pid);
        return 0;
}

void spawner_stop(Manager *m, bool kill_it) {
        Spawner *sp = m->spawner;

        if (!sp)
                return;
        m->spawner = NULL;
        /* It exits when its connection closes; freed when it has. */
        sp->conn.fd = safe_close(sp->conn.fd);
        if (kill_it)
                (void) kill(sp->pid, SIGKILL);
}

void spawner_done(Manager *m) {
        /* dwelld exits: the spawner follows when its connection closes. */
        spawner_free(m->spawner);
}

typedef enum ForkOutcome {
        FORK_DONE,
        FORK_NOT_SENT,          /* the spawner never got the request */
        FORK_REFUSED,           /* it answered that clone() failed */
        FORK_STALE,             /* it answered that its files changed on disk: nothing started */
        FORK_LOST,              /* sent, no valid answer: a clone may exist */
} ForkOutcome;

static ForkOutcome fork_once(Manager *m, int control_fd, pid_t *ret_pid, int *ret_error) {
        _cleanup_free_ char *msg = NULL;
        Spawner *sp;
        uint32_t pid = 0;
        size_t start;
        int32_t e;
        Frame f;
        int fd, r;

        r = spawner_start(m);
        if (r < 0)
                return *ret_error = r, FORK_NOT_SENT;
        sp = m->spawner;
        fd = fcntl(control_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return *ret_error = -errno, FORK_NOT_SENT;
        start = sp->conn.out.size;
        r = proto_put_fork(&sp->conn.out);
        if (r >= 0)
                r = conn_attach_fd(&sp->conn, start, fd);
        else
                safe_close(fd);
        if (r >= 0)
                r = conn_flush_all(&sp->conn, SPAWNER_TIMEOUT_MS);
        if (r < 0)
                return *ret_error = r, FORK_NOT_SENT;

        r = conn_wait_frame(&sp->conn, &f, SPAWNER_TIMEOUT_MS);
        if (r <= 0)
                return *ret_error = r < 0 ? r : -ECONNRESET, FORK_LOST;
        if (f.type == PROTO_MSG_FAILED && proto_get_failed(&f.payload, &e, &msg) >= 0) {
                conn_consume(&sp->conn, &f);
                if (e == -ESTALE)
                        return *ret_error = e, FORK_STALE;
                log_error("The session spawner could not start a session host: %s", msg);
                return *ret_error = e < 0 ? e : -EIO, FORK_REFUSED;
        }
        r = f.type == PROTO_MSG_FORKED ? proto_get_u32_msg(&f.payload, &pid) : -EBADMSG;
        conn_consume(&sp->conn, &f);
        if (r >= 0 && (pid <= 1 || pid > INT32_MAX))
                r = -EBADMSG;
        if (r < 0)
                return *ret_error = r, FORK_LOST;
        *ret_pid = (pid_t) pid;
        return FORK_DONE;
}

int spawner_fork(Manager *m, int control_fd, pid_t *ret_pid) {
        int r = 0;

        /* A spawner that died since the last session, or whose files an
         * upgrade replaced, is replaced once, if it never got this request
         * or said it started nothing: two hosts on one control connection
         * must never happen. */
        for (int attempt = 0; attempt < 2; attempt++) {
                switch (fork_once(m, control_fd, ret_pid, &r)) {
                case FORK_DONE:
                        return 0;
                case FORK_REFUSED:
                        return r;
                case FORK_LOST:
                        log_error_errno(r, "The session spawner did not answer, replacing it: %m");
                        spawner_stop(m, true);
                        return r;
                case FORK_NOT_SENT:
                        log_warning_errno(r, "Could not reach the session spawner, replacing it: %m");
                        spawner_stop(m, true);
                        break;
                case FORK_STALE:
                        log_info("The session spawner's program or libraries were replaced on disk; starting a new one");
                        spawner_stop(m, false);
                        break;
                }
        }
        return r;
}
