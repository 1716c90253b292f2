/* SPDX-License-Identifier: ISC */
/*
 * How a session runs its commands: the Runner interface, and the restricted
 * runner of configurations with `commands`.
 *
 * The worker keeps the queue and the output buffer and reads the runner's
 * two output pipes; a runner starts one command at a time and reports when
 * it ends.  Two implementations:
 *
 *   shell.c    a persistent shell that evals each command (variables,
 *              working directory, functions persist): the normal session;
 *   command.c  no shell: each command line is split into words and its
 *              program executed directly, only if it is one of the
 *              configuration's allowed programs (a restricted session);
 *   pty.c      a terminal session's login shell on a pty (runs nothing:
 *              commands are typed at its terminal).
 *
 * Every process a runner starts gets the same set-up (runner_child_setup):
 * default signal dispositions, its own session and process group, the
 * configuration's umask and resource limits, and the environment built by
 * the monitor.  The working directory is the worker's own (set once, before
 * the runner starts).
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "evloop.h"
#include "monitor.h"

typedef struct Runner Runner;

/* Who says what a command's exit status is. */
typedef enum RunnerStatusSource {
        RUNNER_STATUS_SHELL,            /* the session's shell reported it (dwell cannot check it) */
        RUNNER_STATUS_PROCESS,          /* the kernel reported the process's exit to the worker */
        RUNNER_STATUS_DWELL,            /* dwell ended the command without running it */
        _RUNNER_STATUS_SOURCE_MAX,
} RunnerStatusSource;

/* "shell", "process", "dwell": DWELL_EXIT_STATUS_SOURCE in the audit log. */
const char *runner_status_source_to_string(RunnerStatusSource s);

typedef struct RunnerCallbacks {
        /* The running command ended with status (its exit status, or 128 +
         * signal), as src says. */
        void (*done)(Runner *r, int status, RunnerStatusSource src, void *userdata);
        /* The runner cannot run commands any more (the shell exited with
         * status), or, after runner_stop(), every process it started is
         * gone. */
        void (*gone)(Runner *r, int status, void *userdata);
        /* The shell ended during a command and a new one took over (its
         * pid is r->pid); done() follows.  May be NULL. */
        void (*restarted)(Runner *r, void *userdata);
        void *userdata;
} RunnerCallbacks;

/* A command that ended without running (refused, or not startable). */
typedef struct RunnerResult {
        int status;             /* its exit status: 126 refused or not executable, 127 not found */
        char *message;          /* for its stderr, "dwell: ...\n"; NULL: none */
        bool refused;           /* by the configuration: worth an audit line */
        char *program;          /* refused: the program as given (NULL if not known) */
        const char *reason;     /* refused: a short token, "not-allowed", "shell-syntax" */
} RunnerResult;

void runner_result_done(RunnerResult *res);

typedef struct RunnerOps {
        /* 0: the command started, done() follows; 1: it ended at once, as
         * *res says; < 0: failure (out of memory). */
        int (*run)(Runner *r, const char *text, RunnerResult *res);
        /* sig to the running command's processes: the number signalled.
         * May be NULL. */
        int (*signal)(Runner *r, int sig);
        /* SIGHUP, SIGCONT and SIGTERM to everything the runner started.
         * Returns 1 if gone() follows, 0 if nothing was running. */
        int (*stop)(Runner *r);
        void (*kill)(Runner *r);        /* SIGKILL to everything left */
        void (*free)(Runner *r);
} RunnerOps;

struct Runner {
        const RunnerOps *ops;
        EvLoop *event;
        const HostParams *p;
        RunnerCallbacks cb;
        int out_fd;                     /* read, non-blocking: the commands' stdout */
        int err_fd;                     /* read, non-blocking: the commands' stderr */
        pid_t pid;                      /* the shell; 0 when there is no persistent process */
        int stdin_fd;                   /* set by run(): write end of the command's stdin, non-blocking,
                                         * the worker's to fill and close (-EBADF: none) */
        int pty_fd;                     /* the pty runner: the master, non-blocking (-EBADF: none) */
        bool stopping;
        unsigned ignored_reports;       /* status reports ignored (not the running command's); the worker resets it */
};

/* The two implementations.  Each returns a started runner. */
int runner_new_shell(EvLoop *e, const HostParams *p, const RunnerCallbacks *cb, Runner **ret);
int runner_new_exec(EvLoop *e, const HostParams *p, const RunnerCallbacks *cb, Runner **ret);
/* A terminal session's login shell on a pty of rows x cols (0: 24 x 80),
 * TERM p->term (pty.c). */
int runner_new_pty(EvLoop *e, const HostParams *p, const RunnerCallbacks *cb, unsigned rows, unsigned cols,
                   Runner **ret);

static inline int runner_run(Runner *r, const char *text, RunnerResult *res) {
        return r->ops->run(r, text, res);
}
static inline int runner_signal(Runner *r, int sig) {
        return r->ops->signal ? r->ops->signal(r, sig) : 0;
}
static inline int runner_stop(Runner *r) {
        r->stopping = true;
        return r->ops->stop(r);
}
static inline void runner_kill(Runner *r) {
        r->ops->kill(r);
}
Runner *runner_free(Runner *r);

/* Shared by the implementations. */
void runner_init(Runner *r, const RunnerOps *ops, EvLoop *e, const HostParams *p, const RunnerCallbacks *cb);
/* Output pipes: ret_read[i] non-blocking, for the worker; ret_write[i]
 * for the children. */
int runner_output_pipes(int ret_read[2], int ret_write[2]);
/* In a forked child, before execve: signals back to default and unblocked,
 * a new session, the umask and the resource limits.  On failure writes a
 * message to stderr (so call it after stderr is in place) and returns < 0. */
int runner_child_setup(const HostParams *p);
/* Opens fd (a pipe end) again through /proc/self/fd, with flags (and
 * O_CLOEXEC): a new open file description of the same pipe. */
int proc_fd_reopen(int fd, int flags);
/* Whether a stopped process must be continued for sig to act (every
 * signal but CONT, KILL and the stop signals). */
static inline bool sig_needs_cont(int sig) {
        return sig != SIGCONT && sig != SIGKILL && sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN &&
               sig != SIGTTOU;
}
/* The status of an exited child as a shell reports it. */
int runner_exit_status(const siginfo_t *si);

/* Restricted sessions.  command_split() turns a command line into words:
 * blanks separate words; 'single quotes' and "double quotes" (inside
 * which \\ \" \$ \` and backslash-newline are escapes) group them; a
 * backslash outside quotes quotes the next character.  Nothing is expanded.
 * A line using shell syntax that would need a shell - an unquoted | & ; <
 * > ( ) $ ` or newline, a $ or ` inside double quotes, a # starting a word
 * - is refused rather than passed on literally.  Returns 0 with a
 * NULL-terminated list, or -EINVAL with a message saying what is wrong
 * (-ENOMEM without).  An empty line gives an empty list. */
int command_split(const char *line, char ***ret_words, char **ret_error);
/* Which allowed program runs for program (the first word): an absolute or
 * relative path must resolve (realpath) to what one of the allowed paths
 * resolves to; a bare name is the allowed path with that basename.
 * Returns the allowed path (as configured) or NULL. */
const char *command_resolve(char **allowed, const char *program);
