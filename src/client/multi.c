/* SPDX-License-Identifier: ISC */
/*
 * dwell -H HOST1,HOST2,... VERB (or -H @FILE): the verb on every host, in
 * parallel -- the fan-out.
 *
 * The parent forks one child per host (at most --throttle at a time); each
 * child sets arg_host and runs the single-host code path unchanged.  Its
 * stdout and stderr are pipes to the parent.  Results that must be merged
 * rather than copied travel on a third pipe, the result channel, as frames
 * of the wire protocol:
 *
 *   SESSION   a session the child would have printed (list, new, invoke -d)
 *   ERROR     an error the child would have printed (code and message)
 *   KV        facts about the host's run: "bytes", "dropped",
 *             "duration_usec" (receive), "unreachable" (ssh could not
 *             connect)
 *   END       u32 flags: 0x01 the listing was asked for with -l,
 *             0x02 it is a listing (a table header even when empty)
 *
 * What the parent makes of the children's output depends on the verb:
 *
 *   receive, wait  collected: each host's stdout (and stderr) is kept --
 *             in memory up to SPOOL_MEM_MAX bytes per host, beyond that in
 *             an unlinked temporary file -- and printed as one block under
 *             "==> HOST <==" when the host is done (stderr: under
 *             "==> HOST (stderr) <==" on stderr), in the order the hosts
 *             finish.  Then a summary table, one row per host in the order
 *             given: Host, Status (the exit status, "unreachable", the
 *             error code, or "not started"), and for receive Bytes,
 *             Dropped and Duration (from the first command's start to the
 *             last one's end among those received).  With --json, one
 *             JSON object per host per line instead, with the host's
 *             records (receive) or session results (wait) in it.  With
 *             --interleave (receive, without --json): the lines as they
 *             come, prefixed with "HOST: ", then the summary table.
 *   list, new, invoke -d  one table (one header; the Host column says where
 *             each session lives) or one JSON array: the session objects,
 *             and for each failed host an object {"host", "error",
 *             "message", "unreachable"}; new and invoke -d also give a
 *             failed host a row of its own, its State "unreachable" or the
 *             error code.
 *   others    each line prefixed with "HOST: " (stderr lines on stderr).
 *
 * Errors are printed as they come, as "HOST: dwell: MESSAGE" on stderr
 * (not with --json: they are in the results).  A host that cannot be
 * reached never stops the others.
 *
 * Exit status: the worst of the children's: 255 (a host unreachable,
 * dwell's own failure on a host, or a child killed) beats any command
 * status; otherwise the highest.  Interrupted (SIGINT, SIGTERM, SIGHUP):
 * no more hosts are started, the signal is passed on to those running
 * (SIGHUP as SIGTERM; a SIGINT from the terminal has reached them by
 * itself), and dwell exits 128+signal once they have ended.
 *
 * Prompts for --credential: the children share the terminal; a lock
 * (a record lock on a memory file the parent made) lets one child prompt at
 * a time, and the prompt names the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "parse-util.h"

#define LINE_MAX_BYTES (64u * 1024u)
#define RESULT_MAX (64u * 1024u * 1024u)
#define SPOOL_MEM_MAX (64u * 1024u)
#define END_F_LONG 0x01u
#define END_F_LISTING 0x02u
#define END_F_OWNER 0x04u

unsigned arg_throttle = 32;
int multi_result_fd = -EBADF;
const char *multi_label = NULL;
static int conv_lock_fd = -EBADF;

typedef struct LineBuf {
        char *data;
        size_t len;
} LineBuf;

/* A host's collected output: memory first, then an unlinked file. */
typedef struct Spool {
        char *mem;
        size_t len;
        int fd;
        uint64_t total;
        uint64_t end_of_line;   /* bytes up to and including the last newline */
} Spool;

typedef struct HostError {
        uint16_t code;
        char *message;
} HostError;

typedef struct Job {
        const char *host;
        pid_t pid;
        int fds[3];             /* stdout, stderr, result channel (read ends) */
        LineBuf lines[2];
        Spool spool[2];
        Buf result;
        int exit_status;
        bool started, finished;
        int64_t start_ms, end_ms;
        struct proto_session *sessions;
        size_t n_sessions;
        HostError *errors;
        size_t n_errors;
        uint32_t end_flags;
        bool unreachable;
        bool have_stats, have_duration;
        uint64_t bytes, dropped, duration_usec;
} Job;

