/* SPDX-License-Identifier: ISC */
/*
 * The session host's root monitor (see monitor.h): the PAM session, the
 * session's files for re-adoption, the worker's reports (journal and
 * transcript) and the end of every process the session leaves behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "configuration.h"
#include "log.h"
#include "monitor.h"
#include "pam-conv.h"
#include "parse-util.h"
#include "strv.h"
#include "transcript.h"
#include "worker-exec.h"

static int kv_str(const struct proto_kv *kv, const char *key, char **ret) {
        const char *v = proto_kv_get(kv, key);
        if (!v)
                return -EBADMSG;
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

static int kv_str_default(const struct proto_kv *kv, const char *key, const char *def, char **ret) {
        const char *v = proto_kv_get(kv, key);

        *ret = strdup(v && *v ? v : def);
        return *ret ? 0 : -ENOMEM;
}

static int kv_u64(const struct proto_kv *kv, const char *key, uint64_t *ret) {
        int r = proto_kv_get_u64(kv, key, ret);
        return r == -ENOENT ? -EBADMSG : r;
}

/* Optional keys: absent (older info files) means the default. */
static int kv_str_opt(const struct proto_kv *kv, const char *key, const char *def, char **ret) {
        const char *v = proto_kv_get(kv, key);

        *ret = strdup(v ? v : def);
        return *ret ? 0 : -ENOMEM;
}

static const struct {
        const char *name;
        int resource;
} limit_names[] = {
        { "as",         RLIMIT_AS },
        { "core",       RLIMIT_CORE },
        { "cpu",        RLIMIT_CPU },
        { "data",       RLIMIT_DATA },
        { "fsize",      RLIMIT_FSIZE },
        { "locks",      RLIMIT_LOCKS },
        { "memlock",    RLIMIT_MEMLOCK },
        { "msgqueue",   RLIMIT_MSGQUEUE },
        { "nice",       RLIMIT_NICE },
        { "nofile",     RLIMIT_NOFILE },
        { "nproc",      RLIMIT_NPROC },
        { "rss",        RLIMIT_RSS },
        { "rtprio",     RLIMIT_RTPRIO },
        { "rttime",     RLIMIT_RTTIME },
        { "sigpending", RLIMIT_SIGPENDING },
        { "stack",      RLIMIT_STACK },
};

const char *host_limit_name(int resource) {
        for (size_t i = 0; i < ELEMENTSOF(limit_names); i++)
                if (limit_names[i].resource == resource)
                        return limit_names[i].name;
        return "?";
}

static int parse_limit(HostParams *p, const char *name, const char *value) {
        int resource = -1;
        uint64_t v;
        char *end;

        for (size_t i = 0; i < ELEMENTSOF(limit_names); i++)
                if (streq(name, limit_names[i].name))
                        resource = limit_names[i].resource;
        if (resource < 0 || resource >= RLIM_NLIMITS)
                return -EBADMSG;
        if (streq(value, "infinity"))
                v = RLIM_INFINITY;
        else {
                if (!*value || *value < '0' || *value > '9')
                        return -EBADMSG;
                errno = 0;
                v = strtoull(value, &end, 10);
                if (errno || *end)
                        return -EBADMSG;
        }
        p->limits[resource] = (HostLimit) { .set = true, .value = (rlim_t) v };
        return 0;
}

/* "NAME=VALUE" entries from the env.NAME keys, in the order given. */
static int add_env_override(HostParams *p, const char *name, const char *value, size_t *n) {
        char **l, *e;

        if (!*name || strchr(name, '='))
                return -EBADMSG;
        if (asprintf(&e, "%s=%s", name, value) < 0)
                return -ENOMEM;
        l = realloc(p->env_override, (*n + 2) * sizeof(char *));
        if (!l) {
                free(e);
                return -ENOMEM;
        }
        l[(*n)++] = e;
        l[*n] = NULL;
        p->env_override = l;
        return 0;
}

