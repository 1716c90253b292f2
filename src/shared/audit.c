/* SPDX-License-Identifier: ISC */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "conn.h"
#include "escape.h"
#include "log.h"

static const struct {
        const char *name;
        const char *id;
} events[_AUDIT_EVENT_MAX] = {
        [AUDIT_AUTH_SUCCEEDED] = { "auth-succeeded", "961601c894b14b238e61963b0c371a51" },
        [AUDIT_AUTH_FAILED] = { "auth-failed", "55e30e35c0bb45508fff620d09ca1a91" },
        [AUDIT_ACCESS_DENIED] = { "access-denied", "337a9f6a52cd4c9686cd6c44e19d7c6b" },
        [AUDIT_SESSION_CREATED] = { "session-created", "f6a936fc42324a5bb1445f9b04987d22" },
        [AUDIT_SESSION_CONNECTED] = { "session-connected", "3662d13040424c529a3cbfddb2c22130" },
        [AUDIT_SESSION_DISCONNECTED] = { "session-disconnected", "82eff6e1b7384187b2ad2334dcb82744" },
        [AUDIT_COMMAND_STARTED] = { "command-started", "00fa5ba85dc14559b9590c280bacbef4" },
        [AUDIT_COMMAND_FINISHED] = { "command-finished", "131954ffc48c4a119e72dc2443030b4a" },
        [AUDIT_COMMAND_REFUSED] = { "command-refused", "c4ee3eebb6d548a88b59711e1ff606f9" },
        [AUDIT_OUTPUT_DROPPED] = { "output-dropped", "7655a39ebb1043fe8dba2d073fb6d032" },
        [AUDIT_IDLE_TIMEOUT] = { "idle-timeout", "40190c1b304040ffab2fd0a1832b58cc" },
        [AUDIT_SESSION_REMOVED] = { "session-removed", "c6fd2c16c17f493d87213d1401c44beb" },
        [AUDIT_SESSION_BROKEN] = { "session-broken", "b033e1740b164f2e8c691f9e4364f2af" },
        [AUDIT_CONFIG_LOADED] = { "config-loaded", "f9ca854b3fa04a039786b87673e89709" },
        [AUDIT_CONFIG_REJECTED] = { "config-rejected", "acc7d9d4d2904f5e848682c4e1de93c5" },
        [AUDIT_ADMIN_LIST] = { "admin-list", "dadc941e47ac4d9393425b4d619fc5f8" },
        [AUDIT_HOOK_FINISHED] = { "hook-finished", "0f5c7482f0fa45b1a2378ed4a57eb6ee" },
        [AUDIT_COMMAND_STOPPED] = { "command-stopped", "ef1bf3b3729643869f83dc5efe66f520" },
        [AUDIT_SESSION_ENDED] = { "session-ended", "5b0e6f2d8c3a4e1f9a7d2c6b4e8f1a03" },
        [AUDIT_SESSION_WATCHED] = { "session-watched", "75d8032403da415494c98295f56464ec" },
};

const char *audit_event_to_string(AuditEvent e) {
        return e >= 0 && e < _AUDIT_EVENT_MAX ? events[e].name : NULL;
}

AuditEvent audit_event_from_string(const char *s) {
        for (int i = 0; s && i < _AUDIT_EVENT_MAX; i++)
                if (streq(events[i].name, s))
                        return (AuditEvent) i;
        return _AUDIT_EVENT_INVALID;
}

const char *audit_event_message_id(AuditEvent e) {
        return e >= 0 && e < _AUDIT_EVENT_MAX ? events[e].id : NULL;
}

/* An event's DWELL_* fields as key and value; numbers are formatted into num. */
typedef struct Pair {
        const char *key;
        const char *value;
        char num[24];
} Pair;

#define MAX_PAIRS AUDIT_FIELDS_MAX

static void pair_str(Pair *p, size_t *n, const char *key, const char *value) {
        if (value && *value && *n < MAX_PAIRS)
                p[(*n)++] = (Pair) { .key = key, .value = value };
}

static void pair_num(Pair *p, size_t *n, const char *key, int64_t value) {
        if (*n >= MAX_PAIRS)
                return;
        p[*n] = (Pair) { .key = key };
        snprintf(p[*n].num, sizeof p[*n].num, "%" PRIi64, value);
        p[*n].value = p[*n].num;
        (*n)++;
}

