/* SPDX-License-Identifier: ISC */
/*
 * The record stream, after ATTACHED (stream_run()): output records are
 * written to fd 1 or 2 and acknowledged one by one, only after their data
 * was written, so a client killed mid-stream neither loses nor repeats
 * output on the next receive.  Heartbeats go out every interval the worker
 * asked for; a worker silent for three intervals counts as lost, and a
 * lost connection is reconnected (reconnect.c) and resumed at the exact
 * offset.  Messages about the stream name the session, so the user knows
 * what to reconnect to.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "parse-util.h"

#define STREAM_CONTINUE 100     /* internal: keep going */
#define STREAM_BREAK 101        /* internal: the connection broke; reconnect */
#define DETACH_FLUSH_MS 1000
#define STREAM_SEND_TIMEOUT_MS (30 * 1000)

static int stream_lost(Stream *s, int r);
static int stream_send(Stream *s, int r);

static volatile sig_atomic_t sigint_pending = 0;

static void sigint_cb(int sig) {
        sigint_pending = 1;
}

bool stream_take_sigint(void) {
        if (!sigint_pending)
                return false;
        sigint_pending = 0;
        return true;
}

/* No SA_RESTART: poll() returns at once with EINTR. */
void stream_catch_sigint(void) {
        struct sigaction sa = { .sa_handler = sigint_cb };

        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
}

/* Ctrl-C while attached: STREAM_CONTINUE after sending INTERRUPT,
 * STREAM_INTERRUPTED at the prompt, STREAM_USER_DETACH for a second one
 * within a second. */
static int stream_sigint(Stream *s, StreamUntil until) {
        int64_t now = clock_now_ms();
        int r;

        sigint_pending = 0;
        if (until == STREAM_UNTIL_INPUT)
                return STREAM_INTERRUPTED;
        if (s->last_interrupt_ms > 0 && now - s->last_interrupt_ms < 1000)
                return STREAM_USER_DETACH;
        s->last_interrupt_ms = now;
        r = stream_send(s, proto_put_empty(&s->conn->out, PROTO_MSG_INTERRUPT));
        return r < 0 ? r : STREAM_CONTINUE;
}

#define STDIN_PIECE (64u * 1024)

/* Our stdin, as far as the window allows: what was read and not yet sent
 * on this connection first (after a reattachment), else a new piece read
 * into the replay buffer, else its end. */
