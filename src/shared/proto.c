/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "proto.h"

int proto_parse_header(const uint8_t *p, size_t n, uint16_t *ret_type, uint8_t *ret_flags, uint32_t *ret_len) {
        uint32_t len;

        if (n < PROTO_HEADER_SIZE)
                return -EAGAIN;
        if (p[6] != PROTO_VERSION)
                return -EPROTONOSUPPORT;
        len = le32_get(p);
        if (len > PROTO_MAX_PAYLOAD)
                return -EMSGSIZE;
        if (p[7] & ~PROTO_FLAG_FD)
                return -EBADMSG;
        *ret_type = le16_get(p + 4);
        *ret_flags = p[7];
        *ret_len = len;
        return 0;
}

int proto_begin(Buf *b, uint16_t type, uint8_t flags, size_t *ret_start) {
        uint8_t h[PROTO_HEADER_SIZE] = { 0 };

        le16_put(h + 4, type);
        h[6] = PROTO_VERSION;
        h[7] = flags;
        *ret_start = b->size;
        return buf_put(b, h, sizeof h);
}

int proto_end(Buf *b, size_t start) {
        size_t len = b->size - start - PROTO_HEADER_SIZE;

        if (len > PROTO_MAX_PAYLOAD) {
                b->size = start;        /* drop the whole frame */
                return -EMSGSIZE;
        }
        le32_put(b->data + start, (uint32_t) len);
        return 0;
}

int proto_expect_end(const Buf *payload) {
        return buf_len(payload) == 0 ? 0 : -EBADMSG;
}

/* Wraps a frame body: on failure the partial frame is removed. */
#define FRAME(b, type, flags, body)                                     \
        ({                                                              \
                size_t _start;                                          \
                int _r = proto_begin((b), (type), (flags), &_start);    \
                if (_r >= 0)                                            \
                        _r = (body);                                    \
                if (_r >= 0)                                            \
                        _r = proto_end((b), _start);                    \
                else if (_r < 0 && (b)->size >= _start)                 \
                        (b)->size = _start;                             \
                _r;                                                     \
        })

int proto_put_empty(Buf *b, uint16_t type) {
        return FRAME(b, type, 0, 0);
}

int proto_put_fork(Buf *b) {
        return FRAME(b, PROTO_MSG_FORK, PROTO_FLAG_FD, 0);
}

static int put_request_fields(Buf *b, const struct proto_request *r) {
        int k;

        if ((k = buf_put_u32(b, r->flags)) < 0 ||
            (k = buf_put_str(b, r->session)) < 0 ||
            (k = buf_put_str(b, r->name)) < 0 ||
            (k = buf_put_str(b, r->config)) < 0 ||
            (k = buf_put_str(b, r->credential)) < 0 ||
            (k = buf_put_str(b, r->command)) < 0 ||
            (k = buf_put_u64(b, r->idle_timeout)) < 0 ||
            (k = buf_put_u8(b, r->buffering)) < 0 ||
            (k = buf_put_str(b, r->on_finish)) < 0 ||
            (k = buf_put_str(b, r->term)) < 0 ||
            (k = buf_put_u16(b, r->rows)) < 0 ||
            (k = buf_put_u16(b, r->cols)) < 0)
                return k;
        return 0;
}

int proto_put_request(Buf *b, uint16_t type, const struct proto_request *r) {
        return FRAME(b, type, 0, put_request_fields(b, r));
}

static int get_request_fields(Buf *p, struct proto_request *r) {
        int k;

        *r = (struct proto_request) {};
        if ((k = buf_get_u32(p, &r->flags)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_NAME, &r->session)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_NAME, &r->name)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_NAME, &r->config)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_NAME, &r->credential)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_COMMAND, &r->command)) < 0 ||
            (k = buf_get_u64(p, &r->idle_timeout)) < 0 ||
            (k = buf_get_u8(p, &r->buffering)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_TEXT, &r->on_finish)) < 0 ||
            (k = buf_get_str(p, PROTO_MAX_TERM, &r->term)) < 0 ||
            (k = buf_get_u16(p, &r->rows)) < 0 ||
            (k = buf_get_u16(p, &r->cols)) < 0)
                goto fail;
        if (r->buffering >= _BUFFERING_MAX || (*r->term && !proto_term_valid(r->term))) {
                k = -EBADMSG;
                goto fail;
        }
        return 0;
fail:
        proto_request_done(r);
        return k;
}

int proto_get_request(Buf *p, struct proto_request *ret) {
        int r = get_request_fields(p, ret);
        if (r < 0)
                return r;
        r = proto_expect_end(p);
        if (r < 0)
                proto_request_done(ret);
        return r;
}

void proto_request_done(struct proto_request *r) {
        free(r->session);
        free(r->name);
        free(r->config);
        free(r->credential);
        free(r->command);
        free(r->on_finish);
        free(r->term);
        *r = (struct proto_request) {};
}

