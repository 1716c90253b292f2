/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the wire protocol: conn reassembly + every decoder.
 *
 * The input is a byte stream as a peer would send it.  It is fed twice:
 * once in as few pieces as the input buffer allows, and once through a
 * socketpair in pseudo-random pieces (1..512 bytes, chosen from a hash of
 * the input) so that conn_fill() and reassembly at arbitrary split points
 * are exercised.  Both runs must see the same frames with the same results.
 *
 * Every frame is decoded with the decoder its type calls for.  A frame
 * that decodes must re-encode without error to exactly the same payload
 * bytes (the encoding is canonical), and the re-encoded frame must decode
 * to an equal value.  Any violation abort()s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "macro.h"
#include "proto.h"
#include "fuzz.h"

static bool str_eq(const char *a, const char *b) {
        return streq(strempty(a), strempty(b));
}

static bool request_eq(const struct proto_request *a, const struct proto_request *b) {
        return a->flags == b->flags && str_eq(a->session, b->session) && str_eq(a->name, b->name) &&
                str_eq(a->config, b->config) && str_eq(a->credential, b->credential) &&
                str_eq(a->command, b->command) && a->idle_timeout == b->idle_timeout &&
                a->buffering == b->buffering && str_eq(a->on_finish, b->on_finish) && str_eq(a->term, b->term) &&
                a->rows == b->rows && a->cols == b->cols;
}

static bool session_eq(const struct proto_session *a, const struct proto_session *b) {
        return a->id == b->id && str_eq(a->instance_id, b->instance_id) && str_eq(a->name, b->name) &&
                str_eq(a->host, b->host) && str_eq(a->owner, b->owner) && str_eq(a->run_as, b->run_as) &&
                str_eq(a->configuration, b->configuration) && a->state == b->state &&
                a->availability == b->availability && a->buffering == b->buffering &&
                a->temporary == b->temporary && a->idle_timeout == b->idle_timeout &&
                a->buffer_size == b->buffer_size && a->buffered == b->buffered && a->dropped == b->dropped &&
                a->command_id == b->command_id && str_eq(a->command, b->command) &&
                a->created == b->created && a->idle_since == b->idle_since &&
                str_eq(a->holder, b->holder) && str_eq(a->origin, b->origin) &&
                str_eq(a->reason, b->reason) && a->terminal == b->terminal;
}

static bool kv_eq(const struct proto_kv *a, const struct proto_kv *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!streq(a->keys[i], b->keys[i]) || !streq(a->values[i], b->values[i]))
                        return false;
        return true;
}

/* One decoded message of any type. */
typedef struct Msg {
        uint16_t type;
        struct proto_request req;
        struct proto_session session;
        struct proto_record rec;
        struct proto_kv kv;
        struct proto_handoff handoff;
        struct proto_synced synced;
        uint16_t code;
        uint8_t u8;
        uint32_t u32, u32b;
        int32_t i32;
        uint64_t u64;
        struct proto_ack ack;
        struct proto_resume resume;
        char *str;
        const uint8_t *data;    /* TERM_OUTPUT, TERM_INPUT: a view into the payload */
        size_t n;
        uint16_t rows, cols;
} Msg;

static void msg_done(Msg *m) {
        proto_request_done(&m->req);
        proto_session_done(&m->session);
        proto_kv_done(&m->kv);
        proto_handoff_done(&m->handoff);
        free(m->str);
        *m = (Msg) {};
}

static size_t str_max(uint16_t type) {
        return type == PROTO_MSG_RUN ? PROTO_MAX_COMMAND : PROTO_MAX_TEXT;
}

