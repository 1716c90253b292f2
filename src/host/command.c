/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "command.h"
#include "conn.h"
#include "log.h"
#include "macro.h"
#include "privdrop.h"
#include "strv.h"

/* ------------------------------------------------------------- common */

const char *runner_status_source_to_string(RunnerStatusSource s) {
        static const char *const names[_RUNNER_STATUS_SOURCE_MAX] = {
                [RUNNER_STATUS_SHELL] = "shell",
                [RUNNER_STATUS_PROCESS] = "process",
                [RUNNER_STATUS_DWELL] = "dwell",
        };
        return s >= 0 && s < _RUNNER_STATUS_SOURCE_MAX ? names[s] : NULL;
}

void runner_result_done(RunnerResult *res) {
        free(res->message);
        free(res->program);
        *res = (RunnerResult) {};
}

void runner_init(Runner *r, const RunnerOps *ops, EvLoop *e, const HostParams *p, const RunnerCallbacks *cb) {
        *r = (Runner) {
                .ops = ops,
                .event = e,
                .p = p,
                .cb = *cb,
                .out_fd = -EBADF,
                .err_fd = -EBADF,
                .stdin_fd = -EBADF,
                .pty_fd = -EBADF,
        };
}

Runner *runner_free(Runner *r) {
        if (r) {
                r->out_fd = safe_close(r->out_fd);
                r->err_fd = safe_close(r->err_fd);
                r->stdin_fd = safe_close(r->stdin_fd);
                r->pty_fd = safe_close(r->pty_fd);
                r->ops->free(r);
        }
        return NULL;
}

int runner_output_pipes(int ret_read[2], int ret_write[2]) {
        int out[2], err[2];

        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err, O_CLOEXEC) < 0) {
                int r = -errno;
                safe_close(out[0]);
                safe_close(out[1]);
                return r;
        }
        (void) fd_nonblock(out[0], true);
        (void) fd_nonblock(err[0], true);
        /* Bigger pipes: fewer wake-ups on the output path. */
        (void) fcntl(out[0], F_SETPIPE_SZ, 1024 * 1024);
        (void) fcntl(err[0], F_SETPIPE_SZ, 256 * 1024);
        ret_read[0] = out[0];
        ret_read[1] = err[0];
        ret_write[0] = out[1];
        ret_write[1] = err[1];
        return 0;
}

int runner_child_setup(const HostParams *p) {
        sigset_t ss;
        int resource = 0, r;

        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int i = 1; i < NSIG; i++)
                (void) signal(i, SIG_DFL);
        (void) setsid();        /* its own process group: removal ends it all */
        if (p->umask_set)
                (void) umask(p->umask);
        r = limits_apply(p->limits, &resource);
        if (r < 0) {
                fprintf(stderr, "dwell: cannot set the resource limit %s: %s\n",
                        host_limit_name(resource), strerror(-r));
                return r;
        }
        return 0;
}

int proc_fd_reopen(int fd, int flags) {
        char path[64];
        int k;

        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        k = open(path, flags | O_CLOEXEC);
        return k < 0 ? -errno : k;
}

int runner_exit_status(const siginfo_t *si) {
        return si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
}

/* ------------------------------------------------------ word splitting */

static bool shell_meta(char c) {
        return strchr("|&;<>()$`\n", c) != NULL;
}

/* How a metacharacter is named in a message: "\";\"", "a newline". */
static const char *meta_name(char c, char buf[static 8]) {
        if (c == '\n')
                return "a newline";
        snprintf(buf, 8, "\"%c\"", c);
        return buf;
}