int proto_put_error(Buf *b, uint16_t code, const char *message) {
        int r;
        size_t start;

        r = proto_begin(b, PROTO_MSG_ERROR, 0, &start);
        if (r < 0)
                return r;
        if ((r = buf_put_u16(b, code)) < 0 ||
            (r = buf_put_bytes(b, strempty(message), MIN(strlen(strempty(message)), PROTO_MAX_TEXT))) < 0) {
                b->size = start;
                return r;
        }
        return proto_end(b, start);
}

int proto_get_error(Buf *p, uint16_t *ret_code, char **ret_message) {
        _cleanup_free_ char *m = NULL;
        uint16_t code;
        int r;

        if ((r = buf_get_u16(p, &code)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_TEXT, &m)) < 0 ||
            (r = proto_expect_end(p)) < 0)
                return r;
        *ret_code = code;
        *ret_message = TAKE_PTR(m);
        return 0;
}

int proto_put_session_fields(Buf *b, const struct proto_session *s) {
        int r;

        if ((r = buf_put_u32(b, s->id)) < 0 ||
            (r = buf_put_str(b, s->instance_id)) < 0 ||
            (r = buf_put_str(b, s->name)) < 0 ||
            (r = buf_put_str(b, s->host)) < 0 ||
            (r = buf_put_str(b, s->owner)) < 0 ||
            (r = buf_put_str(b, s->run_as)) < 0 ||
            (r = buf_put_str(b, s->configuration)) < 0 ||
            (r = buf_put_u8(b, s->state)) < 0 ||
            (r = buf_put_u8(b, s->availability)) < 0 ||
            (r = buf_put_u8(b, s->buffering)) < 0 ||
            (r = buf_put_u8(b, s->temporary)) < 0 ||
            (r = buf_put_u64(b, s->idle_timeout)) < 0 ||
            (r = buf_put_u64(b, s->buffer_size)) < 0 ||
            (r = buf_put_u64(b, s->buffered)) < 0 ||
            (r = buf_put_u64(b, s->dropped)) < 0 ||
            (r = buf_put_u32(b, s->command_id)) < 0 ||
            (r = buf_put_str(b, s->command)) < 0 ||
            (r = buf_put_u64(b, s->created)) < 0 ||
            (r = buf_put_u64(b, s->idle_since)) < 0 ||
            (r = buf_put_str(b, s->holder)) < 0 ||
            (r = buf_put_str(b, s->origin)) < 0 ||
            (r = buf_put_str(b, s->reason)) < 0 ||
            (r = buf_put_u32(b, s->last_command_id)) < 0 ||
            (r = buf_put_str(b, s->last_command)) < 0 ||
            (r = buf_put_i32(b, s->last_exit_status)) < 0 ||
            (r = buf_put_u8(b, s->terminal)) < 0 ||
            (r = buf_put_u32(b, s->watchers)) < 0)
                return r;
        return 0;
}

int proto_put_session(Buf *b, uint16_t type, const struct proto_session *s) {
        return FRAME(b, type, 0, proto_put_session_fields(b, s));
}

int proto_get_session(Buf *p, struct proto_session *s) {
        int r;

        *s = (struct proto_session) {};
        if ((r = buf_get_u32(p, &s->id)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_NAME, &s->instance_id)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_NAME, &s->name)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_NAME, &s->host)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_NAME, &s->owner)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_NAME, &s->run_as)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_NAME, &s->configuration)) < 0 ||
            (r = buf_get_u8(p, &s->state)) < 0 ||
            (r = buf_get_u8(p, &s->availability)) < 0 ||
            (r = buf_get_u8(p, &s->buffering)) < 0 ||
            (r = buf_get_u8(p, &s->temporary)) < 0 ||
            (r = buf_get_u64(p, &s->idle_timeout)) < 0 ||
            (r = buf_get_u64(p, &s->buffer_size)) < 0 ||
            (r = buf_get_u64(p, &s->buffered)) < 0 ||
            (r = buf_get_u64(p, &s->dropped)) < 0 ||
            (r = buf_get_u32(p, &s->command_id)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_COMMAND, &s->command)) < 0 ||
            (r = buf_get_u64(p, &s->created)) < 0 ||
            (r = buf_get_u64(p, &s->idle_since)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_TEXT, &s->holder)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_TEXT, &s->origin)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_TEXT, &s->reason)) < 0 ||
            (r = buf_get_u32(p, &s->last_command_id)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_COMMAND, &s->last_command)) < 0 ||
            (r = buf_get_i32(p, &s->last_exit_status)) < 0 ||
            (r = buf_get_u8(p, &s->terminal)) < 0 ||
            (r = buf_get_u32(p, &s->watchers)) < 0)
                goto fail;
        if (s->state >= _SESSION_STATE_MAX || s->availability >= _AVAILABILITY_MAX ||
            s->buffering >= _BUFFERING_MAX || s->terminal > 1) {
                r = -EBADMSG;
                goto fail;
        }
        return 0;
