/* SPDX-License-Identifier: ISC */
/*
 * dwell -H HOST: reaching dwelld on another host through SSH.
 *
 * Each request gets its own ssh process, as each local request gets its
 * own connection (with ssh-share.c, a session multiplexed over one ssh
 * connection per host and run): `ssh -T -s [-p PORT] [-l USER] -- HOST dwell` (the
 * subsystem, served by dwell-bridge), with its stdin and stdout one end of
 * a socketpair whose other end the client uses like the local socket.  The
 * frames are the same; dwelld on HOST identifies the caller as the user
 * sshd authenticated.
 *
 * Where sshd has no `dwell` subsystem, ssh says "subsystem request failed"
 * and exits before any answer: the request is sent again through
 * `ssh -T ... -- HOST PATH` running the bridge as a command (PATH:
 * $DWELL_REMOTE_BRIDGE, else this build's pkglibexecdir/dwell-bridge).
 *
 * ssh's standard error goes to a memory file, not to the terminal: it is
 * shown when ssh fails (a host down, a refused key), as part of the error,
 * so that with several hosts each failure is one line naming its host.
 * ssh's prompts (passwords, host keys) use /dev/tty and are not affected.
 *
 * ssh is our child: it is reaped when the next request starts and at exit,
 * where it gets a few seconds to pass on what we sent last (the final
 * acknowledgements) before it is terminated.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#ifdef DWELL_LIBEXECDIR
#define DEFAULT_REMOTE_BRIDGE DWELL_LIBEXECDIR "/dwell-bridge"
#else
#define DEFAULT_REMOTE_BRIDGE "/usr/libexec/dwell/dwell-bridge"
#endif

#define SSH_EXIT_WAIT_MS 3000
#define SSH_STDERR_MAX 4096

const char *arg_host = NULL;

typedef struct SshChild {
        pid_t pid;
        int err_fd;             /* memfd with ssh's stderr */
        int status;             /* wait status, once reaped */
        bool reaped;
} SshChild;

/* The ssh of the current request, and earlier ones not yet reaped. */
static SshChild children[8];
static size_t n_children = 0;
static bool use_command = false;        /* the subsystem failed: run the bridge as a command */
static bool atexit_registered = false;

int remote_parse_host(const char *spec, RemoteHost *ret) {
        return remote_parse_host_at(spec, NULL, 0, ret);
}

/* A host name, an IPv4 address, or (bare or in brackets) an IPv6 one with
 * an optional %zone: letters, digits and ". _ - : %"; never a leading '-'. */
static bool host_chars_valid(const char *h, size_t n, bool ipv6) {
        for (size_t i = 0; i < n; i++) {
                char c = h[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_' || (ipv6 && (c == ':' || c == '%'))))
                        return false;
        }
        return n > 0 && h[0] != '-';
}

/* A user name as useradd allows it, and a few more ('$', '@' is not). */
static bool user_chars_valid(const char *u, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char c = u[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_' || c == '$'))
                        return false;
        }
        return n > 0 && u[0] != '-';
}

int remote_parse_host_at(const char *spec, const char *file, unsigned line, RemoteHost *ret) {
        const char *at = strrchr(spec, '@'), *h = at ? at + 1 : spec;
        const char *port = NULL, *why = NULL;
        bool ipv6 = false;
        size_t hl;

        *ret = (RemoteHost) {};
        if (at) {
                size_t ul = (size_t) (at - spec);

                if (ul == 0 || ul >= sizeof ret->user || !user_chars_valid(spec, ul)) {
                        why = "bad user name";
                        goto bad;
                }
                memcpy(ret->user, spec, ul);
        }
        if (h[0] == '[') {
                const char *end = strchr(h, ']');

                if (!end || (end[1] && end[1] != ':')) {
                        why = "bad [ADDRESS]:PORT";
                        goto bad;
                }
                hl = (size_t) (end - h - 1);
                h++;
                ipv6 = true;
                if (end[1] == ':')
                        port = end + 2;
        } else {
                const char *c = strchr(h, ':');

                hl = strlen(h);
                /* One colon: HOST:PORT; more: a bare IPv6 address. */
                if (c && !strchr(c + 1, ':')) {
                        hl = (size_t) (c - h);
                        port = c + 1;
                } else if (c)
                        ipv6 = true;
        }
        if (hl == 0 || hl >= sizeof ret->host || !host_chars_valid(h, hl, ipv6)) {
                why = hl >= sizeof ret->host ? "host name too long" : "bad host name";
                goto bad;
        }
        memcpy(ret->host, h, hl);
        if (port) {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(port, &end, 10);
                if (!port[0] || *end || errno || v == 0 || v > 65535 || port[0] == '+' || port[0] == '-') {
                        why = "bad port";
                        goto bad;
                }
                snprintf(ret->port, sizeof ret->port, "%lu", v);
        }
        return 0;
bad:
        if (file)
                /* The line is not shown: the file may be anything (a link to
                 * a file that is not a hosts file). */
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "%s:%u: invalid host: %s (expected [USER@]HOST[:PORT])", file, line, why);
        {
                _cleanup_free_ char *safe = terminal_sanitize(spec, 64);

                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "invalid host '%s': %s (expected [USER@]HOST[:PORT])", strempty(safe), why);
        }
}