static int stream_pass_stdin(Stream *s) {
        size_t start, n;
        int r;

        if (!s->replay) {
                s->replay = malloc(PROTO_STDIN_WINDOW);
                if (!s->replay)
                        return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        }
        if (s->replay_sent == s->replay_len && !s->stdin_eof_read) {
                ssize_t k;

                n = MIN(MIN((size_t) PROTO_STDIN_WINDOW - s->replay_len, (size_t) STDIN_PIECE), (size_t) s->stdin_credit);
                if (n == 0)
                        return STREAM_CONTINUE;
                k = read(s->stdin_fd, s->replay + s->replay_len, n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        return STREAM_CONTINUE;
                if (k <= 0)
                        /* End of input (or an unreadable stdin): the command reads EOF. */
                        s->stdin_eof_read = true;
                else
                        s->replay_len += (size_t) k;
        }
        if (s->replay_sent < s->replay_len) {
                n = MIN(MIN(s->replay_len - s->replay_sent, (size_t) s->stdin_credit), (size_t) STDIN_PIECE);
                if (n == 0)
                        return STREAM_CONTINUE;
                r = proto_begin(&s->conn->out, PROTO_MSG_STDIN, 0, &start);
                if (r >= 0)
                        r = buf_put(&s->conn->out, s->replay + s->replay_sent, n);
                if (r >= 0)
                        r = proto_end(&s->conn->out, start);
                s->stdin_credit -= (uint32_t) n;
                s->replay_sent += n;
                r = stream_send(s, r);
                return r < 0 ? r : STREAM_CONTINUE;
        }
        if (s->stdin_eof_read && !s->stdin_done) {
                s->stdin_done = true;
                r = stream_send(s, proto_put_empty(&s->conn->out, PROTO_MSG_STDIN_EOF));
                return r < 0 ? r : STREAM_CONTINUE;
        }
        return STREAM_CONTINUE;
}

/* STDIN_WINDOW: n bytes more may be sent; unless it opens the window, n
 * bytes were written to the command and need not be kept any more. */
static int stream_stdin_window(Stream *s, uint32_t n) {
        if (n > PROTO_STDIN_WINDOW - s->stdin_credit)
                return stream_lost(s, -EBADMSG);
        s->stdin_credit += n;
        if (s->window_initial) {
                s->window_initial = false;
                return STREAM_CONTINUE;
        }
        if (n > s->replay_sent)
                return stream_lost(s, -EBADMSG);
        memmove(s->replay, s->replay + n, s->replay_len - n);
        s->replay_len -= n;
        s->replay_sent -= n;
        s->stdin_base += n;
        return STREAM_CONTINUE;
}

/* INVOKED: our command, and where its stdin stands at the worker. */
static int stream_invoked(Stream *s, Frame *f) {
        struct proto_invoked i;
        uint64_t drop;

        if (proto_get_invoked(&f->payload, &i) < 0 || (s->have_cmd && i.cmd_id != s->cmd_id))
                return stream_lost(s, -EBADMSG);
        s->have_cmd = true;
        s->cmd_id = i.cmd_id;
        s->can_reattach = true;
        if (s->stdin_fd < 0 || (!s->replay && i.stdin_received == 0))
                return STREAM_CONTINUE;
        if (!i.stdin_open) {
                /* Ended (the command too, maybe): the counts are of no use. */
                if (!s->stdin_eof_read)
                        client_notice("the standard input of command %" PRIu32 " was closed while the connection was down "
                                      "(the command ended, or it was not held any longer); the rest is not passed on",
                                      s->cmd_id);
                s->stdin_done = s->stdin_eof_read = true;
                s->replay_len = s->replay_sent = 0;
                return STREAM_CONTINUE;
        }
        if (i.stdin_written < s->stdin_base || i.stdin_received > s->stdin_base + s->replay_len)
                return stream_lost(s, -EBADMSG);
        /* Written: forgotten; received: not sent again; the rest and the end again. */
        drop = i.stdin_written - s->stdin_base;
        memmove(s->replay, s->replay + drop, s->replay_len - drop);
        s->replay_len -= drop;
        s->stdin_base = i.stdin_written;
        s->replay_sent = i.stdin_received - s->stdin_base;
        s->stdin_done = false;
        return STREAM_CONTINUE;
}

/* The first frame to the worker: what our stdout and stderr are, so that
 * a write announced by a client that died can be measured (see
 * stream_write_data()). */
static int stream_send_resume(Stream *s) {
        struct proto_resume rs = {};

        for (int k = 0; k < 2; k++) {
                struct stat st;

                if (fstat(k + 1, &st) < 0)
                        continue;
                if (S_ISFIFO(st.st_mode))
                        s->out_kind[k] = OUT_PIPE;
                else if (S_ISCHR(st.st_mode) && !isatty(k + 1) && major(st.st_rdev) == 1)
                        s->out_kind[k] = OUT_SINK;      /* memory devices: /dev/null, /dev/zero */
                if (!S_ISREG(st.st_mode))
                        continue;
                s->out_kind[k] = OUT_REGULAR;
                rs.dev[k] = (uint64_t) st.st_dev;
                rs.ino[k] = (uint64_t) st.st_ino;
                rs.size[k] = (uint64_t) st.st_size;
        }
        return stream_send(s, proto_put_resume(&s->conn->out, &rs));
}

int stream_attach(Stream *s, Conn *c, Frame *attached) {
        return stream_attach_raw(s, c, attached, false);
}

int stream_attach_raw(Stream *s, Conn *c, Frame *attached, bool raw) {
        struct proto_session session;
        bool terminal;
        uint32_t hb;
        int r;

        r = proto_get_attached(&attached->payload, &hb, &session);
        if (r < 0)
                return session_lost_dwelld(r);
        *s = (Stream) {
                .conn = c,
                .name = strdup(strempty(session.name)),
                .heartbeat_ms = hb,
                .last_status = -1,
                .stdin_fd = -EBADF,
                .session_id = session.id,
                .window_initial = true,
                .terminal = terminal = SESSION_IS_TERMINAL(&session),
                .text = terminal && !raw,
                .raw = raw,
        };
        proto_session_done(&session);
        if (!s->name)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        s->last_rx_ms = clock_now_ms();
        s->next_hb_ms = s->last_rx_ms + hb;
        return stream_send_resume(s);
}

void stream_done(Stream *s) {
        s->name = mfree(s->name);
        s->replay = mfree(s->replay);
}

/* Whether a break of this stream is to be mended by reconnecting. */
static bool stream_may_reconnect(const Stream *s, int r) {
        if (s->rc.type == 0 || r == -EBADMSG || reconnect_timeout() == 0)
                return false;
        return s->rc.type != PROTO_REQ_INVOKE || s->can_reattach;
}

/* After a break: the session again (reconnect.c), and the stream goes on
 * where the acknowledgements say.  0, or <0 (reported). */
static int stream_reconnect(Stream *s) {
        char sid[16], cid[16];
        struct proto_request req = {
                .flags = s->rc.flags | PROTO_REQ_F_RECONNECT,
                .session = sid,
        };
        struct proto_session session;
        uint32_t hb;
        Frame f;
        int r;

        snprintf(sid, sizeof sid, "%" PRIu32, s->session_id);
        if (s->rc.type == PROTO_REQ_INVOKE) {
                snprintf(cid, sizeof cid, "%" PRIu32, s->cmd_id);
                req.command = cid;
                req.flags |= PROTO_REQ_F_REATTACH;
        }
        r = session_reconnect(s->rc.type, &req, s->name, s->rc.pickup, s->heartbeat_ms, s->lost_ms, s->conn, &f);
        if (r < 0)
                return r;
        r = proto_get_attached(&f.payload, &hb, &session);
        conn_consume(s->conn, &f);
        if (r < 0)
                return session_lost_dwelld(r);
        proto_session_done(&session);
        s->heartbeat_ms = hb;
        s->last_rx_ms = clock_now_ms();
        s->next_hb_ms = s->last_rx_ms + hb;
        s->run_reconnected = true;
        s->stdin_credit = 0;
        s->window_initial = true;       /* the STDIN_WINDOW after INVOKED opens the window */
        s->expect_invoked = s->rc.type == PROTO_REQ_INVOKE;
        return stream_send_resume(s);
}

static int stream_lost(Stream *s, int r) {
        if (r >= 0)
                r = -ECONNRESET;
        if (stream_may_reconnect(s, r)) {
                /* Not news yet: stream_loop() reconnects. */
                if (!s->broken)
                        s->lost_ms = clock_now_ms();
                s->broken = true;
                return r;
        }
        /* Remote: the SSH connection is what was lost; the session is
         * Disconnected on HOST with its output kept.  (detach_ok is set by
         * connect alone.) */
        if (arg_host)
                return client_error(r < 0 ? r : -ECONNRESET, PROTO_ERR_UNAVAILABLE,
                                    "lost connection to %s; reconnect with: dwell -H %s %s %s",
                                    arg_host, arg_host, s->detach_ok ? "connect" : "receive", s->name);
        return client_error(r < 0 ? r : -ECONNRESET, PROTO_ERR_UNAVAILABLE,
                            "lost connection to session %s; reconnect with: dwell receive %s", s->name, s->name);
}

static int stream_send(Stream *s, int r) {
        if (r < 0)
                return stream_lost(s, r);
        r = conn_flush(s->conn);
        return r < 0 ? stream_lost(s, r) : 0;
}

int stream_send_run(Stream *s, const char *command) {
        s->started = false;
        s->run_reconnected = false;
        return stream_send(s, proto_put_str_msg(&s->conn->out, PROTO_MSG_RUN, command));
}

void stream_detach(Stream *s) {
        if (proto_put_empty(&s->conn->out, PROTO_MSG_DETACH) >= 0)
                (void) conn_flush_all(s->conn, DETACH_FLUSH_MS);
}

int stream_exit_status(const Stream *s) {
        if (s->last_status < 0)
                return 0;
        return MIN(s->last_status, EXIT_DWELL_FAILURE);
}

static int stream_output_failed(Stream *s, int r) {
        if (r == -EPIPE)
                return client_error(r, PROTO_ERR_UNAVAILABLE,
                                    "output closed; the rest stays in session %s (dwell receive %s)", s->name, s->name);
        return client_error(r, PROTO_ERR_UNAVAILABLE, "failed to write output of session %s: %m", s->name);
}

static void stream_note_exit(Stream *s, int64_t value) {
        s->last_status = value < 0 || value > EXIT_DWELL_FAILURE ? EXIT_DWELL_FAILURE : (int) value;
}

/* Acknowledges record seq up to byte offset (its whole data: offset = size). */
static int stream_ack(Stream *s, uint64_t seq, uint64_t offset) {
        struct proto_ack a = { .seq = seq, .offset = offset };
        return stream_send(s, proto_put_ack(&s->conn->out, &a));
}

/* How much may go into a pipe in one write that cannot block: its free
 * room (a write that need not wait is not interrupted), at least PIPE_BUF
 * (which the kernel writes all or nothing). */
static size_t pipe_room(int fd, size_t want) {
        int size, used;

        if (want <= PIPE_BUF)
                return want;
        size = fcntl(fd, F_GETPIPE_SZ);
        if (size <= 0 || ioctl(fd, FIONREAD, &used) < 0 || used < 0 || used >= size)
                return PIPE_BUF;
        return MAX(MIN(want, (size_t) (size - used)), (size_t) PIPE_BUF);
}

/* Writing a record's data so that a client killed at any moment neither
 * loses nor repeats a byte on the next receive:
 *  - to a regular file: announce the write (ACK with an intent: how much,
 *    and the file's size now), write it, acknowledge it.  If we die in
 *    between, the next client's RESUME reports the file's size, from which
 *    the worker knows how much landed.
 *  - to a pipe: pieces that cannot block (as much as the pipe has room
 *    for, or PIPE_BUF), each acknowledged as soon as it is out; to a
 *    terminal or socket, PIPE_BUF pieces.  Only a death between a write and
 *    its acknowledgement can then repeat one piece.
 *  - to /dev/null and the like: the whole record, then one acknowledgement. */
/* A terminal session's output as text: written whole, then acknowledged
 * (a receive killed in between shows that piece again). */
static int stream_write_text(Stream *s, int fd, const struct proto_record *rec) {
        _cleanup_free_ uint8_t *t = malloc(rec->size + 1);
        size_t n;
        int r;

        if (!t)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        n = term_text_feed(&s->tt, rec->data, rec->size, t);
        r = loop_write(fd, t, n);
        if (r < 0)
                return stream_output_failed(s, r);
        /* Handled whole: sent again after a reconnection, it is only
         * acknowledged (stream_handle_record()). */
        s->handled_seq = rec->seq;
        return stream_ack(s, rec->seq, (rec->value > 0 ? (uint64_t) rec->value : 0) + rec->size);
}

static int stream_write_data(Stream *s, int fd, const struct proto_record *rec) {
        uint64_t base = rec->value > 0 ? (uint64_t) rec->value : 0;
        OutKind kind = s->out_kind[fd == STDOUT_FILENO ? 0 : 1];
        size_t done = 0;
        int r;

        if (s->text)
                return stream_write_text(s, fd, rec);

        if (kind == OUT_REGULAR && rec->size > 0) {
                struct proto_ack a = { .seq = rec->seq, .offset = base, .intent_len = rec->size };
                struct stat st;

                if (fstat(fd, &st) < 0)
                        return stream_output_failed(s, -errno);
                a.intent_size = (uint64_t) st.st_size;
                r = proto_put_ack(&s->conn->out, &a);
                if (r >= 0)
                        r = conn_flush_all(s->conn, STREAM_SEND_TIMEOUT_MS);
                if (r < 0)
                        return stream_lost(s, r);
        }
        while (done < rec->size) {
                size_t n = rec->size - done;

                if (kind == OUT_PIPE)
                        n = pipe_room(fd, n);
                else if (kind == OUT_OTHER)
                        n = MIN(n, (size_t) PIPE_BUF);
                r = loop_write(fd, rec->data + done, n);
                if (r < 0)
                        return stream_output_failed(s, r);
                done += n;
                s->part_seq = rec->seq;
                s->part_off = base + done;
                if (done < rec->size) {
                        r = stream_ack(s, rec->seq, base + done);
                        if (r < 0)
                                return r;
                }
        }
        s->handled_seq = rec->seq;
        return stream_ack(s, rec->seq, base + done);
}

/* --- receive's presentations ------------------------------------------ */

#define HEADER_TEXT_MAX 200     /* characters of command text in a terminal header */

static void format_time(char *buf, size_t size, uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "?");
}