fail:
        proto_session_done(s);
        return r;
}

void proto_session_done(struct proto_session *s) {
        free(s->instance_id);
        free(s->name);
        free(s->host);
        free(s->owner);
        free(s->run_as);
        free(s->configuration);
        free(s->command);
        free(s->holder);
        free(s->origin);
        free(s->reason);
        free(s->last_command);
        *s = (struct proto_session) {};
}

int proto_session_copy(const struct proto_session *s, struct proto_session *ret) {
        Buf b;
        int r;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        r = proto_put_session_fields(&b, s);
        if (r >= 0)
                r = proto_get_session(&b, ret);
        buf_done(&b);
        return r;
}

int proto_put_record(Buf *b, const struct proto_record *rec) {
        int r;
        size_t start;

        if (rec->size > PROTO_MAX_DATA)
                return -EMSGSIZE;
        r = proto_begin(b, PROTO_MSG_RECORD, 0, &start);
        if (r < 0)
                return r;
        if ((r = buf_put_u64(b, rec->seq)) < 0 ||
            (r = buf_put_u32(b, rec->cmd_id)) < 0 ||
            (r = buf_put_u8(b, rec->kind)) < 0 ||
            (r = buf_put_u64(b, (uint64_t) rec->value)) < 0 ||
            (r = buf_put_bytes(b, rec->data, rec->size)) < 0) {
                b->size = start;
                return r;
        }
        return proto_end(b, start);
}

int proto_get_record(Buf *p, struct proto_record *rec) {
        uint64_t v;
        int r;

        *rec = (struct proto_record) {};
        if ((r = buf_get_u64(p, &rec->seq)) < 0 ||
            (r = buf_get_u32(p, &rec->cmd_id)) < 0 ||
            (r = buf_get_u8(p, &rec->kind)) < 0 ||
            (r = buf_get_u64(p, &v)) < 0 ||
            (r = buf_get_bytes(p, PROTO_MAX_DATA, &rec->data, &rec->size)) < 0 ||
            (r = proto_expect_end(p)) < 0)
                return r;
        if (rec->kind == 0 || rec->kind >= _RECORD_KIND_MAX)
                return -EBADMSG;
        rec->value = (int64_t) v;
        return 0;
}

static int put_rec_output_fields(Buf *b, uint64_t time, const uint8_t *data, size_t size) {
        int r = buf_put_u64(b, time);
        return r < 0 ? r : buf_put_bytes(b, data, size);
}

int proto_put_rec_output(Buf *b, uint64_t time, const uint8_t *data, size_t size) {
        if (size > PROTO_MAX_DATA)
                return -EMSGSIZE;
        return FRAME(b, PROTO_MSG_REC_OUTPUT, 0, put_rec_output_fields(b, time, data, size));
}

int proto_get_rec_output(Buf *p, uint64_t *ret_time, const uint8_t **ret_data, size_t *ret_size) {
        int r;

        if ((r = buf_get_u64(p, ret_time)) < 0 ||
            (r = buf_get_bytes(p, PROTO_MAX_DATA, ret_data, ret_size)) < 0)
                return r;
        return proto_expect_end(p);
}

static int put_rec_size_fields(Buf *b, uint64_t time, uint16_t cols, uint16_t rows) {
        int r;

        if ((r = buf_put_u64(b, time)) < 0 || (r = buf_put_u16(b, cols)) < 0)
                return r;
        return buf_put_u16(b, rows);
}

int proto_put_rec_size(Buf *b, uint64_t time, uint16_t cols, uint16_t rows) {
        return FRAME(b, PROTO_MSG_REC_SIZE, 0, put_rec_size_fields(b, time, cols, rows));
}

int proto_get_rec_size(Buf *p, uint64_t *ret_time, uint16_t *ret_cols, uint16_t *ret_rows) {
        int r;

        if ((r = buf_get_u64(p, ret_time)) < 0 ||
            (r = buf_get_u16(p, ret_cols)) < 0 ||
            (r = buf_get_u16(p, ret_rows)) < 0)
                return r;
        return proto_expect_end(p);
}

void proto_exit_info_encode(const struct proto_exit_info *e, uint8_t ret[static PROTO_EXIT_INFO_SIZE]) {
        const uint64_t v[3] = { e->started, e->finished, e->dropped };

        for (size_t i = 0; i < 3; i++)
                for (size_t k = 0; k < 8; k++)
                        ret[i * 8 + k] = (uint8_t) (v[i] >> (8 * k));
}