static void child_reap(SshChild *c, int timeout_ms) {
        int64_t deadline = clock_now_ms() + timeout_ms;

        while (!c->reaped) {
                pid_t p = waitpid(c->pid, &c->status, timeout_ms < 0 ? 0 : WNOHANG);

                if (p == c->pid || (p < 0 && errno != EINTR)) {
                        c->reaped = true;
                        break;
                }
                if (timeout_ms >= 0 && clock_now_ms() >= deadline)
                        break;
                if (p == 0) {
                        struct timespec ts = { .tv_nsec = 5 * 1000 * 1000 };
                        (void) nanosleep(&ts, NULL);
                }
        }
}

static void child_done(SshChild *c) {
        c->err_fd = safe_close(c->err_fd);
}

static void remote_exit(void) {
        /* Our ends of the socketpairs are closed by now (the verbs clean up
         * before main() returns), so ssh sees EOF, passes it on and ends. */
        for (size_t i = 0; i < n_children; i++) {
                child_reap(children + i, SSH_EXIT_WAIT_MS);
                if (!children[i].reaped) {
                        (void) kill(children[i].pid, SIGTERM);
                        child_reap(children + i, 1000);
                }
                if (!children[i].reaped) {
                        (void) kill(children[i].pid, SIGKILL);
                        child_reap(children + i, -1);
                }
                child_done(children + i);
        }
        n_children = 0;
}

/* Drops finished children from the table; makes room for one more. */
static void children_gc(void) {
        size_t k = 0;

        for (size_t i = 0; i < n_children; i++) {
                child_reap(children + i, 0);
                if (children[i].reaped)
                        child_done(children + i);
                else
                        children[k++] = children[i];
        }
        n_children = k;
        if (n_children == ELEMENTSOF(children)) {
                /* Very unlikely (a slow ssh per request): wait for the oldest. */
                child_reap(children, SSH_EXIT_WAIT_MS);
                if (!children[0].reaped) {
                        (void) kill(children[0].pid, SIGTERM);
                        child_reap(children, -1);
                }
                child_done(children);
                memmove(children, children + 1, --n_children * sizeof children[0]);
        }
}

static SshChild *current(void) {
        return n_children > 0 ? children + n_children - 1 : NULL;
}

/* DWELL_SSH split on blanks, or "ssh"; then our arguments. */
static char **ssh_argv(const RemoteHost *h) {
        const char *e = getenv("DWELL_SSH"), *bridge = getenv("DWELL_REMOTE_BRIDGE");
        _cleanup_free_ char *base = strdup(e && e[strspn(e, " \t")] ? e : "ssh");
        char **argv;
        size_t n = 0, words = 0;

        if (!base)
                return NULL;
        for (char *p = base; *p; p++)
                words++;        /* upper bound */
        argv = calloc(words + 20, sizeof(char *));
        if (!argv)
                return NULL;
        for (char *save = NULL, *w = strtok_r(base, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                argv[n++] = w;
        /* One connection per host for the whole run (ssh-share.c). */
        (void) ssh_share_argv((const char **) argv, &n);
        argv[n++] = (char *) "-T";
        if (!use_command)
                argv[n++] = (char *) "-s";
        if (h->port[0]) {
                argv[n++] = (char *) "-p";
                argv[n++] = (char *) h->port;
        }
        if (h->user[0]) {
                argv[n++] = (char *) "-l";
                argv[n++] = (char *) h->user;
        }
        argv[n++] = (char *) "--";
        argv[n++] = (char *) h->host;
        argv[n++] = (char *) (use_command ? (bridge && bridge[0] ? bridge : DEFAULT_REMOTE_BRIDGE) : "dwell");
        argv[n] = NULL;
        /* The strings live in base, which the caller keeps: hand it over in
         * the slot after NULL. */
        argv[n + 1] = TAKE_PTR(base);
        return argv;
}

static void ssh_argv_free(char **argv) {
        size_t n = 0;

        if (!argv)
                return;
        while (argv[n])
                n++;
        free(argv[n + 1]);
        free(argv);
}

int remote_connect(void) {
        static RemoteHost host;
        static const char *parsed_for = NULL;
        _cleanup_close_pair_ int sp[2] = { -EBADF, -EBADF };
        _cleanup_close_ int err_fd = -EBADF;
        char **argv;
        pid_t pid;
        int r;

        if (parsed_for != arg_host) {
                r = remote_parse_host(arg_host, &host);
                if (r < 0)
                        return r;
                parsed_for = arg_host;
        }
        children_gc();
        if (!atexit_registered)
                atexit_registered = atexit(remote_exit) == 0;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "failed to create socket pair: %m");
        err_fd = memfd_create("dwell-ssh-stderr", MFD_CLOEXEC);
        if (err_fd < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "failed to create memory file: %m");
        argv = ssh_argv(&host);
        if (!argv)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                ssh_argv_free(argv);
                return client_error(r, PROTO_ERR_UNAVAILABLE, "failed to start ssh: %m");
        }
        if (pid == 0) {
                /* Child: the socketpair on stdin and stdout, stderr captured. */
                if (dup2(sp[1], STDIN_FILENO) < 0 || dup2(sp[1], STDOUT_FILENO) < 0 ||
                    dup2(err_fd, STDERR_FILENO) < 0)
                        _exit(255);
                (void) signal(SIGPIPE, SIG_DFL);
                execvp(argv[0], argv);
                fprintf(stderr, "failed to run %s: %m\n", argv[0]);
                _exit(255);
        }
        ssh_argv_free(argv);

        children[n_children++] = (SshChild) { .pid = pid, .err_fd = TAKE_FD(err_fd) };
        r = TAKE_FD(sp[0]);
        return r;
}