/* Presentation text goes through stdout's FILE; output data is written to
 * the descriptors directly: flush before and after mixing them. */
static int present_flush(Stream *s) {
        if (fflush(stdout) != 0 || ferror(stdout))
                return stream_output_failed(s, errno > 0 ? -errno : -EIO);
        return 0;
}

/* A header or footer line on a terminal, on a line of its own. */
static int present_line(Stream *s, const char *fmt, ...) _printf_(2, 3);
static int present_line(Stream *s, const char *fmt, ...) {
        va_list ap;

        if (s->mid_line)
                fputc('\n', stdout);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        s->mid_line = false;
        return present_flush(s);
}

static int present_header(Stream *s, const struct proto_record *rec) {
        _cleanup_free_ char *text = NULL;
        char when[64];

        s->header_cmd = rec->cmd_id;
        if (rec->kind != RECORD_START)
                /* Its START went to an earlier receive. */
                return present_line(s, "==> command %" PRIu32 " (continued)", rec->cmd_id);
        text = rec->size > 0 ? strndup((const char *) rec->data, rec->size) : strdup("");
        if (text) {
                char *t = terminal_sanitize(text, HEADER_TEXT_MAX);
                free(text);
                text = t;
        }
        format_time(when, sizeof when, rec->value > 0 ? (uint64_t) rec->value : 0);
        return present_line(s, "==> command %" PRIu32 ", started %s: %s", rec->cmd_id, when, text ? text : "?");
}