int proto_exit_info_decode(const uint8_t *data, size_t size, struct proto_exit_info *ret) {
        uint64_t v[3] = {};

        if (size != PROTO_EXIT_INFO_SIZE)
                return -EBADMSG;
        for (size_t i = 0; i < 3; i++)
                for (size_t k = 0; k < 8; k++)
                        v[i] |= (uint64_t) data[i * 8 + k] << (8 * k);
        *ret = (struct proto_exit_info) { .started = v[0], .finished = v[1], .dropped = v[2] };
        return 0;
}

int proto_put_str_msg(Buf *b, uint16_t type, const char *s) {
        return FRAME(b, type, 0, buf_put_str(b, s));
}

int proto_get_str_msg(Buf *p, size_t max, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        if ((r = buf_get_str(p, max, &s)) < 0 || (r = proto_expect_end(p)) < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int proto_put_u32_msg(Buf *b, uint16_t type, uint32_t v) {
        return FRAME(b, type, 0, buf_put_u32(b, v));
}

int proto_get_u32_msg(Buf *p, uint32_t *ret) {
        int r;

        if ((r = buf_get_u32(p, ret)) < 0)
                return r;
        return proto_expect_end(p);
}

int proto_put_u64_msg(Buf *b, uint16_t type, uint64_t v) {
        return FRAME(b, type, 0, buf_put_u64(b, v));
}

static int put_keys(Buf *b, const uint8_t *keys, size_t n) {
        int r = buf_put_u8(b, (uint8_t) n);
        return r < 0 ? r : buf_put(b, keys, n);
}

int proto_put_term_tty(Buf *b, const uint8_t *keys, size_t n, bool with_fd) {
        if (n == 0 || n > PROTO_DETACH_KEYS_MAX)
                return -EINVAL;
        return FRAME(b, PROTO_MSG_TERM_TTY, with_fd ? PROTO_FLAG_FD : 0, put_keys(b, keys, n));
}

int proto_get_term_tty(Buf *p, uint8_t keys[static PROTO_DETACH_KEYS_MAX], size_t *ret_n) {
        uint8_t n;
        int r;

        if ((r = buf_get_u8(p, &n)) < 0)
                return r;
        if (n == 0 || n > PROTO_DETACH_KEYS_MAX || buf_len(p) != n)
                return -EBADMSG;
        memcpy(keys, buf_ptr(p), n);
        buf_consume(p, n);
        *ret_n = n;
        return 0;
}

int proto_get_u64_msg(Buf *p, uint64_t *ret) {
        int r;

        if ((r = buf_get_u64(p, ret)) < 0)
                return r;
        return proto_expect_end(p);
}

static int put_kv_fields(Buf *b, const struct proto_kv *kv) {
        int r;

        if (kv->n > PROTO_MAX_KV)
                return -E2BIG;
        r = buf_put_u32(b, (uint32_t) kv->n);
        for (size_t i = 0; r >= 0 && i < kv->n; i++) {
                r = buf_put_str(b, kv->keys[i]);
                if (r >= 0)
                        r = buf_put_str(b, kv->values[i]);
        }
        return r;
}

int proto_put_kv(Buf *b, uint16_t type, const struct proto_kv *kv) {
        return FRAME(b, type, 0, put_kv_fields(b, kv));
}

int proto_get_kv(Buf *p, struct proto_kv *kv) {
        uint32_t n;
        int r;

        *kv = (struct proto_kv) {};
        r = buf_get_u32(p, &n);
        if (r < 0)
                return r;
        if (n > PROTO_MAX_KV)
                return -E2BIG;
        for (uint32_t i = 0; i < n; i++) {
                _cleanup_free_ char *k = NULL, *v = NULL;

                if ((r = buf_get_str(p, PROTO_MAX_NAME, &k)) < 0 ||
                    (r = buf_get_str(p, PROTO_MAX_COMMAND, &v)) < 0 ||
                    (r = proto_kv_add(kv, k, v)) < 0)
                        goto fail;
        }
        r = proto_expect_end(p);
        if (r < 0)
                goto fail;
        return 0;
fail:
        proto_kv_done(kv);
        return r;
}

void proto_kv_done(struct proto_kv *kv) {
        for (size_t i = 0; i < kv->n; i++) {
                free(kv->keys[i]);
                free(kv->values[i]);
        }
        free(kv->keys);
        free(kv->values);
        *kv = (struct proto_kv) {};
}

int proto_kv_add(struct proto_kv *kv, const char *key, const char *value) {
        char **k, **v;

        if (kv->n >= PROTO_MAX_KV)
                return -E2BIG;
        k = realloc(kv->keys, (kv->n + 1) * sizeof(char *));
        if (!k)
                return -ENOMEM;
        kv->keys = k;
        v = realloc(kv->values, (kv->n + 1) * sizeof(char *));
        if (!v)
                return -ENOMEM;
        kv->values = v;
        k[kv->n] = strdup(key);
        v[kv->n] = strdup(strempty(value));
        if (!k[kv->n] || !v[kv->n]) {
                free(k[kv->n]);
                free(v[kv->n]);
                return -ENOMEM;
        }
        kv->n++;
        return 0;
}

const char *proto_kv_get(const struct proto_kv *kv, const char *key) {
        for (size_t i = kv->n; i > 0; i--)
                if (streq(kv->keys[i - 1], key))
                        return kv->values[i - 1];
        return NULL;
}

int proto_kv_get_u64(const struct proto_kv *kv, const char *key, uint64_t *ret) {
        const char *v = proto_kv_get(kv, key);
        unsigned long long x;
        char *end;

        if (!v || !*v)
                return -ENOENT;
        if (*v < '0' || *v > '9')
                return -EBADMSG;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno || *end)
                return -EBADMSG;
        *ret = x;
        return 0;
}

static int put_handoff_fields(Buf *b, const struct proto_handoff *h) {
        int r;

        if ((r = buf_put_u16(b, h->verb)) < 0 ||
            (r = put_request_fields(b, &h->req)) < 0 ||
            (r = buf_put_str(b, h->caller)) < 0 ||
            (r = buf_put_u32(b, h->caller_uid)) < 0 ||
            (r = buf_put_u32(b, h->caller_pid)) < 0 ||
            (r = buf_put_str(b, h->origin)) < 0)
                return r;
        return 0;
}

int proto_put_handoff(Buf *b, const struct proto_handoff *h) {
        return FRAME(b, PROTO_MSG_HANDOFF, PROTO_FLAG_FD, put_handoff_fields(b, h));
}

int proto_get_handoff(Buf *p, struct proto_handoff *h) {
        int r;

        *h = (struct proto_handoff) {};
        if ((r = buf_get_u16(p, &h->verb)) < 0)
                return r;
        if ((r = get_request_fields(p, &h->req)) < 0)
                return r;
        if ((r = buf_get_str(p, PROTO_MAX_NAME, &h->caller)) < 0 ||
            (r = buf_get_u32(p, &h->caller_uid)) < 0 ||
            (r = buf_get_u32(p, &h->caller_pid)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_ORIGIN, &h->origin)) < 0 ||
            (r = proto_expect_end(p)) < 0) {
                proto_handoff_done(h);
                return r;
        }
        return 0;
}

