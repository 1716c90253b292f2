/* SPDX-License-Identifier: ISC */
#include <assert.h>
#include <dirent.h>
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

/* The helpers, defined once and read-only (readonly -f: a command can
 * neither redefine nor unset them):
 *
 *   __dwell_a reads the next command text and returns the previous
 *     command's status (passed by the worker), so that $? is right inside
 *     the eval; it clears whatever attributes a command gave __dwell_c
 *     (nameref, integer, case); should the text still not arrive there (a
 *     read-only __dwell_c), the shell exits rather than run the previous
 *     command's text again;
 *   __dwell_b starts with $? = the eval's status and reports it with the
 *     command's nonce;
 *   __dwell_x is the shell's EXIT trap: when a command ends the shell
 *     (exit, errexit, set -u, ${x?}, a fatal signal) it runs the command's
 *     own EXIT trap (kept in __dwell_t by the trap wrapper) and writes the
 *     shell's state - variables, functions, aliases, options, working
 *     directory, umask, traps - as shell code to the state socket, from
 *     which the worker restarts the shell (shell_restart());
 *   trap wraps the builtin so that a command's `trap ... EXIT` sets
 *     __dwell_t instead of replacing __dwell_x (`builtin trap` bypasses it:
 *     doc/architecture.md).
 *
 * Every word of the per-command line is quoted (\name), so no alias
 * replaces it, and the helpers call builtins through `builtin`, so a
 * function named printf or read does not.  The eval itself stays at the
 * top level (in a function, `declare` would make locals).  bash reads its
 * standard input one byte per read() when it cannot seek, so the line
 * sent per command is kept short.  What a command can still do to these
 * reports: doc/architecture.md. */
#define BOOTSTRAP_DUMP_VARS                                                     \
        "\"${!a@}\" \"${!b@}\" \"${!c@}\" \"${!d@}\" \"${!e@}\" \"${!f@}\" \"${!g@}\" \"${!h@}\" \"${!i@}\" " \
        "\"${!j@}\" \"${!k@}\" \"${!l@}\" \"${!m@}\" \"${!n@}\" \"${!o@}\" \"${!p@}\" \"${!q@}\" \"${!r@}\" " \
        "\"${!s@}\" \"${!t@}\" \"${!u@}\" \"${!v@}\" \"${!w@}\" \"${!x@}\" \"${!y@}\" \"${!z@}\" "         \
        "\"${!A@}\" \"${!B@}\" \"${!C@}\" \"${!D@}\" \"${!E@}\" \"${!F@}\" \"${!G@}\" \"${!H@}\" \"${!I@}\" " \
        "\"${!J@}\" \"${!K@}\" \"${!L@}\" \"${!M@}\" \"${!N@}\" \"${!O@}\" \"${!P@}\" \"${!Q@}\" \"${!R@}\" " \
        "\"${!S@}\" \"${!T@}\" \"${!U@}\" \"${!V@}\" \"${!W@}\" \"${!X@}\" \"${!Y@}\" \"${!Z@}\" \"${!_@}\""
/* Variables the shell sets itself (or read-only ones): not restored. */
#define BOOTSTRAP_DUMP_SKIP                                                     \
        "BASH|BASHOPTS|BASHPID|BASH_*|DIRSTACK|EPOCH*|EUID|FUNCNAME|GROUPS|HISTCMD|LINENO|PIPESTATUS|PPID|" \
        "RANDOM|SECONDS|SHELLOPTS|SHLVL|SRANDOM|UID|_|__dwell_[!t]*|__dwell_t?*"
