/* SPDX-License-Identifier: ISC */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "command.h"
#include "conn.h"
#include "log.h"
#include "macro.h"
#include "shell.h"

/* Two helpers, defined once and read-only (readonly -f: a command can
 * neither redefine nor unset them): __dwell_a reads the next command text
 * and returns the previous command's status (passed by the worker), so
 * that $? is right inside the eval; __dwell_b starts with $? = the eval's
 * status and reports it with the command's nonce.  __dwell_a clears
 * whatever attributes a command gave __dwell_c (nameref, integer, case);
 * should the text still not arrive there (a read-only __dwell_c), the
 * shell exits rather than run the previous command's text again.  Every
 * word of the
 * per-command line is quoted (\name), so no alias replaces it, and the
 * helpers call builtins through `builtin`, so a function named printf or
 * read does not.  The eval itself stays at the top level (in a function,
 * `declare` would make locals).  bash reads its standard input one byte
 * per read() when it cannot seek, so the line sent per command is kept
 * short.  What a command can still do to these reports: doc/architecture.md. */
#define BOOTSTRAP_INIT                                                          \
        "__dwell_a() { builtin unset -n __dwell_c; builtin unset -v __dwell_c; "         \
        "IFS= builtin read -r -d '' __dwell_c <&61 || builtin exit 125; builtin return \"$1\"; }; " \
        "__dwell_b() { builtin printf '%s %d\\n' \"$1\" \"$?\" >&62; }; "                 \
        "builtin readonly -f __dwell_a __dwell_b\n"
#define BOOTSTRAP_RUN "\\__dwell_a %d;\\eval \"$__dwell_c\" </dev/null 61<&- 62>&-;\\__dwell_b %s\n"

#define NONCE_LEN 16            /* hex digits: 64 random bits per command */
#define STATUS_LINE_MAX 64      /* "NONCE STATUS\n" is 20 bytes at most */
#define IGNORED_LOG_MAX 8       /* ignored reports logged per command */

typedef struct ShellRunner {
        Runner r;
        int in_fd;              /* write: bootstrap lines */
        int text_fd;            /* write: command texts */
        int status_fd;          /* read: "NONCE STATUS" lines, with the sender's credentials */
        Buf pending;            /* command text not yet written to text_fd */
        Buf status_acc;         /* status bytes from the shell not yet a whole line */
        EvSource *child_src, *in_src, *text_src, *status_src;
        char nonce[NONCE_LEN + 1];      /* the running command's, "" when none runs */
        int last_status;        /* the previous command's status, for $? */
} ShellRunner;

static int move_fd(int from, int to) {
        if (from == to)
                return fd_cloexec(to, false);
        return dup2(from, to) < 0 ? -errno : 0;
}

_noreturn_ static void shell_child(const HostParams *p, int fds[5]) {
        static const int targets[5] = { 0, SHELL_TEXT_FD, SHELL_STATUS_FD, 1, 2 };
        char *argv[] = { p->shell, (char *) "--noprofile", (char *) "--norc", NULL };

        /* Move every fd above the targets first so no dup2 clobbers another. */
        for (int i = 0; i < 5; i++) {
                int k = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
                if (k < 0)
                        _exit(126);
                fds[i] = k;
        }
        for (int i = 0; i < 5; i++)
                if (move_fd(fds[i], targets[i]) < 0)
                        _exit(126);
        (void) close_range(3, SHELL_TEXT_FD - 1, 0);
        (void) close_range(SHELL_STATUS_FD + 1, ~0U, 0);

        if (runner_child_setup(p) < 0)
                _exit(126);
        execve(p->shell, argv, p->env);
        fprintf(stderr, "dwell: cannot execute %s: %m\n", p->shell);
        _exit(127);
}

/* Writes what it can of the pending text: 1 done, 0 more pending, <0 error. */
static int flush_text(ShellRunner *sh) {
        while (buf_len(&sh->pending) > 0) {
                ssize_t n = write(sh->text_fd, buf_ptr(&sh->pending), buf_len(&sh->pending));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                buf_consume(&sh->pending, (size_t) n);
        }
        return 1;
}

/* One line from the shell, with the terminating newline removed: the
 * running command's "NONCE STATUS", or else ignored (and logged). */
static void status_ignored(ShellRunner *sh, const char *what) {
        /* Every one is counted (the worker audits the count); the first
         * few per command are logged, so that a flood does not flood the log. */
        if (++sh->r.ignored_reports <= IGNORED_LOG_MAX)
                log_warning("Session shell: ignored a status line that is not the running command's (%s)", what);
}

/* The line is not NUL-terminated: everything is read within len. */
static bool parse_status(const char *s, size_t n, int *ret) {
        int v = 0;

        if (n == 0 || n > 3)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return v <= 255;
}