void proto_handoff_done(struct proto_handoff *h) {
        proto_request_done(&h->req);
        free(h->caller);
        free(h->origin);
        *h = (struct proto_handoff) {};
}

static const char *const error_table[_PROTO_ERR_MAX] = {
        [PROTO_ERR_NOT_FOUND] = "not-found",
        [PROTO_ERR_PERMISSION_DENIED] = "permission-denied",
        [PROTO_ERR_AUTH_FAILED] = "auth-failed",
        [PROTO_ERR_BUSY] = "busy",
        [PROTO_ERR_INVALID_ARGUMENT] = "invalid-argument",
        [PROTO_ERR_LIMIT_EXCEEDED] = "limit-exceeded",
        [PROTO_ERR_TIMEOUT] = "timeout",
        [PROTO_ERR_CONFIG_ERROR] = "config-error",
        [PROTO_ERR_UNAVAILABLE] = "unavailable",
        [PROTO_ERR_AMBIGUOUS] = "ambiguous",
};

static const char *const state_table[_SESSION_STATE_MAX] = {
        [SESSION_OPENED] = "Opened",
        [SESSION_DISCONNECTED] = "Disconnected",
        [SESSION_BROKEN] = "Broken",
        [SESSION_CLOSED] = "Closed",
};

static const char *const availability_table[_AVAILABILITY_MAX] = {
        [AVAILABILITY_AVAILABLE] = "Available",
        [AVAILABILITY_BUSY] = "Busy",
        [AVAILABILITY_NONE] = "None",
};

static const char *const buffering_table[_BUFFERING_MAX] = {
        [BUFFERING_BLOCK] = "block",
        [BUFFERING_DROP] = "drop",
};

static const char *table_lookup(const char *const *t, size_t n, unsigned i) {
        return i < n && t[i] ? t[i] : NULL;
}

