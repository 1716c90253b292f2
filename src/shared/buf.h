/* SPDX-License-Identifier: ISC */
/*
 * Buf: a growable byte buffer with a hard maximum size and a read cursor,
 * in the spirit of OpenSSH's sshbuf.  Typed little-endian put/get; every get
 * fails with -EBADMSG on truncation and never reads past the end.  Pure: no
 * I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Buf {
        uint8_t *data;
        size_t size;     /* bytes stored, including already-read ones */
        size_t offset;   /* read cursor */
        size_t alloc;
        size_t max;      /* hard limit on size */
} Buf;

void buf_init(Buf *b, size_t max);
void buf_done(Buf *b);
/* A read-only view over existing memory (no ownership, no puts). */
void buf_init_view(Buf *b, const void *data, size_t size);

static inline size_t buf_len(const Buf *b) { return b->size - b->offset; }
/* Never NULL: an empty buffer that never allocated points at a static byte,
 * so that memchr/memcpy over buf_ptr() and buf_len() are always defined. */
static inline const uint8_t *buf_ptr(const Buf *b) {
        static const uint8_t empty[1];
        return b->data ? b->data + b->offset : empty;
}

void buf_reset(Buf *b);
/* Drop n bytes from the read side; compacts lazily. */
void buf_consume(Buf *b, size_t n);
/* Make room for n more bytes and return a pointer to them (not yet committed). */
int buf_reserve(Buf *b, size_t n, uint8_t **ret);
void buf_commit(Buf *b, size_t n);

int buf_put(Buf *b, const void *p, size_t n);
int buf_put_u8(Buf *b, uint8_t v);
int buf_put_u16(Buf *b, uint16_t v);
int buf_put_u32(Buf *b, uint32_t v);
int buf_put_u64(Buf *b, uint64_t v);
int buf_put_i32(Buf *b, int32_t v);
/* u32 length + bytes; NULL is the empty string. */
int buf_put_str(Buf *b, const char *s);
int buf_put_bytes(Buf *b, const void *p, size_t n);

int buf_get(Buf *b, void *p, size_t n);
int buf_get_u8(Buf *b, uint8_t *v);
int buf_get_u16(Buf *b, uint16_t *v);
int buf_get_u32(Buf *b, uint32_t *v);
int buf_get_u64(Buf *b, uint64_t *v);
int buf_get_i32(Buf *b, int32_t *v);
/* Allocates a NUL-terminated copy; rejects embedded NULs and strings over max. */
int buf_get_str(Buf *b, size_t max, char **ret);
/* Points into the buffer (valid until the buffer changes). */
int buf_get_bytes(Buf *b, size_t max, const uint8_t **ret, size_t *ret_size);

/* Little-endian helpers for fixed headers. */
static inline void le16_put(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void le32_put(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static inline uint16_t le16_get(const uint8_t *p) { return (uint16_t) (p[0] | p[1] << 8); }
static inline uint32_t le32_get(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