typedef enum Collect {
        COLLECT_NONE,           /* lines prefixed with the host, as they come */
        COLLECT_BLOCKS,         /* a block per host when it is done */
        COLLECT_JSON,           /* a JSON object per host when it is done */
} Collect;

static Collect collect = COLLECT_NONE;
static bool summary = false;            /* receive and wait: the summary table */
static bool verb_is_receive = false;
static bool blocks_printed = false;
static volatile sig_atomic_t got_signal = 0;
static Job *sig_jobs = NULL;
static size_t sig_n_jobs = 0;

/* --- child side -------------------------------------------------------- */

static int result_send(Buf *b) {
        int r = loop_write(multi_result_fd, buf_ptr(b), buf_len(b));
        buf_done(b);
        return r;
}

int multi_send_error(uint16_t code, const char *message) {
        char cut[PROTO_MAX_TEXT + 1];
        Buf b;

        snprintf(cut, sizeof cut, "%s", message);
        buf_init(&b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        if (proto_put_error(&b, code, cut) < 0) {
                buf_done(&b);
                return -ENOMEM;
        }
        return result_send(&b);
}

static int send_kv(const char *const *kv, size_t n) {
        struct proto_kv k = {};
        Buf b;
        int r = 0;

        if (multi_result_fd < 0)
                return 0;
        for (size_t i = 0; r >= 0 && i + 1 < n; i += 2)
                r = proto_kv_add(&k, kv[i], kv[i + 1]);
        buf_init(&b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        if (r >= 0)
                r = proto_put_kv(&b, PROTO_MSG_KV, &k);
        proto_kv_done(&k);
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        return result_send(&b);
}

int multi_send_stats(uint64_t bytes, uint64_t dropped, int64_t duration_usec) {
        char b[32], d[32], u[32];
        const char *kv[] = { "bytes", b, "dropped", d, "duration_usec", u };

        snprintf(b, sizeof b, "%" PRIu64, bytes);
        snprintf(d, sizeof d, "%" PRIu64, dropped);
        snprintf(u, sizeof u, "%" PRIi64, duration_usec);
        return send_kv(kv, duration_usec >= 0 ? 6 : 4);
}

void multi_note_unreachable(void) {
        static const char *const kv[] = { "unreachable", "1" };

        (void) send_kv(kv, 2);
}

int multi_send_sessions(const struct proto_session *s, size_t n, TableFormat format, bool listing) {
        Buf b;
        int r;

        for (size_t i = 0; i < n; i++) {
                buf_init(&b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
                r = proto_put_session(&b, PROTO_MSG_SESSION, s + i);
                if (r < 0) {
                        buf_done(&b);
                        return r;
                }
                r = result_send(&b);
                if (r < 0)
                        return r;
        }
        buf_init(&b, PROTO_HEADER_SIZE + 4);
        r = proto_put_u32_msg(&b, PROTO_MSG_END, (format == TABLE_LONG ? END_F_LONG : 0) |
                              (format == TABLE_OWNER ? END_F_OWNER : 0) | (listing ? END_F_LISTING : 0));
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        return result_send(&b);
}

void multi_conv_lock(bool lock) {
        struct flock fl = { .l_type = lock ? F_WRLCK : F_UNLCK, .l_whence = SEEK_SET };

        if (conv_lock_fd < 0)
                return;
        while (fcntl(conv_lock_fd, F_SETLKW, &fl) < 0 && errno == EINTR)
                ;
}

/* --- spools ------------------------------------------------------------ */

static int spool_tmpfile(void) {
        const char *dir = getenv("TMPDIR");
        _cleanup_free_ char *path = NULL;
        int fd;

        if (!dir || dir[0] != '/')
                dir = "/tmp";
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
                return fd >= 0 ? fd : -errno;
        if (asprintf(&path, "%s/dwell-spool.XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        return fd;
}

static int spool_put(Spool *s, const char *p, size_t n) {
        int r;

        for (size_t i = n; i > 0; i--)
                if (p[i - 1] == '\n') {
                        s->end_of_line = s->total + i;
                        break;
                }
        s->total += n;
        if (s->fd < 0 && s->len + n <= SPOOL_MEM_MAX) {
                if (!s->mem && !(s->mem = malloc(SPOOL_MEM_MAX)))
                        return -ENOMEM;
                memcpy(s->mem + s->len, p, n);
                s->len += n;
                return 0;
        }
        if (s->fd < 0) {
                r = spool_tmpfile();
                if (r < 0)
                        return r;
                s->fd = r;
                r = loop_write(s->fd, s->mem, s->len);
                s->mem = mfree(s->mem);
                s->len = 0;
                if (r < 0)
                        return r;
        }
        return loop_write(s->fd, p, n);
}

static void spool_done(Spool *s) {
        s->mem = mfree(s->mem);
        s->fd = safe_close(s->fd);
}

/* Writes the first n bytes of the spool to fd; with commas, each newline
 * becomes a comma (JSON Lines into the items of an array). */
static int spool_copy(Spool *s, int fd, uint64_t n, bool commas) {
        char buf[65536];
        uint64_t off = 0;
        int r;

        while (off < n) {
                size_t want = (size_t) MIN((uint64_t) sizeof buf, n - off);
                ssize_t k;

                if (s->fd >= 0) {
                        k = pread(s->fd, buf, want, (off_t) off);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return k < 0 ? -errno : -EIO;
                } else {
                        memcpy(buf, s->mem + off, want);
                        k = (ssize_t) want;
                }
                if (commas)
                        for (ssize_t i = 0; i < k; i++)
                                if (buf[i] == '\n')
                                        buf[i] = ',';
                r = loop_write(fd, buf, (size_t) k);
                if (r < 0)
                        return r;
                off += (uint64_t) k;
        }
        return 0;
}

/* --- parent side ------------------------------------------------------- */

static void job_done(Job *j) {
        for (int k = 0; k < 3; k++)
                j->fds[k] = safe_close(j->fds[k]);
        for (int k = 0; k < 2; k++) {
                free(j->lines[k].data);
                j->lines[k].data = NULL;
                spool_done(j->spool + k);
        }
        buf_done(&j->result);
        session_array_free(j->sessions, j->n_sessions);
        j->sessions = NULL;
        j->n_sessions = 0;
        for (size_t i = 0; i < j->n_errors; i++)
                free(j->errors[i].message);
        free(j->errors);
        j->errors = NULL;
        j->n_errors = 0;
}

static int job_add_error(Job *j, uint16_t code, const char *message) {
        HostError *e = realloc(j->errors, (j->n_errors + 1) * sizeof *e);

        if (!e)
                return -ENOMEM;
        j->errors = e;
        e[j->n_errors].code = code == 0 || code >= _PROTO_ERR_MAX ? PROTO_ERR_UNAVAILABLE : code;
        e[j->n_errors].message = strdup(message);
        if (!e[j->n_errors].message)
                return -ENOMEM;
        j->n_errors++;
        if (!arg_json)
                fprintf(stderr, "%s: dwell: %s\n", j->host, message);
        return 0;
}

/* Writes "HOST: " and the line (with its newline) to fd. */
static void emit_line(const Job *j, int fd, const char *p, size_t n) {
        size_t hl = strlen(j->host);
        _cleanup_free_ char *out = malloc(hl + 2 + n + 1);

        if (!out)
                return;
        memcpy(out, j->host, hl);
        memcpy(out + hl, ": ", 2);
        memcpy(out + hl + 2, p, n);
        if (n == 0 || p[n - 1] != '\n')
                out[hl + 2 + n++] = '\n';
        (void) loop_write(fd, out, hl + 2 + n);
}

static void lines_feed(Job *j, int k, const char *p, size_t n, bool eof) {
        LineBuf *l = j->lines + k;
        int fd = k == 0 ? STDOUT_FILENO : STDERR_FILENO;
        size_t start = 0;

        if (!l->data && !(l->data = malloc(LINE_MAX_BYTES)))
                return;
        while (n > 0) {
                size_t take = MIN(n, LINE_MAX_BYTES - l->len);

                memcpy(l->data + l->len, p, take);
                l->len += take;
                p += take;
                n -= take;
                start = 0;
                for (size_t i = 0; i < l->len; i++)
                        if (l->data[i] == '\n') {
                                emit_line(j, fd, l->data + start, i + 1 - start);
                                start = i + 1;
                        }
                memmove(l->data, l->data + start, l->len - start);
                l->len -= start;
                if (l->len == LINE_MAX_BYTES) {
                        /* A very long line: out in pieces. */
                        emit_line(j, fd, l->data, l->len);
                        l->len = 0;
                }
        }
        if (eof && l->len > 0) {
                emit_line(j, fd, l->data, l->len);
                l->len = 0;
        }
}

static int session_append(Job *j, Buf *payload) {
        struct proto_session *a = realloc(j->sessions, (j->n_sessions + 1) * sizeof *a);

        if (!a)
                return -ENOMEM;
        j->sessions = a;
        if (proto_get_session(payload, a + j->n_sessions) < 0)
                return -EBADMSG;
        j->n_sessions++;
        return 0;
}

static int kv_apply(Job *j, Buf *payload) {
        struct proto_kv kv = {};
        uint64_t v;
        int r;

        r = proto_get_kv(payload, &kv);
        if (r < 0)
                return r;
        if (proto_kv_get(&kv, "unreachable"))
                j->unreachable = true;
        if (proto_kv_get_u64(&kv, "bytes", &v) >= 0) {
                j->have_stats = true;
                j->bytes = v;
        }
        if (proto_kv_get_u64(&kv, "dropped", &v) >= 0)
                j->dropped = v;
        if (proto_kv_get_u64(&kv, "duration_usec", &v) >= 0) {
                j->have_duration = true;
                j->duration_usec = v;
        }
        proto_kv_done(&kv);
        return 0;
}

/* Handles every whole frame in the result buffer. */
static int result_parse(Job *j) {
        for (;;) {
                uint16_t type;
                uint8_t flags;
                uint32_t len;
                Buf payload;
                int r;

                if (buf_len(&j->result) < PROTO_HEADER_SIZE)
                        return 0;
                r = proto_parse_header(buf_ptr(&j->result), buf_len(&j->result), &type, &flags, &len);
                if (r < 0)
                        return r;
                if (buf_len(&j->result) < PROTO_HEADER_SIZE + (size_t) len)
                        return 0;
                buf_init_view(&payload, buf_ptr(&j->result) + PROTO_HEADER_SIZE, len);
                switch (type) {
                case PROTO_MSG_SESSION:
                        r = session_append(j, &payload);
                        break;
                case PROTO_MSG_ERROR: {
                        _cleanup_free_ char *msg = NULL;
                        uint16_t code;

                        r = proto_get_error(&payload, &code, &msg);
                        if (r >= 0)
                                r = job_add_error(j, code, msg);
                        break;
                }
                case PROTO_MSG_KV:
                        r = kv_apply(j, &payload);
                        break;
                case PROTO_MSG_END:
                        r = proto_get_u32_msg(&payload, &j->end_flags);
                        break;
                default:
                        r = -EBADMSG;
                }
                if (r < 0)
                        return r;
                buf_consume(&j->result, PROTO_HEADER_SIZE + (size_t) len);
        }
}

static _noreturn_ void child_setup_failed(void) {
        _exit(EXIT_DWELL_FAILURE);
}

static void signals_default(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };

        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGHUP, &sa, NULL);
}

/* 1 in the parent, 0 in the child (which goes on to run the verb). */
static int job_start(Job *jobs, size_t n_jobs, Job *j) {
        int p[3][2] = { { -EBADF, -EBADF }, { -EBADF, -EBADF }, { -EBADF, -EBADF } };
        pid_t pid;
        int r;

        j->started = true;
        j->start_ms = clock_now_ms();
        for (int k = 0; k < 3; k++)
                if (pipe2(p[k], O_CLOEXEC) < 0) {
                        r = -errno;
                        for (int i = 0; i < k; i++) {
                                safe_close(p[i][0]);
                                safe_close(p[i][1]);
                        }
                        errno = -r;
                        goto fail;
                }
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                for (int k = 0; k < 3; k++) {
                        safe_close(p[k][0]);
                        safe_close(p[k][1]);
                }
                errno = -r;
                goto fail;
        }
        if (pid == 0) {
                /* The child keeps nothing of the parent's jobs (their fds,
                 * output lines and results): it goes on as a one-host client. */
                signals_default();
                ssh_share_forget();
                for (size_t i = 0; i < n_jobs; i++)
                        job_done(jobs + i);
                for (int k = 0; k < 3; k++)
                        safe_close(p[k][0]);
                if (dup2(p[0][1], STDOUT_FILENO) < 0 || dup2(p[1][1], STDERR_FILENO) < 0)
                        child_setup_failed();
                safe_close(p[0][1]);
                safe_close(p[1][1]);
                multi_result_fd = p[2][1];
                multi_label = j->host;
                arg_host = j->host;
                return 0;
        }
        for (int k = 0; k < 3; k++) {
                safe_close(p[k][1]);
                j->fds[k] = p[k][0];
        }
        j->pid = pid;
        return 1;
fail:
        j->finished = true;
        j->end_ms = clock_now_ms();
        j->exit_status = EXIT_DWELL_FAILURE;
        {
                char msg[256];
                snprintf(msg, sizeof msg, "failed to start a client for this host: %m");
                (void) job_add_error(j, PROTO_ERR_UNAVAILABLE, msg);
        }
        return 1;
}

static void job_read(Job *j, int k) {
        char buf[65536];
        ssize_t n = read(j->fds[k], buf, sizeof buf);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                if (k < 2)
                        lines_feed(j, k, "", 0, true);
                j->fds[k] = safe_close(j->fds[k]);
                return;
        }
        if (k < 2) {
                /* With --json only stdout is collected: stderr has notices. */
                if (collect != COLLECT_NONE && (k == 0 || collect == COLLECT_BLOCKS)) {
                        int r = spool_put(j->spool + k, buf, (size_t) n);

                        if (r < 0) {
                                char msg[256];

                                /* Closing makes the child stop; what it has not
                                 * written stays in the session. */
                                j->fds[k] = safe_close(j->fds[k]);
                                errno = -r;
                                snprintf(msg, sizeof msg, "failed to keep this host's output: %m");
                                (void) job_add_error(j, PROTO_ERR_UNAVAILABLE, msg);
                        }
                } else
                        lines_feed(j, k, buf, (size_t) n, false);
                return;
        }
        if (buf_len(&j->result) + (size_t) n > RESULT_MAX || buf_put(&j->result, buf, (size_t) n) < 0 ||
            result_parse(j) < 0) {
                /* A broken result channel: what we got so far stands. */
                j->fds[k] = safe_close(j->fds[k]);
                (void) job_add_error(j, PROTO_ERR_UNAVAILABLE, "malformed results from this host's client");
        }
}

static bool job_failed(const Job *j) {
        return j->n_errors > 0 || j->unreachable;
}

/* The Status column: the exit status, or what went wrong. */
static const char *job_status(const Job *j, char *buf, size_t size) {
        if (!j->started)
                return "not started";
        if (j->unreachable)
                return "unreachable";
        if (j->n_errors > 0)
                return proto_error_to_string(j->errors[0].code);
        snprintf(buf, size, "%d", j->exit_status);
        return buf;
}

static void print_json_usec(uint64_t usec) {
        json_print_seconds(stdout, usec);
}

/* One JSON object per host: the summary and its records (receive) or the
 * results of its sessions (wait). */
static void print_json_host(Job *j) {
        Spool *s = j->spool;
        int r = 0;

        fputs("{\"host\": ", stdout);
        json_print_string(stdout, j->host);
        if (!j->started || job_failed(j))
                fputs(", \"exit_status\": null", stdout);
        else
                printf(", \"exit_status\": %d", j->exit_status);
        if (verb_is_receive) {
                if (j->have_stats)
                        printf(", \"bytes\": %" PRIu64 ", \"dropped\": %" PRIu64, j->bytes, j->dropped);
                else
                        fputs(", \"bytes\": null, \"dropped\": null", stdout);
                fputs(", \"duration\": ", stdout);
                if (j->have_duration)
                        print_json_usec(j->duration_usec);
                else
                        fputs("null", stdout);
        }
        fputs(", \"elapsed\": ", stdout);
        if (j->started)
                print_json_usec((uint64_t) MAX(j->end_ms - j->start_ms, (int64_t) 0) * 1000);
        else
                fputs("null", stdout);
        printf(", \"unreachable\": %s, \"error\": ", j->unreachable ? "true" : "false");
        if (!j->started)
                fputs("\"not-started\", \"message\": \"not started (interrupted)\"", stdout);
        else if (j->n_errors > 0 || j->unreachable) {
                uint16_t code = j->n_errors > 0 ? j->errors[0].code : PROTO_ERR_UNAVAILABLE;

                printf("\"%s\", \"message\": ", proto_error_to_string(code));
                json_print_string(stdout, j->n_errors > 0 ? j->errors[0].message : "unreachable");
        } else
                fputs("null, \"message\": null", stdout);
        printf(", \"%s\": [", verb_is_receive ? "records" : "sessions");
        /* The child's JSON Lines, whole lines only (a child killed in the
         * middle of one leaves it out). */
        if (s->end_of_line > 0) {
                fflush(stdout);
                r = spool_copy(s, STDOUT_FILENO, s->end_of_line - 1, true);
        }
        fputs("]}\n", stdout);
        fflush(stdout);
        if (r < 0)
                (void) job_add_error(j, PROTO_ERR_UNAVAILABLE, "failed to print this host's records");
}

static void print_block(Job *j) {
        static const char *const what[2] = { "", " (stderr)" };

        for (int k = 0; k < 2; k++) {
                Spool *s = j->spool + k;
                FILE *f = k == 0 ? stdout : stderr;
                int fd = k == 0 ? STDOUT_FILENO : STDERR_FILENO;

                if (s->total == 0)
                        continue;
                fprintf(f, "%s==> %s%s <==\n", blocks_printed && k == 0 ? "\n" : "", j->host, what[k]);
                fflush(f);
                if (k == 0)
                        blocks_printed = true;
                if (spool_copy(s, fd, s->total, false) < 0)
                        continue;
                if (s->end_of_line != s->total)
                        (void) loop_write(fd, "\n", 1);
        }
}

static void job_finish(Job *j) {
        int status;

        while (waitpid(j->pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = EXIT_DWELL_FAILURE << 8;
                        break;
                }
        j->finished = true;
        j->end_ms = clock_now_ms();
        if (WIFEXITED(status))
                j->exit_status = WEXITSTATUS(status);
        else {
                char msg[64];

                snprintf(msg, sizeof msg, "client killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
                (void) job_add_error(j, PROTO_ERR_UNAVAILABLE, msg);
                j->exit_status = EXIT_DWELL_FAILURE;
        }
        if (j->unreachable)
                j->exit_status = EXIT_DWELL_FAILURE;
        if (collect == COLLECT_JSON)
                print_json_host(j);
        else if (collect == COLLECT_BLOCKS)
                print_block(j);
        for (int k = 0; k < 2; k++)
                spool_done(j->spool + k);
}

static bool job_running(const Job *j) {
        return j->started && !j->finished;
}

static void print_json_results(Job *jobs, size_t n_jobs, bool listing) {
        size_t count = 0;

        for (size_t i = 0; i < n_jobs; i++)
                count += jobs[i].n_sessions + jobs[i].n_errors;
        if (count == 0 && !listing)
                return;
        fputc('[', stdout);
        count = 0;
        for (size_t i = 0; i < n_jobs; i++) {
                for (size_t k = 0; k < jobs[i].n_sessions; k++) {
                        fputs(count++ == 0 ? "\n  " : ",\n  ", stdout);
                        json_print_session(stdout, jobs[i].sessions + k);
                }
                for (size_t k = 0; k < jobs[i].n_errors; k++) {
                        fputs(count++ == 0 ? "\n  " : ",\n  ", stdout);
                        fputs("{\"host\": ", stdout);
                        json_print_string(stdout, jobs[i].host);
                        printf(", \"error\": \"%s\", \"message\": ", proto_error_to_string(jobs[i].errors[k].code));
                        json_print_string(stdout, jobs[i].errors[k].message);
                        printf(", \"unreachable\": %s}", jobs[i].unreachable ? "true" : "false");
                }
        }
        fputs(count > 0 ? "\n]\n" : "]\n", stdout);
}

static int print_results(Job *jobs, size_t n_jobs, bool listing) {
        _cleanup_free_ struct proto_session *all = NULL;
        _cleanup_free_ TableFailure *failed = NULL;
        TableFormat format = TABLE_SHORT;
        size_t n = 0, n_failed = 0;
        bool any_sessions = false;

        for (size_t i = 0; i < n_jobs; i++) {
                n += jobs[i].n_sessions;
                if (jobs[i].end_flags & END_F_LONG)
                        format = TABLE_LONG;
                else if ((jobs[i].end_flags & END_F_OWNER) && format == TABLE_SHORT)
                        format = TABLE_OWNER;
                listing = listing || (jobs[i].end_flags & END_F_LISTING);
                any_sessions = any_sessions || jobs[i].n_sessions > 0;
        }
        if (arg_json) {
                print_json_results(jobs, n_jobs, listing);
                return 0;
        }
        if (n == 0 && !listing)
                return 0;
        /* A shallow copy: the strings stay owned by the jobs. */
        all = calloc(MAX(n, 1u), sizeof *all);
        failed = calloc(n_jobs, sizeof *failed);
        if (!all || !failed)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < n_jobs; i++) {
                for (size_t k = 0; k < jobs[i].n_sessions; k++)
                        all[n++] = jobs[i].sessions[k];
                /* new and invoke -d: one row per host, a failed one too. */
                if (!listing && any_sessions && jobs[i].n_sessions == 0 && job_failed(jobs + i))
                        failed[n_failed++] = (TableFailure) {
                                .host = jobs[i].host,
                                .state = jobs[i].unreachable ? "unreachable" :
                                         jobs[i].n_errors > 0 ? proto_error_to_string(jobs[i].errors[0].code) :
                                         "failed",
                        };
        }
        return print_table_failures(all, n, format, failed, n_failed);
}

static int print_summary(Job *jobs, size_t n_jobs) {
        static const char *const header[] = { "Host", "Status", "Bytes", "Dropped", "Duration" };
        _cleanup_(table_done) Table t = { .n_columns = verb_is_receive ? 5 : 3 };
        int r = 0;

        /* wait: Host, Status, and how long it took (Duration). */
        for (size_t i = 0; r >= 0 && i < t.n_columns; i++)
                r = table_add(&t, header[verb_is_receive ? i : i == 2 ? 4 : i], SIZE_MAX);
        for (size_t i = 0; r >= 0 && i < n_jobs; i++) {
                Job *j = jobs + i;
                char status[16], bytes[32] = "-", dropped[32] = "-", duration[64] = "-";

                if (verb_is_receive && j->have_stats) {
                        format_size(bytes, sizeof bytes, j->bytes);
                        format_size(dropped, sizeof dropped, j->dropped);
                }
                if (verb_is_receive ? j->have_duration : j->started) {
                        uint64_t usec = verb_is_receive ? j->duration_usec :
                                        (uint64_t) MAX(j->end_ms - j->start_ms, (int64_t) 0) * 1000;

                        /* Milliseconds; whole seconds from a minute on. */
                        usec -= usec % (usec >= 60 * USEC_PER_SEC ? USEC_PER_SEC : 1000);
                        format_duration(duration, sizeof duration, usec);
                }
                r = table_add(&t, j->host, SIZE_MAX);
                if (r >= 0)
                        r = table_add(&t, job_status(j, status, sizeof status), SIZE_MAX);
                if (r >= 0 && verb_is_receive) {
                        r = table_add(&t, bytes, SIZE_MAX);
                        if (r >= 0)
                                r = table_add(&t, dropped, SIZE_MAX);
                }
                if (r >= 0)
                        r = table_add(&t, duration, SIZE_MAX);
        }
        if (r < 0)
                return r;
        if (blocks_printed)
                fputc('\n', stdout);
        return table_print(&t, stdout);
}

static void on_signal(int sig, siginfo_t *si, void *ctx) {
        (void) ctx;
        got_signal = sig;
        /* Ctrl-C reached every process of the terminal's group by itself;
         * anything else is passed on, as a request to stop. */
        if (sig == SIGINT && si && si->si_code == SI_KERNEL)
                return;
        for (size_t i = 0; i < sig_n_jobs; i++)
                if (sig_jobs[i].started && !sig_jobs[i].finished && sig_jobs[i].pid > 0)
                        (void) kill(sig_jobs[i].pid, sig == SIGINT ? SIGINT : SIGTERM);
}

/* --help for the verb: shown once, not per host. */
static bool wants_help(int argc, char *argv[]) {
        for (int i = 1; i < argc && !streq(argv[i], "--"); i++)
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return true;
        return false;
}

int multi_run(char **hosts, size_t n_hosts, const char *verb, int argc, char *argv[], bool *ret_child) {
        _cleanup_free_ Job *jobs = NULL;
        struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
        size_t next = 0, running = 0;
        int worst = 0, r;

        if (wants_help(argc, argv)) {
                *ret_child = true;
                return 0;
        }
        if (streq(verb, "connect"))
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "connect is interactive and takes one host, not %zu", n_hosts);
        jobs = calloc(n_hosts, sizeof(Job));
        if (!jobs)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        for (size_t i = 0; i < n_hosts; i++) {
                RemoteHost h;

                r = remote_parse_host(hosts[i], &h);
                if (r < 0)
                        return r;
                jobs[i] = (Job) {
                        .host = hosts[i],
                        .fds = { -EBADF, -EBADF, -EBADF },
                        .spool = { { .fd = -EBADF }, { .fd = -EBADF } },
                };
                buf_init(&jobs[i].result, RESULT_MAX);
        }
        verb_is_receive = streq(verb, "receive");
        summary = verb_is_receive || streq(verb, "wait");
        if (summary)
                collect = arg_json ? COLLECT_JSON : arg_interleave && verb_is_receive ? COLLECT_NONE : COLLECT_BLOCKS;
        conv_lock_fd = memfd_create("dwell-conv-lock", MFD_CLOEXEC);

        /* Interrupted: no new hosts, the running ones told, then the end. */
        sig_jobs = jobs;
        sig_n_jobs = n_hosts;
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGHUP, &sa, NULL);

        for (;;) {
                struct pollfd *p;
                size_t np = 0;

                while (!got_signal && running < arg_throttle && next < n_hosts) {
                        Job *j = jobs + next++;

                        if (job_start(jobs, n_hosts, j) == 0) {
                                sig_jobs = NULL;
                                sig_n_jobs = 0;
                                *ret_child = true;      /* the child: run the verb */
                                return 0;
                        }
                        if (job_running(j))
                                running++;
                }
                if (running == 0)
                        break;

                p = calloc(running * 3, sizeof *p);
                if (!p)
                        return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
                for (size_t i = 0; i < n_hosts; i++)
                        for (int k = 0; job_running(jobs + i) && k < 3; k++)
                                p[np++] = (struct pollfd) { .fd = jobs[i].fds[k], .events = POLLIN };
                if (poll(p, np, -1) < 0) {
                        free(p);
                        if (errno == EINTR)
                                continue;
                        return client_error(-errno, PROTO_ERR_UNAVAILABLE, "poll failed: %m");
                }
                np = 0;
                for (size_t i = 0; i < n_hosts; i++) {
                        Job *j = jobs + i;

                        if (!job_running(j))
                                continue;
                        for (int k = 0; k < 3; k++, np++)
                                if (p[np].fd >= 0 && p[np].revents)
                                        job_read(j, k);
                        if (j->fds[0] < 0 && j->fds[1] < 0 && j->fds[2] < 0) {
                                job_finish(j);
                                running--;
                        }
                }
                free(p);
        }
        sig_jobs = NULL;
        sig_n_jobs = 0;

        for (size_t i = 0; i < n_hosts; i++) {
                int s = jobs[i].started ? jobs[i].exit_status : EXIT_DWELL_FAILURE;

                if (s == EXIT_DWELL_FAILURE || worst == EXIT_DWELL_FAILURE)
                        worst = EXIT_DWELL_FAILURE;
                else
                        worst = MAX(worst, s);
        }
        if (summary && collect != COLLECT_JSON)
                r = print_summary(jobs, n_hosts);
        else if (collect == COLLECT_JSON) {
                /* The hosts never started (interrupted) have their object too. */
                for (size_t i = 0; i < n_hosts; i++)
                        if (!jobs[i].started)
                                print_json_host(jobs + i);
                r = 0;
        } else
                r = print_results(jobs, n_hosts, streq(verb, "list"));
        for (size_t i = 0; i < n_hosts; i++)
                job_done(jobs + i);
        conv_lock_fd = safe_close(conv_lock_fd);
        if (r < 0)
                return client_error(r, PROTO_ERR_UNAVAILABLE, "failed to print the results: %m");
        if (got_signal)
                return 128 + got_signal;
        return worst;
}