static int table_find(const char *const *t, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (t[i] && streq(t[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *proto_error_to_string(uint16_t code) {
        const char *s = table_lookup(error_table, ELEMENTSOF(error_table), code);
        return s ? s : "unavailable";
}

int proto_error_from_string(const char *s) {
        return table_find(error_table, ELEMENTSOF(error_table), s);
}

const char *session_state_to_string(uint8_t s) {
        const char *x = table_lookup(state_table, ELEMENTSOF(state_table), s);
        return x ? x : "Unknown";
}

int session_state_from_string(const char *s) {
        return table_find(state_table, ELEMENTSOF(state_table), s);
}

const char *availability_to_string(uint8_t a) {
        const char *x = table_lookup(availability_table, ELEMENTSOF(availability_table), a);
        return x ? x : "Unknown";
}

const char *buffering_to_string(uint8_t b) {
        const char *x = table_lookup(buffering_table, ELEMENTSOF(buffering_table), b);
        return x ? x : "default";
}

int buffering_from_string(const char *s) {
        return table_find(buffering_table, ELEMENTSOF(buffering_table), s);
}

uint16_t proto_error_from_errno(int r) {
        switch (-abs(r)) {
        case -ENOENT:
        case -ESRCH:
                return PROTO_ERR_NOT_FOUND;
        case -EPERM:
        case -EACCES:
                return PROTO_ERR_PERMISSION_DENIED;
        case -EBUSY:
                return PROTO_ERR_BUSY;
        case -EINVAL:
        case -EBADMSG:
        case -E2BIG:
        case -EEXIST:
                return PROTO_ERR_INVALID_ARGUMENT;
        case -EDQUOT:
        case -ERANGE:
                return PROTO_ERR_LIMIT_EXCEEDED;
        case -ETIMEDOUT:
                return PROTO_ERR_TIMEOUT;
        case -ENOTUNIQ:
                return PROTO_ERR_AMBIGUOUS;
        default:
                return PROTO_ERR_UNAVAILABLE;
        }
}

const char *proto_msg_to_string(uint16_t type) {
        static const struct { uint16_t type; const char *name; } names[] = {
                { PROTO_REQ_NEW, "REQ_NEW" }, { PROTO_REQ_LIST, "REQ_LIST" },
                { PROTO_REQ_INVOKE, "REQ_INVOKE" }, { PROTO_REQ_REMOVE, "REQ_REMOVE" },
                { PROTO_REQ_DISCONNECT, "REQ_DISCONNECT" }, { PROTO_REQ_CONNECT, "REQ_CONNECT" },
                { PROTO_REQ_RECEIVE, "REQ_RECEIVE" }, { PROTO_REQ_CONFIG_LIST, "REQ_CONFIG_LIST" },
                { PROTO_REQ_CONFIG_SHOW, "REQ_CONFIG_SHOW" },
                { PROTO_REQ_WAIT, "REQ_WAIT" }, { PROTO_MSG_ORIGIN, "ORIGIN" },
                { PROTO_MSG_CONV_REPLY, "CONV_REPLY" }, { PROTO_MSG_ERROR, "ERROR" },
                { PROTO_MSG_OK, "OK" }, { PROTO_MSG_SESSION, "SESSION" }, { PROTO_MSG_END, "END" },
                { PROTO_MSG_CONV_PROMPT, "CONV_PROMPT" }, { PROTO_MSG_KV, "KV" },
                { PROTO_MSG_ATTACHED, "ATTACHED" }, { PROTO_MSG_RECORD, "RECORD" },
                { PROTO_MSG_SYNCED, "SYNCED" }, { PROTO_MSG_DETACHED, "DETACHED" },
                { PROTO_MSG_HEARTBEAT, "HEARTBEAT" }, { PROTO_MSG_ACK, "ACK" }, { PROTO_MSG_RUN, "RUN" },
                { PROTO_MSG_DETACH, "DETACH" }, { PROTO_MSG_RESUME, "RESUME" }, { PROTO_MSG_SPAWN, "SPAWN" }, { PROTO_MSG_READY, "READY" },
                { PROTO_MSG_FAILED, "FAILED" }, { PROTO_MSG_STATUS, "STATUS" },
                { PROTO_MSG_HANDOFF, "HANDOFF" }, { PROTO_MSG_TERMINATE, "TERMINATE" },
                { PROTO_MSG_SPAWNER, "SPAWNER" }, { PROTO_MSG_FORK, "FORK" }, { PROTO_MSG_FORKED, "FORKED" },
                { PROTO_REQ_STOP, "REQ_STOP" }, { PROTO_REQ_WATCH, "REQ_WATCH" }, { PROTO_MSG_STDIN_WINDOW, "STDIN_WINDOW" },
                { PROTO_MSG_STDIN, "STDIN" }, { PROTO_MSG_STDIN_EOF, "STDIN_EOF" },
                { PROTO_MSG_INTERRUPT, "INTERRUPT" }, { PROTO_MSG_INVOKED, "INVOKED" },
                { PROTO_MSG_TERM_OUTPUT, "TERM_OUTPUT" },
                { PROTO_MSG_TERM_NOTICE, "TERM_NOTICE" }, { PROTO_MSG_TERM_POS, "TERM_POS" },
                { PROTO_MSG_TERM_TTY_ASK, "TERM_TTY_ASK" }, { PROTO_MSG_TERM_TTY, "TERM_TTY" }, { PROTO_MSG_TERM_INPUT, "TERM_INPUT" },
                { PROTO_MSG_TERM_SIZE, "TERM_SIZE" },
                { PROTO_MSG_REC_OUTPUT, "REC_OUTPUT" }, { PROTO_MSG_REC_SIZE, "REC_SIZE" },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].type == type)
                        return names[i].name;
        return "UNKNOWN";
}

static int put_attached_fields(Buf *b, uint32_t hb, const struct proto_session *s) {
        int r = buf_put_u32(b, hb);
        return r < 0 ? r : proto_put_session_fields(b, s);
}

int proto_put_attached(Buf *b, uint32_t heartbeat_ms, const struct proto_session *s) {
        return FRAME(b, PROTO_MSG_ATTACHED, 0, put_attached_fields(b, heartbeat_ms, s));
}

int proto_get_attached(Buf *p, uint32_t *ret_heartbeat_ms, struct proto_session *ret) {
        int r;

        if ((r = buf_get_u32(p, ret_heartbeat_ms)) < 0 || (r = proto_get_session(p, ret)) < 0)
                return r;
        r = proto_expect_end(p);
        if (r < 0)
                proto_session_done(ret);
        return r;
}

static int put_synced_fields(Buf *b, const struct proto_synced *s) {
        int r;

        if ((r = buf_put_u8(b, s->running)) < 0 ||
            (r = buf_put_u32(b, s->last_cmd)) < 0 ||
            (r = buf_put_i32(b, s->last_status)) < 0)
                return r;
        return 0;
}

int proto_put_synced(Buf *b, const struct proto_synced *s) {
        return FRAME(b, PROTO_MSG_SYNCED, 0, put_synced_fields(b, s));
}

int proto_get_synced(Buf *p, struct proto_synced *ret) {
        int r;

        if ((r = buf_get_u8(p, &ret->running)) < 0 ||
            (r = buf_get_u32(p, &ret->last_cmd)) < 0 ||
            (r = buf_get_i32(p, &ret->last_status)) < 0)
                return r;
        return proto_expect_end(p);
}

static int put_u8_str(Buf *b, uint8_t v, const char *s) {
        int r = buf_put_u8(b, v);
        return r < 0 ? r : buf_put_str(b, s);
}

static int get_u8_str(Buf *p, size_t max, uint8_t *ret_v, char **ret_s) {
        _cleanup_free_ char *s = NULL;
        uint8_t v;
        int r;

        if ((r = buf_get_u8(p, &v)) < 0 ||
            (r = buf_get_str(p, max, &s)) < 0 ||
            (r = proto_expect_end(p)) < 0)
                return r;
        *ret_v = v;
        *ret_s = TAKE_PTR(s);
        return 0;
}

int proto_put_detached(Buf *b, uint8_t reason, const char *by) {
        return FRAME(b, PROTO_MSG_DETACHED, 0, put_u8_str(b, reason, by));
}

int proto_get_detached(Buf *p, uint8_t *ret_reason, char **ret_by) {
        return get_u8_str(p, PROTO_MAX_TEXT, ret_reason, ret_by);
}

int proto_put_conv_prompt(Buf *b, uint8_t style, const char *text) {
        return FRAME(b, PROTO_MSG_CONV_PROMPT, 0, put_u8_str(b, style, text));
}

int proto_get_conv_prompt(Buf *p, uint8_t *ret_style, char **ret_text) {
        return get_u8_str(p, PROTO_MAX_TEXT, ret_style, ret_text);
}

static int put_u32_pair(Buf *b, uint32_t x, uint32_t y) {
        int r = buf_put_u32(b, x);
        return r < 0 ? r : buf_put_u32(b, y);
}

int proto_put_ready(Buf *b, uint32_t worker_pid, uint32_t shell_pid) {
        return FRAME(b, PROTO_MSG_READY, 0, put_u32_pair(b, worker_pid, shell_pid));
}

int proto_get_ready(Buf *p, uint32_t *ret_worker_pid, uint32_t *ret_shell_pid) {
        int r;

        if ((r = buf_get_u32(p, ret_worker_pid)) < 0 || (r = buf_get_u32(p, ret_shell_pid)) < 0)
                return r;
        return proto_expect_end(p);
}

static int put_failed_fields(Buf *b, int32_t error, const char *message) {
        int r = buf_put_i32(b, error);
        return r < 0 ? r : buf_put_str(b, message);
}

int proto_put_failed(Buf *b, int32_t error, const char *message) {
        return FRAME(b, PROTO_MSG_FAILED, 0, put_failed_fields(b, error, message));
}

int proto_get_failed(Buf *p, int32_t *ret_error, char **ret_message) {
        _cleanup_free_ char *m = NULL;
        int32_t e;
        int r;

        if ((r = buf_get_i32(p, &e)) < 0 ||
            (r = buf_get_str(p, PROTO_MAX_TEXT, &m)) < 0 ||
            (r = proto_expect_end(p)) < 0)
                return r;
        *ret_error = e;
        *ret_message = TAKE_PTR(m);
        return 0;
}

static int put_u64s(Buf *b, const uint64_t *v, size_t n) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++)
                r = buf_put_u64(b, v[i]);
        return r;
}

static int get_u64s(Buf *p, uint64_t *v, size_t n) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < n; i++)
                r = buf_get_u64(p, &v[i]);
        return r < 0 ? r : proto_expect_end(p);
}