static void status_line(ShellRunner *sh, const char *line, size_t len) {
        int v;

        if (sh->nonce[0] && len > NONCE_LEN + 1 && memcmp(line, sh->nonce, NONCE_LEN) == 0 &&
            line[NONCE_LEN] == ' ' && parse_status(line + NONCE_LEN + 1, len - NONCE_LEN - 1, &v)) {
                sh->nonce[0] = 0;
                sh->last_status = v;
                if (!sh->r.stopping)
                        sh->r.cb.done(&sh->r, v, RUNNER_STATUS_SHELL, sh->r.cb.userdata);
                return;
        }
        status_ignored(sh, sh->nonce[0] ? "no match" : "no command running");
}

/* Reads what the status socket holds.  Only bytes the shell process itself
 * sent count (SCM_CREDENTIALS, checked by the kernel): its children,
 * background jobs and other processes of the user cannot reach the socket
 * through /proc, and what they send through a descriptor they inherited
 * is dropped.  0: all read for now, -EPIPE: closed, <0: error. */
static int read_status(ShellRunner *sh) {
        Buf *acc = &sh->status_acc;

        for (;;) {
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(struct ucred))];
                } control = {};
                uint8_t tmp[256];
                struct iovec iov = { .iov_base = tmp, .iov_len = sizeof tmp };
                struct msghdr mh = {
                        .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = &control, .msg_controllen = sizeof control,
                };
                struct cmsghdr *cmsg;
                const struct ucred *cred = NULL;
                const uint8_t *p, *nl;
                ssize_t n;

                n = recvmsg(sh->status_fd, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                if (n == 0)
                        return -EPIPE;
                for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
                        if (cmsg->cmsg_level != SOL_SOCKET)
                                continue;
                        if (cmsg->cmsg_type == SCM_CREDENTIALS && cmsg->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                                cred = (const struct ucred *) CMSG_DATA(cmsg);
                        else if (cmsg->cmsg_type == SCM_RIGHTS)     /* (no room for any: defensive) */
                                for (size_t i = 0; i < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                                        int fd;
                                        memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
                                        safe_close(fd);
                                }
                }
                if (!cred || cred->pid != sh->r.pid) {
                        if (++sh->r.ignored_reports <= IGNORED_LOG_MAX)
                                log_warning("Session shell: ignored %zd bytes on the status channel from pid %d, "
                                            "not the shell", n, cred ? (int) cred->pid : 0);
                        continue;
                }
                for (p = tmp; p < tmp + n; p = nl + 1) {
                        nl = memchr(p, '\n', (size_t) (tmp + n - p));
                        if (!nl) {
                                if (buf_put(acc, p, (size_t) (tmp + n - p)) < 0) {
                                        status_ignored(sh, "too long");
                                        buf_consume(acc, buf_len(acc));
                                }
                                break;
                        }
                        if (buf_len(acc) > 0) {
                                if (buf_put(acc, p, (size_t) (nl - p)) < 0)
                                        status_ignored(sh, "too long");
                                else
                                        status_line(sh, (const char *) buf_ptr(acc), buf_len(acc));
                                buf_consume(acc, buf_len(acc));
                        } else
                                status_line(sh, (const char *) p, (size_t) (nl - p));
                }
        }
}

static int on_status_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ShellRunner *sh = userdata;

        if (read_status(sh) < 0)
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
        return 0;
}

/* The shell may write into the sockets it reads its input from (its
 * copies are sockets, not read-only pipe ends): what it writes there is
 * read and dropped, so that it neither fills them nor gets SIGPIPE.  0, or
 * -EPIPE once the shell's end is closed. */
static int drop_input(int fd) {
        uint8_t tmp[4096];

        for (;;) {
                ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
                if (n > 0)
                        continue;
                if (n == 0)
                        return -EPIPE;
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        }
}

static int on_in_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        if (drop_input(fd) < 0)
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
        return 0;
}

static int on_text_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ShellRunner *sh = userdata;

        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && drop_input(fd) < 0) {
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
                return 0;
        }
        if ((revents & EPOLLOUT) && flush_text(sh) != 0)
                (void) evloop_source_set_io_events(s, EPOLLIN);
        return 0;
}

static int on_exit_cb(EvSource *s, const siginfo_t *si, void *userdata) {
        ShellRunner *sh = userdata;

        sh->child_src = evloop_source_free(sh->child_src);
        sh->r.pid = 0;
        sh->r.cb.gone(&sh->r, runner_exit_status(si), sh->r.cb.userdata);
        return 0;
}

