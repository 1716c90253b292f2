/* SPDX-License-Identifier: ISC */
/*
 * A session's life in dwelld: creating it (the spawn request for its
 * host), handing client connections over to its worker, the worker's
 * status frames, removal, and the end or death of its host.  Finding
 * sessions is session-lookup.c; re-adopting them after a restart is
 * session-adopt.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "parse-util.h"
#include "request.h"
#include "session.h"
#include "session-internal.h"
#include "spawner.h"
#include "strv.h"
#include "user-util.h"

static int on_host_io_cb(sd_event_source *src, int fd, uint32_t revents, void *userdata);
static void notify_waiters(Session *s, int error, const char *message);
static int on_monitor_exit_cb(sd_event_source *src, const siginfo_t *si, void *userdata);

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

Session *session_free(Session *s) {
        if (!s)
                return NULL;
        for (Request *r = s->manager->requests, *n; r; r = n) {
                n = r->next;
                if (r->session == s)
                        request_session_ended(r);
        }
        LIST_REMOVE(s->manager->sessions, s);
        s->manager->n_sessions--;
        sd_event_source_disable_unref(s->child_src);
        sd_event_source_disable_unref(s->kill_src);
        sd_event_source_disable_unref(s->pidfd_src);
        free(s->info_path);
        free(s->sock_path);
        free(s->removed_path);
        free(s->removed_by);
        sd_event_source_disable_unref(s->host_src);
        conn_done(&s->host);
        proto_session_done(&s->info);
        config_session_unref(s->config);
        strv_free(s->share_users);
        strv_free(s->share_groups);
        strv_free(s->observer_users);
        strv_free(s->observer_groups);
        free(s->broken_reason);
        free(s);
        return NULL;
}

void session_view(const Session *s, bool held_by_caller, struct proto_session *ret) {
        if (proto_session_copy(&s->info, ret) < 0) {
                *ret = (struct proto_session) { .id = s->info.id };
                return;
        }
        if (s->phase == PHASE_BROKEN || s->info.state == SESSION_BROKEN) {
                if (s->broken_reason) {
                        free(ret->reason);
                        ret->reason = strdup(s->broken_reason);
                }
                ret->state = SESSION_BROKEN;
                ret->availability = AVAILABILITY_NONE;
        } else if (held_by_caller) {
                ret->state = SESSION_OPENED;
                ret->availability = AVAILABILITY_AVAILABLE;
        } else {
                ret->state = SESSION_DISCONNECTED;
                ret->availability = *strempty(s->info.holder) ? AVAILABILITY_BUSY : AVAILABILITY_NONE;
        }
}

/* Ids count up from 1; until they wrap at 999999 every id in use is at
 * most last_id (adoption raises last_id too), so only then is the table
 * searched. */
uint32_t session_next_id(Manager *m) {
        uint32_t id = m->last_id;

        for (;;) {
                bool used = false;

                if (id >= 999999) {
                        id = 1;
                        m->ids_wrapped = true;
                } else
                        id++;
                for (Session *s = m->ids_wrapped ? m->sessions : NULL; s && !used; s = s->next)
                        used = s->info.id == id;
                if (!used)
                        return m->last_id = id;
        }
}

static int kv_addf(struct proto_kv *kv, const char *key, const char *fmt, ...) _printf_(3, 4);
static int kv_addf(struct proto_kv *kv, const char *key, const char *fmt, ...) {
        char v[64];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(v, sizeof v, fmt, ap);
        va_end(ap);
        return proto_kv_add(kv, key, v);
}

static int kv_add_strv(struct proto_kv *kv, const char *key, char **v) {
        _cleanup_free_ char *j = strv_join(v, "\n");
        return j ? proto_kv_add(kv, key, j) : -ENOMEM;
}