#define BOOTSTRAP_INIT                                                          \
        "__dwell_a() { builtin unset -n __dwell_c; builtin unset -v __dwell_c; "         \
        "IFS= builtin read -r -d '' __dwell_c <&61 || builtin exit 125; builtin return \"$1\"; }; " \
        "__dwell_b() { builtin printf '%s %d\\n' \"$1\" \"$?\" >&62; }; "                 \
        "__dwell_s() { builtin local __dwell_n; { "                                      \
        "for __dwell_n in " BOOTSTRAP_DUMP_VARS "; do case $__dwell_n in "              \
        BOOTSTRAP_DUMP_SKIP ") ;; *) builtin declare -p -- \"$__dwell_n\";; esac; done; " \
        "builtin declare -f; builtin alias -p; builtin shopt -p; builtin umask -p; "      \
        "builtin printf 'builtin cd -- %q\\n' \"$PWD\"; builtin trap -p; builtin set +o; " \
        "builtin printf '\\0'; } 2>/dev/null >&63; }; "                                 \
        "__dwell_x() { if [[ ${__dwell_t+x} ]]; then builtin eval \"$__dwell_t\"; fi; "   \
        "[[ $BASHPID == \"$__dwell_p\" ]] && \\__dwell_s; }; "                          \
        "trap() { if [[ ${__dwell_t+x} ]]; then builtin trap -- \"$__dwell_t\" EXIT; "   \
        "else builtin trap - EXIT; fi; builtin trap \"$@\"; builtin local __dwell_r=$? __dwell_g __dwell_v; " \
        "[[ ${1-} == -- ]] && builtin shift; "                                          \
        "if (( __dwell_r == 0 && $# == 1 )); then case ${1^^} in "                       \
        "EXIT|0|SIGEXIT) builtin unset -v __dwell_t;; esac; "                           \
        "elif (( __dwell_r == 0 && $# > 1 )) && [[ $1 != -[!-]* && $1 != __dwell_x ]]; then __dwell_v=$1; builtin shift; " \
        "for __dwell_g; do case ${__dwell_g^^} in EXIT|0|SIGEXIT) "                      \
        "if [[ $__dwell_v == - ]]; then builtin unset -v __dwell_t; "                    \
        "else __dwell_t=$__dwell_v; fi;; esac; done; fi; "                              \
        "builtin trap -- __dwell_x EXIT; builtin return $__dwell_r; }; "                 \
        "builtin readonly __dwell_p=$$; builtin trap -- __dwell_x EXIT; "                \
        "builtin readonly -f __dwell_a __dwell_b __dwell_s __dwell_x trap\n"
/* A command, with the previous command's status: ";" when it is 0, "||"
 * otherwise, so that under errexit a non-zero $? does not end the shell
 * before the command runs (the eval follows the final ||: errexit applies
 * inside it as usual). */
#define BOOTSTRAP_RUN "%s\\__dwell_a %d%s\\eval \"$__dwell_c\" <&60 60<&- 61<&- 62>&-;\\__dwell_b %s\n"
/* Before a command that may exec a program (its text has the word exec):
 * the state is saved first, since the program replaces the shell without
 * an EXIT trap. */
#define BOOTSTRAP_SAVE "\\__dwell_s;"
/* The state a shell that ended during a command wrote, run in the new
 * shell before the next command: quietly, without a status. */
#define BOOTSTRAP_RESTORE "\\__dwell_a 0;\\eval \"$__dwell_c\" </dev/null >/dev/null 2>&1 60<&- 61<&- 62>&- 63>&-\n"

#define NONCE_LEN 16            /* hex digits: 64 random bits per command */
#define STATUS_LINE_MAX 64      /* "NONCE STATUS\n" is 20 bytes at most */
#define IGNORED_LOG_MAX 8       /* ignored reports logged per command */
#define STATE_MAX (2u * 1024 * 1024)    /* the state a shell writes when it ends */