int command_split(const char *line, char ***ret_words, char **ret_error) {
        size_t n = 0, len = strlen(line);
        char **words, *word, *w = NULL;
        bool in_word = false;
        char q[8];
        int r;

        *ret_error = NULL;
        /* No more words than characters, no word longer than the line. */
        words = calloc(len / 2 + 2, sizeof(char *));
        word = malloc(len + 1);
        if (!words || !word) {
                free(words);
                free(word);
                return -ENOMEM;
        }

#define FAIL(...)                                                               \
        do {                                                                    \
                r = asprintf(ret_error, __VA_ARGS__) < 0 ? -ENOMEM : -EINVAL;   \
                goto fail;                                                      \
        } while (0)
        for (const char *s = line;; s++) {
                char c = *s;

                if (c == 0 || c == ' ' || c == '\t') {
                        if (in_word) {
                                *w = 0;
                                words[n] = strdup(word);
                                if (!words[n++]) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                in_word = false;
                        }
                        if (c == 0)
                                break;
                        continue;
                }
                if (!in_word) {
                        if (c == '#')
                                FAIL("a comment (\"#\") would need a shell");
                        w = word;
                }
                if (c == '\\') {
                        c = *++s;
                        if (c == 0)
                                FAIL("the line ends in a backslash");
                        if (c == '\n')
                                continue;       /* continues the line */
                        *w++ = c;
                        in_word = true;
                } else if (c == '\'') {
                        const char *end = strchr(s + 1, '\'');
                        if (!end)
                                FAIL("unterminated single quote");
                        memcpy(w, s + 1, (size_t) (end - s - 1));
                        w += end - s - 1;
                        s = end;
                        in_word = true;
                } else if (c == '"') {
                        for (s++;; s++) {
                                if (*s == 0)
                                        FAIL("unterminated double quote");
                                if (*s == '"')
                                        break;
                                if (*s == '$' || *s == '`')
                                        FAIL("%s inside double quotes would need a shell "
                                             "(escape it with a backslash or use single quotes)",
                                             meta_name(*s, q));
                                if (*s == '\\' && s[1] && strchr("\\\"$`\n", s[1])) {
                                        s++;
                                        if (*s == '\n')
                                                continue;
                                }
                                *w++ = *s;
                        }
                        in_word = true;
                } else if (shell_meta(c))
                        FAIL("%s would need a shell (quote it to pass it on as it is)", meta_name(c, q));
                else {
                        *w++ = c;
                        in_word = true;
                }
        }
#undef FAIL
        free(word);
        words[n] = NULL;
        *ret_words = words;
        return 0;

fail:
        if (r == -ENOMEM)
                *ret_error = NULL;
        free(word);
        strv_free(words);
        return r;
}

const char *command_resolve(char **allowed, const char *program) {
        _cleanup_free_ char *real = NULL;

        if (!strchr(program, '/')) {
                for (char **a = allowed; a && *a; a++) {
                        const char *base = strrchr(*a, '/');
                        if (base && streq(base + 1, program))
                                return *a;
                }
                return NULL;
        }
        for (char **a = allowed; a && *a; a++)
                if (streq(*a, program))
                        return *a;
        real = realpath(program, NULL);
        if (!real)
                return NULL;
        for (char **a = allowed; a && *a; a++) {
                _cleanup_free_ char *ra = realpath(*a, NULL);
                if (ra && streq(ra, real))
                        return *a;
        }
        return NULL;
}

/* ---------------------------------------------------- the exec runner */

typedef struct ExecRunner {
        Runner r;
        int out_w, err_w;               /* the write ends, for each command */
        pid_t child;                    /* the running command, 0 if none */
        EvSource *child_src;
} ExecRunner;

static int exec_start(Runner *r) {
        ExecRunner *x = (ExecRunner *) r;
        int rd[2], wr[2], k;

        k = runner_output_pipes(rd, wr);
        if (k < 0)
                return k;
        r->out_fd = rd[0];
        r->err_fd = rd[1];
        x->out_w = wr[0];
        x->err_w = wr[1];
        return 0;
}

_noreturn_ static void exec_child(ExecRunner *x, const char *path, char **argv, int in) {
        if (dup2(x->out_w, 1) < 0 || dup2(x->err_w, 2) < 0)
                _exit(126);
        if (in < 0 || dup2(in, 0) < 0)
                _exit(126);
        (void) close_range(3, ~0U, 0);
        if (runner_child_setup(x->r.p) < 0)
                _exit(126);
        execve(path, argv, x->r.p->env);
        fprintf(stderr, "dwell: cannot execute %s: %m\n", path);
        _exit(errno == ENOENT ? 127 : 126);
}

static int on_exec_child_cb(EvSource *s, const siginfo_t *si, void *userdata) {
        ExecRunner *x = userdata;
        int status = runner_exit_status(si);

        x->child_src = evloop_source_free(x->child_src);
        x->child = 0;
        if (x->r.stopping)
                x->r.cb.gone(&x->r, status, x->r.cb.userdata);
        else
                x->r.cb.done(&x->r, status, RUNNER_STATUS_PROCESS, x->r.cb.userdata);
        return 0;
}