/* What the configuration says about the session's process. */
static int build_spawn_config(const SessionConfig *c, struct proto_kv *kv) {
        char key[64];
        int r = 0;

        r = r < 0 ? r : proto_kv_add(kv, "run_as", strempty(c->run_as));
        r = r < 0 ? r : proto_kv_add(kv, "shell", c->commands ? "" : c->shell);
        r = r < 0 ? r : kv_add_strv(kv, "commands", c->commands);
        if (c->capabilities_set)
                r = r < 0 ? r : kv_addf(kv, "capabilities", "0x%llx", (unsigned long long) c->capabilities);
        else
                r = r < 0 ? r : proto_kv_add(kv, "capabilities", "");
        r = r < 0 ? r : kv_addf(kv, "no_new_privileges", "%d", c->no_new_privileges);
        r = r < 0 ? r : proto_kv_add(kv, "working_directory", c->working_directory);
        if (c->umask_set)
                r = r < 0 ? r : kv_addf(kv, "umask", "%04o", (unsigned) c->umask);
        else
                r = r < 0 ? r : proto_kv_add(kv, "umask", "");
        r = r < 0 ? r : kv_addf(kv, "transcript", "%d", c->transcript);
        for (char **e = c->environment; r >= 0 && e && *e; e++) {
                _cleanup_free_ char *k = NULL;
                const char *eq = strchr(*e, '=');

                if (!eq)
                        continue;
                if (asprintf(&k, "env.%.*s", (int) (eq - *e), *e) < 0)
                        return -ENOMEM;
                r = proto_kv_add(kv, k, eq + 1);
        }
        for (int i = 0; r >= 0 && i < RLIM_NLIMITS; i++) {
                if (!c->limits[i].set || !config_limit_to_string(i))
                        continue;
                snprintf(key, sizeof key, "limit.%s", config_limit_to_string(i));
                if (c->limits[i].value == CONFIG_LIMIT_INFINITY)
                        r = proto_kv_add(kv, key, "infinity");
                else
                        r = kv_addf(kv, key, "%llu", (unsigned long long) c->limits[i].value);
        }
        if (r >= 0 && c->share_with_access) {
                r = kv_add_strv(kv, "share_users", c->access_users);
                r = r < 0 ? r : kv_add_strv(kv, "share_groups", c->access_groups);
        }
        if (r >= 0 && c->observer_users)
                r = kv_add_strv(kv, "observer_users", c->observer_users);
        if (r >= 0 && c->observer_groups)
                r = kv_add_strv(kv, "observer_groups", c->observer_groups);
        return r;
}

/* The SPAWN message: everything the host needs to set the session up. */
static int build_spawn(Session *s, const SessionParams *p, struct proto_kv *kv) {
        const struct proto_session *i = &s->info;
        int r = 0;

        r = r < 0 ? r : kv_addf(kv, "id", "%u", i->id);
        r = r < 0 ? r : proto_kv_add(kv, "instance_id", i->instance_id);
        r = r < 0 ? r : proto_kv_add(kv, "name", i->name);
        r = r < 0 ? r : proto_kv_add(kv, "host", i->host);
        r = r < 0 ? r : proto_kv_add(kv, "owner", p->owner->name);
        r = r < 0 ? r : kv_addf(kv, "owner_uid", "%u", (unsigned) p->owner->uid);
        r = r < 0 ? r : proto_kv_add(kv, "user", p->identity->name);
        r = r < 0 ? r : kv_addf(kv, "uid", "%u", (unsigned) p->identity->uid);
        r = r < 0 ? r : kv_addf(kv, "gid", "%u", (unsigned) p->identity->gid);
        r = r < 0 ? r : proto_kv_add(kv, "home", p->identity->home);
        r = r < 0 ? r : proto_kv_add(kv, "configuration", i->configuration);
        r = r < 0 ? r : kv_addf(kv, "idle_timeout", "%llu", (unsigned long long) i->idle_timeout);
        r = r < 0 ? r : kv_addf(kv, "max_idle_timeout", "%llu", (unsigned long long) s->max_idle_timeout);
        r = r < 0 ? r : proto_kv_add(kv, "buffering", buffering_to_string(i->buffering));
        r = r < 0 ? r : kv_addf(kv, "buffer_size", "%llu", (unsigned long long) i->buffer_size);
        r = r < 0 ? r : kv_addf(kv, "temporary", "%u", i->temporary);
        r = r < 0 ? r : kv_addf(kv, "created", "%llu", (unsigned long long) i->created);
        r = r < 0 ? r : kv_addf(kv, "heartbeat_ms", "%u", s->manager->heartbeat_ms);
        r = r < 0 ? r : proto_kv_add(kv, "origin", i->origin);
        r = r < 0 ? r : proto_kv_add(kv, "state_dir", s->manager->state_dir);
        r = r < 0 ? r : proto_kv_add(kv, "transcript_dir",
                                     s->manager->daemon.transcript_dir ? s->manager->daemon.transcript_dir : DWELL_LOGDIR);
        r = r < 0 ? r : build_spawn_config(p->config, kv);
        if (p->terminal) {
                r = r < 0 ? r : proto_kv_add(kv, "terminal", "1");
                r = r < 0 ? r : proto_kv_add(kv, "term", strempty(p->term));
                r = r < 0 ? r : kv_addf(kv, "rows", "%u", (unsigned) p->rows);
                r = r < 0 ? r : kv_addf(kv, "cols", "%u", (unsigned) p->cols);
                r = r < 0 ? r : kv_addf(kv, "scrollback", "%u", (unsigned) p->config->scrollback);
        }
        return r;
}