static void json_print_usec(uint64_t usec) {
        if (usec == 0)
                fputs("null", stdout);
        else
                json_print_seconds(stdout, usec);
}

/* One JSON Lines object per record (doc/protocol.md, "receive --json"). */
static int present_json(Stream *s, const struct proto_record *rec) {
        switch (rec->kind) {
        case RECORD_STDOUT:
        case RECORD_STDERR:
        {
                _cleanup_free_ uint8_t *t = NULL;
                const uint8_t *data = rec->data;
                size_t size = rec->size;

                printf("{\"type\": \"output\", \"command\": %" PRIu32 ", \"stream\": \"%s\", \"seq\": %" PRIu64
                       ", \"offset\": %" PRIi64 ", ", rec->cmd_id, rec->kind == RECORD_STDOUT ? "stdout" : "stderr",
                       rec->seq, rec->value);
                if (s->text) {
                        /* A terminal session: its text (receive --raw: the bytes). */
                        t = malloc(rec->size + 1);
                        if (!t)
                                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
                        size = term_text_feed(&s->tt, rec->data, rec->size, t);
                        data = t;
                }
                if (utf8_valid(data, size)) {
                        fputs("\"data\": ", stdout);
                        json_print_bytes(stdout, data, size);
                } else {
                        _cleanup_free_ char *b64 = NULL;

                        if (base64_encode(data, size, &b64) < 0)
                                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
                        printf("\"data_base64\": \"%s\"", b64);
                }
                fputs("}\n", stdout);
                break;
        }
        case RECORD_START:
                printf("{\"type\": \"start\", \"command\": %" PRIu32 ", \"text\": ", rec->cmd_id);
                json_print_bytes(stdout, rec->data, rec->size);
                fputs(", \"started\": ", stdout);
                json_print_usec(rec->value > 0 ? (uint64_t) rec->value : 0);
                fputs("}\n", stdout);
                break;
        case RECORD_EXIT: {
                struct proto_exit_info info = {};

                (void) proto_exit_info_decode(rec->data, rec->size, &info);
                printf("{\"type\": \"exit\", \"command\": %" PRIu32 ", \"exit_status\": %" PRIi64 ", \"started\": ",
                       rec->cmd_id, rec->value);
                json_print_usec(info.started);
                fputs(", \"finished\": ", stdout);
                json_print_usec(info.finished);
                printf(", \"dropped\": %" PRIu64 "}\n", info.dropped);
                break;
        }
        case RECORD_DROPPED:
                printf("{\"type\": \"dropped\", \"command\": %" PRIu32 ", \"bytes\": %" PRIi64 "}\n",
                       rec->cmd_id, rec->value);
                break;
        }
        return present_flush(s);
}