/* "/usr/sbin/ip\n/usr/bin/ss" -> NULL-terminated list; "" -> NULL. */
static int parse_commands(HostParams *p, const char *v) {
        size_t n = 0;
        char **l;

        if (!v || !*v)
                return 0;
        l = calloc(strlen(v) / 2 + 2, sizeof(char *));
        if (!l)
                return -ENOMEM;
        p->commands = l;
        for (const char *s = v; *s;) {
                size_t len = strcspn(s, "\n");

                if (len > 0) {
                        if (s[0] != '/')
                                return -EBADMSG;
                        l[n] = strndup(s, len);
                        if (!l[n++])
                                return -ENOMEM;
                }
                s += len;
                if (*s == '\n')
                        s++;
        }
        return n > 0 ? 0 : -EBADMSG;
}

static int parse_config_keys(const struct proto_kv *kv, HostParams *p) {
        const char *v, *wd;
        size_t n_env = 0;
        uint64_t u;
        char *end;
        int r;

        v = proto_kv_get(kv, "owner_uid");
        if (v && *v) {
                r = kv_u64(kv, "owner_uid", &u);
                if (r < 0 || u > UINT32_MAX)
                        return -EBADMSG;
                p->owner_uid = (uid_t) u;
        } else
                p->owner_uid = p->uid;

        r = parse_commands(p, proto_kv_get(kv, "commands"));
        if (r < 0)
                return r;
        if (!p->commands && (!*p->shell || p->shell[0] != '/'))
                return -EBADMSG;        /* neither a shell nor commands */

        v = proto_kv_get(kv, "capabilities");
        if (v && *v) {
                errno = 0;
                u = strtoull(v, &end, 16);
                if (errno || *end)
                        return -EBADMSG;
                p->caps_set = true;
                p->caps = u;
        }

        v = proto_kv_get(kv, "transcript");
        p->transcript = v && streq(v, "1");

        v = proto_kv_get(kv, "no_new_privileges");
        if (v && *v) {
                if (!streq(v, "0") && !streq(v, "1"))
                        return -EBADMSG;
                p->no_new_privileges = streq(v, "1");
        } else
                p->no_new_privileges = *p->run_as != 0;

        wd = proto_kv_get(kv, "working_directory");
        if (!wd || !*wd)
                wd = "~";
        if (streq(wd, "~") || strncmp(wd, "~/", 2) == 0) {
                p->working_directory_lenient = streq(wd, "~");
                if (asprintf(&p->working_directory, "%s%s", p->home, wd + 1) < 0)
                        return -ENOMEM;
        } else if (wd[0] == '/') {
                p->working_directory = strdup(wd);
                if (!p->working_directory)
                        return -ENOMEM;
        } else
                return -EBADMSG;

        v = proto_kv_get(kv, "umask");
        if (v && *v) {
                errno = 0;
                u = strtoull(v, &end, 8);
                if (errno || *end || u > 0777)
                        return -EBADMSG;
                p->umask_set = true;
                p->umask = (mode_t) u;
        }

        for (size_t i = 0; i < kv->n; i++) {
                if (strncmp(kv->keys[i], "env.", 4) == 0)
                        r = add_env_override(p, kv->keys[i] + 4, kv->values[i], &n_env);
                else if (strncmp(kv->keys[i], "limit.", 6) == 0)
                        r = parse_limit(p, kv->keys[i] + 6, kv->values[i]);
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

int host_params_from_kv(const struct proto_kv *kv, HostParams *p) {
        uint64_t id, uid, gid, temp, hb;
        int b, r;

        *p = (HostParams) { .listen_fd = -EBADF, .monitor_fd = -EBADF };
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
            (r = kv_str_default(kv, "transcript_dir", DWELL_LOGDIR, &p->transcript_dir)) < 0 ||
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

        if ((r = kv_str_opt(kv, "owner", p->user, &p->owner)) < 0 ||
            (r = kv_str_opt(kv, "run_as", "", &p->run_as)) < 0 ||
            (r = kv_str_opt(kv, "term", "", &p->term)) < 0 ||
            (r = parse_config_keys(kv, p)) < 0)
                goto fail;
        {
                uint64_t t = 0, rows = 0, cols = 0, sb = CONFIG_DEFAULT_SCROLLBACK;

                /* Absent (an older dwelld's SPAWN): not a terminal session. */
                if ((proto_kv_get(kv, "terminal") && (r = kv_u64(kv, "terminal", &t)) < 0) ||
                    (proto_kv_get(kv, "rows") && (r = kv_u64(kv, "rows", &rows)) < 0) ||
                    (proto_kv_get(kv, "cols") && (r = kv_u64(kv, "cols", &cols)) < 0) ||
                    (proto_kv_get(kv, "scrollback") && (r = kv_u64(kv, "scrollback", &sb)) < 0))
                        goto fail;
                if (rows > PROTO_MAX_TERM_SIZE || cols > PROTO_MAX_TERM_SIZE || sb > CONFIG_SCROLLBACK_MAX ||
                    (*p->term && !proto_term_valid(p->term))) {
                        r = -EBADMSG;
                        goto fail;
                }
                p->terminal = t != 0;
                p->scrollback = (unsigned) sb;
                p->rows = (unsigned) rows;
                p->cols = (unsigned) cols;
        }
        if (!*p->owner) {
                free(p->owner);
                if (!(p->owner = strdup(p->user))) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
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
        free(p->owner);
        free(p->run_as);
        free(p->shell);
        strv_free(p->commands);
        free(p->configuration);
        free(p->working_directory);
        strv_free(p->env_override);
        free(p->origin);
        free(p->state_dir);
        free(p->transcript_dir);
        free(p->term);
        safe_close(p->monitor_fd);
        safe_close(p->listen_fd);
        strv_free(p->env);
        *p = (HostParams) { .listen_fd = -EBADF, .monitor_fd = -EBADF };
}

/* The index of NAME in env (n entries), or -1. */
static ssize_t env_find(char **env, size_t n, const char *name, size_t len) {
        for (size_t i = 0; i < n; i++)
                if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
                        return (ssize_t) i;
        return -1;
}

/* The shell's environment: what PAM set (pam_env, pam_limits ...) plus
 * the variables login(1) sets, then the configuration's environment,
 * which overrides both. */
static int build_env(HostParams *p, pam_handle_t *pamh) {
        char **pam_env = pam_getenvlist(pamh);
        size_t n = 0, n_over = 0, k = 0;
        char **env;
        char *extra[8] = {};

        for (char **e = pam_env; e && *e; e++)
                n++;
        for (char **e = p->env_override; e && *e; e++)
                n_over++;
        env = calloc(n + ELEMENTSOF(extra) + n_over + 1, sizeof(char *));
        if (!env) {
                for (size_t i = 0; i < n; i++)
                        free(pam_env[i]);
                free(pam_env);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                env[k++] = pam_env[i];
        free(pam_env);
        p->env = env;

        if (asprintf(&extra[0], "HOME=%s", p->home) < 0 ||
            asprintf(&extra[1], "USER=%s", p->user) < 0 ||
            asprintf(&extra[2], "LOGNAME=%s", p->user) < 0 ||
            asprintf(&extra[3], "PATH=%s", "/usr/local/bin:/usr/bin:/bin") < 0 ||
            asprintf(&extra[4], "DWELL_SESSION=%s", p->name) < 0 ||
            asprintf(&extra[5], "DWELL_SESSION_ID=%u", p->id) < 0 ||
            (*p->shell && asprintf(&extra[6], "SHELL=%s", p->shell) < 0)) {
                for (size_t i = 0; i < ELEMENTSOF(extra); i++)
                        free(extra[i]);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
                if (!extra[i])
                        continue;
                if (env_find(env, k, extra[i], strcspn(extra[i], "=")) >= 0)
                        free(extra[i]);
                else
                        env[k++] = extra[i];
        }
        for (size_t i = 0; i < n_over; i++) {
                char *e = strdup(p->env_override[i]);
                ssize_t j;

                if (!e)
                        return -ENOMEM;
                j = env_find(env, k, e, strcspn(e, "="));
                if (j >= 0) {
                        free(env[j]);
                        env[j] = e;
                } else
                        env[k++] = e;
        }
        env[k] = NULL;
        return 0;
}

void host_report_failure(Conn *c, int error, const char *fmt, ...) {
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
 *   INSTANCE.sock     the worker listens here; a restarted dwelld connects
 *   INSTANCE.info     dwelld's SPAWN message plus monitor_pid (and, if the
 *                     worker died, broken_reason), so dwelld can re-adopt
 *                     the session or report it Broken
 *   INSTANCE.removed  written by dwelld before it removes the session: then
 *                     every file goes when the session ends, however it ends
 * Once the info file exists it is only ever replaced, never created anew:
 * dwelld deletes it to remove a session whose host may still be ending. */
static char *session_file(const HostParams *p, const char *suffix) {
        char *path;

        if (asprintf(&path, "%s/sessions/%s.%s", p->state_dir, p->instance_id, suffix) < 0)
                return NULL;
        return path;
}

static int write_info(const HostParams *p, const struct proto_kv *spawn, const char *broken_reason, bool replace) {
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
                        if (r >= 0 && !replace && rename(tmp, path) < 0)
                                r = -errno;
                        /* Atomically, and only if it is still there. */
                        if (r >= 0 && replace && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) < 0)
                                r = errno == ENOENT ? 0 : -errno;
                        if (replace)
                                (void) unlink(tmp);
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

/* dwelld recorded that it removes the session. */
static bool session_removed(const HostParams *p) {
        _cleanup_free_ char *removed = session_file(p, "removed");

        return removed && access(removed, F_OK) == 0;
}

/* The record of a removal goes last (dwelld reads it when it starts). */
static void remove_session_files(const HostParams *p, bool keep_info) {
        _cleanup_free_ char *sock = session_file(p, "sock"), *info = session_file(p, "info"),
                *removed = session_file(p, "removed");

        if (sock)
                (void) unlink(sock);
        if (keep_info)
                return;
        if (info)
                (void) unlink(info);
        if (removed)
                (void) unlink(removed);
}

static uint64_t kv_num(const struct proto_kv *kv, const char *key, uint64_t def) {
        uint64_t x;
        return proto_kv_get_u64(kv, key, &x) >= 0 ? x : def;
}

/* One event the worker reported: a journal entry (written here, as root)
 * and a transcript line. */
static void on_event(const HostParams *p, Transcript *t, const struct proto_kv *kv) {
        AuditEvent e = audit_event_from_string(proto_kv_get(kv, "event"));
        AuditFields f = AUDIT_FIELDS_INIT;
        const char *caller, *command, *reason;
        int priority = LOG_INFO;

        if (e == _AUDIT_EVENT_INVALID)
                return;
        f.session_id = p->id;
        f.session_name = p->name;
        f.instance_id = p->instance_id;
        f.owner = p->owner;
        f.run_as = p->run_as;
        f.configuration = p->configuration;
        f.origin = proto_kv_get(kv, "origin") ?: p->origin;
        f.caller = caller = proto_kv_get(kv, "caller");
        f.caller_pid = (pid_t) kv_num(kv, "caller_pid", 0);
        f.command_id = (uint32_t) kv_num(kv, "command_id", 0);
        f.command = command = proto_kv_get(kv, "command");
        f.exit_status = (int) kv_num(kv, "exit_status", (uint64_t) -1);
        f.status_source = proto_kv_get(kv, "status_source");
        f.started_usec = kv_num(kv, "started_usec", 0);
        f.duration_usec = (int64_t) kv_num(kv, "duration_usec", (uint64_t) -1);
        f.bytes = (int64_t) kv_num(kv, "bytes", (uint64_t) -1);
        f.reason = reason = proto_kv_get(kv, "reason");

        switch (e) {
        case AUDIT_SESSION_CONNECTED:
                audit_log(e, priority, &f, "Session %u (%s) of %s connected to %s (pid %d)", p->id, p->name,
                          p->owner, strempty(caller), (int) f.caller_pid);
                transcript_line(t, "connected: %s (pid %d)", strempty(caller), (int) f.caller_pid);
                break;
        case AUDIT_SESSION_DISCONNECTED:
                audit_log(e, priority, &f, "Session %u (%s) of %s disconnected from %s: %s", p->id, p->name,
                          p->owner, strempty(caller), strempty(reason));
                transcript_line(t, "disconnected: %s: %s", strempty(caller), strempty(reason));
                break;
        case AUDIT_COMMAND_STARTED:
                audit_log(e, priority, &f, "Session %u (%s): command %u started by %s: %s", p->id, p->name,
                          f.command_id, strempty(caller), strempty(command));
                transcript_line(t, "command %u started by %s: %s", f.command_id, strempty(caller), strempty(command));
                break;
        case AUDIT_COMMAND_FINISHED: {
                /* The worker's own observations (start, duration) apart
                 * from the status, which is only as good as who says it. */
                const char *by = streq_ptr(f.status_source, "shell") ? " (as reported by the session's shell)" :
                                 streq_ptr(f.status_source, "dwell") ? " (not run)" : "";
                char d[32] = "?";

                if (f.duration_usec >= 0)
                        snprintf(d, sizeof d, "%" PRIi64 ".%06" PRIi64 " s", f.duration_usec / 1000000,
                                 f.duration_usec % 1000000);
                transcript_flush(t);
                audit_log(e, priority, &f, "Session %u (%s): command %u finished with exit status %d%s after %s%s%s",
                          p->id, p->name, f.command_id, f.exit_status, by, d, reason ? "; " : "", strempty(reason));
                transcript_line(t, "command %u finished: exit status %d%s after %s%s%s", f.command_id, f.exit_status,
                                by, d, reason ? "; " : "", strempty(reason));
                break;
        }
        case AUDIT_COMMAND_REFUSED:
                audit_log(e, LOG_NOTICE, &f, "Session %u (%s): command %u refused: %s", p->id, p->name,
                          f.command_id, strempty(reason));
                transcript_line(t, "command %u refused: %s", f.command_id, strempty(reason));
                break;
        case AUDIT_OUTPUT_DROPPED:
                audit_log(e, LOG_NOTICE, &f, "Session %u (%s): %" PRIi64 " bytes of output of command %u dropped",
                          p->id, p->name, f.bytes, f.command_id);
                transcript_line(t, "output dropped from the session's buffer: %" PRIi64 " bytes of command %u "
                                "(the transcript has them all)", f.bytes, f.command_id);
                break;
        case AUDIT_SESSION_BROKEN:
                audit_log(e, LOG_WARNING, &f, "Session %u (%s) of %s is broken: %s", p->id, p->name, p->owner,
                          strempty(reason));
                transcript_line(t, "broken: %s", strempty(reason));
                break;
        case AUDIT_HOOK_FINISHED: {
                char st[32] = "no exit status";

                if (f.exit_status >= 0)
                        snprintf(st, sizeof st, "exit status %d", f.exit_status);
                audit_log(e, reason ? LOG_NOTICE : priority, &f,
                          "Session %u (%s): the --on-finish hook of command %u ended (%s)%s%s: %s", p->id, p->name,
                          f.command_id, st, reason ? "; " : "", strempty(reason), strempty(command));
                transcript_line(t, "hook of command %u ended (%s)%s%s", f.command_id, st, reason ? "; " : "",
                                strempty(reason));
                break;
        }
        case AUDIT_IDLE_TIMEOUT:
                audit_log(e, priority, &f, "Session %u (%s) of %s idle for %s: removed", p->id, p->name, p->owner,
                          strempty(reason));
                transcript_line(t, "idle timeout expired (%s)", strempty(reason));
                break;
        case AUDIT_SESSION_ENDED:
                audit_log(e, LOG_INFO, &f, "Session %u (%s) of %s ended: %s", p->id, p->name, p->owner,
                          strempty(reason));
                transcript_line(t, "ended: %s", strempty(reason));
                break;
        case AUDIT_ACCESS_DENIED:
                /* The worker refused a client of the session (a watcher that typed). */
                audit_log(e, LOG_NOTICE, &f, "Access denied to %s (pid %d) in session %u (%s): %s", strempty(caller),
                          (int) f.caller_pid, p->id, p->name, strempty(reason));
                transcript_line(t, "access denied to %s: %s", strempty(caller), strempty(reason));
                break;
        case AUDIT_SESSION_WATCHED:
                audit_log(e, LOG_NOTICE, &f, "Session %u (%s) of %s watched by %s (pid %d), read-only",
                          p->id, p->name, p->owner, strempty(caller), (int) f.caller_pid);
                transcript_line(t, "watched by %s (pid %d)", strempty(caller), (int) f.caller_pid);
                break;
        case AUDIT_COMMAND_STOPPED:
                audit_log(e, LOG_NOTICE, &f, "Session %u (%s): command %u stopped by %s: %s", p->id, p->name,
                          f.command_id, strempty(caller), strempty(reason));
                transcript_line(t, "command %u stopped by %s: %s", f.command_id, strempty(caller), strempty(reason));
                break;
        default:
                break;
        }
}

/* The PAM session: closed when the session ends, or as soon as its
 * shell is gone (the worker then stays only to hand out buffered output). */
typedef struct PamSession {
        pam_handle_t *pamh;
        const char *user;
        bool open;
} PamSession;

static void pam_session_close(PamSession *ps) {
        int pr;

        if (!ps->open)
                return;
        ps->open = false;
        pr = pam_close_session(ps->pamh, 0);
        if (pr != PAM_SUCCESS)
                log_warning("pam_close_session(%s) failed: %s", ps->user, pam_strerror(ps->pamh, pr));
        (void) pam_setcred(ps->pamh, PAM_DELETE_CRED | PAM_SILENT);
}

static void on_frame(const HostParams *p, Transcript *t, PamSession *ps, Frame *f) {
        struct proto_kv kv;
        struct proto_record rec;

        if (f->type == PROTO_MSG_KV && proto_get_kv(&f->payload, &kv) >= 0) {
                on_event(p, t, &kv);
                if (streq_ptr(proto_kv_get(&kv, "event"), audit_event_to_string(AUDIT_SESSION_BROKEN)))
                        pam_session_close(ps);
                proto_kv_done(&kv);
        } else if (f->type == PROTO_MSG_RECORD && proto_get_record(&f->payload, &rec) >= 0)
                transcript_output(t, rec.cmd_id, rec.kind == RECORD_STDOUT ? 0 : 1, rec.data, rec.size);
        else if (f->type == PROTO_MSG_REC_OUTPUT) {
                const uint8_t *data;
                uint64_t time;
                size_t n;

                if (proto_get_rec_output(&f->payload, &time, &data, &n) >= 0)
                        transcript_term_output(t, time, data, n);
        } else if (f->type == PROTO_MSG_REC_SIZE) {
                uint16_t cols, rows;
                uint64_t time;

                if (proto_get_rec_size(&f->payload, &time, &cols, &rows) >= 0)
                        transcript_term_size(t, time, cols, rows);
        }
}

/* The monitor is the session's child subreaper: whatever the session's
 * processes leave behind is reparented here.  Once the worker is gone, so
 * must they be: SIGHUP and SIGTERM, then SIGKILL after a grace period. */
static void end_leftovers(void) {
        for (int round = 0; round < 40; round++) {
                bool any = false;
                DIR *d = opendir("/proc");
                struct dirent *de;

                while (d && (de = readdir(d))) {
                        char path[64], buf[512], *rp;
                        pid_t pid = (pid_t) atoi(de->d_name), ppid;
                        FILE *f;

                        if (pid <= 0)
                                continue;
                        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
                        f = fopen(path, "re");
                        if (!f)
                                continue;
                        if (!fgets(buf, sizeof buf, f)) {
                                fclose(f);
                                continue;
                        }
                        fclose(f);
                        rp = strrchr(buf, ')');
                        if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1 || ppid != getpid())
                                continue;
                        any = true;
                        if (round == 0) {
                                (void) kill(pid, SIGHUP);
                                (void) kill(pid, SIGCONT);
                                (void) kill(pid, SIGTERM);
                        } else if (round >= 30)
                                (void) kill(pid, SIGKILL);
                }
                if (d)
                        closedir(d);
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                if (!any)
                        return;
                usleep(100 * 1000);
        }
}

/* Waits for the worker, meanwhile writing what it reports; returns its
 * exit status and, if it ended abnormally, why. */
static int watch_worker(HostParams *p, pid_t worker, int fd, int sigfd, Transcript *t, PamSession *ps,
                        char *reason, size_t reason_size) {
        bool open = true, done = false;
        int status = 0;
        Conn c;

        conn_init(&c, fd, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 4096);
        while (!done || open) {
                struct pollfd pfd[2] = {
                        { .fd = open ? c.fd : -1, .events = POLLIN },
                        { .fd = done ? -1 : sigfd, .events = POLLIN },
                };
                Frame f;
                int r;

                if (poll(pfd, 2, done ? 1000 : -1) <= 0) {
                        if (done)
                                break;          /* the worker is gone and its socket is silent */
                        continue;
                }
                if (pfd[1].revents) {
                        struct signalfd_siginfo si;
                        pid_t pid;
                        int st;

                        while (read(sigfd, &si, sizeof si) == sizeof si)
                                ;
                        while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
                                if (pid == worker) {
                                        done = true;
                                        status = st;
                                }
                }
                if (pfd[0].revents) {
                        r = conn_fill(&c);
                        if (r == 0 || (r < 0 && r != -EAGAIN))
                                open = false;
                        while ((r = conn_next(&c, &f)) > 0) {
                                on_frame(p, t, ps, &f);
                                conn_consume(&c, &f);
                        }
                        if (r < 0)
                                open = false;   /* a bad frame: stop listening */
                }
        }
        conn_done(&c);

        if (WIFEXITED(status)) {
                if (WEXITSTATUS(status) != 0)
                        snprintf(reason, reason_size, "the session worker exited with status %d",
                                 WEXITSTATUS(status));
                return WEXITSTATUS(status);
        }
        snprintf(reason, reason_size, "the session worker was killed by signal %s",
                 sigabbrev_np(WTERMSIG(status)) ?: "?");
        log_warning("Session %s: %s", p->name, reason);
        return EXIT_WORKER;
}

int monitor_run(HostParams *p, const struct proto_kv *spawn, Conn *control) {
        struct pam_conv conv = { .conv = pam_conv_relay, .appdata_ptr = NULL };
        _cleanup_close_pair_ int mon[2] = { -EBADF, -EBADF };
        Transcript transcript = {};
        pam_handle_t *pamh = NULL;
        PamSession ps = {};
        char reason[160] = "";
        int sigfd = -EBADF;
        bool removed;
        sigset_t ss;
        pid_t pid;
        int pr, r, status;

        pr = pam_start("dwell", p->user, &conv, &pamh);
        if (pr != PAM_SUCCESS) {
                host_report_failure(control, -EIO, "PAM could not be started for %s", p->user);
                return EXIT_PAM;
        }
        (void) pam_set_item(pamh, PAM_RUSER, p->owner);       /* who asked for it */
        (void) pam_set_item(pamh, PAM_TTY, "dwell");
        /* No PAM_RHOST: modules such as pam_access decide on it, and the
         * session's origin is only what its client reported. */

        /* Classic login order: groups, credentials, session, then the worker. */
        if (initgroups(p->user, p->gid) < 0) {
                host_report_failure(control, -errno, "initgroups(%s) failed: %s", p->user, strerror(errno));
                pam_end(pamh, PAM_SYSTEM_ERR);
                return EXIT_PAM;
        }
        pr = pam_setcred(pamh, PAM_ESTABLISH_CRED);
        if (pr != PAM_SUCCESS)
                log_warning("pam_setcred(%s) failed, ignoring: %s", p->user, pam_strerror(pamh, pr));
        pr = pam_open_session(pamh, 0);
        if (pr != PAM_SUCCESS) {
                host_report_failure(control, -EPERM, "PAM refused to open a session for %s: %s",
                                    p->user, pam_strerror(pamh, pr));
                pam_setcred(pamh, PAM_DELETE_CRED | PAM_SILENT);
                pam_end(pamh, pr);
                return EXIT_PAM;
        }
        ps = (PamSession) { .pamh = pamh, .user = p->user, .open = true };
        r = build_env(p, pamh);
        if (r < 0) {
                host_report_failure(control, r, "Out of memory building the environment");
                status = EXIT_PAM;
                goto close_session;
        }
        r = listen_session_socket(p);
        if (r >= 0)
                r = write_info(p, spawn, NULL, false);
        if (r < 0) {
                host_report_failure(control, r, "Failed to create the session's files in %s/sessions", p->state_dir);
                remove_session_files(p, false);
                status = EXIT_PAM;
                goto close_session;
        }

        if (p->transcript && transcript_open(&transcript, p) < 0) {
                host_report_failure(control, -EIO, "Session %s: cannot write its transcript in %s", p->name,
                                    p->transcript_dir);
                remove_session_files(p, false);
                status = EXIT_PAM;
                goto close_session;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon) < 0) {
                host_report_failure(control, -errno, "socketpair failed: %s", strerror(errno));
                status = EXIT_WORKER;
                goto close_session;
        }
        /* Children are reaped through a signalfd; orphans of the session
         * come to us (child subreaper), so that none outlives it. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sigfd < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                host_report_failure(control, -errno, "Failed to watch the session's processes: %s", strerror(errno));
                status = EXIT_WORKER;
                goto close_session;
        }

        /* The worker, in a fresh image of its own (worker-exec.h). */
        r = worker_spawn(p, spawn, control, mon[1], &pid);
        if (r < 0) {
                status = EXIT_WORKER;
                goto close_session;
        }

        /* The monitor keeps nothing of the control connection. */
        control->fd = safe_close(control->fd);
        p->listen_fd = safe_close(p->listen_fd);
        mon[1] = safe_close(mon[1]);
        status = watch_worker(p, pid, TAKE_FD(mon[0]), sigfd, &transcript, &ps, reason, sizeof reason);
        end_leftovers();
        /* A worker that did not end cleanly leaves a Broken session:
         * kept, with this reason, for dwelld to report now or after its own
         * restart; unless dwelld is removing the session, or has already
         * deleted its info file. */
        removed = session_removed(p);
        if (status != 0 && !removed)
                (void) write_info(p, spawn, reason, true);
        remove_session_files(p, status != 0 && !removed);

close_session:
        safe_close(sigfd);
        transcript_close(&transcript);
        pam_session_close(&ps);
        pam_end(pamh, PAM_SUCCESS);
        return status;
}