static int session_start_host(Session *s, const SessionParams *p) {
        Manager *m = s->manager;
        _cleanup_close_pair_ int pair[2] = { -EBADF, -EBADF };
        struct proto_kv kv = {};
        int r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        r = build_spawn(s, p, &kv);
        if (r >= 0)
                r = proto_put_kv(&s->host.out, PROTO_MSG_SPAWN, &kv);
        proto_kv_done(&kv);
        if (r < 0)
                return r;

        /* SPAWN goes into the socket first: the new host reads it at once. */
        (void) fd_nonblock(pair[0], true);
        s->host.fd = TAKE_FD(pair[0]);
        r = conn_flush(&s->host);
        if (r < 0)
                return r;
        r = spawner_fork(m, pair[1], &s->monitor_pid);
        if (r < 0)
                return r;
        r = sd_event_add_child(m->event, &s->child_src, s->monitor_pid, WEXITED, on_monitor_exit_cb, s);
        if (r < 0) {
                (void) kill(s->monitor_pid, SIGKILL);
                return r;
        }
        return session_watch_host(s, EPOLLIN | EPOLLOUT);
}

/* The session's files under STATE_DIR/sessions. */
int session_set_paths(Session *s) {
        const char *dir = s->manager->state_dir, *iid = s->info.instance_id;

        if (asprintf(&s->info_path, "%s/sessions/%s.info", dir, iid) < 0 ||
            asprintf(&s->sock_path, "%s/sessions/%s.sock", dir, iid) < 0 ||
            asprintf(&s->removed_path, "%s/sessions/%s.removed", dir, iid) < 0)
                return -ENOMEM;
        return 0;
}

/* A name of the owner's that no session of the owner has: "SessionN" by
 * default, "SessionN-2" and so on if the owner took that name himself. */
static int unused_name(Manager *m, uid_t owner, const char *base, char *buf, size_t size) {
        for (unsigned k = 1; k < 1000; k++) {
                if (k == 1)
                        snprintf(buf, size, "%.*s", 64, base);
                else
                        snprintf(buf, size, "%.*s-%u", 58, base, k);
                if (!session_find_own(m, owner, buf))
                        return 0;
        }
        return -EEXIST;
}

int session_create(Manager *m, const SessionParams *p, Session **ret) {
        const SessionConfig *c = p->config;
        sd_id128_t uuid;
        char uuid_s[SD_ID128_UUID_STRING_MAX], base[32], name[80];
        uint32_t id;
        Session *s;
        int r;

        r = sd_id128_randomize(&uuid);
        if (r < 0)
                return r;
        id = session_next_id(m);
        snprintf(base, sizeof base, "Session%u", id);
        if (p->name)
                snprintf(name, sizeof name, "%s", p->name);     /* request.c checked that it is free */
        else {
                r = unused_name(m, p->owner->uid, base, name, sizeof name);
                if (r < 0)
                        return r;
        }
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->owner_uid = p->owner->uid;
        s->config = config_session_ref(p->config);
        s->max_idle_timeout = c->max_idle_timeout;
        if (c->share_with_access) {
                s->share = true;
                s->share_users = strv_copy(c->access_users);
                s->share_groups = strv_copy(c->access_groups);
        }
        s->observer_users = strv_copy(c->observer_users);
        s->observer_groups = strv_copy(c->observer_groups);
        conn_init(&s->host, -EBADF, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);
        s->info = (struct proto_session) {
                .id = id,
                .instance_id = strdup(sd_id128_to_uuid_string(uuid, uuid_s)),
                .name = strdup(name),
                .host = strdup(m->hostname),
                .owner = strdup(p->owner->name),
                .run_as = strdup(strempty(c->run_as)),
                .configuration = strdup(c->name),
                .state = SESSION_DISCONNECTED,
                .availability = AVAILABILITY_NONE,
                .buffering = p->buffering,
                .temporary = p->temporary,
                .idle_timeout = p->idle_timeout,
                .buffer_size = c->output_buffer_size,
                .command = strdup(""),
                .last_command = strdup(""),
                .last_exit_status = -1,
                .created = realtime_usec(),
                .holder = strdup(""),
                .origin = strdup(strempty(p->origin)),
                .reason = strdup(""),
                .terminal = p->terminal,
        };
        LIST_PREPEND(m->sessions, s);
        m->n_sessions++;
        if (!s->info.instance_id || !s->info.name || !s->info.host || !s->info.owner || !s->info.run_as ||
            !s->info.configuration || !s->info.command || !s->info.holder || !s->info.origin || !s->info.reason ||
            session_set_paths(s) < 0) {
                session_free(s);
                return -ENOMEM;
        }

        r = session_start_host(s, p);
        if (r < 0) {
                log_error_errno(r, "Failed to start the host of session %u: %m", s->info.id);
                session_free(s);
                return r;
        }
        log_info("Session %u (%s) of %s starting (configuration %s%s%s), host pid %d", s->info.id,
                 s->info.name, s->info.owner, c->name, c->run_as ? ", as " : "", strempty(c->run_as),
                 (int) s->monitor_pid);
        *ret = s;
        return 0;
}