/* The counts of a fan-out's summary (multi.c). */
static void stream_count_record(Stream *s, const struct proto_record *rec) {
        struct proto_exit_info info = {};

        switch (rec->kind) {
        case RECORD_STDOUT:
        case RECORD_STDERR:
                s->rx_bytes += rec->size;
                break;
        case RECORD_DROPPED:
                s->rx_dropped += rec->value > 0 ? (uint64_t) rec->value : 0;
                break;
        case RECORD_EXIT:
                if (proto_exit_info_decode(rec->data, rec->size, &info) < 0 || info.started == 0)
                        break;
                if (s->rx_started_usec == 0 || info.started < s->rx_started_usec)
                        s->rx_started_usec = info.started;
                s->rx_finished_usec = MAX(s->rx_finished_usec, info.finished);
                break;
        }
}

static int stream_handle_record(Stream *s, Frame *f, StreamUntil until) {
        struct proto_record rec;
        int r = 0;

        if (proto_get_record(&f->payload, &rec) < 0)
                return stream_lost(s, -EBADMSG);
        if (rec.seq <= s->handled_seq) {
                /* Sent again after a reconnection, handled before the break:
                 * only its acknowledgement was lost. */
                bool output = rec.kind == RECORD_STDOUT || rec.kind == RECORD_STDERR;

                r = stream_ack(s, rec.seq, output ? (uint64_t) MAX(rec.value, 0) + rec.size : rec.size);
                if (r < 0)
                        return r;
                return until == STREAM_UNTIL_EXIT && s->exited ? STREAM_DONE : STREAM_CONTINUE;
        }
        if ((rec.kind == RECORD_STDOUT || rec.kind == RECORD_STDERR) && rec.seq == s->part_seq &&
            s->part_off > (uint64_t) MAX(rec.value, 0)) {
                /* Its first bytes were written before the break. */
                uint64_t skip = MIN(s->part_off - (uint64_t) MAX(rec.value, 0), (uint64_t) rec.size);

                rec.data += skip;
                rec.size -= (uint32_t) skip;
                rec.value = (int64_t) s->part_off;
                if (rec.size == 0) {
                        s->handled_seq = rec.seq;
                        r = stream_ack(s, rec.seq, (uint64_t) rec.value);
                        return r < 0 ? r : STREAM_CONTINUE;
                }
        }
        stream_count_record(s, &rec);
        if (rec.kind == RECORD_EXIT && rec.value != 0)
                s->failed_status = rec.value < 0 || rec.value > EXIT_DWELL_FAILURE ? EXIT_DWELL_FAILURE : (int) rec.value;
        if (s->present == PRESENT_JSON) {
                /* Written whole, then acknowledged: a receive killed in
                 * between shows the record again (seq and offset tell). */
                r = present_json(s, &rec);
                if (r < 0)
                        return r;
                if (rec.kind == RECORD_EXIT) {
                        stream_note_exit(s, rec.value);
                        if (s->have_cmd && rec.cmd_id == s->cmd_id)
                                s->exited = true;
                }
                s->handled_seq = rec.seq;
                r = stream_ack(s, rec.seq, rec.kind == RECORD_STDOUT || rec.kind == RECORD_STDERR ?
                               (uint64_t) MAX(rec.value, 0) + rec.size : rec.size);
                if (r < 0)
                        return r;
                return until == STREAM_UNTIL_EXIT && s->exited ? STREAM_DONE : STREAM_CONTINUE;
        }
        if (s->present == PRESENT_TERMINAL) {
                if (rec.kind == RECORD_START ||
                    (rec.cmd_id != s->header_cmd && (rec.kind == RECORD_STDOUT || rec.kind == RECORD_STDERR))) {
                        r = present_header(s, &rec);
                        if (r < 0)
                                return r;
                }
                if (rec.kind == RECORD_EXIT && rec.value != 0) {
                        r = present_line(s, "==> command %" PRIu32 " exited with status %" PRIi64, rec.cmd_id, rec.value);
                        if (r < 0)
                                return r;
                }
                if ((rec.kind == RECORD_STDOUT || rec.kind == RECORD_STDERR) && rec.size > 0)
                        s->mid_line = rec.data[rec.size - 1] != '\n';
        }
        switch (rec.kind) {
        case RECORD_STDOUT:
        case RECORD_STDERR:
                r = stream_write_data(s, rec.kind == RECORD_STDOUT ? STDOUT_FILENO : STDERR_FILENO, &rec);
                if (r < 0)
                        return r;
                if (rec.size > 0)
                        return STREAM_CONTINUE;
                break;
        case RECORD_START:
                if (!s->have_cmd) {
                        s->have_cmd = true;
                        s->cmd_id = rec.cmd_id;
                }
                s->started = true;
                break;
        case RECORD_EXIT:
                stream_note_exit(s, rec.value);
                if (s->have_cmd && rec.cmd_id == s->cmd_id)
                        s->exited = true;
                break;
        case RECORD_DROPPED:
                client_notice("%" PRIi64 " bytes of output of command %" PRIu32 " were dropped (buffer full)",
                              rec.value, rec.cmd_id);
                break;
        }

        /* Acknowledge only now that the record has had its effect. */
        s->handled_seq = rec.seq;
        r = stream_ack(s, rec.seq, rec.size);
        if (r < 0)
                return r;
        return until == STREAM_UNTIL_EXIT && s->exited ? STREAM_DONE : STREAM_CONTINUE;
}