/* Decodes payload p as a message of type; 1 if the type has no decoder. */
static int decode(uint16_t type, Buf *p, Msg *m) {
        int r;

        *m = (Msg) { .type = type };
        if (type >= PROTO_REQ_NEW && type < _PROTO_REQ_LAST)
                return proto_get_request(p, &m->req);

        switch (type) {
        case PROTO_MSG_ORIGIN:
        case PROTO_MSG_CONV_REPLY:
        case PROTO_MSG_RUN:
        case PROTO_MSG_TERMINATE:
        case PROTO_MSG_TERM_NOTICE:
                return proto_get_str_msg(p, str_max(type), &m->str);
        case PROTO_MSG_TERM_OUTPUT:
        case PROTO_MSG_TERM_INPUT:
                return proto_get_term_data(p, &m->data, &m->n);
        case PROTO_MSG_TERM_SIZE:
                return proto_get_term_size(p, &m->rows, &m->cols);
        case PROTO_MSG_ERROR:
                return proto_get_error(p, &m->code, &m->str);
        case PROTO_MSG_OK:
        case PROTO_MSG_HEARTBEAT:
        case PROTO_MSG_DETACH:
        case PROTO_MSG_SPAWNER:
        case PROTO_MSG_FORK:
                return proto_expect_end(p);

        case PROTO_MSG_SESSION:
        case PROTO_MSG_STATUS:
                r = proto_get_session(p, &m->session);
                if (r < 0)
                        return r;
                return proto_expect_end(p);
        case PROTO_MSG_END:
        case PROTO_MSG_FORKED:
                r = buf_get_u32(p, &m->u32);
                if (r < 0)
                        return r;
                return proto_expect_end(p);
        case PROTO_MSG_CONV_PROMPT:
                return proto_get_conv_prompt(p, &m->u8, &m->str);
        case PROTO_MSG_KV:
        case PROTO_MSG_SPAWN:
                return proto_get_kv(p, &m->kv);
        case PROTO_MSG_ATTACHED:
                return proto_get_attached(p, &m->u32, &m->session);
        case PROTO_MSG_RECORD:
                return proto_get_record(p, &m->rec);
        case PROTO_MSG_SYNCED:
                return proto_get_synced(p, &m->synced);
        case PROTO_MSG_DETACHED:
                return proto_get_detached(p, &m->u8, &m->str);
        case PROTO_MSG_ACK:
                return proto_get_ack(p, &m->ack);
        case PROTO_MSG_RESUME:
                return proto_get_resume(p, &m->resume);
        case PROTO_MSG_READY:
                return proto_get_ready(p, &m->u32, &m->u32b);
        case PROTO_MSG_FAILED:
                return proto_get_failed(p, &m->i32, &m->str);
        case PROTO_MSG_HANDOFF:
                return proto_get_handoff(p, &m->handoff);
        case PROTO_MSG_REC_OUTPUT:
                return proto_get_rec_output(p, &m->u64, &m->rec.data, &m->rec.size);
        case PROTO_MSG_REC_SIZE:
                return proto_get_rec_size(p, &m->u64, &m->cols, &m->rows);
        default:
                return 1;
        }
}

static int put_u32_frame(Buf *b, uint16_t type, uint32_t v) {
        size_t start;
        int r;

        r = proto_begin(b, type, 0, &start);
        if (r >= 0)
                r = buf_put_u32(b, v);
        if (r < 0) {
                b->size = start;
                return r;
        }
        return proto_end(b, start);
}

static int encode(const Msg *m, Buf *b) {
        uint16_t type = m->type;

        if (type >= PROTO_REQ_NEW && type < _PROTO_REQ_LAST)
                return proto_put_request(b, type, &m->req);

        switch (type) {
        case PROTO_MSG_ORIGIN:
        case PROTO_MSG_CONV_REPLY:
        case PROTO_MSG_RUN:
        case PROTO_MSG_TERMINATE:
        case PROTO_MSG_TERM_NOTICE:
                return proto_put_str_msg(b, type, m->str);
        case PROTO_MSG_TERM_OUTPUT:
        case PROTO_MSG_TERM_INPUT:
                return proto_put_term_data(b, type, m->data, m->n);
        case PROTO_MSG_TERM_SIZE:
                return proto_put_term_size(b, m->rows, m->cols);
        case PROTO_MSG_ERROR:
                return proto_put_error(b, m->code, m->str);
        case PROTO_MSG_OK:
        case PROTO_MSG_HEARTBEAT:
        case PROTO_MSG_DETACH:
        case PROTO_MSG_SPAWNER:
                return proto_put_empty(b, type);
        case PROTO_MSG_FORK:
                return proto_put_fork(b);

        case PROTO_MSG_SESSION:
        case PROTO_MSG_STATUS:
                return proto_put_session(b, type, &m->session);
        case PROTO_MSG_END:
        case PROTO_MSG_FORKED:
                return put_u32_frame(b, type, m->u32);
        case PROTO_MSG_CONV_PROMPT:
                return proto_put_conv_prompt(b, m->u8, m->str);
        case PROTO_MSG_KV:
        case PROTO_MSG_SPAWN:
                return proto_put_kv(b, type, &m->kv);
        case PROTO_MSG_ATTACHED:
                return proto_put_attached(b, m->u32, &m->session);
        case PROTO_MSG_RECORD:
                return proto_put_record(b, &m->rec);
        case PROTO_MSG_SYNCED:
                return proto_put_synced(b, &m->synced);
        case PROTO_MSG_DETACHED:
                return proto_put_detached(b, m->u8, m->str);
        case PROTO_MSG_ACK:
                return proto_put_ack(b, &m->ack);
        case PROTO_MSG_RESUME:
                return proto_put_resume(b, &m->resume);
        case PROTO_MSG_READY:
                return proto_put_ready(b, m->u32, m->u32b);
        case PROTO_MSG_FAILED:
                return proto_put_failed(b, m->i32, m->str);
        case PROTO_MSG_HANDOFF:
                return proto_put_handoff(b, &m->handoff);
        case PROTO_MSG_REC_OUTPUT:
                return proto_put_rec_output(b, m->u64, m->rec.data, m->rec.size);
        case PROTO_MSG_REC_SIZE:
                return proto_put_rec_size(b, m->u64, m->cols, m->rows);
        default:
                abort();
        }
}

