/* SPDX-License-Identifier: ISC */
/*
 * The session spawner: one dwell-host that dwelld starts once and keeps,
 * already exec'ed, linked and relocated, with the modules of the "dwell"
 * PAM service loaded.  For each new session dwelld sends FORK with the
 * session's control socket; the spawner clones itself and the clone goes
 * on exactly as an exec'ed dwell-host would from the SPAWN message on.
 *
 * The clone is made with CLONE_PARENT, so the new session host is dwelld's
 * child, as one dwelld forks and execs itself: dwelld watches and reaps it
 * with the exit status, and the spawner never has children of its own.
 * Monitors share the spawner's pages copy-on-write instead of each loading
 * and relocating the same libraries, which is what makes a session host
 * cheap in time and in memory.  They also share its address-space layout
 * and stack canary, which is why the worker, the process that parses what
 * clients send, is not a fork of its monitor but a new execution of this
 * program (worker-exec.h) — of /proc/self/exe, the file checked here.
 * Before each clone the spawner checks that
 * its program and libraries are still the files on disk; if an upgrade
 * replaced one, it refuses (ESTALE) and exits, and dwelld starts a new
 * spawner for that session.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <link.h>
#include <pwd.h>
#include <sched.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "spawner.h"

/* The files this process runs: the program and every shared object loaded
 * (libraries, the PAM modules), as they were when it started.  A session
 * cloned from it runs this code, so when a package upgrade replaces one of
 * them the spawner must be replaced too, as an exec would have been. */
typedef struct Loaded {
        char *path;
        struct stat st;
} Loaded;

static Loaded *loaded;
static size_t n_loaded;

static void loaded_add(const char *path) {
        Loaded *l;
        struct stat st;

        if (path[0] != '/' || stat(path, &st) < 0)
                return;         /* the vDSO, or gone already: nothing to compare */
        l = realloc(loaded, (n_loaded + 1) * sizeof *loaded);
        if (!l)
                return;
        loaded = l;
        loaded[n_loaded] = (Loaded) { .path = strdup(path), .st = st };
        if (loaded[n_loaded].path)
                n_loaded++;
}

static int loaded_cb(struct dl_phdr_info *info, size_t size, void *data) {
        if (info->dlpi_name && *info->dlpi_name)
                loaded_add(info->dlpi_name);
        return 0;
}

static void loaded_collect(void) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

        if (n > 0) {
                exe[n] = 0;
                loaded_add(exe);
        }
        (void) dl_iterate_phdr(loaded_cb, NULL);
}

/* The first file that is no longer the one loaded, or NULL. */
static const char *loaded_changed(void) {
        for (size_t i = 0; i < n_loaded; i++) {
                const struct stat *a = &loaded[i].st;
                struct stat b;

                if (stat(loaded[i].path, &b) < 0 || a->st_dev != b.st_dev || a->st_ino != b.st_ino ||
                    a->st_size != b.st_size || a->st_mtim.tv_sec != b.st_mtim.tv_sec ||
                    a->st_mtim.tv_nsec != b.st_mtim.tv_nsec)
                        return loaded[i].path;
        }
        return NULL;
}

static int no_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        return PAM_CONV_ERR;
}

/* pam_start() reads /etc/pam.d/dwell and dlopen()s its modules without
 * calling any of them; keeping the handle keeps them loaded, so that the
 * sessions' own pam_start() finds them mapped and relocated already. */
static void preload(void) {
        static const struct pam_conv conv = { .conv = no_conv };
        static pam_handle_t *pamh = NULL;       /* kept for the spawner's lifetime */
        int r;

        r = pam_start("dwell", "root", &conv, &pamh);
        if (r != PAM_SUCCESS)
                log_warning("Could not preload the PAM modules of the dwell service: %s",
                            pam_strerror(pamh, r));
        /* The name service configuration, read once here, not per session. */
        (void) getpwuid(0);
        (void) getgrgid(0);
        loaded_collect();
}

/* A fork whose child is our parent's child.  glibc has no wrapper for
 * CLONE_PARENT without a new stack; the raw system call with a NULL stack
 * behaves like fork() minus glibc's bookkeeping: its fork handlers reset
 * locks and cached process identities, and this process is single-threaded
 * (no lock is held) and calls none of the PAM modules it loaded (none has
 * cached anything about it).  The clone's own forks are glibc's again. */
static pid_t clone_sibling(void) {
        return (pid_t) syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
}

/* In the clone: the session's control socket becomes fd 3, nothing else
 * stays open but stdin, stdout and stderr, and the host gets its own
 * session and process name, as after dwelld's fork and exec. */
static int become_host(Conn *c, int control_fd) {
        if (dup2(control_fd, SPAWNER_CONTROL_FD) < 0)   /* closes the spawner's connection */
                _exit(127);
        (void) fd_cloexec(SPAWNER_CONTROL_FD, true);
        (void) close_range(SPAWNER_CONTROL_FD + 1, ~0U, 0);
        (void) setsid();
        (void) prctl(PR_SET_NAME, "dwell-host", 0, 0, 0);
        c->fd = -EBADF;
        for (size_t i = 0; i < c->n_in_fds; i++)
                c->in_fds[i] = -EBADF;          /* closed by close_range() */
        c->n_in_fds = 0;
        return 1;
}

int spawner_run(Conn *c) {
        int r;

        (void) prctl(PR_SET_NAME, "dwell-spawner", 0, 0, 0);
        preload();
        log_info("Ready to start session hosts");

        for (;;) {
                const char *changed;
                Frame f;
                pid_t pid;
                int fd;

                r = conn_wait_frame(c, &f, -1);
                if (r <= 0) {
                        if (r < 0)
                                log_error_errno(r, "Connection to dwelld failed: %m");
                        return r;       /* 0: dwelld closed it (it stops or reloads) */
                }
                if (f.type != PROTO_MSG_FORK || f.fd < 0 || proto_expect_end(&f.payload) < 0) {
                        conn_consume(c, &f);
                        return log_error_errno(EBADMSG, "Unexpected %s from dwelld", proto_msg_to_string(f.type));
                }
                fd = TAKE_FD(f.fd);
                conn_consume(c, &f);

                changed = loaded_changed();
                if (changed) {
                        safe_close(fd);
                        log_info("%s changed on disk; leaving the next session to a new spawner", changed);
                        r = proto_put_failed(&c->out, -ESTALE, "the session spawner's files changed on disk");
                        if (r >= 0)
                                r = conn_flush_all(c, -1);
                        return r < 0 ? r : 0;
                }
                pid = clone_sibling();
                if (pid == 0)
                        return become_host(c, fd);
                r = pid < 0 ? -errno : 0;
                safe_close(fd);
                if (r < 0) {
                        log_error_errno(r, "Failed to start a session host: %m");
                        r = proto_put_failed(&c->out, r, "the session spawner could not clone itself");
                } else
                        r = proto_put_u32_msg(&c->out, PROTO_MSG_FORKED, (uint32_t) pid);
                if (r >= 0)
                        r = conn_flush_all(c, -1);
                if (r < 0)
                        return log_error_errno(r, "Failed to answer dwelld: %m");
        }
}