static size_t collect(const AuditFields *a, Pair p[static MAX_PAIRS]) {
        size_t n = 0;

        if (a->session_id)
                pair_num(p, &n, "DWELL_SESSION_ID", a->session_id);
        pair_str(p, &n, "DWELL_SESSION_NAME", a->session_name);
        pair_str(p, &n, "DWELL_INSTANCE_ID", a->instance_id);
        pair_str(p, &n, "DWELL_OWNER", a->owner);
        pair_str(p, &n, "DWELL_CALLER", a->caller);
        if (a->caller_pid > 0)
                pair_num(p, &n, "DWELL_CALLER_PID", a->caller_pid);
        pair_str(p, &n, "DWELL_RUN_AS", a->run_as);
        pair_str(p, &n, "DWELL_CONFIGURATION", a->configuration);
        pair_str(p, &n, "DWELL_ORIGIN", a->origin);
        if (a->command_id)
                pair_num(p, &n, "DWELL_COMMAND_ID", a->command_id);
        pair_str(p, &n, "DWELL_COMMAND", a->command);
        if (a->exit_status >= 0)
                pair_num(p, &n, "DWELL_EXIT_STATUS", a->exit_status);
        pair_str(p, &n, "DWELL_EXIT_STATUS_SOURCE", a->status_source);
        if (a->started_usec > 0)
                pair_num(p, &n, "DWELL_STARTED_USEC", (int64_t) a->started_usec);
        if (a->duration_usec >= 0)
                pair_num(p, &n, "DWELL_DURATION_USEC", a->duration_usec);
        if (a->bytes >= 0)
                pair_num(p, &n, "DWELL_BYTES", a->bytes);
        pair_str(p, &n, "DWELL_REASON", a->reason);
        pair_str(p, &n, "DWELL_FILE", a->file);
        return n;
}

/* ---------------------------------------------------------- one line */

/* A value written as it is: printable ASCII without space, quote or backslash. */
static bool plain_value(const char *v, size_t n) {
        if (n == 0 || n > AUDIT_LINE_VALUE_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) v[i];

                if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
                        return false;
        }
        return true;
}

typedef struct Line {
        char *p;
        size_t n, size;
} Line;

static void line_put(Line *l, const char *s, size_t n) {
        n = MIN(n, l->size - 1 - l->n);
        memcpy(l->p + l->n, s, n);
        l->n += n;
        l->p[l->n] = 0;
}

static void line_puts(Line *l, const char *s) {
        line_put(l, s, strlen(s));
}

/* At most max escaped bytes of s, then the cut mark if it did not all fit. */
static void line_put_escaped(Line *l, const char *s, size_t max, EscapeFlags flags) {
        size_t n = strlen(s), consumed, room = MIN(max, l->size - 1 - l->n);

        l->n += escape_buf(l->p + l->n, room + 1, s, n, flags, &consumed);
        if (consumed < n)
                line_puts(l, ESCAPE_CUT);
}

int audit_format_line(AuditEvent e, const AuditFields *a, const char *message, char **ret) {
        AuditFields none = AUDIT_FIELDS_INIT;
        Pair p[MAX_PAIRS];
        size_t n;
        Line l;

        if (e < 0 || e >= _AUDIT_EVENT_MAX)
                return -EINVAL;
        l = (Line) { .size = AUDIT_LINE_MAX + 1 };
        l.p = malloc(l.size);
        if (!l.p)
                return -ENOMEM;
        l.p[0] = 0;
        line_puts(&l, "AUDIT ");
        line_puts(&l, events[e].name);
        line_puts(&l, ":");
        n = collect(a ? a : &none, p);
        for (size_t i = 0; i < n; i++) {
                line_puts(&l, " ");
                line_puts(&l, p[i].key);
                line_puts(&l, "=");
                if (plain_value(p[i].value, strlen(p[i].value)))
                        line_puts(&l, p[i].value);
                else {
                        line_puts(&l, "\"");
                        line_put_escaped(&l, p[i].value, AUDIT_LINE_VALUE_MAX, ESCAPE_QUOTE);
                        line_puts(&l, "\"");
                }
        }
        line_puts(&l, " -- ");
        line_put_escaped(&l, strempty(message), AUDIT_LINE_MESSAGE_MAX, 0);
        *ret = l.p;
        return 0;
}

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Checked per event (one access()): journald may come and go while the
 * long-lived processes that write events keep running. */
static int journal_available(void) {
        return access(JOURNAL_SOCKET, W_OK) == 0;
}

/* One entry in journald's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL):
 * "KEY=value\n" per field, or for a value holding a newline "KEY\n", its
 * length as a little-endian u64, the value and "\n".  Returns the
 * serialized entry (malloc'd) and its size in *ret_size, or NULL. */