/* The last line of ssh's stderr (without its newline), or "". */
static void ssh_stderr(const SshChild *c, char *buf, size_t size, bool *ret_subsystem_failed) {
        char all[SSH_STDERR_MAX + 1];
        ssize_t n;
        char *line, *end;

        buf[0] = 0;
        *ret_subsystem_failed = false;
        n = pread(c->err_fd, all, SSH_STDERR_MAX, 0);
        if (n <= 0)
                return;
        all[n] = 0;
        *ret_subsystem_failed = strstr(all, "subsystem request failed") != NULL;
        while (n > 0 && (all[n - 1] == '\n' || all[n - 1] == '\r'))
                all[--n] = 0;
        line = strrchr(all, '\n');
        line = line ? line + 1 : all;
        end = line + strcspn(line, "\r");
        *end = 0;
        n = (ssize_t) MIN(strlen(line), size - 1);
        memcpy(buf, line, (size_t) n);
        buf[n] = 0;
}

bool remote_retry_as_command(void) {
        SshChild *c = current();
        char line[512];
        bool subsystem_failed;

        if (!c || use_command)
                return false;
        child_reap(c, SSH_EXIT_WAIT_MS);
        if (!c->reaped)
                return false;
        ssh_stderr(c, line, sizeof line, &subsystem_failed);
        /* Over a shared connection (ssh-share.c) the master, not this ssh,
         * hears the refusal (and says it to /dev/null): this ssh just ends
         * with 255 and says nothing.  Any failure to connect is said. */
        if (!subsystem_failed && !(ssh_share_dir() && !line[0] && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 255))
                return false;
        use_command = true;
        return true;
}

int remote_lost(int r) {
        SshChild *c = current();
        char line[512] = "";
        bool subsystem_failed;

        if (c) {
                /* EOF from ssh: it is ending, give it a moment to say why. */
                child_reap(c, 1000);
                ssh_stderr(c, line, sizeof line, &subsystem_failed);
        }
        if (c && c->reaped && (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)) {
                /* ssh's own refusals: not worth trying again (reconnect.c). */
                bool refused = strstr(line, "Permission denied") || strstr(line, "Host key verification failed") ||
                               strstr(line, "Too many authentication failures");
                char status[64];

                /* 255: ssh's own failure (no connection, refused key, the
                 * connection broken), not the remote side's. */
                if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 255)
                        multi_note_unreachable();

                if (WIFEXITED(c->status))
                        snprintf(status, sizeof status, "ssh exited with status %d", WEXITSTATUS(c->status));
                else
                        snprintf(status, sizeof status, "ssh was killed by signal %d",
                                 WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0);
                return client_error(r < 0 ? r : -ECONNRESET, refused ? PROTO_ERR_AUTH_FAILED : PROTO_ERR_UNAVAILABLE,
                                    "cannot reach dwelld on %s over ssh: %s", arg_host, line[0] ? line : status);
        }
        if (line[0])
                return client_error(r < 0 ? r : -ECONNRESET, PROTO_ERR_UNAVAILABLE,
                                    "lost connection to dwelld on %s: %s", arg_host, line);
        return client_error(r < 0 ? r : -ECONNRESET, PROTO_ERR_UNAVAILABLE, "lost connection to dwelld on %s", arg_host);
}

void remote_abandon(void) {
        SshChild *c = current();

        if (c && !c->reaped) {
                (void) kill(c->pid, SIGTERM);
                child_reap(c, 0);
        }
}
