/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(Buf *b, size_t max) {
        *b = (Buf) { .max = max };
}

void buf_done(Buf *b) {
        if (b->alloc)
                free(b->data);
        *b = (Buf) { .max = b->max };
}

void buf_init_view(Buf *b, const void *data, size_t size) {
        *b = (Buf) { .data = (uint8_t *) data, .size = size, .max = size };
}

void buf_reset(Buf *b) {
        b->size = b->offset = 0;
}

/* Compaction happens here and never in buf_reserve(): positions recorded
 * while a frame is being built (proto_begin()'s start, conn_attach_fd())
 * must stay valid across the puts that follow.  Moving the unread bytes
 * only once the read side passes half the allocation keeps this amortized
 * O(1) per byte. */
void buf_consume(Buf *b, size_t n) {
        if (n > buf_len(b))
                n = buf_len(b);
        b->offset += n;
        if (b->offset == b->size)
                b->offset = b->size = 0;
        else if (b->alloc > 0 && b->offset >= b->alloc / 2) {
                memmove(b->data, b->data + b->offset, buf_len(b));
                b->size -= b->offset;
                b->offset = 0;
        }
}

int buf_reserve(Buf *b, size_t n, uint8_t **ret) {
        size_t need;

        if (b->data && !b->alloc)
                return -EROFS;
        if (buf_len(b) > b->max || n > b->max - buf_len(b))
                return -EMSGSIZE;
        /* No compaction here, see buf_consume().  The unread bytes are at
         * most max, so the allocation never needs more than max + offset. */
        need = b->size + n;
        if (need > b->alloc) {
                size_t cap = b->offset > SIZE_MAX - b->max ? SIZE_MAX : b->max + b->offset;
                size_t a = b->alloc ? b->alloc : 256;
                uint8_t *p;

                while (a < need && a <= SIZE_MAX / 2)
                        a *= 2;
                if (a < need || a > cap)
                        a = cap;        /* need <= cap, see the check above */
                p = realloc(b->data, a);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->alloc = a;
        }
        if (ret)
                *ret = b->data + b->size;
        return 0;
}

void buf_commit(Buf *b, size_t n) {
        b->size += n;
}

int buf_put(Buf *b, const void *p, size_t n) {
        uint8_t *d;
        int r;

        if (n == 0)
                return 0;
        r = buf_reserve(b, n, &d);
        if (r < 0)
                return r;
        memcpy(d, p, n);
        b->size += n;
        return 0;
}

int buf_put_u8(Buf *b, uint8_t v) {
        return buf_put(b, &v, 1);
}

int buf_put_u16(Buf *b, uint16_t v) {
        uint8_t p[2];
        le16_put(p, v);
        return buf_put(b, p, 2);
}

int buf_put_u32(Buf *b, uint32_t v) {
        uint8_t p[4];
        le32_put(p, v);
        return buf_put(b, p, 4);
}

int buf_put_u64(Buf *b, uint64_t v) {
        uint8_t p[8];
        for (int i = 0; i < 8; i++)
                p[i] = v >> (8 * i);
        return buf_put(b, p, 8);
}

int buf_put_i32(Buf *b, int32_t v) {
        return buf_put_u32(b, (uint32_t) v);
}

int buf_put_bytes(Buf *b, const void *p, size_t n) {
        int r;

        if (n > UINT32_MAX)
                return -EMSGSIZE;
        r = buf_put_u32(b, (uint32_t) n);
        if (r < 0)
                return r;
        return buf_put(b, p, n);
}

int buf_put_str(Buf *b, const char *s) {
        return buf_put_bytes(b, s, s ? strlen(s) : 0);
}

int buf_get(Buf *b, void *p, size_t n) {
        if (buf_len(b) < n)
                return -EBADMSG;
        if (p)
                memcpy(p, buf_ptr(b), n);
        b->offset += n;
        return 0;
}

int buf_get_u8(Buf *b, uint8_t *v) {
        return buf_get(b, v, 1);
}

int buf_get_u16(Buf *b, uint16_t *v) {
        if (buf_len(b) < 2)
                return -EBADMSG;
        *v = le16_get(buf_ptr(b));
        b->offset += 2;
        return 0;
}

int buf_get_u32(Buf *b, uint32_t *v) {
        if (buf_len(b) < 4)
                return -EBADMSG;
        *v = le32_get(buf_ptr(b));
        b->offset += 4;
        return 0;
}

int buf_get_u64(Buf *b, uint64_t *v) {
        const uint8_t *p = buf_ptr(b);
        uint64_t x = 0;

        if (buf_len(b) < 8)
                return -EBADMSG;
        for (int i = 0; i < 8; i++)
                x |= (uint64_t) p[i] << (8 * i);
        *v = x;
        b->offset += 8;
        return 0;
}

int buf_get_i32(Buf *b, int32_t *v) {
        uint32_t u;
        int r = buf_get_u32(b, &u);
        if (r < 0)
                return r;
        *v = (int32_t) u;
        return 0;
}

int buf_get_bytes(Buf *b, size_t max, const uint8_t **ret, size_t *ret_size) {
        uint32_t n;
        int r;

        r = buf_get_u32(b, &n);
        if (r < 0)
                return r;
        if (n > max)
                return -E2BIG;
        if (buf_len(b) < n)
                return -EBADMSG;
        *ret = buf_ptr(b);
        *ret_size = n;
        b->offset += n;
        return 0;
}

int buf_get_str(Buf *b, size_t max, char **ret) {
        const uint8_t *p;
        size_t n;
        char *s;
        int r;

        r = buf_get_bytes(b, max, &p, &n);
        if (r < 0)
                return r;
        if (memchr(p, 0, n))
                return -EBADMSG;
        s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, p, n);
        s[n] = 0;
        *ret = s;
        return 0;
}
