/* SPDX-License-Identifier: ISC */
/*
 * One ssh connection per host for all the requests of one run of dwell -H.
 *
 * Every request is its own ssh process (remote.c); with sharing on, each
 * gets
 *
 *   -o ControlMaster=auto -o ControlPath=DIR/%C -o ControlPersist=60
 *
 * so that the first request to a host makes the connection (TCP, key
 * exchange, authentication) and leaves a master process behind, and the
 * later ones (the other requests of a verb, a retry, a reconnection) are
 * sessions multiplexed over it.  DIR is a directory of this run only,
 * made with mkdtemp() (mode 0700) in $XDG_RUNTIME_DIR, else /tmp: the
 * control sockets are as good as the authenticated connections, and only
 * the user may reach them.
 *
 * At the end of the run the process that made DIR (the fan-out parent, or
 * the one-host client) asks each master to exit (`ssh -O exit` with the
 * same options and host, in parallel, bounded in time), removes what is
 * left in DIR and DIR.  That happens at exit (atexit), and from the handler
 * of SIGTERM, SIGHUP and SIGINT (unless a verb handles SIGINT itself and
 * then exits normally); the handler then dies of the signal.  Only
 * async-signal-safe calls are used on that path (fork, execv, waitpid,
 * getdents64, unlink, rmdir), with every argument vector (and the
 * program's path) prepared beforehand.  If dwell is killed outright (SIGKILL), ControlPersist ends
 * each master 60 s after its last session.
 *
 * When is ssh ours to direct: DWELL_SSH unset (plain "ssh"), or a command
 * whose program is named ssh (e.g. "ssh -F FILE").  DWELL_SSH_SHARE=1
 * forces sharing for another ssh-compatible program, DWELL_SSH_SHARE=0
 * turns it off.  Options given on the command line win over ssh_config,
 * so a ControlMaster setting of the user's own is overridden for dwell's
 * connections only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define SHARE_PERSIST "60"
#define SHARE_EXIT_WAIT_MS 5000
/* sun_path is 108 bytes; ssh adds "/" + 40 hex digits of %C, and while it
 * binds, a ".XXXXXXXXXXXXXXXX" suffix. */
#define SHARE_DIR_MAX (108 - 1 - 40 - 17 - 1)

static char share_dir[SHARE_DIR_MAX + 1];
static char opt_path[SHARE_DIR_MAX + 32];
static pid_t owner = 0;
static char ***exit_argv = NULL;        /* one ssh -O exit argv per host */
static size_t n_exit_argv = 0;
static volatile sig_atomic_t cleaned = 0;

bool ssh_share_wanted(void) {
        const char *e = getenv("DWELL_SSH"), *s = getenv("DWELL_SSH_SHARE");
        size_t n;
        const char *w, *base;

        if (s && streq(s, "0"))
                return false;
        if (s && streq(s, "1"))
                return true;
        if (!e || !e[strspn(e, " \t")])
                return true;
        w = e + strspn(e, " \t");
        n = strcspn(w, " \t");
        base = w;
        for (const char *p = w; p < w + n; p++)
                if (*p == '/')
                        base = p + 1;
        return (size_t) (w + n - base) == 3 && strncmp(base, "ssh", 3) == 0;
}

const char *ssh_share_dir(void) {
        return share_dir[0] ? share_dir : NULL;
}

int ssh_share_argv(const char **argv, size_t *n) {
        if (!share_dir[0])
                return 0;
        argv[(*n)++] = "-o";
        argv[(*n)++] = "ControlMaster=auto";
        argv[(*n)++] = "-o";
        argv[(*n)++] = opt_path;
        argv[(*n)++] = "-o";
        argv[(*n)++] = "ControlPersist=" SHARE_PERSIST;
        return 0;
}

/* Only async-signal-safe calls from here to ssh_share_cleanup(). */
static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        (void) nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

/* Calls f(name) for each entry of the directory; returns how many. */
static size_t dir_each(int dfd, void (*f)(int dfd, const char *name)) {
        char buf[4096] __attribute__((aligned(8)));
        size_t count = 0;
        long n;

        (void) lseek(dfd, 0, SEEK_SET);
        while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0)
                for (long off = 0; off < n;) {
                        struct linux_dirent64 *d = (struct linux_dirent64 *) (buf + off);

                        off += d->d_reclen;
                        if (streq(d->d_name, ".") || streq(d->d_name, ".."))
                                continue;
                        count++;
                        if (f)
                                f(dfd, d->d_name);
                }
        return count;
}

static void unlink_entry(int dfd, const char *name) {
        (void) unlinkat(dfd, name, 0);
}

