/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "acct.h"
#include "log.h"
#include "manager.h"
#include "parse-util.h"
#include "policy.h"
#include "request.h"
#include "session.h"
#include "spawner.h"

int manager_new(Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->listen_fd = -EBADF;
        config_daemon_init(&m->daemon);
        m->heartbeat_ms = (uint32_t) (m->daemon.heartbeat_interval / 1000);
        m->acct_cache_usec = m->daemon.auth_cache;

        if (gethostname(m->hostname, sizeof m->hostname - 1) < 0)
                strcpy(m->hostname, "localhost");

        r = sd_event_default(&m->event);
        if (r < 0) {
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->stopping = true;
        while (m->requests)
                request_free(m->requests);
        /* Sessions are not ended: their hosts outlive dwelld. */
        while (m->sessions) {
                Session *s = m->sessions;
                s->child_src = sd_event_source_disable_unref(s->child_src);
                session_free(s);
        }
        spawner_done(m);
        acct_free_all(m);
        policy_free(m);
        config_daemon_done(&m->daemon);
        sd_event_source_disable_unref(m->listen_src);
        sd_event_source_disable_unref(m->listen_pause_src);
        safe_close(m->listen_fd);
        sd_event_unref(m->event);
        free(m->socket_path);
        free(m->state_dir);
        free(m->config_dir);
        free(m->libexec_dir);
        free(m);
        return NULL;
}

static int on_listen_resume_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->listen_pause_src = sd_event_source_disable_unref(m->listen_pause_src);
        (void) sd_event_source_set_enabled(m->listen_src, SD_EVENT_ON);
        return 0;
}

static int on_listen_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        for (int i = 0; i < 64; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                                /* Out of fds or memory: the pending connection would make the
                                 * socket readable again at once.  Pause accepting briefly
                                 * instead of spinning; logged at most every 10 s. */
                                uint64_t now = 0;

                                (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                                if (!m->accept_error_logged || now >= m->accept_error_logged + 10 * USEC_PER_SEC) {
                                        log_warning_errno(errno, "Failed to accept a connection, pausing for 100ms: %m");
                                        m->accept_error_logged = now;
                                }
                                if (!m->listen_pause_src &&
                                    sd_event_add_time_relative(m->event, &m->listen_pause_src, CLOCK_MONOTONIC,
                                                               USEC_PER_SEC / 10, USEC_PER_SEC / 100,
                                                               on_listen_resume_cb, m) >= 0)
                                        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(errno, "Failed to accept connection, ignoring: %m");
                        break;
                }
                (void) request_new(m, cfd);
        }
        return 0;
}

static int bind_socket(Manager *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        char *slash;
        mode_t old;

        if (strlen(m->socket_path) >= sizeof sa.sun_path)
                return log_error_errno(ENAMETOOLONG, "Socket path %s is too long", m->socket_path);
        strcpy(sa.sun_path, m->socket_path);

        dir = strdup(m->socket_path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create %s: %m", dir);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create socket: %m");
        (void) unlink(m->socket_path);
        old = umask(0111);
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                umask(old);
                return log_error_errno(errno, "Failed to bind %s: %m", m->socket_path);
        }
        umask(old);
        if (chmod(m->socket_path, 0666) < 0)
                return log_error_errno(errno, "Failed to chmod %s: %m", m->socket_path);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Failed to listen on %s: %m", m->socket_path);
        m->listen_fd = TAKE_FD(fd);
        return 0;
}

int manager_listen(Manager *m) {
        int n, r;

        n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "Failed to read sockets passed by systemd: %m");
        if (n > 1)
                return log_error_errno(EINVAL, "Expected one socket from systemd, got %d", n);
        if (n == 1) {
                m->listen_fd = SD_LISTEN_FDS_START;
                (void) fd_nonblock(m->listen_fd, true);
                log_info("Listening on the socket passed by systemd");
        } else {
                r = bind_socket(m);
                if (r < 0)
                        return r;
                log_info("Listening on %s", m->socket_path);
        }
        r = sd_event_add_io(m->event, &m->listen_src, m->listen_fd, EPOLLIN, on_listen_cb, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the socket: %m");
        return 0;
}

/* dwelld holds one fd per connection, two per PAM helper and a few per
 * session: raise the soft fd limit to the hard one (systemd services get
 * 1024:524288 by default; the unit says so explicitly).  Children get the
 * original soft limit back (manager_spawn). */
void manager_raise_nofile(Manager *m) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        m->nofile_saved = rl;
        if (rl.rlim_cur == rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_warning_errno(errno, "Failed to raise the fd limit to %llu: %m", (unsigned long long) rl.rlim_max);
        else
                log_debug("Raised the fd limit from %llu to %llu", (unsigned long long) m->nofile_saved.rlim_cur,
                          (unsigned long long) rl.rlim_cur);
}

int manager_run(Manager *m) {
        int r;

        (void) sd_notifyf(0, "READY=1\nSTATUS=Serving %s", m->socket_path);
        r = sd_event_loop(m->event);
        (void) sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
        return r;
}

char *manager_helper_path(Manager *m, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", m->libexec_dir, name) < 0)
                return NULL;
        return p;
}

int manager_spawn(Manager *m, const char *name, char *const argv[], int fd3, bool new_session, pid_t *ret_pid) {
        _cleanup_free_ char *path = manager_helper_path(m, name);
        pid_t pid;

        if (!path)
                return -ENOMEM;
        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork %s: %m", name);
        if (pid == 0) {
                sigset_t ss;

                /* Child: clean signal state, fd 3 = control, nothing else. */
                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                (void) signal(SIGPIPE, SIG_DFL);
                /* The fd limit dwelld was started with, not the one it raised for itself. */
                if (m->nofile_saved.rlim_cur > 0)
                        (void) setrlimit(RLIMIT_NOFILE, &m->nofile_saved);
                if (new_session)
                        (void) setsid();
                if (fd3 != 3) {
                        if (dup2(fd3, 3) < 0)
                                _exit(127);
                } else
                        (void) fd_cloexec(3, false);
                (void) close_range(4, ~0U, 0);
                execv(path, argv);
                fprintf(stderr, "dwelld: failed to execute %s: %m\n", path);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}