static int stream_handle_synced(Stream *s, Frame *f, StreamUntil until) {
        struct proto_synced y;

        if (proto_get_synced(&f->payload, &y) < 0)
                return stream_lost(s, -EBADMSG);
        if (y.last_status >= 0)
                stream_note_exit(s, y.last_status);
        s->running = y.running;

        switch (until) {
        case STREAM_UNTIL_SYNCED:
                return STREAM_DONE;
        case STREAM_UNTIL_IDLE:
                return y.running ? STREAM_CONTINUE : STREAM_DONE;
        case STREAM_UNTIL_RUN_DONE:
                /* A SYNCED sent before the worker saw our RUN says nothing
                 * about it - except after a reconnection, when the worker
                 * has seen all it will ever see of the old connection. */
                if (!y.running && !s->started && s->run_reconnected) {
                        client_notice("the command did not reach session %s before the connection broke; it was not run",
                                      s->name);
                        return STREAM_DONE;
                }
                return !y.running && s->started ? STREAM_DONE : STREAM_CONTINUE;
        case STREAM_UNTIL_EXIT:
                /* The EXIT record normally ends an invoke; this covers an idle
                 * session whose last finished command is ours. */
                return !y.running && s->have_cmd && y.last_cmd == s->cmd_id ? STREAM_DONE : STREAM_CONTINUE;
        default:
                return STREAM_CONTINUE;
        }
}