typedef struct ShellRunner {
        Runner r;
        int in_fd;              /* write: bootstrap lines */
        int text_fd;            /* write: command texts */
        int status_fd;          /* read: "NONCE STATUS" lines, with the sender's credentials */
        int state_fd;           /* read: the state the shell writes as it ends, with credentials */
        int out_w, err_w;       /* the output pipes' write ends, for a restarted shell */
        int stdin_r;            /* the commands' stdin pipe: read end (the shell's fd 60) */
        int stdin_drain;        /* ... another read end, non-blocking: what a command left is dropped */
        pid_t old_groups[16];   /* process groups of shells that ended (their background jobs) */
        size_t n_old_groups;
        Buf pending;            /* command text not yet written to text_fd */
        Buf status_acc;         /* status bytes from the shell not yet a whole line */
        Buf state;              /* what the shell wrote to the state socket, up to a NUL */
        bool state_bad;         /* ... too long: not used */
        char *saved;            /* the last whole state it wrote (NUL-terminated), NULL: none */
        EvSource *child_src, *in_src, *text_src, *status_src, *state_src;
        char nonce[NONCE_LEN + 1];      /* the running command's, "" when none runs */
        int last_status;        /* the previous command's status, for $? */
        uint64_t cmd_start_ticks;       /* CLOCK_BOOTTIME of the running command's start, in clock ticks */
        bool signalled;         /* runner_signal() signalled the shell itself during this command */
        unsigned restarts;
} ShellRunner;

static int move_fd(int from, int to) {
        if (from == to)
                return fd_cloexec(to, false);
        return dup2(from, to) < 0 ? -errno : 0;
}

#define SHELL_FDS 7

_noreturn_ static void shell_child(const HostParams *p, int fds[SHELL_FDS]) {
        static const int targets[SHELL_FDS] = {
                0, SHELL_TEXT_FD, SHELL_STATUS_FD, 1, 2, SHELL_STDIN_FD, SHELL_STATE_FD
        };
        char *argv[] = { p->shell, (char *) "--noprofile", (char *) "--norc", NULL };

        /* Move every fd above the targets first so no dup2 clobbers another. */
        for (int i = 0; i < SHELL_FDS; i++) {
                int k = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
                if (k < 0)
                        _exit(126);
                fds[i] = k;
        }
        for (int i = 0; i < SHELL_FDS; i++)
                if (move_fd(fds[i], targets[i]) < 0)
                        _exit(126);
        (void) close_range(3, SHELL_STDIN_FD - 1, 0);
        (void) close_range(SHELL_STATE_FD + 1, ~0U, 0);

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

/* One recvmsg() from a socket that passes credentials: the bytes and the
 * sender's pid (0 if unknown).  >0 bytes, -EPIPE at EOF, -EAGAIN, <0. */
static ssize_t recv_cred(int fd, uint8_t *buf, size_t size, pid_t *ret_pid) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(struct ucred))];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1,
                .msg_control = &control, .msg_controllen = sizeof control,
        };
        struct cmsghdr *cmsg;
        ssize_t n;

        *ret_pid = 0;
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (n == 0)
                return -EPIPE;
        for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
                if (cmsg->cmsg_level != SOL_SOCKET)
                        continue;
                if (cmsg->cmsg_type == SCM_CREDENTIALS && cmsg->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred cred;
                        memcpy(&cred, CMSG_DATA(cmsg), sizeof cred);
                        *ret_pid = cred.pid;
                } else if (cmsg->cmsg_type == SCM_RIGHTS)     /* (no room for any: defensive) */
                        for (size_t i = 0; i < (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                                int fd2;
                                memcpy(&fd2, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd2);
                                safe_close(fd2);
                        }
        }
        return n;
}

/* The next bytes the shell process itself sent on one of its private
 * channels; what others sent (its children, background jobs: anything that
 * inherited the descriptor) is dropped and counted.  As recv_cred(). */
static ssize_t recv_from_shell(ShellRunner *sh, int fd, uint8_t *buf, size_t size, const char *channel) {
        for (;;) {
                pid_t pid;
                ssize_t n = recv_cred(fd, buf, size, &pid);

                if (n < 0 || (pid > 0 && pid == sh->r.pid))
                        return n;
                if (++sh->r.ignored_reports <= IGNORED_LOG_MAX)
                        log_warning("Session shell: ignored %zd bytes on the %s channel from pid %d, not the shell",
                                    n, channel, (int) pid);
        }
}

