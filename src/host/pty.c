/* SPDX-License-Identifier: ISC */
/*
 * The Runner of a terminal session: the session identity's login shell
 * (argv[0] "-NAME", interactive since its stdin is a terminal, reading the
 * user's own rc files) on a pseudo-terminal whose master the worker keeps
 * (r->pty_fd).  The shell is the leader of a new session with the pty as
 * its controlling terminal, so job control, Ctrl-C and Ctrl-Z work as on
 * a console.  No dwell bootstrap runs in it: what is typed reaches the
 * shell as typed.  The worker's terminal side (worker-term.c) reads and
 * writes the master; this file only starts, signals and reaps the shell.
 *
 * run() refuses: commands reach a terminal session by being typed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "command.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

typedef struct PtyRunner {
        Runner r;
        EvSource *child_src;
} PtyRunner;

/* The shell's environment: the session's, with TERM set and the size
 * variables a parent shell may have exported dropped (the pty has the size). */
static char **pty_env(const HostParams *p) {
        size_t n = 0, k = 0;
        char **env;

        for (char **e = p->env; e && *e; e++)
                n++;
        env = calloc(n + 2, sizeof(char *));
        if (!env)
                return NULL;
        for (char **e = p->env; e && *e; e++) {
                if (strncmp(*e, "TERM=", 5) == 0 || strncmp(*e, "COLUMNS=", 8) == 0 ||
                    strncmp(*e, "LINES=", 6) == 0)
                        continue;
                env[k] = strdup(*e);
                if (!env[k++])
                        goto fail;
        }
        if (asprintf(&env[k], "TERM=%s", *strempty(p->term) ? p->term : "vt100") < 0) {
                env[k] = NULL;
                goto fail;
        }
        return env;
fail:
        strv_free(env);
        return NULL;
}

_noreturn_ static void pty_child(const HostParams *p, const char *slave, char *argv0, char **env) {
        char *argv[] = { argv0, NULL };
        int fd;

        /* runner_child_setup() makes the new session; the first terminal a
         * session leader opens becomes its controlling terminal, and
         * TIOCSCTTY says so explicitly. */
        if (runner_child_setup(p) < 0)
                _exit(126);
        fd = open(slave, O_RDWR);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
                _exit(126);
        if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                _exit(126);
        (void) close_range(3, ~0U, 0);
        execve(p->shell, argv, env);
        fprintf(stderr, "dwell: cannot execute %s: %m\r\n", p->shell);
        _exit(127);
}

static int on_pty_child_cb(EvSource *s, const siginfo_t *si, void *userdata) {
        PtyRunner *x = userdata;

        x->child_src = evloop_source_free(x->child_src);
        x->r.pid = 0;
        x->r.cb.gone(&x->r, runner_exit_status(si), x->r.cb.userdata);
        return 0;
}

static int pty_run(Runner *r, const char *text, RunnerResult *res) {
        *res = (RunnerResult) { .status = 126 };
        if (asprintf(&res->message, "dwell: session %s is a terminal session: type the command at its terminal "
                     "(dwell connect %s)\n", r->p->name, r->p->name) < 0)
                res->message = NULL;
        return 1;
}

/* The terminal's foreground process group (the program the user runs),
 * else the shell's. */
static pid_t pty_foreground(Runner *r) {
        pid_t pg = r->pty_fd >= 0 ? tcgetpgrp(r->pty_fd) : -1;

        return pg > 0 ? pg : r->pid;
}

static int pty_signal(Runner *r, int sig) {
        pid_t pg;

        if (r->pid <= 0)
                return 0;
        pg = pty_foreground(r);
        (void) kill(-pg, sig);
        if (sig_needs_cont(sig))
                (void) kill(-pg, SIGCONT);
        return 1;
}

static void pty_signal_all(Runner *r, int sig) {
        pid_t pg = pty_foreground(r);

        if (r->pid <= 0)
                return;
        if (pg != r->pid)
                (void) kill(-pg, sig);
        (void) kill(-r->pid, sig);
        (void) kill(r->pid, sig);
}

/* As a terminal that goes away: SIGHUP (and SIGCONT) to the shell and the
 * foreground job; an interactive shell passes SIGHUP on to its jobs. */
static int pty_stop(Runner *r) {
        if (r->pid <= 0)
                return 0;
        pty_signal_all(r, SIGHUP);
        pty_signal_all(r, SIGCONT);
        pty_signal_all(r, SIGTERM);
        return 1;
}

static void pty_kill(Runner *r) {
        pty_signal_all(r, SIGKILL);
}

static void pty_free(Runner *r) {
        PtyRunner *x = (PtyRunner *) r;

        x->child_src = evloop_source_free(x->child_src);
        free(x);
}

static const RunnerOps pty_ops = {
        .run = pty_run,
        .signal = pty_signal,
        .stop = pty_stop,
        .kill = pty_kill,
        .free = pty_free,
};

static int pty_start(PtyRunner *x, unsigned rows, unsigned cols) {
        const HostParams *p = x->r.p;
        struct winsize ws = { .ws_row = (unsigned short) (rows ?: 24), .ws_col = (unsigned short) (cols ?: 80) };
        _cleanup_free_ char *argv0 = NULL;
        char slave[128], **env;
        const char *base;
        pid_t pid;
        int fd, r;

        if (!*strempty(p->shell))
                return -EINVAL;
        base = strrchr(p->shell, '/');
        if (asprintf(&argv0, "-%s", base ? base + 1 : p->shell) < 0)
                return -ENOMEM;
        fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        x->r.pty_fd = fd;
        if (grantpt(fd) < 0 || unlockpt(fd) < 0)
                return -errno;
        r = ptsname_r(fd, slave, sizeof slave);
        if (r != 0)
                return -r;
        if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
                return -errno;
        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;
        env = pty_env(p);
        if (!env)
                return -ENOMEM;
        pid = fork();
        if (pid == 0)
                pty_child(p, slave, argv0, env);
        r = -errno;
        strv_free(env);
        if (pid < 0)
                return r;
        x->r.pid = pid;
        r = evloop_add_child(x->r.event, &x->child_src, pid, on_pty_child_cb, x);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                x->r.pid = 0;
                return r;
        }
        log_debug("Session %s: login shell %s (pid %d) on %s", p->name, p->shell, (int) pid, slave);
        return 0;
}

int runner_new_pty(EvLoop *e, const HostParams *p, const RunnerCallbacks *cb, unsigned rows, unsigned cols,
                   Runner **ret) {
        PtyRunner *x = calloc(1, sizeof *x);
        int r;

        if (!x)
                return -ENOMEM;
        runner_init(&x->r, &pty_ops, e, p, cb);
        r = pty_start(x, rows, cols);
        if (r < 0) {
                runner_free(&x->r);
                return r;
        }
        *ret = &x->r;
        return 0;
}
