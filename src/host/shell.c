/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "macro.h"
#include "shell.h"

#define BOOTSTRAP_INIT "__dwell_rv() { return \"$1\"; }; __dwell_s=0\n"
#define BOOTSTRAP_RUN                                                           \
        "IFS= read -r -d '' __dwell_c <&61; __dwell_rv \"$__dwell_s\"; "        \
        "eval \"$__dwell_c\" </dev/null 61<&- 62>&-; __dwell_s=$?; "            \
        "printf '%d\\n' \"$__dwell_s\" >&62\n"

static int move_fd(int from, int to) {
        if (from == to)
                return fd_cloexec(to, false);
        return dup2(from, to) < 0 ? -errno : 0;
}

_noreturn_ static void shell_child(const char *shell, const char *home, char **env, int fds[5]) {
        static const int targets[5] = { 0, SHELL_TEXT_FD, SHELL_STATUS_FD, 1, 2 };
        char *argv[] = { (char *) shell, (char *) "--noprofile", (char *) "--norc", NULL };
        sigset_t ss;

        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int i = 1; i < NSIG; i++)
                (void) signal(i, SIG_DFL);
        (void) setsid();        /* its own process group: removal ends it all */

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

        if (chdir(home) < 0)
                (void) chdir("/");
        execve(shell, argv, env);
        fprintf(stderr, "dwell: cannot execute %s: %m\n", shell);
        _exit(127);
}

int shell_start(Shell *sh, const char *shell, const char *home, char **env) {
        int in[2], text[2], status[2], out[2], err[2];
        int child_fds[5];
        pid_t pid;

        *sh = (Shell) { .pid = -1, .in_fd = -EBADF, .text_fd = -EBADF, .status_fd = -EBADF,
                        .out_fd = -EBADF, .err_fd = -EBADF };
        buf_init(&sh->pending, 4u * 1024 * 1024);
        if (pipe2(in, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(text, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0 ||
            pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
                return -errno;  /* the worker exits on failure; fds die with it */

        child_fds[0] = in[0];
        child_fds[1] = text[0];
        child_fds[2] = status[1];
        child_fds[3] = out[1];
        child_fds[4] = err[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                shell_child(shell, home, env, child_fds);
        for (int i = 0; i < 5; i++)
                safe_close(child_fds[i]);

        sh->pid = pid;
        sh->in_fd = in[1];
        sh->text_fd = text[1];
        sh->status_fd = status[0];
        sh->out_fd = out[0];
        sh->err_fd = err[0];
        (void) fd_nonblock(sh->text_fd, true);
        (void) fd_nonblock(sh->status_fd, true);
        (void) fd_nonblock(sh->out_fd, true);
        (void) fd_nonblock(sh->err_fd, true);
        /* Bigger pipes: fewer wake-ups on the output path. */
        (void) fcntl(sh->out_fd, F_SETPIPE_SZ, 1024 * 1024);
        (void) fcntl(sh->err_fd, F_SETPIPE_SZ, 256 * 1024);

        if (write(sh->in_fd, BOOTSTRAP_INIT, strlen(BOOTSTRAP_INIT)) < 0)
                return -errno;
        return 0;
}

int shell_send(Shell *sh, const char *text) {
        ssize_t n;
        int r;

        /* The bootstrap line is shorter than PIPE_BUF and the shell reads
         * stdin only between commands, so this write never blocks long. */
        n = write(sh->in_fd, BOOTSTRAP_RUN, strlen(BOOTSTRAP_RUN));
        if (n < 0)
                return -errno;
        if ((size_t) n != strlen(BOOTSTRAP_RUN))
                return -EIO;
        r = buf_put(&sh->pending, text, strlen(text));
        if (r >= 0)
                r = buf_put_u8(&sh->pending, 0);
        return r;
}

int shell_flush_text(Shell *sh) {
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

int shell_read_status(Shell *sh, Buf *acc, int *ret) {
        const uint8_t *nl;

        for (;;) {
                nl = memchr(buf_ptr(acc), '\n', buf_len(acc));
                if (nl) {
                        long v = strtol((const char *) buf_ptr(acc), NULL, 10);
                        buf_consume(acc, (size_t) (nl - buf_ptr(acc)) + 1);
                        *ret = (int) v;
                        return 1;
                }
                uint8_t tmp[64];
                ssize_t n = read(sh->status_fd, tmp, sizeof tmp);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                if (n == 0)
                        return -EPIPE;
                if (buf_put(acc, tmp, (size_t) n) < 0)
                        return -ENOBUFS;
        }
}

void shell_close(Shell *sh) {
        sh->in_fd = safe_close(sh->in_fd);
        sh->text_fd = safe_close(sh->text_fd);
        sh->status_fd = safe_close(sh->status_fd);
        sh->out_fd = safe_close(sh->out_fd);
        sh->err_fd = safe_close(sh->err_fd);
        buf_done(&sh->pending);
}