int proto_put_ack(Buf *b, const struct proto_ack *a) {
        uint64_t v[4] = { a->seq, a->offset, a->intent_len, a->intent_size };
        return FRAME(b, PROTO_MSG_ACK, 0, put_u64s(b, v, 4));
}

int proto_get_ack(Buf *p, struct proto_ack *ret) {
        uint64_t v[4];
        int r = get_u64s(p, v, 4);

        if (r < 0)
                return r;
        *ret = (struct proto_ack) { .seq = v[0], .offset = v[1], .intent_len = v[2], .intent_size = v[3] };
        return 0;
}

int proto_put_resume(Buf *b, const struct proto_resume *r) {
        uint64_t v[6] = { r->dev[0], r->ino[0], r->size[0], r->dev[1], r->ino[1], r->size[1] };
        return FRAME(b, PROTO_MSG_RESUME, 0, put_u64s(b, v, 6));
}

int proto_get_resume(Buf *p, struct proto_resume *ret) {
        uint64_t v[6];
        int r = get_u64s(p, v, 6);

        if (r < 0)
                return r;
        for (int i = 0; i < 2; i++) {
                ret->dev[i] = v[3 * i];
                ret->ino[i] = v[3 * i + 1];
                ret->size[i] = v[3 * i + 2];
        }
        return 0;
}

