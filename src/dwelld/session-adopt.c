/* SPDX-License-Identifier: ISC */
/*
 * Re-adopting sessions after a restart of dwelld: every STATE_DIR/sessions/
 * ID.info file a session host wrote names a live (or dead) host; dwelld
 * reconnects to its socket, checks that root listens there, and lists the
 * session again (Broken if its host died meanwhile).  Removals the previous
 * dwelld did not finish are finished, and sessions that share an Id, or an
 * owner and a name, are renumbered or renamed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "session.h"
#include "session-internal.h"
#include "strv.h"
#include "user-util.h"

int session_info_read(const char *path, struct proto_kv *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        uint8_t *data;
        uint16_t type;
        uint8_t flags;
        uint32_t len;
        ssize_t n;
        Buf b;
        int r;

        if (fd < 0)
                return -errno;
        data = malloc(PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        if (!data)
                return -ENOMEM;
        n = read(fd, data, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        r = n < 0 ? -errno : proto_parse_header(data, (size_t) n, &type, &flags, &len);
        if (r >= 0 && (type != PROTO_MSG_SPAWN || (size_t) n != PROTO_HEADER_SIZE + len))
                r = -EBADMSG;
        if (r >= 0) {
                buf_init_view(&b, data + PROTO_HEADER_SIZE, len);
                r = proto_get_kv(&b, ret);
        }
        free(data);
        return r;
}

/* Connects to a live host's socket and checks that root listens there. */
static int adopt_connect(Session *s, const char *sock_path, pid_t monitor) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        pid_t pid;
        uid_t uid;
        int r;

        if (strlen(sock_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, sock_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        r = peer_cred(fd, &pid, &uid, NULL);
        if (r < 0)
                return r;
        if (uid != 0 || pid != monitor)
                return -EPERM;
        (void) fd_nonblock(fd, true);
        s->host.fd = TAKE_FD(fd);
        return session_watch_host(s, EPOLLIN);
}

/* Who removed the session whose removal record this is; NULL if there
 * is none. */
static char *removal_read(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char by[PROTO_MAX_NAME + 1];
        ssize_t n;

        if (fd < 0)
                return errno == ENOENT ? NULL : strdup("(unknown)");
        n = read(fd, by, sizeof by - 1);
        by[n > 0 ? n : 0] = 0;
        return strdup(n > 0 ? by : "(unknown)");
}

static void session_adopt(Manager *m, const char *dir, const char *base) {
        _cleanup_free_ char *info = NULL, *sock = NULL, *marker = NULL, *removed_by = NULL;
        struct proto_kv kv = {};
        uint64_t id, uid, gid, idle, size, temp, created, mpid, ouid;
        Session *s;
        const char *broken;
        int b, r;

        if (asprintf(&info, "%s/%s.info", dir, base) < 0 || asprintf(&sock, "%s/%s.sock", dir, base) < 0 ||
            asprintf(&marker, "%s/%s.removed", dir, base) < 0)
                return;
        /* A removal that the previous dwelld did not see to its end. */
        removed_by = removal_read(marker);
        r = session_info_read(info, &kv);
        if (r < 0 || proto_kv_get_u64(&kv, "id", &id) < 0 || proto_kv_get_u64(&kv, "uid", &uid) < 0 ||
            proto_kv_get_u64(&kv, "gid", &gid) < 0 || proto_kv_get_u64(&kv, "idle_timeout", &idle) < 0 ||
            proto_kv_get_u64(&kv, "buffer_size", &size) < 0 || proto_kv_get_u64(&kv, "temporary", &temp) < 0 ||
            proto_kv_get_u64(&kv, "created", &created) < 0 || proto_kv_get_u64(&kv, "monitor_pid", &mpid) < 0 ||
            id == 0 || id > UINT32_MAX || mpid == 0 || mpid > INT32_MAX) {
                proto_kv_done(&kv);
                if (removed_by) {
                        log_info("Deleting the files of removed session %s", base);
                        session_delete_file(info);
                        session_delete_file(sock);
                        session_delete_file(marker);
                } else
                        log_warning("Ignoring unreadable session file %s", info);
                return;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
                proto_kv_done(&kv);
                return;
        }
        b = buffering_from_string(proto_kv_get(&kv, "buffering"));
        s->manager = m;
        s->adopted = true;
        s->owner_uid = (uid_t) (proto_kv_get_u64(&kv, "owner_uid", &ouid) >= 0 ? ouid : uid);
        s->share = proto_kv_get(&kv, "share_users") != NULL;
        s->share_users = strv_split(proto_kv_get(&kv, "share_users"), '\n');
        s->share_groups = strv_split(proto_kv_get(&kv, "share_groups"), '\n');
        s->observer_users = strv_split(proto_kv_get(&kv, "observer_users"), '\n');
        s->observer_groups = strv_split(proto_kv_get(&kv, "observer_groups"), '\n');
        s->monitor_pid = (pid_t) mpid;
        if (proto_kv_get_u64(&kv, "max_idle_timeout", &s->max_idle_timeout) < 0)
                s->max_idle_timeout = CONFIG_DEFAULT_MAX_IDLE_TIMEOUT;
        s->removed = removed_by != NULL;
        s->removed_by = TAKE_PTR(removed_by);
        conn_init(&s->host, -EBADF, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);
        s->info = (struct proto_session) {
                .id = (uint32_t) id,
                .instance_id = strdup(base),
                .name = strdup(strempty(proto_kv_get(&kv, "name"))),
                .host = strdup(strempty(proto_kv_get(&kv, "host"))),
                .owner = strdup(strempty(proto_kv_get(&kv, "owner") ?: proto_kv_get(&kv, "user"))),
                .run_as = strdup(strempty(proto_kv_get(&kv, "run_as"))),
                .configuration = strdup(strempty(proto_kv_get(&kv, "configuration"))),
                .state = SESSION_DISCONNECTED,
                .availability = AVAILABILITY_NONE,
                .buffering = b > 0 ? (uint8_t) b : BUFFERING_BLOCK,
                .temporary = temp != 0,
                .idle_timeout = idle,
                .buffer_size = size,
                .command = strdup(""),
                .last_command = strdup(""),
                .last_exit_status = -1,
                .created = created,
                .holder = strdup(""),
                .origin = strdup(strempty(proto_kv_get(&kv, "origin"))),
                .reason = strdup(""),
        };
        broken = proto_kv_get(&kv, "broken_reason");
        if (broken)
                s->broken_reason = strdup(broken);
        proto_kv_done(&kv);
        LIST_PREPEND(m->sessions, s);
        m->n_sessions++;
        if (session_set_paths(s) < 0 || !s->info.name || !s->info.owner || !s->info.instance_id) {
                session_free(s);
                return;
        }
        if (s->info.id > m->last_id)
                m->last_id = s->info.id;

        if (!s->broken_reason) {
                r = adopt_connect(s, s->sock_path, s->monitor_pid);
                if (r < 0)
                        s->broken_reason = strdup("the session host died while dwelld was not running");
        }
        if (s->broken_reason && s->removed) {
                /* Its host is gone: deleting the info file ends it (the
                 * monitor never creates that file anew, monitor.c). */
                log_info("Session %u (%s) of %s was being removed by %s: its files are deleted now",
                         s->info.id, s->info.name, s->info.owner, s->removed_by);
                session_delete_files(s);
                session_free(s);
                return;
        }
        if (s->broken_reason) {
                s->phase = PHASE_BROKEN;
                session_audit_broken(s, s->broken_reason);
                return;
        }
        s->phase = PHASE_STARTING;      /* until the worker's READY */
        if (s->removed) {
                /* Not listed; TERMINATE goes out on READY, and the files
                 * are deleted when the host has ended; a host that does
                 * neither is killed (adopt_connect() checked its pid). */
                s->remove_when_ready = true;
                session_arm_kill_timeout(s);
                log_info("Session %u (%s) of %s was being removed by %s: ending it", s->info.id, s->info.name,
                         s->info.owner, s->removed_by);
        }
        session_watch_monitor(s, (int) syscall(SYS_pidfd_open, s->monitor_pid, 0));
        log_info("Re-adopting session %u (%s) of %s", s->info.id, s->info.name, s->info.owner);
}

/* Writes the session's Id and name into its info file (after adoption
 * renamed or renumbered it), so that the next dwelld adopts it as this one
 * did.  The file is replaced, never created: a session whose file is gone
 * is gone. */
static int info_update(Session *s) {
        _cleanup_free_ char *tmp = NULL;
        struct proto_kv kv = {}, out = {};
        char id[16];
        mode_t old;
        Buf b;
        int r;

        r = session_info_read(s->info_path, &kv);
        if (r < 0)
                return r;
        snprintf(id, sizeof id, "%u", s->info.id);
        for (size_t i = 0; r >= 0 && i < kv.n; i++)
                r = proto_kv_add(&out, kv.keys[i], streq(kv.keys[i], "id") ? id :
                                 streq(kv.keys[i], "name") ? s->info.name : kv.values[i]);
        proto_kv_done(&kv);
        buf_init(&b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        if (r >= 0)
                r = proto_put_kv(&b, PROTO_MSG_SPAWN, &out);
        proto_kv_done(&out);
        if (r >= 0 && asprintf(&tmp, "%s.dwelld", s->info_path) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                _cleanup_close_ int fd = -EBADF;

                old = umask(0077);
                fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
                umask(old);
                if (fd < 0)
                        r = -errno;
                else if (write(fd, buf_ptr(&b), buf_len(&b)) != (ssize_t) buf_len(&b))
                        r = -EIO;
                if (r >= 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, s->info_path, RENAME_EXCHANGE) < 0)
                        r = -errno;
                if (tmp)
                        (void) unlink(tmp);
        }
        buf_done(&b);
        return r;
}

/* Which of two adopted sessions keeps a name or an Id they share: a live
 * one before a Broken one, then the older one. */
static int cmp_precedence(const Session *a, const Session *b) {
        bool ab = a->phase == PHASE_BROKEN, bb = b->phase == PHASE_BROKEN;

        if (ab != bb)
                return ab ? 1 : -1;
        if (a->info.created != b->info.created)
                return a->info.created < b->info.created ? -1 : 1;
        return strcmp(a->info.instance_id, b->info.instance_id);
}

static int cmp_by_id(const void *x, const void *y) {
        const Session *a = *(Session *const *) x, *b = *(Session *const *) y;

        if (a->info.id != b->info.id)
                return a->info.id < b->info.id ? -1 : 1;
        return cmp_precedence(a, b);
}

static int cmp_by_owner_name(const void *x, const void *y) {
        const Session *a = *(Session *const *) x, *b = *(Session *const *) y;
        int c;

        if (a->owner_uid != b->owner_uid)
                return a->owner_uid < b->owner_uid ? -1 : 1;
        c = strcmp(a->info.name, b->info.name);
        return c != 0 ? c : cmp_precedence(a, b);
}

static void adopt_rename(Session *s, const char *taken_by) {
        char name[80];
        unsigned k;

        for (k = 1; k < 1000; k++) {
                if (k == 1)
                        snprintf(name, sizeof name, "%.*s-%u", 50, s->info.name, s->info.id);
                else
                        snprintf(name, sizeof name, "%.*s-%u.%u", 50, s->info.name, s->info.id, k);
                if (!session_find_own(s->manager, s->owner_uid, name))
                        break;
        }
        if (k == 1000)
                return;
        log_notice("Session %u of %s is named %s like session %s of the same owner; it is renamed %s",
                   s->info.id, s->info.owner, s->info.name, taken_by, name);
        free(s->info.name);
        s->info.name = strdup(name);
        if (!s->info.name)
                s->info.name = strdup("");
        if (info_update(s) < 0)
                log_warning("Failed to record the new name of session %u in %s", s->info.id, s->info_path);
}

/* Sessions an older dwelld left behind may share an Id, or an owner and a
 * name, with others: the one that comes second (cmp_precedence) gets a
 * new Id, or is renamed NAME-ID, so that Ids stay unique on the host and
 * names unique per owner. */
static void adopt_dedupe(Manager *m) {
        _cleanup_free_ Session **v = NULL;
        size_t n = 0;

        for (Session *s = m->sessions; s; s = s->next)
                n += session_listed(s);
        if (n < 2)
                return;
        v = calloc(n, sizeof *v);
        if (!v)
                return;
        n = 0;
        for (Session *s = m->sessions; s; s = s->next)
                if (session_listed(s))
                        v[n++] = s;

        qsort(v, n, sizeof *v, cmp_by_id);
        for (size_t i = 1, keep = 0; i < n; i++) {
                uint32_t old = v[i]->info.id;

                if (old != v[keep]->info.id) {
                        keep = i;
                        continue;
                }
                v[i]->info.id = session_next_id(m);
                log_notice("Session %s (%s) of %s has the Id %u of another session; it is now %u",
                           v[i]->info.instance_id, v[i]->info.name, v[i]->info.owner, old, v[i]->info.id);
                if (info_update(v[i]) < 0)
                        log_warning("Failed to record the new Id of session %u in %s", v[i]->info.id,
                                    v[i]->info_path);
        }

        qsort(v, n, sizeof *v, cmp_by_owner_name);
        for (size_t i = 1, keep = 0; i < n; i++) {
                char id[16];

                if (v[i]->owner_uid != v[keep]->owner_uid || !streq(v[i]->info.name, v[keep]->info.name)) {
                        keep = i;
                        continue;
                }
                snprintf(id, sizeof id, "%u", v[keep]->info.id);
                adopt_rename(v[i], id);
        }
}

int session_adopt_all(Manager *m) {
        _cleanup_free_ char *dir = NULL;
        struct dirent *de;
        DIR *d;

        if (asprintf(&dir, "%s/sessions", m->state_dir) < 0)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : log_warning_errno(errno, "Failed to open %s: %m", dir);
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                char base[128];

                if (l > 5 && l - 5 < sizeof base && streq(de->d_name + l - 5, ".info")) {
                        memcpy(base, de->d_name, l - 5);
                        base[l - 5] = 0;
                        session_adopt(m, dir, base);
                } else if (l > 8 && l - 8 < sizeof base && streq(de->d_name + l - 8, ".removed")) {
                        _cleanup_free_ char *info = NULL, *sock = NULL, *marker = NULL;

                        /* A removal finished but for its record: only the
                         * record, and maybe the socket, are left. */
                        memcpy(base, de->d_name, l - 8);
                        base[l - 8] = 0;
                        if (asprintf(&info, "%s/%s.info", dir, base) < 0 ||
                            asprintf(&sock, "%s/%s.sock", dir, base) < 0 ||
                            asprintf(&marker, "%s/%s.removed", dir, base) < 0)
                                continue;
                        if (access(info, F_OK) < 0 && errno == ENOENT) {
                                session_delete_file(sock);
                                session_delete_file(marker);
                        }
                }
        }
        closedir(d);
        adopt_dedupe(m);
        return 0;
}