static int stream_handle_detached(Stream *s, Frame *f) {
        _cleanup_free_ char *by = NULL;
        uint8_t reason;

        if (proto_get_detached(&f->payload, &reason, &by) < 0)
                return stream_lost(s, -EBADMSG);
        if (reason == DETACH_TIMEOUT)
                return stream_lost(s, -ETIMEDOUT);

        /* For connect this is how the session ends for us, not a failure. */
        if (s->detach_ok) {
                if (reason == DETACH_REMOVED)
                        client_notice("session %s was removed", s->name);
                else
                        client_notice("session %s was disconnected by %s", s->name, by[0] ? by : "another client");
                return STREAM_DETACHED;
        }
        if (reason == DETACH_REMOVED)
                return client_error(-ECONNRESET, PROTO_ERR_UNAVAILABLE, "session %s was removed", s->name);
        return client_error(-ECONNRESET, PROTO_ERR_UNAVAILABLE, "session %s was disconnected by %s",
                            s->name, by[0] ? by : "another client");
}

static int stream_handle_frame(Stream *s, Frame *f, StreamUntil until) {
        int r;

        if (s->expect_invoked) {
                /* A worker that does not send it cannot be reattached to. */
                s->expect_invoked = false;
                if (f->type != PROTO_MSG_INVOKED)
                        s->can_reattach = false;
        }
        switch (f->type) {
        case PROTO_MSG_INVOKED:
                if (s->rc.type != PROTO_REQ_INVOKE)
                        return stream_lost(s, -EBADMSG);
                return stream_invoked(s, f);
        case PROTO_MSG_RECORD:
                return stream_handle_record(s, f, until);
        case PROTO_MSG_SYNCED:
                return stream_handle_synced(s, f, until);
        case PROTO_MSG_DETACHED:
                return stream_handle_detached(s, f);
        case PROTO_MSG_HEARTBEAT:
        case PROTO_MSG_OK:
                return STREAM_CONTINUE;
        case PROTO_MSG_STDIN_WINDOW: {
                uint32_t n;

                if (proto_get_u32_msg(&f->payload, &n) < 0)
                        return stream_lost(s, -EBADMSG);
                return stream_stdin_window(s, n);
        }
        case PROTO_MSG_ERROR:
                r = session_report_error(f);
                /* A refused RUN at the connect prompt: back to the prompt. */
                return until == STREAM_UNTIL_RUN_DONE ? STREAM_DONE : r;
        default:
                return stream_lost(s, -EBADMSG);
        }
}

static int stream_poll_timeout(const Stream *s, int64_t now) {
        int64_t deadline;

        if (s->heartbeat_ms == 0)
                return -1;
        deadline = MIN(s->next_hb_ms, s->last_rx_ms + 3 * (int64_t) s->heartbeat_ms);
        return deadline <= now ? 0 : (int) MIN(deadline - now, (int64_t) INT32_MAX);
}