static int exec_run(Runner *r, const char *text, RunnerResult *res) {
        ExecRunner *x = (ExecRunner *) r;
        char **words = NULL, *error = NULL;
        const char *path;
        pid_t pid;
        int k, in[2];

        *res = (RunnerResult) {};
        k = command_split(text, &words, &error);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                *res = (RunnerResult) { .status = 126, .refused = true, .reason = "shell-syntax" };
                k = asprintf(&res->message, "dwell: command refused: %s; configuration %s runs programs "
                             "without a shell\n", error, r->p->configuration);
                free(error);
                if (k < 0)
                        res->message = NULL;
                return 1;
        }
        if (!words[0]) {
                strv_free(words);
                return 1;       /* an empty line: nothing ran, successfully */
        }
        path = command_resolve(r->p->commands, words[0]);
        if (!path) {
                *res = (RunnerResult) { .status = 126, .refused = true, .reason = "not-allowed" };
                if (asprintf(&res->message, "dwell: command refused: %s is not allowed in configuration %s\n",
                             words[0], r->p->configuration) < 0)
                        res->message = NULL;
                res->program = strdup(words[0]);       /* not TAKE_PTR: strv_free() stops at a NULL */
                strv_free(words);
                return 1;
        }
        /* argv[0] is the allowed path: a multi-call binary reached through
         * another name must not turn into another program. */
        {
                char *p = strdup(path);

                if (!p) {
                        strv_free(words);
                        return -ENOMEM;
                }
                free(words[0]);
                words[0] = p;
        }

        /* Its stdin: a pipe the worker fills and closes. */
        if (pipe2(in, O_CLOEXEC) < 0) {
                k = errno;
                *res = (RunnerResult) { .status = 126 };
                if (asprintf(&res->message, "dwell: cannot start %s: %s\n", path, strerror(k)) < 0)
                        res->message = NULL;
                strv_free(words);
                return 1;
        }
        pid = fork();
        if (pid == 0)
                exec_child(x, path, words, in[0]);
        safe_close(in[0]);
        if (pid < 0) {
                k = errno;
                safe_close(in[1]);
                *res = (RunnerResult) { .status = 126 };
                if (asprintf(&res->message, "dwell: cannot start %s: %s\n", path, strerror(k)) < 0)
                        res->message = NULL;
                strv_free(words);
                return 1;
        }
        (void) fd_nonblock(in[1], true);
        r->stdin_fd = in[1];
        strv_free(words);
        x->child = pid;
        k = evloop_add_child(r->event, &x->child_src, pid, on_exec_child_cb, x);
        if (k < 0) {
                /* Without a child source we would never learn its end. */
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                x->child = 0;
                *res = (RunnerResult) { .status = 126 };
                if (asprintf(&res->message, "dwell: cannot watch %s: %s\n", path, strerror(-k)) < 0)
                        res->message = NULL;
                return 1;
        }
        return 0;
}

static void exec_signal(ExecRunner *x, int sig) {
        if (x->child <= 0)
                return;
        (void) kill(-x->child, sig);
        (void) kill(x->child, sig);     /* in case it has not made its group yet */
}

static int exec_signal_command(Runner *r, int sig) {
        ExecRunner *x = (ExecRunner *) r;

        if (x->child <= 0)
                return 0;
        exec_signal(x, sig);
        if (sig_needs_cont(sig))
                exec_signal(x, SIGCONT);
        return 1;
}

static int exec_stop(Runner *r) {
        ExecRunner *x = (ExecRunner *) r;

        if (x->child <= 0)
                return 0;
        exec_signal(x, SIGHUP);
        exec_signal(x, SIGCONT);
        exec_signal(x, SIGTERM);
        return 1;
}

static void exec_kill(Runner *r) {
        exec_signal((ExecRunner *) r, SIGKILL);
}

static void exec_free(Runner *r) {
        ExecRunner *x = (ExecRunner *) r;

        x->child_src = evloop_source_free(x->child_src);
        safe_close(x->out_w);
        safe_close(x->err_w);
        free(x);
}

static const RunnerOps exec_ops = {
        .run = exec_run,
        .signal = exec_signal_command,
        .stop = exec_stop,
        .kill = exec_kill,
        .free = exec_free,
};

int runner_new_exec(EvLoop *e, const HostParams *p, const RunnerCallbacks *cb, Runner **ret) {
        ExecRunner *x = calloc(1, sizeof *x);
        int r;

        if (!x)
                return -ENOMEM;
        runner_init(&x->r, &exec_ops, e, p, cb);
        x->out_w = x->err_w = -EBADF;
        r = exec_start(&x->r);
        if (r < 0) {
                runner_free(&x->r);
                return r;
        }
        *ret = &x->r;
        return 0;
}