static void host_flush(Session *s) {
        int r = conn_flush(&s->host);

        if (r < 0) {
                log_debug_errno(r, "Control connection of session %u failed: %m", s->info.id);
                s->host_src = sd_event_source_disable_unref(s->host_src);
                return;
        }
        (void) sd_event_source_set_io_events(s->host_src, r == 0 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

int session_handoff(Session *s, int fd, const struct proto_handoff *h) {
        size_t start = s->host.out.size;
        int r;

        if (!s->host_src) {
                safe_close(fd);
                return -ENOTCONN;
        }
        r = proto_put_handoff(&s->host.out, h);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        r = conn_attach_fd(&s->host, start, fd);
        if (r < 0)
                return r;
        host_flush(s);
        return 0;
}

static int on_kill_timeout_cb(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;

        log_warning("Session %u did not end in time, killing its host", s->info.id);
        if (s->shell_pid > 0)
                (void) kill(-s->shell_pid, SIGKILL);
        (void) kill(-s->monitor_pid, SIGKILL);
        return 0;
}

/* A host that does not end within SESSION_KILL_TIMEOUT is killed.  Armed
 * once: an adopted session may have its timer already. */
void session_arm_kill_timeout(Session *s) {
        if (!s->kill_src)
                (void) sd_event_add_time_relative(s->manager->event, &s->kill_src, CLOCK_MONOTONIC,
                                                  SESSION_KILL_TIMEOUT, USEC_PER_SEC, on_kill_timeout_cb, s);
}

void session_audit_fields(const Session *s, AuditFields *ret) {
        *ret = (AuditFields) AUDIT_FIELDS_INIT;
        ret->session_id = s->info.id;
        ret->session_name = s->info.name;
        ret->instance_id = s->info.instance_id;
        ret->owner = s->info.owner;
        ret->run_as = s->info.run_as;
        ret->configuration = s->info.configuration;
        ret->origin = s->info.origin;
}

static void audit_removed(Session *s, const char *by) {
        AuditFields f;

        session_audit_fields(s, &f);
        f.caller = by;
        audit_log(AUDIT_SESSION_REMOVED, LOG_INFO, &f, "Session %u (%s) of %s removed by %s",
                  s->info.id, s->info.name, s->info.owner, by);
}

void session_audit_broken(Session *s, const char *reason) {
        AuditFields f;

        session_audit_fields(s, &f);
        f.reason = reason;
        audit_log(AUDIT_SESSION_BROKEN, LOG_WARNING, &f, "Session %u (%s) of %s is broken: %s",
                  s->info.id, s->info.name, s->info.owner, reason);
}

/* The removal is recorded in STATE_DIR/sessions/INSTANCE.removed (with
 * who removed it) before anything else happens: a dwelld that starts
 * finds it there and finishes the removal instead of re-adopting the
 * session, whatever the host did meanwhile; the monitor deletes every file
 * of a session removed so, even if its worker did not end cleanly. */
static int removal_record(Session *s, const char *by) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(by);

        if (asprintf(&dir, "%s/sessions", s->manager->state_dir) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(s->removed_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, by, n) != (ssize_t) n)
                return -EIO;
        return 0;
}

void session_delete_file(const char *path) {
        if (path && unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s: %m", path);
}

/* The info file goes first (without it nothing is re-adopted; the monitor
 * never creates it anew), the record of the removal last. */
void session_delete_files(Session *s) {
        session_delete_file(s->info_path);
        session_delete_file(s->sock_path);
        session_delete_file(s->removed_path);
}

int session_remove(Session *s, const char *by) {
        int r;

        if (!s->removed) {
                r = removal_record(s, by);
                if (r < 0)
                        /* Removed all the same; only a dwelld killed before
                         * the host has ended could bring it back. */
                        log_warning_errno(r, "Failed to record the removal of session %u in %s: %m",
                                          s->info.id, s->removed_path);
                s->removed = true;
                free(s->removed_by);
                s->removed_by = strdup(by);
                audit_removed(s, by);
        }
        switch (s->phase) {
        case PHASE_BROKEN:
                session_delete_files(s);
                session_free(s);
                return 0;
        case PHASE_STARTING:
                s->remove_when_ready = true;
                return 1;
        case PHASE_READY:
                /* If TERMINATE cannot go out, the kill timeout ends it. */
                r = proto_put_str_msg(&s->host.out, PROTO_MSG_TERMINATE, s->removed_by ? s->removed_by : by);
                if (r < 0)
                        log_warning_errno(r, "Failed to send TERMINATE to session %u: %m", s->info.id);
                else
                        host_flush(s);
                s->phase = PHASE_ENDING;
                session_arm_kill_timeout(s);
                return 1;
        case PHASE_ENDING:
        default:
                return 1;
        }
}

static void notify_waiters(Session *s, int error, const char *message) {
        for (Request *r = s->manager->requests, *n; r; r = n) {
                n = r->next;
                if (r->session != s)
                        continue;
                if (error < 0)
                        request_session_failed(r, proto_error_from_errno(error), message);
                else
                        request_session_ready(r);
        }
}

static int on_host_frame(Session *s, Frame *f) {
        struct proto_session st;
        _cleanup_free_ char *msg = NULL;
        uint32_t wpid, spid;
        int32_t e;
        int r;

        switch (f->type) {
        case PROTO_MSG_READY:
                if (s->phase == PHASE_READY) {
                        /* The worker restarted the session's shell (a
                         * command ended it): its new pid.  The worker's own
                         * pid cannot change. */
                        r = proto_get_ready(&f->payload, &wpid, &spid);
                        if (r < 0)
                                return r;
                        if ((pid_t) wpid != s->worker_pid || spid == 0)
                                return -EBADMSG;
                        s->shell_pid = (pid_t) spid;
                        return 0;
                }
                if (s->phase != PHASE_STARTING)
                        return -EBADMSG;
                r = proto_get_ready(&f->payload, &wpid, &spid);
                if (r < 0)
                        return r;
                s->worker_pid = (pid_t) wpid;
                s->shell_pid = (pid_t) spid;
                s->phase = PHASE_READY;
                if (s->adopted)
                        log_info("Session %u (%s) of %s re-adopted, worker pid %u", s->info.id, s->info.name,
                                 s->info.owner, wpid);
                else {
                        AuditFields af;

                        session_audit_fields(s, &af);
                        af.caller = s->info.owner;
                        audit_log(AUDIT_SESSION_CREATED, LOG_INFO, &af,
                                  "Session %u (%s) of %s created (configuration %s), worker pid %u", s->info.id,
                                  s->info.name, s->info.owner, s->info.configuration, wpid);
                }
                if (s->remove_when_ready)
                        (void) session_remove(s, s->removed_by ? s->removed_by : s->info.owner);
                notify_waiters(s, 0, NULL);
                return 0;
        case PROTO_MSG_FAILED:
                r = proto_get_failed(&f->payload, &e, &msg);
                if (r < 0)
                        return r;
                log_warning("Session %u (%s) of %s failed to start: %s", s->info.id, s->info.name,
                            s->info.owner, msg);
                free(s->broken_reason);
                s->broken_reason = TAKE_PTR(msg);
                /* Its monitor exits next; until then nobody sees it (the
                 * creator is told now, and may at once create it again). */
                if (s->phase == PHASE_STARTING && !s->adopted)
                        s->start_failed = true;
                notify_waiters(s, e < 0 ? e : -EIO, s->broken_reason);
                return 0;
        case PROTO_MSG_STATUS:
                r = proto_get_session(&f->payload, &st);
                if (r < 0)
                        return r;
                r = proto_expect_end(&f->payload);
                if (r < 0) {
                        proto_session_done(&st);
                        return r;
                }
                /* Identity stays dwelld's (the Id, and the name: adoption
                 * may have renamed a duplicate); the dynamic part comes
                 * from the worker. */
                st.id = s->info.id;
                free(st.name);
                st.name = TAKE_PTR(s->info.name);
                proto_session_done(&s->info);
                s->info = st;
                return 0;
        default:
                return -EBADMSG;
        }
}

static int on_host_io_cb(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Session *s = userdata;
        Frame f;
        int r;

        if (revents & EPOLLOUT)
                host_flush(s);
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        r = conn_fill(&s->host);
        if (r == -EAGAIN)
                return 0;
        if (r > 0) {
                while ((r = conn_next(&s->host, &f)) > 0) {
                        r = on_host_frame(s, &f);
                        conn_consume(&s->host, &f);
                        if (r < 0)
                                break;
                }
                if (r >= 0)
                        return 0;
                log_warning_errno(r, "Bad message from the host of session %u: %m", s->info.id);
        }
        /* EOF or error: the worker is gone or going; the monitor's exit decides. */
        s->host_src = sd_event_source_disable_unref(s->host_src);
        return 0;
}

/* The session host is gone: a normal end, or the session is now Broken. */
static void session_host_gone(Session *s, bool clean, const char *reason) {
        s->child_src = sd_event_source_disable_unref(s->child_src);
        s->pidfd_src = sd_event_source_disable_unref(s->pidfd_src);
        if (s->removed || s->phase == PHASE_ENDING || s->info.state == SESSION_CLOSED || clean) {
                log_info("Session %u (%s) of %s ended", s->info.id, s->info.name, s->info.owner);
                /* Whatever the monitor left (it keeps the info file of a
                 * worker that died): the session is gone, so are they. */
                session_delete_files(s);
                session_free(s);
                return;
        }
        if (s->phase == PHASE_STARTING && !s->adopted) {
                notify_waiters(s, -EIO, s->broken_reason ? s->broken_reason : reason);
                log_warning("Session %u (%s) failed to start: %s", s->info.id, s->info.name, reason);
                session_delete_files(s);
                session_free(s);
                return;
        }
        session_audit_broken(s, reason);
        s->phase = PHASE_BROKEN;
        if (!s->broken_reason)
                s->broken_reason = strdup(reason);
        s->host_src = sd_event_source_disable_unref(s->host_src);
        notify_waiters(s, -EIO, s->broken_reason);
}

static int on_monitor_exit_cb(sd_event_source *src, const siginfo_t *si, void *userdata) {
        Session *s = userdata;
        struct proto_kv kv = {};
        char reason[256];

        if (si->si_code == CLD_EXITED)
                snprintf(reason, sizeof reason, "session host exited with status %d", si->si_status);
        else
                snprintf(reason, sizeof reason, "session host killed by signal %s", strsignal(si->si_status));
        /* The monitor leaves a better reason in the session's info file. */
        if (!(si->si_code == CLD_EXITED && si->si_status == 0) && session_info_read(s->info_path, &kv) >= 0) {
                const char *b = proto_kv_get(&kv, "broken_reason");
                if (b)
                        snprintf(reason, sizeof reason, "%s", b);
        }
        proto_kv_done(&kv);
        session_host_gone(s, si->si_code == CLD_EXITED && si->si_status == 0, reason);
        return 0;
}

static int on_pidfd_cb(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        session_host_gone(userdata, false, "session host exited");
        return 0;
}

int session_watch_host(Session *s, uint32_t events) {
        return sd_event_add_io(s->manager->event, &s->host_src, s->host.fd, events, on_host_io_cb, s);
}

/* Takes pidfd, a pidfd of the session's monitor, which is not our child
 * (an adopted session): its exit ends the session as a child's would. */
void session_watch_monitor(Session *s, int pidfd) {
        if (pidfd >= 0 && sd_event_add_io(s->manager->event, &s->pidfd_src, pidfd, EPOLLIN, on_pidfd_cb, s) >= 0)
                (void) sd_event_source_set_io_fd_own(s->pidfd_src, true);
        else
                safe_close(pidfd);
}