/* Reads what the status socket holds.  Only bytes the shell process itself
 * sent count (SCM_CREDENTIALS, checked by the kernel): its children,
 * background jobs and other processes of the user cannot reach the socket
 * through /proc, and what they send through a descriptor they inherited
 * is dropped.  0: all read for now, -EPIPE: closed, <0: error. */
static int read_status(ShellRunner *sh) {
        Buf *acc = &sh->status_acc;

        for (;;) {
                uint8_t tmp[256];
                const uint8_t *p, *nl;
                ssize_t n = recv_from_shell(sh, sh->status_fd, tmp, sizeof tmp, "status");

                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
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

/* What the shell writes to the state socket as it ends (__dwell_x): kept
 * if it comes from the shell itself, is text and not too long. */
static int read_state(ShellRunner *sh) {
        for (;;) {
                uint8_t tmp[16384];
                ssize_t n = recv_from_shell(sh, sh->state_fd, tmp, sizeof tmp, "state");

                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                /* Each state ends with a NUL; the last whole one is kept. */
                for (const uint8_t *p = tmp, *end = tmp + n; p < end;) {
                        const uint8_t *nul = memchr(p, 0, (size_t) (end - p));
                        size_t len = nul ? (size_t) (nul - p) : (size_t) (end - p);

                        if (!sh->state_bad && buf_put(&sh->state, p, len) < 0) {
                                log_warning("Session shell: the state the shell wrote is too long; not kept");
                                sh->state_bad = true;
                        }
                        if (nul && !sh->state_bad) {
                                /* No NUL in it (the NUL ends it): copy, don't strndup. */
                                size_t l = buf_len(&sh->state);
                                char *t = malloc(l + 1);

                                if (t) {
                                        memcpy(t, buf_ptr(&sh->state), l);
                                        t[l] = 0;
                                        free(sh->saved);
                                        sh->saved = t;
                                }
                        }
                        if (nul || sh->state_bad)
                                buf_consume(&sh->state, buf_len(&sh->state));
                        if (nul)
                                sh->state_bad = false;
                        p += len + (nul ? 1 : 0);
                }
        }
}

static int on_state_cb(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ShellRunner *sh = userdata;

        if (read_state(sh) < 0)
                (void) evloop_source_set_enabled(s, EVLOOP_OFF);
        return 0;
}

static int shell_spawn(ShellRunner *sh);

static void shell_channels_close(ShellRunner *sh) {
        sh->child_src = evloop_source_free(sh->child_src);
        sh->in_src = evloop_source_free(sh->in_src);
        sh->text_src = evloop_source_free(sh->text_src);
        sh->status_src = evloop_source_free(sh->status_src);
        sh->state_src = evloop_source_free(sh->state_src);
        sh->in_fd = safe_close(sh->in_fd);
        sh->text_fd = safe_close(sh->text_fd);
        sh->status_fd = safe_close(sh->status_fd);
        sh->state_fd = safe_close(sh->state_fd);
        buf_consume(&sh->pending, buf_len(&sh->pending));
        buf_consume(&sh->status_acc, buf_len(&sh->status_acc));
}

/* The shell ended while a command ran: the command ended it (exit, errexit,
 * exec of a program that has now ended, or a signal from dwell stop).  A
 * new shell takes over, with the state the old one wrote as it ended, and
 * the command ends with the old shell's exit status. */
static int shell_restart(ShellRunner *sh, int status) {
        char line[sizeof BOOTSTRAP_RESTORE];
        bool restore = sh->saved != NULL;
        int k;

        if (sh->r.pid > 0 && sh->n_old_groups < ELEMENTSOF(sh->old_groups))
                sh->old_groups[sh->n_old_groups++] = sh->r.pid;  /* its background jobs */
        shell_channels_close(sh);
        sh->r.pid = 0;
        sh->nonce[0] = 0;
        sh->last_status = status;
        k = shell_spawn(sh);
        if (k < 0)
                return k;
        sh->restarts++;
        if (restore) {
                snprintf(line, sizeof line, "%s", BOOTSTRAP_RESTORE);
                if (write(sh->in_fd, line, strlen(line)) < 0)
                        return -errno;
                k = buf_put(&sh->pending, sh->saved, strlen(sh->saved));
                if (k >= 0)
                        k = buf_put_u8(&sh->pending, 0);
                if (k >= 0)
                        k = flush_text(sh);
                if (k == 0)
                        (void) evloop_source_set_io_events(sh->text_src, EPOLLIN | EPOLLOUT);
                if (k < 0)
                        return k;
        }
        log_info("Session shell (pid %d) ended during a command with status %d; restarted as pid %d%s",
                 (int) sh->old_groups[sh->n_old_groups ? sh->n_old_groups - 1 : 0], status, (int) sh->r.pid,
                 restore ? " with its state" : " without state (it left none)");
        buf_consume(&sh->state, buf_len(&sh->state));
        sh->state_bad = false;
        if (sh->r.cb.restarted)
                sh->r.cb.restarted(&sh->r, sh->r.cb.userdata);
        return 0;
}

static int on_exit_cb(EvSource *s, const siginfo_t *si, void *userdata) {
        ShellRunner *sh = userdata;
        int status = runner_exit_status(si);
        bool running = sh->nonce[0] != 0;

        sh->child_src = evloop_source_free(sh->child_src);
        (void) read_state(sh);         /* what it wrote before it ended is in the socket */
        /* A shell killed by a signal dwell did not send (or that ended
         * between commands) is gone: the session turns Broken. */
        if (!sh->r.stopping && running && (si->si_code == CLD_EXITED || sh->signalled)) {
                int k = shell_restart(sh, status);
                if (k >= 0) {
                        sh->signalled = false;
                        sh->r.cb.done(&sh->r, status, RUNNER_STATUS_PROCESS, sh->r.cb.userdata);
                        return 0;
                }
                log_warning_errno(k, "Failed to restart the session's shell: %m");
        }
        sh->r.pid = 0;
        sh->r.cb.gone(&sh->r, status, sh->r.cb.userdata);
        return 0;
}

/* Starts a shell on new private channels; the output pipes and the stdin
 * pipe stay the same. */
static int shell_spawn(ShellRunner *sh) {
        Runner *r = &sh->r;
        int in[2], text[2], status[2], state[2];
        int child_fds[SHELL_FDS], k, one = 1;
        pid_t pid;

        /* Sockets, not pipes: a pipe can be opened again, for reading and
         * for writing, through /proc/PID/fd by any process of the user; a
         * socket cannot.  [0] is the worker's end. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
                return -errno;
        sh->in_fd = in[0];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, text) < 0) {
                safe_close(in[1]);
                return -errno;
        }
        sh->text_fd = text[0];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, status) < 0) {
                safe_close(in[1]);
                safe_close(text[1]);
                return -errno;
        }
        sh->status_fd = status[0];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, state) < 0) {
                safe_close(in[1]);
                safe_close(text[1]);
                safe_close(status[1]);
                return -errno;
        }
        sh->state_fd = state[0];
        (void) setsockopt(status[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        (void) setsockopt(state[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        (void) shutdown(status[0], SHUT_WR);   /* the shell reads EOF from it */
        (void) shutdown(state[0], SHUT_WR);

        child_fds[0] = in[1];
        child_fds[1] = text[1];
        child_fds[2] = status[1];
        child_fds[3] = sh->out_w;
        child_fds[4] = sh->err_w;
        child_fds[5] = sh->stdin_r;
        child_fds[6] = state[1];

        pid = fork();
        if (pid == 0)
                shell_child(r->p, child_fds);
        k = pid < 0 ? -errno : 0;
        safe_close(in[1]);
        safe_close(text[1]);
        safe_close(status[1]);
        safe_close(state[1]);
        if (k < 0)
                return k;

        r->pid = pid;
        (void) fd_nonblock(sh->text_fd, true);
        (void) fd_nonblock(sh->status_fd, true);
        (void) fd_nonblock(sh->state_fd, true);

        if ((k = evloop_add_child(r->event, &sh->child_src, pid, on_exit_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->status_src, sh->status_fd, EPOLLIN, on_status_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->state_src, sh->state_fd, EPOLLIN, on_state_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->text_src, sh->text_fd, EPOLLIN, on_text_cb, sh)) < 0 ||
            (k = evloop_add_io(r->event, &sh->in_src, sh->in_fd, EPOLLIN, on_in_cb, sh)) < 0)
                return k;

        if (write(sh->in_fd, BOOTSTRAP_INIT, strlen(BOOTSTRAP_INIT)) < 0)
                return -errno;
        return 0;
}

static int shell_start(Runner *r) {
        ShellRunner *sh = (ShellRunner *) r;
        int rd[2], wr[2], in[2], k;

        /* The worker exits on failure; fds die with it. */
        k = runner_output_pipes(rd, wr);
        if (k < 0)
                return k;
        r->out_fd = rd[0];
        r->err_fd = rd[1];
        sh->out_w = wr[0];
        sh->err_w = wr[1];
        /* The commands' stdin: one pipe for the session's life.  The shell
         * holds the read end as fd 60; for each command the worker opens a
         * write end (shell_run()) and closes it for end-of-file. */
        if (pipe2(in, O_CLOEXEC) < 0)
                return -errno;
        sh->stdin_r = in[0];
        safe_close(in[1]);
        (void) fcntl(sh->stdin_r, F_SETPIPE_SZ, 256 * 1024);     /* fewer wake-ups for big inputs */
        /* Our own reader, non-blocking (a description of its own: the
         * shell's stays blocking), to drop what a command left unread. */
        sh->stdin_drain = proc_fd_reopen(sh->stdin_r, O_RDONLY | O_NONBLOCK);
        if (sh->stdin_drain < 0)
                return sh->stdin_drain;
        return shell_spawn(sh);
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

static uint64_t boottime_ticks(void) {
        struct timespec ts;
        long hz = sysconf(_SC_CLK_TCK);

        clock_gettime(CLOCK_BOOTTIME, &ts);
        if (hz <= 0)
                hz = 100;
        return (uint64_t) ts.tv_sec * (uint64_t) hz + (uint64_t) ts.tv_nsec / (1000000000u / (uint64_t) hz);
}

/* Whether text has the word exec (after a blank, ; & | ( { ` or at the
 * start, before a blank or the end): a command that may replace the shell
 * with a program.  Errs on the side of yes (echo exec). */
static bool text_has_exec(const char *text) {
        for (const char *p = text; (p = strstr(p, "exec")); p += 4)
                if ((p == text || strchr(" \t\n;&|({`!", p[-1])) && (!p[4] || strchr(" \t\n", p[4])))
                        return true;
        return false;
}

static int shell_run(Runner *r, const char *text, RunnerResult *res) {
        ShellRunner *sh = (ShellRunner *) r;
        char line[sizeof BOOTSTRAP_RUN + sizeof BOOTSTRAP_SAVE + 16 + NONCE_LEN];
        uint8_t junk[4096];
        ssize_t n;
        int len, k;

        *res = (RunnerResult) {};
        /* What the previous command left unread is not this one's input;
         * its write end (the only one) was closed when it ended. */
        while (read(sh->stdin_drain, junk, sizeof junk) > 0)
                ;
        /* This command's stdin: a write end of the shell's fd 60, the
         * worker's to fill and close.  Opened before the command line is
         * sent, so the command never sees end-of-file too early. */
        r->stdin_fd = proc_fd_reopen(sh->stdin_r, O_WRONLY | O_NONBLOCK);
        if (r->stdin_fd < 0)
                log_warning_errno(r->stdin_fd, "Failed to open the command's standard input: %m");
        new_nonce(sh->nonce);
        sh->signalled = false;
        sh->cmd_start_ticks = boottime_ticks();
        len = snprintf(line, sizeof line, BOOTSTRAP_RUN, text_has_exec(text) ? BOOTSTRAP_SAVE : "",
                       sh->last_status, sh->last_status ? "||" : ";", sh->nonce);
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
        for (size_t i = 0; i < sh->n_old_groups; i++)
                (void) kill(-sh->old_groups[i], sig);   /* earlier shells' background jobs */
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

/* The process group and start time (clock ticks after boot) of pid, from
 * /proc/PID/stat. */
static int proc_stat(pid_t pid, pid_t *ret_pgrp, uint64_t *ret_start) {
        char path[64], buf[1024], *p;
        unsigned long long start;
        int pgrp, fd;
        ssize_t n;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf - 1);
        safe_close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = 0;
        p = strrchr(buf, ')');          /* the command name may hold anything */
        if (!p)
                return -EIO;
        /* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
         *  utime stime cutime cstime priority nice threads itrealvalue starttime" */
        if (sscanf(p + 1, " %*c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   &pgrp, &start) != 2)
                return -EIO;
        *ret_pgrp = pgrp;
        *ret_start = start;
        return 0;
}

/* dwell stop and Ctrl-C: sig to the running command's processes - those of
 * the shell's process group that started since the command did (earlier
 * commands' background jobs are spared).  When there are none the command
 * is the shell's own code (a builtin loop, read, an exec'ed program): the
 * shell gets sig, and if it ends the worker restarts it (shell_restart()). */
static int shell_signal_command(Runner *r, int sig) {
        ShellRunner *sh = (ShellRunner *) r;
        struct dirent *de;
        DIR *d;
        int n = 0;

        if (r->pid <= 0 || !sh->nonce[0])
                return 0;
        d = opendir("/proc");
        if (d) {
                while ((de = readdir(d))) {
                        char *end;
                        long pid = strtol(de->d_name, &end, 10);
                        uint64_t start;
                        pid_t pgrp;

                        if (*end || pid <= 0 || pid == r->pid)
                                continue;
                        if (proc_stat((pid_t) pid, &pgrp, &start) < 0 || pgrp != r->pid ||
                            start < sh->cmd_start_ticks)
                                continue;
                        if (kill((pid_t) pid, sig) == 0) {
                                n++;
                                if (sig_needs_cont(sig))
                                        (void) kill((pid_t) pid, SIGCONT);
                        }
                }
                closedir(d);
        }
        if (n == 0) {
                sh->signalled = true;
                if (kill(r->pid, sig) == 0)
                        n++;
        }
        return n;
}

static void shell_free(Runner *r) {
        ShellRunner *sh = (ShellRunner *) r;

        sh->child_src = evloop_source_free(sh->child_src);
        sh->in_src = evloop_source_free(sh->in_src);
        sh->text_src = evloop_source_free(sh->text_src);
        sh->status_src = evloop_source_free(sh->status_src);
        sh->state_src = evloop_source_free(sh->state_src);
        safe_close(sh->in_fd);
        safe_close(sh->text_fd);
        safe_close(sh->status_fd);
        safe_close(sh->state_fd);
        safe_close(sh->out_w);
        safe_close(sh->err_w);
        safe_close(sh->stdin_r);
        safe_close(sh->stdin_drain);
        buf_done(&sh->pending);
        buf_done(&sh->status_acc);
        buf_done(&sh->state);
        free(sh->saved);
        free(sh);
}

static const RunnerOps shell_ops = {
        .run = shell_run,
        .signal = shell_signal_command,
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
        sh->in_fd = sh->text_fd = sh->status_fd = sh->state_fd = -EBADF;
        sh->out_w = sh->err_w = sh->stdin_r = sh->stdin_drain = -EBADF;
        buf_init(&sh->pending, 4u * 1024 * 1024);
        buf_init(&sh->status_acc, STATUS_LINE_MAX);
        buf_init(&sh->state, STATE_MAX);
        r = shell_start(&sh->r);
        if (r < 0) {
                runner_free(&sh->r);
                return r;
        }
        *ret = &sh->r;
        return 0;
}