static int shell_start(Runner *r) {
        ShellRunner *sh = (ShellRunner *) r;
        int in[2], text[2], status[2], rd[2], wr[2];
        int child_fds[5], k, one = 1;
        pid_t pid;

        /* The worker exits on failure; fds die with it. */
        k = runner_output_pipes(rd, wr);
        if (k < 0)
                return k;
        r->out_fd = rd[0];
        r->err_fd = rd[1];
        /* Sockets, not pipes: a pipe can be opened again, for reading and
         * for writing, through /proc/PID/fd by any process of the user; a
         * socket cannot.  [0] is the worker's end. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, text) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, status) < 0)
                return -errno;
        if (setsockopt(status[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
                return -errno;
        (void) shutdown(status[0], SHUT_WR);   /* the shell reads EOF from it */

        child_fds[0] = in[1];
        child_fds[1] = text[1];
        child_fds[2] = status[1];
        child_fds[3] = wr[0];
        child_fds[4] = wr[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                shell_child(r->p, child_fds);
        for (int i = 0; i < 5; i++)
                safe_close(child_fds[i]);

        r->pid = pid;
        sh->in_fd = in[0];
        sh->text_fd = text[0];
        sh->status_fd = status[0];
        (void) fd_nonblock(sh->text_fd, true);
        (void) fd_nonblock(sh->status_fd, true);

        if ((k = evloop_add_child(r->event, &sh->child_src, pid, on_exit_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->status_src, sh->status_fd, EPOLLIN, on_status_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->text_src, sh->text_fd, EPOLLIN, on_text_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->in_src, sh->in_fd, EPOLLIN, on_in_cb, sh)) < 0)
                return k;

        if (write(sh->in_fd, BOOTSTRAP_INIT, strlen(BOOTSTRAP_INIT)) < 0)
                return -errno;
        return 0;
}

static void new_nonce(char nonce[static NONCE_LEN + 1]) {
        uint64_t v = 0;

        /* getrandom() of 8 bytes does not fail once the pool is ready;
         * should it, the clock still changes from one command to the next. */
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t) sizeof v) {
                struct timespec ts;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                v ^= (uint64_t) ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t) ts.tv_sec;
        }
        snprintf(nonce, NONCE_LEN + 1, "%016" PRIx64, v);
}

static int shell_run(Runner *r, const char *text, RunnerResult *res) {
        ShellRunner *sh = (ShellRunner *) r;
        char line[sizeof BOOTSTRAP_RUN + 16 + NONCE_LEN];
        ssize_t n;
        int len, k;

        *res = (RunnerResult) {};
        new_nonce(sh->nonce);
        len = snprintf(line, sizeof line, BOOTSTRAP_RUN, sh->last_status, sh->nonce);
        assert(len > 0 && (size_t) len < sizeof line);
        /* The bootstrap line is short and the shell reads stdin only
         * between commands, so this write never blocks long.  If the shell
         * is gone, gone() ends the command. */
        n = write(sh->in_fd, line, (size_t) len);
        if (n < 0)
                k = -errno;
        else if (n != len)
                k = -EIO;
        else {
                k = buf_put(&sh->pending, text, strlen(text));
                if (k >= 0)
                        k = buf_put_u8(&sh->pending, 0);
                if (k >= 0)
                        k = flush_text(sh);
        }
        if (k == 0)
                (void) evloop_source_set_io_events(sh->text_src, EPOLLIN | EPOLLOUT);
        else if (k < 0)
                log_warning_errno(k, "Failed to pass a command to the shell: %m");
        return 0;
}

static void shell_signal(ShellRunner *sh, int sig) {
        if (sh->r.pid > 0)
                (void) kill(-sh->r.pid, sig);   /* the shell and its process group */
}

static int shell_stop(Runner *r) {
        ShellRunner *sh = (ShellRunner *) r;

        if (r->pid <= 0)
                return 0;
        shell_signal(sh, SIGHUP);
        shell_signal(sh, SIGCONT);
        shell_signal(sh, SIGTERM);
        return 1;
}

static void shell_kill(Runner *r) {
        shell_signal((ShellRunner *) r, SIGKILL);
}

static void shell_free(Runner *r) {
        ShellRunner *sh = (ShellRunner *) r;

        sh->child_src = evloop_source_free(sh->child_src);
        sh->in_src = evloop_source_free(sh->in_src);
        sh->text_src = evloop_source_free(sh->text_src);
        sh->status_src = evloop_source_free(sh->status_src);
        safe_close(sh->in_fd);
        safe_close(sh->text_fd);
        safe_close(sh->status_fd);
        buf_done(&sh->pending);
        buf_done(&sh->status_acc);
        free(sh);
}

static const RunnerOps shell_ops = {
        .run = shell_run,
        .stop = shell_stop,
        .kill = shell_kill,
        .free = shell_free,
};

int runner_new_shell(EvLoop *e, const HostParams *p, const RunnerCallbacks *cb, Runner **ret) {
        ShellRunner *sh = calloc(1, sizeof *sh);
        int r;

        if (!sh)
                return -ENOMEM;
        runner_init(&sh->r, &shell_ops, e, p, cb);
        sh->in_fd = sh->text_fd = sh->status_fd = -EBADF;
        buf_init(&sh->pending, 4u * 1024 * 1024);
        buf_init(&sh->status_acc, STATUS_LINE_MAX);
        r = shell_start(&sh->r);
        if (r < 0) {
                runner_free(&sh->r);
                return r;
        }
        *ret = &sh->r;
        return 0;
}
