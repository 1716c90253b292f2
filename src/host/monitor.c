/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <grp.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"
#include "pam-conv.h"
#include "parse-util.h"
#include "privdrop.h"
#include "worker.h"

/* Exit statuses of the monitor, seen by dwelld. */
#define EXIT_PAM 200
#define EXIT_WORKER 201

static int kv_str(const struct proto_kv *kv, const char *key, char **ret) {
        const char *v = proto_kv_get(kv, key);
        if (!v)
                return -EBADMSG;
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

static int kv_u64(const struct proto_kv *kv, const char *key, uint64_t *ret) {
        const char *v = proto_kv_get(kv, key);
        char *end;

        if (!v || !*v)
                return -EBADMSG;
        errno = 0;
        *ret = strtoull(v, &end, 10);
        return errno || *end ? -EBADMSG : 0;
}

int host_params_from_kv(const struct proto_kv *kv, HostParams *p) {
        uint64_t id, uid, gid, temp, hb;
        int b, r;

        *p = (HostParams) { .listen_fd = -EBADF };
        if ((r = kv_u64(kv, "id", &id)) < 0 ||
            (r = kv_str(kv, "instance_id", &p->instance_id)) < 0 ||
            (r = kv_str(kv, "name", &p->name)) < 0 ||
            (r = kv_str(kv, "host", &p->host)) < 0 ||
            (r = kv_str(kv, "user", &p->user)) < 0 ||
            (r = kv_u64(kv, "uid", &uid)) < 0 ||
            (r = kv_u64(kv, "gid", &gid)) < 0 ||
            (r = kv_str(kv, "home", &p->home)) < 0 ||
            (r = kv_str(kv, "shell", &p->shell)) < 0 ||
            (r = kv_str(kv, "configuration", &p->configuration)) < 0 ||
            (r = kv_str(kv, "origin", &p->origin)) < 0 ||
            (r = kv_str(kv, "state_dir", &p->state_dir)) < 0 ||
            (r = kv_u64(kv, "idle_timeout", &p->idle_timeout)) < 0 ||
            (r = kv_u64(kv, "buffer_size", &p->buffer_size)) < 0 ||
            (r = kv_u64(kv, "temporary", &temp)) < 0 ||
            (r = kv_u64(kv, "created", &p->created)) < 0 ||
            (r = kv_u64(kv, "heartbeat_ms", &hb)) < 0)
                goto fail;
        b = buffering_from_string(proto_kv_get(kv, "buffering"));
        if (b <= 0 || id > UINT32_MAX || uid > UINT32_MAX || gid > UINT32_MAX || hb > UINT32_MAX ||
            p->buffer_size == 0) {
                r = -EBADMSG;
                goto fail;
        }
        p->id = (uint32_t) id;
        p->uid = (uid_t) uid;
        p->gid = (gid_t) gid;
        p->buffering = (uint8_t) b;
        p->temporary = temp != 0;
        p->heartbeat_ms = (uint32_t) hb;
        return 0;
fail:
        host_params_done(p);
        return r;
}

void host_params_done(HostParams *p) {
        free(p->instance_id);
        free(p->name);
        free(p->host);
        free(p->user);
        free(p->home);
        free(p->shell);
        free(p->configuration);
        free(p->origin);
        free(p->state_dir);
        safe_close(p->listen_fd);
        if (p->env)
                for (char **e = p->env; *e; e++)
                        free(*e);
        free(p->env);
        *p = (HostParams) { .listen_fd = -EBADF };
}

static bool env_has(char **env, size_t n, const char *name) {
        size_t l = strlen(name);
        for (size_t i = 0; i < n; i++)
                if (strncmp(env[i], name, l) == 0 && env[i][l] == '=')
                        return true;
        return false;
}

/* The shell's environment: what PAM set (pam_env, pam_limits ...) plus
 * the variables login(1) sets. */
static int build_env(HostParams *p, pam_handle_t *pamh) {
        char **pam_env = pam_getenvlist(pamh);
        size_t n = 0, k = 0;
        char **env;
        char *extra[8] = {};

        for (char **e = pam_env; e && *e; e++)
                n++;
        env = calloc(n + ELEMENTSOF(extra) + 1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                env[k++] = pam_env[i];
        free(pam_env);

        if (asprintf(&extra[0], "HOME=%s", p->home) < 0 ||
            asprintf(&extra[1], "USER=%s", p->user) < 0 ||
            asprintf(&extra[2], "LOGNAME=%s", p->user) < 0 ||
            asprintf(&extra[3], "SHELL=%s", p->shell) < 0 ||
            asprintf(&extra[4], "PATH=%s", "/usr/local/bin:/usr/bin:/bin") < 0 ||
            asprintf(&extra[5], "DWELL_SESSION=%s", p->name) < 0 ||
            asprintf(&extra[6], "DWELL_SESSION_ID=%u", p->id) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(extra) && extra[i]; i++) {
                char *eq = strchr(extra[i], '=');
                *eq = 0;
                bool have = env_has(env, n, extra[i]);
                *eq = '=';
                if (have)
                        free(extra[i]);
                else
                        env[k++] = extra[i];
        }
        env[k] = NULL;
        p->env = env;
        return 0;
}

static void report_failure(Conn *c, int error, const char *fmt, ...) _printf_(3, 4);
static void report_failure(Conn *c, int error, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_error("%s", msg);
        if (proto_put_failed(&c->out, error, msg) >= 0)
                (void) conn_flush_all(c, 5000);
}

/* The session's files under STATE_DIR/sessions (root only):
 *   INSTANCE.sock  the worker listens here; a restarted dwelld connects
 *   INSTANCE.info  dwelld's SPAWN message plus monitor_pid (and, if the
 *                  worker died, broken_reason), so dwelld can re-adopt the
 *                  session or report it Broken. */
static char *session_file(const HostParams *p, const char *suffix) {
        char *path;

        if (asprintf(&path, "%s/sessions/%s.%s", p->state_dir, p->instance_id, suffix) < 0)
                return NULL;
        return path;
}

static int write_info(const HostParams *p, const struct proto_kv *spawn, const char *broken_reason) {
        _cleanup_free_ char *path = session_file(p, "info"), *tmp = NULL;
        struct proto_kv kv = {};
        char pid[32];
        Buf b;
        FILE *f;
        int r = 0;

        if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        snprintf(pid, sizeof pid, "%d", (int) getpid());
        for (size_t i = 0; r >= 0 && i < spawn->n; i++)
                r = proto_kv_add(&kv, spawn->keys[i], spawn->values[i]);
        if (r >= 0)
                r = proto_kv_add(&kv, "monitor_pid", pid);
        if (r >= 0 && broken_reason)
                r = proto_kv_add(&kv, "broken_reason", broken_reason);
        buf_init(&b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        if (r >= 0)
                r = proto_put_kv(&b, PROTO_MSG_SPAWN, &kv);
        proto_kv_done(&kv);
        if (r >= 0) {
                mode_t old = umask(0077);
                f = fopen(tmp, "we");
                umask(old);
                if (!f)
                        r = -errno;
                else {
                        if (fwrite(buf_ptr(&b), 1, buf_len(&b), f) != buf_len(&b) || fflush(f) != 0)
                                r = -EIO;
                        fclose(f);
                        if (r >= 0 && rename(tmp, path) < 0)
                                r = -errno;
                }
        }
        buf_done(&b);
        if (r < 0)
                log_error_errno(r, "Failed to write %s: %m", path);
        return r;
}

static int listen_session_socket(HostParams *p) {
        _cleanup_free_ char *dir = NULL, *path = session_file(p, "sock");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old;
        int fd, r;

        if (!path || asprintf(&dir, "%s/sessions", p->state_dir) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", dir);
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        old = umask(0077);
        r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old);
        if (r < 0 || listen(fd, 16) < 0) {
                r = -errno;
                safe_close(fd);
                return log_error_errno(r, "Failed to listen on %s: %m", path);
        }
        p->listen_fd = fd;
        return 0;
}

static void remove_session_files(const HostParams *p, bool keep_info) {
        _cleanup_free_ char *sock = session_file(p, "sock"), *info = session_file(p, "info");

        if (sock)
                (void) unlink(sock);
        if (info && !keep_info)
                (void) unlink(info);
}

static int wait_worker(pid_t pid) {
        int status;

        for (;;) {
                if (waitpid(pid, &status, 0) >= 0)
                        break;
                if (errno != EINTR)
                        return EXIT_WORKER;
        }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        log_warning("Worker %d killed by signal %s", (int) pid, strsignal(WTERMSIG(status)));
        return EXIT_WORKER;
}

int monitor_run(HostParams *p, const struct proto_kv *spawn, Conn *control) {
        struct pam_conv conv = { .conv = pam_conv_relay, .appdata_ptr = NULL };
        pam_handle_t *pamh = NULL;
        pid_t pid;
        int pr, r, status;

        pr = pam_start("dwell", p->user, &conv, &pamh);
        if (pr != PAM_SUCCESS) {
                report_failure(control, -EIO, "PAM could not be started for %s", p->user);
                return EXIT_PAM;
        }
        (void) pam_set_item(pamh, PAM_RUSER, p->user);
        (void) pam_set_item(pamh, PAM_TTY, "dwell");
        if (*p->origin)
                (void) pam_set_item(pamh, PAM_RHOST, p->origin);

        /* Classic login order: groups, credentials, session, then fork. */
        if (initgroups(p->user, p->gid) < 0) {
                report_failure(control, -errno, "initgroups(%s) failed: %s", p->user, strerror(errno));
                pam_end(pamh, PAM_SYSTEM_ERR);
                return EXIT_PAM;
        }
        pr = pam_setcred(pamh, PAM_ESTABLISH_CRED);
        if (pr != PAM_SUCCESS)
                log_warning("pam_setcred(%s) failed, ignoring: %s", p->user, pam_strerror(pamh, pr));
        pr = pam_open_session(pamh, 0);
        if (pr != PAM_SUCCESS) {
                report_failure(control, -EPERM, "PAM refused to open a session for %s: %s",
                               p->user, pam_strerror(pamh, pr));
                pam_setcred(pamh, PAM_DELETE_CRED | PAM_SILENT);
                pam_end(pamh, pr);
                return EXIT_PAM;
        }
        r = build_env(p, pamh);
        if (r < 0) {
                report_failure(control, r, "Out of memory building the environment");
                status = EXIT_PAM;
                goto close_session;
        }
        r = listen_session_socket(p);
        if (r >= 0)
                r = write_info(p, spawn, NULL);
        if (r < 0) {
                report_failure(control, r, "Failed to create the session's files in %s/sessions", p->state_dir);
                remove_session_files(p, false);
                status = EXIT_PAM;
                goto close_session;
        }

        pid = fork();
        if (pid < 0) {
                report_failure(control, -errno, "fork failed: %s", strerror(errno));
                status = EXIT_WORKER;
                goto close_session;
        }
        if (pid == 0) {
                /* The worker: no PAM handle use from here (PAM_DATA_SILENT rule). */
                r = privdrop(p->uid, p->gid);
                if (r < 0) {
                        report_failure(control, r, "Failed to drop privileges to %s", p->user);
                        _exit(EXIT_WORKER);
                }
                _exit(worker_main(p, control));
        }

        /* The monitor keeps nothing of the control connection. */
        control->fd = safe_close(control->fd);
        p->listen_fd = safe_close(p->listen_fd);
        status = wait_worker(pid);
        if (status != 0) {
                char reason[128];

                /* Kept: a dwelld started later reports the session Broken. */
                snprintf(reason, sizeof reason, "the session worker ended unexpectedly (status %d)", status);
                (void) write_info(p, spawn, reason);
        }
        remove_session_files(p, status != 0);

close_session:
        pr = pam_close_session(pamh, 0);
        if (pr != PAM_SUCCESS)
                log_warning("pam_close_session(%s) failed: %s", p->user, pam_strerror(pamh, pr));
        (void) pam_setcred(pamh, PAM_DELETE_CRED | PAM_SILENT);
        pam_end(pamh, pr);
        return status;
}