static bool msg_eq(const Msg *a, const Msg *b) {
        if (a->type != b->type)
                return false;
        if (a->type >= PROTO_REQ_NEW && a->type < _PROTO_REQ_LAST)
                return request_eq(&a->req, &b->req);

        switch (a->type) {
        case PROTO_MSG_ORIGIN:
        case PROTO_MSG_CONV_REPLY:
        case PROTO_MSG_RUN:
        case PROTO_MSG_TERMINATE:
        case PROTO_MSG_TERM_NOTICE:
                return str_eq(a->str, b->str);
        case PROTO_MSG_TERM_OUTPUT:
        case PROTO_MSG_TERM_INPUT:
                return a->n == b->n && (a->n == 0 || memcmp(a->data, b->data, a->n) == 0);
        case PROTO_MSG_TERM_SIZE:
                return a->rows == b->rows && a->cols == b->cols;
        case PROTO_MSG_ERROR:
                return a->code == b->code && str_eq(a->str, b->str);
        case PROTO_MSG_SESSION:
        case PROTO_MSG_STATUS:
                return session_eq(&a->session, &b->session);
        case PROTO_MSG_END:
        case PROTO_MSG_FORKED:
                return a->u32 == b->u32;
        case PROTO_MSG_CONV_PROMPT:
        case PROTO_MSG_DETACHED:
                return a->u8 == b->u8 && str_eq(a->str, b->str);
        case PROTO_MSG_KV:
        case PROTO_MSG_SPAWN:
                return kv_eq(&a->kv, &b->kv);
        case PROTO_MSG_ATTACHED:
                return a->u32 == b->u32 && session_eq(&a->session, &b->session);
        case PROTO_MSG_RECORD:
                return a->rec.seq == b->rec.seq && a->rec.cmd_id == b->rec.cmd_id &&
                        a->rec.kind == b->rec.kind && a->rec.value == b->rec.value &&
                        a->rec.size == b->rec.size &&
                        (a->rec.size == 0 || memcmp(a->rec.data, b->rec.data, a->rec.size) == 0);
        case PROTO_MSG_SYNCED:
                return a->synced.running == b->synced.running && a->synced.last_cmd == b->synced.last_cmd &&
                        a->synced.last_status == b->synced.last_status;
        case PROTO_MSG_ACK:
                return memcmp(&a->ack, &b->ack, sizeof a->ack) == 0;
        case PROTO_MSG_RESUME:
                return memcmp(&a->resume, &b->resume, sizeof a->resume) == 0;
        case PROTO_MSG_READY:
                return a->u32 == b->u32 && a->u32b == b->u32b;
        case PROTO_MSG_REC_OUTPUT:
                return a->u64 == b->u64 && a->rec.size == b->rec.size &&
                        (a->rec.size == 0 || memcmp(a->rec.data, b->rec.data, a->rec.size) == 0);
        case PROTO_MSG_REC_SIZE:
                return a->u64 == b->u64 && a->cols == b->cols && a->rows == b->rows;
        case PROTO_MSG_FAILED:
                return a->i32 == b->i32 && str_eq(a->str, b->str);
        case PROTO_MSG_HANDOFF:
                return a->handoff.verb == b->handoff.verb && request_eq(&a->handoff.req, &b->handoff.req) &&
                        str_eq(a->handoff.caller, b->handoff.caller) &&
                        a->handoff.caller_uid == b->handoff.caller_uid &&
                        a->handoff.caller_pid == b->handoff.caller_pid &&
                        str_eq(a->handoff.origin, b->handoff.origin);
        default:
                return true;
        }
}

/* The names must exist for anything a peer can send. */
static void touch_names(const Msg *m) {
        CHECK(proto_msg_to_string(m->type));
        CHECK(proto_error_to_string(m->code));
        CHECK(session_state_to_string(m->session.state));
        CHECK(availability_to_string(m->session.availability));
        CHECK(buffering_to_string(m->session.buffering));
        CHECK(buffering_to_string(m->req.buffering));
}