static int put_invoked_fields(Buf *b, const struct proto_invoked *i) {
        int r;

        if ((r = buf_put_u32(b, i->cmd_id)) < 0 ||
            (r = buf_put_u64(b, i->stdin_written)) < 0 ||
            (r = buf_put_u64(b, i->stdin_received)) < 0)
                return r;
        return buf_put_u8(b, i->stdin_open);
}

int proto_put_invoked(Buf *b, const struct proto_invoked *i) {
        return FRAME(b, PROTO_MSG_INVOKED, 0, put_invoked_fields(b, i));
}

int proto_get_invoked(Buf *p, struct proto_invoked *ret) {
        int r;

        if ((r = buf_get_u32(p, &ret->cmd_id)) < 0 ||
            (r = buf_get_u64(p, &ret->stdin_written)) < 0 ||
            (r = buf_get_u64(p, &ret->stdin_received)) < 0 ||
            (r = buf_get_u8(p, &ret->stdin_open)) < 0)
                return r;
        if (ret->cmd_id == 0 || ret->stdin_open > 1 || ret->stdin_written > ret->stdin_received)
                return -EBADMSG;
        return proto_expect_end(p);
}

/* --- terminal sessions ------------------------------------------------- */

int proto_put_term_data(Buf *b, uint16_t type, const void *p, size_t n) {
        if (n > PROTO_MAX_DATA)
                return -EMSGSIZE;
        return FRAME(b, type, 0, buf_put(b, p, n));
}

int proto_get_term_data(Buf *p, const uint8_t **ret, size_t *ret_n) {
        size_t n = buf_len(p);

        if (n > PROTO_MAX_DATA)
                return -EBADMSG;
        *ret = buf_ptr(p);
        *ret_n = n;
        buf_consume(p, n);
        return 0;
}

static int put_u16_pair(Buf *b, uint16_t x, uint16_t y) {
        int r = buf_put_u16(b, x);
        return r < 0 ? r : buf_put_u16(b, y);
}

int proto_put_term_size(Buf *b, uint16_t rows, uint16_t cols) {
        return FRAME(b, PROTO_MSG_TERM_SIZE, 0, put_u16_pair(b, rows, cols));
}

int proto_get_term_size(Buf *p, uint16_t *ret_rows, uint16_t *ret_cols) {
        uint16_t rows, cols;
        int r;

        if ((r = buf_get_u16(p, &rows)) < 0 || (r = buf_get_u16(p, &cols)) < 0 || (r = proto_expect_end(p)) < 0)
                return r;
        *ret_rows = rows;
        *ret_cols = cols;
        return 0;
}

bool proto_term_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > PROTO_MAX_TERM || s[0] == '.' || s[0] == '-')
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+_-") == n;
}