void ssh_share_cleanup(void) {
        static pid_t pids[64];
        int dfd;

        if (!share_dir[0] || owner != getpid() || cleaned)
                return;
        cleaned = 1;
        dfd = open(share_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* No socket: no master to end (nothing connected, or all gone). */
        if (dfd >= 0 && dir_each(dfd, NULL) > 0) {
                int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* At most 64 at a time, each batch bounded in time. */
                for (size_t i = 0; i < n_exit_argv;) {
                        size_t k = 0;
                        int64_t deadline;

                        for (; i < n_exit_argv && k < ELEMENTSOF(pids); i++) {
                                pid_t p = fork();

                                if (p == 0) {
                                        if (devnull >= 0) {
                                                (void) dup2(devnull, STDIN_FILENO);
                                                (void) dup2(devnull, STDOUT_FILENO);
                                                (void) dup2(devnull, STDERR_FILENO);
                                        }
                                        execv(exit_argv[i][0], exit_argv[i]);
                                        _exit(127);
                                }
                                if (p > 0)
                                        pids[k++] = p;
                        }
                        deadline = now_ms() + SHARE_EXIT_WAIT_MS;
                        for (size_t j = 0; j < k; j++)
                                for (;;) {
                                        pid_t w = waitpid(pids[j], NULL, WNOHANG);

                                        if (w == pids[j] || (w < 0 && errno != EINTR))
                                                break;
                                        if (now_ms() >= deadline) {
                                                (void) kill(pids[j], SIGKILL);
                                                (void) waitpid(pids[j], NULL, 0);
                                                break;
                                        }
                                        sleep_ms(2);
                                }
                        if (dir_each(dfd, NULL) == 0)
                                break;          /* every master has gone */
                }
                if (devnull >= 0)
                        (void) close(devnull);
        }
        if (dfd >= 0) {
                /* A master that did not answer keeps running until
                 * ControlPersist ends it; its socket goes now. */
                (void) dir_each(dfd, unlink_entry);
                (void) close(dfd);
        }
        (void) rmdir(share_dir);
}

static void share_signal(int sig) {
        ssh_share_cleanup();
        /* SA_RESETHAND: the default action now, and SA_NODEFER lets it in. */
        (void) raise(sig);
}

void ssh_share_forget(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };

        if (!share_dir[0] || owner != getpid())
                return;
        /* A child of the owner: it uses the masters, it does not end them. */
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGHUP, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);
        owner = 0;
}

/* The program's path as execvp() would find it, looked up now: the cleanup
 * may run in a signal handler, where only execv() is safe. */
static char *program_path(const char *name) {
        const char *path = getenv("PATH");

        if (strchr(name, '/'))
                return strdup(name);
        if (!path || !path[0])
                path = "/usr/local/bin:/usr/bin:/bin";
        while (*path) {
                size_t n = strcspn(path, ":");
                char *full = NULL;

                if (asprintf(&full, "%.*s%s%s", (int) n, path, n > 0 ? "/" : "", name) >= 0) {
                        if (access(full, X_OK) == 0)
                                return full;
                        free(full);
                }
                path += n;
                if (*path == ':')
                        path++;
        }
        return strdup(name);
}

/* DWELL_SSH's words (or "ssh"), the ControlPath, -O exit, and the host. */
static char **exit_argv_new(const char *spec) {
        const char *e = getenv("DWELL_SSH");
        RemoteHost h;
        char *base, **argv;
        size_t n = 0, words = 0;

        if (remote_parse_host(spec, &h) < 0)
                return NULL;
        base = strdup(e && e[strspn(e, " \t")] ? e : "ssh");
        if (!base)
                return NULL;
        for (char *p = base; *p; p++)
                words++;
        argv = calloc(words + 16, sizeof(char *));
        if (!argv) {
                free(base);
                return NULL;
        }
        /* Each word its own string (argv[0] replaced by its path): base
         * is not kept. */
        for (char *save = NULL, *w = strtok_r(base, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                argv[n++] = strdup(w);
        free(base);
        if (argv[0]) {
                char *path = program_path(argv[0]);

                free(argv[0]);
                argv[0] = path;
        }
        argv[n++] = (char *) "-o";
        argv[n++] = opt_path;
        argv[n++] = (char *) "-O";
        argv[n++] = (char *) "exit";
        if (h.port[0]) {
                argv[n++] = (char *) "-p";
                argv[n++] = strdup(h.port);
        }
        if (h.user[0]) {
                argv[n++] = (char *) "-l";
                argv[n++] = strdup(h.user);
        }
        argv[n++] = (char *) "--";
        argv[n++] = strdup(h.host);
        argv[n] = NULL;
        for (size_t i = 0; i < n; i++)
                if (!argv[i])
                        return NULL;    /* out of memory: no cleanup for it (freed at exit anyway) */
        return argv;
}

int ssh_share_setup(char **hosts, size_t n_hosts) {
        const char *rt = getenv("XDG_RUNTIME_DIR");
        struct sigaction sa = { .sa_handler = share_signal, .sa_flags = SA_RESETHAND | SA_NODEFER }, old;
        char tmpl[SHARE_DIR_MAX + 1];

        if (share_dir[0] || !ssh_share_wanted())
                return 0;
        if (rt && rt[0] == '/' && strlen(rt) + strlen("/dwell-ssh.XXXXXX") <= SHARE_DIR_MAX) {
                struct stat st;

                /* Ours and private, as a runtime directory must be. */
                if (stat(rt, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 0077))
                        rt = NULL;
        } else
                rt = NULL;
        snprintf(tmpl, sizeof tmpl, "%s/dwell-ssh.XXXXXX", rt ? rt : "/tmp");
        if (!mkdtemp(tmpl))
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "failed to create a directory for ssh's control sockets: %m");
        memcpy(share_dir, tmpl, sizeof share_dir);
        snprintf(opt_path, sizeof opt_path, "ControlPath=%s/%%C", share_dir);
        owner = getpid();

        exit_argv = calloc(n_hosts, sizeof(char **));
        if (exit_argv)
                for (size_t i = 0; i < n_hosts; i++) {
                        exit_argv[n_exit_argv] = exit_argv_new(hosts[i]);
                        if (exit_argv[n_exit_argv])
                                n_exit_argv++;
                }
        (void) atexit(ssh_share_cleanup);
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGHUP, &sa, NULL);
        /* Ctrl-C: ours unless someone ignores it; a verb that handles it
         * itself replaces this and exits normally (atexit). */
        if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
                (void) sigaction(SIGINT, &sa, NULL);
        return 0;
}