/* Heartbeats out, and the check that the worker is still there. */
static int stream_timers(Stream *s, bool got_data) {
        int64_t now = clock_now_ms();
        int r;

        if (s->heartbeat_ms == 0)
                return 0;
        if (got_data)
                s->last_rx_ms = now;
        else if (now - s->last_rx_ms >= 3 * (int64_t) s->heartbeat_ms)
                return stream_lost(s, -ETIMEDOUT);
        if (now >= s->next_hb_ms) {
                s->next_hb_ms = now + s->heartbeat_ms;
                r = stream_send(s, proto_put_empty(&s->conn->out, PROTO_MSG_HEARTBEAT));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Waits for bytes from the worker, room to send, input, our stdin (for the
 * command), a Ctrl-C, or a timer. */
static int stream_wait(Stream *s, StreamUntil until, int input_fd, StreamInput *in) {
        bool stdin_ready = s->stdin_fd >= 0 && !s->stdin_done && !s->expect_invoked &&
                           conn_pending(s->conn) < PROTO_MAX_PAYLOAD;
        bool want_stdin = stdin_ready && !s->stdin_eof_read && s->replay_sent == s->replay_len && s->stdin_credit > 0;
        struct pollfd p[3] = {
                { .fd = s->conn->fd, .events = POLLIN | (conn_pending(s->conn) > 0 ? POLLOUT : 0) },
                { .fd = in ? in->fd : input_fd, .events = POLLIN },
                { .fd = want_stdin ? s->stdin_fd : -1, .events = POLLIN },
        };
        bool got_data = false;
        int n, r;

        if (p[1].fd < 0)
                p[1].fd = -1;
        if (in && *in->len >= in->size)
                p[1].fd = -1;           /* typed ahead a whole buffer: wait */
        if (sigint_pending)
                return stream_sigint(s, until);
        /* What is read already (sent again after a reattachment, or the
         * end of input) needs no poll. */
        if (stdin_ready && ((s->replay_sent < s->replay_len && s->stdin_credit > 0) ||
                            (s->stdin_eof_read && s->replay_sent == s->replay_len)))
                return stream_pass_stdin(s);
        n = poll(p, 3, stream_poll_timeout(s, clock_now_ms()));
        if (n < 0 && errno == EINTR && sigint_pending)
                return stream_sigint(s, until);
        if (n < 0)
                return errno == EINTR ? STREAM_CONTINUE : stream_lost(s, -errno);

        if (p[0].revents & POLLOUT) {
                r = conn_flush(s->conn);
                if (r < 0)
                        return stream_lost(s, r);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                r = conn_fill(s->conn);
                if (r == 0)
                        return stream_lost(s, -ECONNRESET);
                if (r < 0 && r != -EAGAIN && r != -EINTR)
                        return stream_lost(s, r);
                got_data = r > 0;
        }
        r = stream_timers(s, got_data);
        if (r < 0)
                return r;
        if (p[2].fd >= 0 && p[2].revents) {
                r = stream_pass_stdin(s);
                if (r != STREAM_CONTINUE)
                        return r;
        }
        if (in && p[1].fd >= 0 && p[1].revents) {
                ssize_t k = read(in->fd, in->buf + *in->len, in->size - *in->len);

                if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
                        return STREAM_INPUT_EOF;
                if (k > 0)
                        *in->len += (size_t) k;
                return STREAM_CONTINUE;
        }
        if (input_fd >= 0 && p[1].revents)
                return STREAM_INPUT;
        return STREAM_CONTINUE;
}

/* The connection broke as far as our last read or write could tell; but
 * the worker may have said why before it closed (DETACHED: disconnected by
 * someone, removed; ERROR), and our write failed before we read it.  1: a
 * break after all (reconnect); otherwise what handling that frame gave. */
static int stream_final_frames(Stream *s, StreamUntil until) {
        Frame f;
        int r;

        for (;;) {
                struct pollfd p = { .fd = s->conn->fd, .events = POLLIN };

                r = conn_next(s->conn, &f);
                if (r < 0)
                        return STREAM_BREAK;
                if (r == 0) {
                        if (s->conn->fd < 0 || poll(&p, 1, 0) <= 0 || conn_fill(s->conn) <= 0)
                                return STREAM_BREAK;
                        continue;
                }
                if (f.type == PROTO_MSG_DETACHED || f.type == PROTO_MSG_ERROR) {
                        r = stream_handle_frame(s, &f, until);
                        conn_consume(s->conn, &f);
                        if (r < 0 && s->broken) {       /* DETACHED {TIMEOUT}: we were the silent one */
                                s->broken = false;
                                return STREAM_BREAK;
                        }
                        return r;
                }
                conn_consume(s->conn, &f);      /* a record: sent again after reconnecting */
        }
}

static int stream_loop(Stream *s, StreamUntil until, int input_fd, StreamInput *in) {
        Frame f;
        int r;

        for (;;) {
                r = conn_next(s->conn, &f);
                if (r < 0)
                        r = stream_lost(s, r);
                else if (r > 0) {
                        r = stream_handle_frame(s, &f, until);
                        conn_consume(s->conn, &f);
                } else
                        r = stream_wait(s, until, until == STREAM_UNTIL_INPUT ? input_fd : -EBADF, in);
                if (r < 0 && s->broken) {
                        s->broken = false;
                        r = stream_final_frames(s, until);
                        if (r == STREAM_BREAK) {
                                r = stream_reconnect(s);
                                if (r >= 0)
                                        continue;
                        }
                }
                if (r != STREAM_CONTINUE)
                        return r;
        }
}

int stream_run(Stream *s, StreamUntil until, int input_fd) {
        return stream_loop(s, until, input_fd, NULL);
}

int stream_run_reading(Stream *s, StreamUntil until, StreamInput *in) {
        return stream_loop(s, until, -EBADF, in);
}