/* Decodes one frame and checks the round trip. Returns the decode result. */
static int check_frame(Frame *f) {
        const uint8_t *payload = buf_ptr(&f->payload);
        size_t len = buf_len(&f->payload);
        Msg m, m2;
        Buf out, p2;
        uint16_t type2;
        uint8_t flags2;
        uint32_t len2;
        int r;

        r = decode(f->type, &f->payload, &m);
        if (r != 0) {
                CHECK(r == 1 || r == -EBADMSG || r == -E2BIG);
                msg_done(&m);
                return r;
        }
        touch_names(&m);

        buf_init(&out, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        CHECK(encode(&m, &out) == 0);
        CHECK(proto_parse_header(buf_ptr(&out), buf_len(&out), &type2, &flags2, &len2) == 0);
        CHECK(type2 == f->type);
        CHECK(len2 == len && buf_len(&out) == PROTO_HEADER_SIZE + len);
        CHECK(memcmp(buf_ptr(&out) + PROTO_HEADER_SIZE, payload, len) == 0);

        buf_init_view(&p2, buf_ptr(&out) + PROTO_HEADER_SIZE, len2);
        CHECK(decode(type2, &p2, &m2) == 0);
        CHECK(msg_eq(&m, &m2));

        msg_done(&m2);
        msg_done(&m);
        buf_done(&out);
        return 0;
}

static int devnull = -EBADF;

/* Runs every complete frame in c; mixes what happened into *digest.
 * Returns <0 when the connection would be closed. */
static int drain(Conn *c, uint64_t *digest, size_t *frames) {
        for (;;) {
                Frame f;
                int r;

                /* Frames may claim an fd: keep one queued (no real peer here). */
                if (c->n_in_fds == 0 && devnull >= 0) {
                        int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
                        if (fd >= 0)
                                c->in_fds[c->n_in_fds++] = fd;
                }
                r = conn_next(c, &f);
                if (r <= 0)
                        return r;
                CHECK(f.len == buf_len(&f.payload));
                CHECK(((f.flags & PROTO_FLAG_FD) != 0) == (f.fd >= 0));
                r = check_frame(&f);
                *digest = (*digest * 1099511628211u) ^ ((uint64_t) f.type << 40 | (uint64_t) f.len << 8 | (uint8_t) r);
                (*frames)++;
                conn_consume(c, &f);
        }
}

/* Feeds the bytes straight into the input buffer, as much as fits. */
static int run_direct(const uint8_t *data, size_t size, uint64_t *digest, size_t *frames) {
        Conn c;
        int r = 0;

        conn_init(&c, -EBADF, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 0);
        while (size > 0) {
                size_t room = c.in.max - buf_len(&c.in), n = MIN(room, size);

                CHECK(n > 0);   /* a full buffer always holds a frame or an error */
                CHECK(buf_put(&c.in, data, n) == 0);
                data += n;
                size -= n;
                r = drain(&c, digest, frames);
                if (r < 0)
                        break;
        }
        conn_done(&c);
        return r;
}

/* Feeds the bytes through a socketpair in pseudo-random pieces. */
static int run_split(const uint8_t *data, size_t size, uint64_t *digest, size_t *frames) {
        uint64_t seed = 14695981039346656037u;
        Conn c;
        int sv[2], r = 0;

        for (size_t i = 0; i < size; i++)
                seed = (seed ^ data[i]) * 1099511628211u;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        conn_init(&c, sv[1], PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 0);

        while (size > 0) {
                size_t n;
                ssize_t w;

                seed = seed * 6364136223846793005u + 1442695040888963407u;
                n = MIN(size, (size_t) (seed >> 55) + 1);       /* 1..512 */
                w = write(sv[0], data, n);
                CHECK(w > 0);
                data += w;
                size -= (size_t) w;
                for (;;) {
                        r = conn_fill(&c);
                        if (r == -EAGAIN) {
                                r = 0;
                                break;
                        }
                        CHECK(r > 0);
                        r = drain(&c, digest, frames);
                        if (r < 0)
                                goto out;
                }
        }
out:
        safe_close(sv[0]);
        conn_done(&c);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint64_t d1 = 0, d2 = 0;
        size_t f1 = 0, f2 = 0;
        int r1, r2;

        if (devnull < 0)
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

        r1 = run_direct(data, size, &d1, &f1);
        r2 = run_split(data, size, &d2, &f2);
        CHECK(r1 == r2);
        CHECK(f1 == f2);
        CHECK(d1 == d2);
        return 0;
}
