/* SPDX-License-Identifier: ISC */
/*
 * dwell -H HOST1,HOST2,... VERB: the verb on every host, in parallel.
 *
 * The parent forks one child per host (at most --throttle at a time); each
 * child sets arg_host and runs the single-host code path unchanged.  Its
 * stdout and stderr are pipes to the parent, which writes each line out
 * prefixed with "HOST: " (stderr lines on stderr).  Results that must be
 * merged rather than prefixed travel on a third pipe, the result channel,
 * as frames of the wire protocol:
 *
 *   SESSION   a session the child would have printed (list, new, invoke -d)
 *   ERROR     an error the child would have printed (code and message)
 *   END       u32 flags: 0x01 the listing was asked for with -l,
 *             0x02 it is a listing (a table header even when empty)
 *
 * At the end the parent prints one table (one header; the Host column says
 * where each session lives) or one JSON array: the session objects, and
 * for each failed host an object {"host", "error", "message"}.  Without
 * --json, errors are printed as they come, as "HOST: dwell: MESSAGE".
 *
 * Exit status: the worst of the children's: 255 (dwell's own failure on a
 * host, or a child killed) beats any command status; otherwise the
 * highest.
 *
 * Prompts for --credential: the children share the terminal; a lock
 * (a record lock on a memory file the parent made) lets one child prompt at
 * a time, and the prompt names the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"

#define LINE_MAX_BYTES (64u * 1024u)
#define RESULT_MAX (64u * 1024u * 1024u)
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

typedef struct HostError {
        uint16_t code;
        char *message;
} HostError;

typedef struct Job {
        const char *host;
        pid_t pid;
        int fds[3];             /* stdout, stderr, result channel (read ends) */
        LineBuf lines[2];
        Buf result;
        int exit_status;
        bool started, finished;
        struct proto_session *sessions;
        size_t n_sessions;
        HostError *errors;
        size_t n_errors;
        uint32_t end_flags;
} Job;

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

/* --- parent side ------------------------------------------------------- */

static void job_done(Job *j) {
        for (int k = 0; k < 3; k++)
                j->fds[k] = safe_close(j->fds[k]);
        for (int k = 0; k < 2; k++)
                free(j->lines[k].data);
        buf_done(&j->result);
        session_array_free(j->sessions, j->n_sessions);
        for (size_t i = 0; i < j->n_errors; i++)
                free(j->errors[i].message);
        free(j->errors);
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

/* 1 in the parent, 0 in the child (which goes on to run the verb). */
static int job_start(Job *jobs, size_t n_jobs, Job *j) {
        int p[3][2] = { { -EBADF, -EBADF }, { -EBADF, -EBADF }, { -EBADF, -EBADF } };
        pid_t pid;
        int r;

        j->started = true;
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

static void job_finish(Job *j) {
        int status;

        while (waitpid(j->pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = EXIT_DWELL_FAILURE << 8;
                        break;
                }
        j->finished = true;
        if (WIFEXITED(status))
                j->exit_status = WEXITSTATUS(status);
        else {
                char msg[64];

                snprintf(msg, sizeof msg, "client killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
                (void) job_add_error(j, PROTO_ERR_UNAVAILABLE, msg);
                j->exit_status = EXIT_DWELL_FAILURE;
        }
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
                        fputc('}', stdout);
                }
        }
        fputs(count > 0 ? "\n]\n" : "]\n", stdout);
}

static int print_results(Job *jobs, size_t n_jobs, bool listing) {
        _cleanup_free_ struct proto_session *all = NULL;
        TableFormat format = TABLE_SHORT;
        size_t n = 0;

        for (size_t i = 0; i < n_jobs; i++) {
                n += jobs[i].n_sessions;
                if (jobs[i].end_flags & END_F_LONG)
                        format = TABLE_LONG;
                else if ((jobs[i].end_flags & END_F_OWNER) && format == TABLE_SHORT)
                        format = TABLE_OWNER;
                listing = listing || (jobs[i].end_flags & END_F_LISTING);
        }
        if (arg_json) {
                print_json_results(jobs, n_jobs, listing);
                return 0;
        }
        if (n == 0 && !listing)
                return 0;
        /* A shallow copy: the strings stay owned by the jobs. */
        all = calloc(MAX(n, 1u), sizeof *all);
        if (!all)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < n_jobs; i++)
                for (size_t k = 0; k < jobs[i].n_sessions; k++)
                        all[n++] = jobs[i].sessions[k];
        return print_table(all, n, format);
}

int multi_run(char **hosts, size_t n_hosts, const char *verb, bool *ret_child) {
        _cleanup_free_ Job *jobs = calloc(n_hosts, sizeof(Job));
        size_t next = 0, running = 0;
        int worst = 0, r;

        if (!jobs)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        if (streq(verb, "connect"))
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "connect is interactive and takes one host, not %zu", n_hosts);
        for (size_t i = 0; i < n_hosts; i++) {
                RemoteHost h;

                r = remote_parse_host(hosts[i], &h);
                if (r < 0)
                        return r;
                jobs[i] = (Job) { .host = hosts[i], .fds = { -EBADF, -EBADF, -EBADF } };
                buf_init(&jobs[i].result, RESULT_MAX);
        }
        conv_lock_fd = memfd_create("dwell-conv-lock", MFD_CLOEXEC);

        for (;;) {
                struct pollfd *p;
                size_t np = 0;

                while (running < arg_throttle && next < n_hosts) {
                        Job *j = jobs + next++;

                        if (job_start(jobs, n_hosts, j) == 0) {
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
                if (poll(p, np, -1) < 0 && errno != EINTR) {
                        free(p);
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

        for (size_t i = 0; i < n_hosts; i++) {
                int s = jobs[i].exit_status;

                if (s == EXIT_DWELL_FAILURE || worst == EXIT_DWELL_FAILURE)
                        worst = EXIT_DWELL_FAILURE;
                else
                        worst = MAX(worst, s);
        }
        r = print_results(jobs, n_hosts, streq(verb, "list"));
        for (size_t i = 0; i < n_hosts; i++)
                job_done(jobs + i);
        conv_lock_fd = safe_close(conv_lock_fd);
        if (r < 0)
                return client_error(r, PROTO_ERR_UNAVAILABLE, "failed to print the results: %m");
        return worst;
}