static char *journal_serialize(const struct iovec *iov, size_t n, size_t *ret_size) {
        size_t size = 0, o = 0;
        char *buf;

        for (size_t i = 0; i < n; i++)
                size += iov[i].iov_len + 1 + sizeof(uint64_t);
        buf = malloc(size);
        if (!buf)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const char *field = iov[i].iov_base, *eq = memchr(field, '=', iov[i].iov_len);
                size_t klen = eq ? (size_t) (eq - field) : iov[i].iov_len;
                size_t vlen = eq ? iov[i].iov_len - klen - 1 : 0;

                if (!eq || !memchr(eq + 1, '\n', vlen)) {
                        memcpy(buf + o, field, iov[i].iov_len);
                        o += iov[i].iov_len;
                } else {
                        uint64_t le = htole64((uint64_t) vlen);

                        memcpy(buf + o, field, klen);
                        o += klen;
                        buf[o++] = '\n';
                        memcpy(buf + o, &le, sizeof le);
                        o += sizeof le;
                        memcpy(buf + o, eq + 1, vlen);
                        o += vlen;
                }
                buf[o++] = '\n';
        }
        *ret_size = o;
        return buf;
}

/* An entry too large for one datagram goes in a sealed memfd instead. */
static int journal_send_memfd(int sock, const struct sockaddr_un *sa, socklen_t salen, const char *data, size_t size) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = {
                .msg_name = (void *) sa,
                .msg_namelen = salen,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        struct cmsghdr *cmsg;
        int fd, r = 0;

        fd = memfd_create("dwell-audit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, data, size);
        if (r < 0)
                goto out;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                r = -errno;
                goto out;
        }
        cmsg = CMSG_FIRSTHDR(&mh);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
                r = -errno;
out:
        safe_close(fd);
        return r;
}

static int journal_sendv(const struct iovec *iov, size_t n) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        socklen_t salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + sizeof JOURNAL_SOCKET);
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int sock = -EBADF;
        size_t size;

        data = journal_serialize(iov, n, &size);
        if (!data)
                return -ENOMEM;
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return -errno;
        if (sendto(sock, data, size, MSG_NOSIGNAL, (const struct sockaddr *) &sa, salen) >= 0)
                return 0;
        if (errno != EMSGSIZE && errno != ENOBUFS)
                return -errno;
        return journal_send_memfd(sock, &sa, salen, data, size);
}

static void to_stderr(AuditEvent e, const AuditFields *a, const char *message) {
        _cleanup_free_ char *line = NULL;

        if (audit_format_line(e, a, message, &line) >= 0)
                log_line(LOG_INFO, line);
}

void audit_log(AuditEvent e, int priority, const AuditFields *a, const char *fmt, ...) {
        AuditFields none = AUDIT_FIELDS_INIT;
        _cleanup_free_ char *message = NULL, *escaped = NULL;
        char *fields[MAX_PAIRS + 4] = {};
        struct iovec iov[MAX_PAIRS + 4];
        size_t n = 0, len;
        Pair p[MAX_PAIRS];
        va_list ap;

        if (e < 0 || e >= _AUDIT_EVENT_MAX)
                return;
        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        if (!a)
                a = &none;

        if (!journal_available()) {
                to_stderr(e, a, strempty(message));
                return;
        }
        /* The DWELL_* fields carry the values exactly (the journal keeps
         * any byte); MESSAGE, for people, is one line of text. */
        len = escape_len(strempty(message), strlen(strempty(message)), 0);
        escaped = malloc(len + 1);
        if (escaped)
                escape_buf(escaped, len + 1, strempty(message), strlen(strempty(message)), 0, NULL);
        for (size_t i = 0, k = collect(a, p); i < k; i++)
                if (asprintf(&fields[n], "%s=%s", p[i].key, p[i].value) >= 0)
                        n++;
        if (asprintf(&fields[n], "MESSAGE_ID=%s", events[e].id) >= 0)
                n++;
        if (asprintf(&fields[n], "PRIORITY=%d", priority) >= 0)
                n++;
        if (asprintf(&fields[n], "DWELL_EVENT=%s", events[e].name) >= 0)
                n++;
        if (asprintf(&fields[n], "MESSAGE=%s", strempty(escaped)) >= 0)
                n++;
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec) { .iov_base = fields[i], .iov_len = strlen(fields[i]) };
        if (journal_sendv(iov, n) < 0)
                to_stderr(e, a, strempty(message));
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
}
