/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "command.h"
#include "conn.h"
#include "log.h"
#include "macro.h"
#include "shell.h"

/* Two helpers, defined once: __dwell_a reads the next command text and
 * returns the previous command's status, so that $? is right inside the
 * eval; __dwell_b starts with $? = the eval's status and reports it.  The
 * eval itself stays at the top level (in a function, `declare` would make
 * locals).  bash reads its standard input from a pipe one byte per read(),
 * so the line sent per command is kept short. */
#define BOOTSTRAP_INIT                                                          \
        "__dwell_a() { IFS= read -r -d '' __dwell_c <&61; return \"$__dwell_s\"; }; " \
        "__dwell_b() { __dwell_s=$?; printf '%d\\n' \"$__dwell_s\" >&62; }; __dwell_s=0\n"
#define BOOTSTRAP_RUN "__dwell_a; eval \"$__dwell_c\" </dev/null 61<&- 62>&-; __dwell_b\n"

typedef struct ShellRunner {
        Runner r;
        int in_fd;              /* write: bootstrap lines */
        int text_fd;            /* write: command texts */
        int status_fd;          /* read: exit statuses, one per line */
        Buf pending;            /* command text not yet written to text_fd */
        Buf status_acc;         /* status bytes not yet a whole line */
        EvSource *child_src, *text_src, *status_src;
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

/* Parses complete "N\n" lines from the status pipe: >0 one status in *ret,
 * 0 none yet, -EPIPE when the pipe closed. */
static int read_status(ShellRunner *sh, int *ret) {
        Buf *acc = &sh->status_acc;
        const uint8_t *nl;

        for (;;) {
                nl = memchr(buf_ptr(acc), '\n', buf_len(acc));
                if (nl) {
                        /* The line is not NUL-terminated in the buffer: copy it out. */
                        size_t l = (size_t) (nl - buf_ptr(acc));
                        char line[16];
                        long v = -1;

                        if (l < sizeof line) {
                                memcpy(line, buf_ptr(acc), l);
                                line[l] = 0;
                                v = strtol(line, NULL, 10);
                        }
                        buf_consume(acc, l + 1);
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

static int on_status_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ShellRunner *sh = userdata;
        int status = 0, r;

        while ((r = read_status(sh, &status)) > 0)
                if (!sh->r.stopping)
                        sh->r.cb.done(&sh->r, status, sh->r.cb.userdata);
        if (r < 0)
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
        return 0;
}

static int on_text_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ShellRunner *sh = userdata;

        if (flush_text(sh) != 0)
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
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
        int child_fds[5], k;
        pid_t pid;

        /* The worker exits on failure; fds die with it. */
        k = runner_output_pipes(rd, wr);
        if (k < 0)
                return k;
        r->out_fd = rd[0];
        r->err_fd = rd[1];
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(text, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0)
                return -errno;

        child_fds[0] = in[0];
        child_fds[1] = text[0];
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
        sh->in_fd = in[1];
        sh->text_fd = text[1];
        sh->status_fd = status[0];
        (void) fd_nonblock(sh->text_fd, true);
        (void) fd_nonblock(sh->status_fd, true);

        if ((k = evloop_add_child(r->event, &sh->child_src, pid, on_exit_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->status_src, sh->status_fd, EPOLLIN, on_status_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->text_src, sh->text_fd, EPOLLOUT, on_text_cb, sh)) < 0)
                return k;
        (void) evloop_source_set_enabled(sh->text_src, EVLOOP_OFF);

        if (write(sh->in_fd, BOOTSTRAP_INIT, strlen(BOOTSTRAP_INIT)) < 0)
                return -errno;
        return 0;
}

static int shell_run(Runner *r, const char *text, RunnerResult *res) {
        ShellRunner *sh = (ShellRunner *) r;
        ssize_t n;
        int k;

        *res = (RunnerResult) {};
        /* The bootstrap line is shorter than PIPE_BUF and the shell reads
         * stdin only between commands, so this write never blocks long.
         * If the shell is gone, gone() ends the command. */
        n = write(sh->in_fd, BOOTSTRAP_RUN, strlen(BOOTSTRAP_RUN));
        if (n < 0)
                k = -errno;
        else if ((size_t) n != strlen(BOOTSTRAP_RUN))
                k = -EIO;
        else {
                k = buf_put(&sh->pending, text, strlen(text));
                if (k >= 0)
                        k = buf_put_u8(&sh->pending, 0);
                if (k >= 0)
                        k = flush_text(sh);
        }
        if (k == 0)
                (void) evloop_source_set_enabled(sh->text_src, EVLOOP_ON);
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
        buf_init(&sh->status_acc, 4096);
        r = shell_start(&sh->r);
        if (r < 0) {
                runner_free(&sh->r);
                return r;
        }
        *ret = &sh->r;
        return 0;
}
