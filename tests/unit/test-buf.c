/* SPDX-License-Identifier: ISC */
/*
 * Buf: typed round trips, truncation (-EBADMSG, never a read past the end),
 * the hard maximum (-EMSGSIZE), string rules (embedded NUL, over-long),
 * read-only views, and that positions stay valid across puts after a
 * partial consume (what proto_begin()/proto_end() rely on).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "tap.h"

static void test_round_trip(void) {
        Buf b;
        uint8_t u8 = 0;
        uint16_t u16 = 0;
        uint32_t u32 = 0;
        uint64_t u64 = 0;
        int32_t i32 = 0;
        char *s = NULL;
        const uint8_t *p = NULL;
        size_t n = 0;
        uint8_t raw[3] = {};

        buf_init(&b, 1024);
        ok(buf_put_u8(&b, 0xab) == 0, "put u8");
        ok(buf_put_u16(&b, 0xbeef) == 0, "put u16");
        ok(buf_put_u32(&b, 0xdeadbeefu) == 0, "put u32");
        ok(buf_put_u64(&b, UINT64_C(0x0123456789abcdef)) == 0, "put u64");
        ok(buf_put_i32(&b, -42) == 0, "put i32");
        ok(buf_put_str(&b, "hello") == 0, "put str");
        ok(buf_put_str(&b, NULL) == 0, "put NULL str");
        ok(buf_put_str(&b, "") == 0, "put empty str");
        ok(buf_put_bytes(&b, "\0\1\2", 3) == 0, "put bytes with NUL");
        ok(buf_put(&b, "xyz", 3) == 0, "put raw");
        is_int(buf_len(&b), 1 + 2 + 4 + 8 + 4 + (4 + 5) + 4 + 4 + (4 + 3) + 3, "length adds up");

        /* Little endian on the wire, whatever the host is. */
        ok(memcmp(buf_ptr(&b), "\xab\xef\xbe\xef\xbe\xad\xde\xef\xcd\xab\x89\x67\x45\x23\x01", 15) == 0,
           "integers are little endian");

        ok(buf_get_u8(&b, &u8) == 0 && u8 == 0xab, "get u8");
        ok(buf_get_u16(&b, &u16) == 0 && u16 == 0xbeef, "get u16");
        ok(buf_get_u32(&b, &u32) == 0 && u32 == 0xdeadbeefu, "get u32");
        ok(buf_get_u64(&b, &u64) == 0 && u64 == UINT64_C(0x0123456789abcdef), "get u64");
        ok(buf_get_i32(&b, &i32) == 0 && i32 == -42, "get i32");
        ok(buf_get_str(&b, 100, &s) == 0, "get str");
        is_str(s, "hello", "str content");
        free(s);
        s = NULL;
        ok(buf_get_str(&b, 100, &s) == 0, "get NULL str");
        is_str(s, "", "NULL arrives as empty");
        free(s);
        s = NULL;
        ok(buf_get_str(&b, 0, &s) == 0, "empty str with max 0");
        is_str(s, "", "empty content");
        free(s);
        s = NULL;
        ok(buf_get_bytes(&b, 3, &p, &n) == 0 && n == 3 && memcmp(p, "\0\1\2", 3) == 0, "get bytes");
        ok(buf_get(&b, raw, 3) == 0 && memcmp(raw, "xyz", 3) == 0, "get raw");
        is_int(buf_len(&b), 0, "all consumed");
        is_int(buf_get_u8(&b, &u8), -EBADMSG, "get from empty buffer fails");
        buf_done(&b);
        ok(b.data == NULL && b.size == 0 && b.max == 1024, "buf_done resets but keeps max");
}

static void test_truncation(void) {
        /* Every prefix of a valid encoding must fail cleanly.  The bytes
         * are copied into an exactly-sized heap block so ASan catches any
         * read past the end. */
        Buf w;

        buf_init(&w, 256);
        buf_put_u8(&w, 1);
        buf_put_u16(&w, 2);
        buf_put_u32(&w, 3);
        buf_put_u64(&w, 4);
        buf_put_str(&w, "abc");

        for (size_t cut = 0; cut < buf_len(&w); cut++) {
                uint8_t *copy = malloc(cut ? cut : 1);
                Buf v;
                uint8_t u8;
                uint16_t u16;
                uint32_t u32;
                uint64_t u64;
                char *s = NULL;
                int r;

                memcpy(copy, buf_ptr(&w), cut);
                buf_init_view(&v, copy, cut);
                if ((r = buf_get_u8(&v, &u8)) >= 0 &&
                    (r = buf_get_u16(&v, &u16)) >= 0 &&
                    (r = buf_get_u32(&v, &u32)) >= 0 &&
                    (r = buf_get_u64(&v, &u64)) >= 0)
                        r = buf_get_str(&v, 16, &s);
                is_int(r, -EBADMSG, "truncated encoding is -EBADMSG");
                ok(s == NULL, "no string returned on truncation (cut %zu)", cut);
                ok(v.offset <= cut, "cursor never passes the end (cut %zu)", cut);
                free(copy);
        }
        buf_done(&w);
}

static void test_truncated_fields(void) {
        static const uint8_t three[3] = { 1, 2, 3 };
        static const uint8_t len_only[4] = { 10, 0, 0, 0 };       /* says 10 bytes, has none */
        const uint8_t *p;
        size_t n;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        int32_t i32;
        Buf v;

        buf_init_view(&v, three, 1);
        is_int(buf_get_u16(&v, &u16), -EBADMSG, "u16 from 1 byte");
        is_int(v.offset, 0, "failed get does not move the cursor");
        buf_init_view(&v, three, 3);
        is_int(buf_get_u32(&v, &u32), -EBADMSG, "u32 from 3 bytes");
        is_int(buf_get_i32(&v, &i32), -EBADMSG, "i32 from 3 bytes");
        is_int(buf_get_u64(&v, &u64), -EBADMSG, "u64 from 3 bytes");
        is_int(buf_get(&v, NULL, 4), -EBADMSG, "raw 4 from 3 bytes");
        ok(buf_get(&v, NULL, 3) == 0 && buf_len(&v) == 0, "raw skip of all 3 bytes");

        buf_init_view(&v, len_only, sizeof len_only);
        is_int(buf_get_bytes(&v, 100, &p, &n), -EBADMSG, "length prefix beyond the data");
        buf_init_view(&v, len_only, sizeof len_only);
        is_int(buf_get_bytes(&v, 5, &p, &n), -E2BIG, "length prefix over max is -E2BIG");
}

static void test_strings(void) {
        Buf b;
        char *s = NULL;
        char big[300];

        buf_init(&b, 1024);
        buf_put_bytes(&b, "ab\0cd", 5);
        is_int(buf_get_str(&b, 100, &s), -EBADMSG, "embedded NUL rejected");
        ok(s == NULL, "nothing returned for embedded NUL");

        buf_reset(&b);
        buf_put_bytes(&b, "abc\0", 4);
        is_int(buf_get_str(&b, 100, &s), -EBADMSG, "trailing NUL rejected");

        buf_reset(&b);
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        buf_put_str(&b, big);
        is_int(buf_get_str(&b, 298, &s), -E2BIG, "over-long string is -E2BIG");
        ok(s == NULL, "nothing returned for over-long string");

        buf_reset(&b);
        buf_put_str(&b, big);
        ok(buf_get_str(&b, 299, &s) == 0 && s && strlen(s) == 299, "string of exactly max accepted");
        free(s);

        /* A length that would overflow a 32-bit add is just too big. */
        buf_reset(&b);
        buf_put_u32(&b, UINT32_MAX);
        is_int(buf_get_str(&b, SIZE_MAX, &s), -EBADMSG, "length 2^32-1 with no data is -EBADMSG");
        buf_done(&b);
}

static void test_max(void) {
        Buf b;
        uint8_t *p;
        uint8_t chunk[100] = {};

        buf_init(&b, 10);
        ok(buf_put(&b, "0123456789", 10) == 0, "fill to max");
        is_int(buf_put_u8(&b, 1), -EMSGSIZE, "one more byte is -EMSGSIZE");
        is_int(buf_len(&b), 10, "failed put changes nothing");
        is_int(buf_reserve(&b, 1, &p), -EMSGSIZE, "reserve past max");
        buf_consume(&b, 4);
        ok(buf_put(&b, "abcd", 4) == 0, "room again after consume");
        ok(memcmp(buf_ptr(&b), "456789abcd", 10) == 0, "content after consume and put");
        is_int(buf_put_u8(&b, 1), -EMSGSIZE, "max applies to unread bytes");
        buf_done(&b);

        buf_init(&b, 0);
        is_int(buf_put_u8(&b, 1), -EMSGSIZE, "max 0 refuses everything");
        ok(buf_put(&b, NULL, 0) == 0, "empty put always succeeds");
        buf_done(&b);

        buf_init(&b, 1000);
        for (int i = 0; i < 10; i++)
                buf_put(&b, chunk, sizeof chunk);
        is_int(buf_len(&b), 1000, "1000 bytes in chunks");
        is_int(buf_put(&b, chunk, 1), -EMSGSIZE, "full");
        ok(b.alloc >= 1000, "allocation grew to hold max");

        is_int(buf_put_bytes(&b, chunk, 1), -EMSGSIZE, "put_bytes past max");
        buf_reset(&b);
        is_int(buf_len(&b), 0, "reset empties");
        ok(buf_reserve(&b, 1000, &p) == 0, "reserve max after reset");
        memset(p, 'z', 1000);
        buf_commit(&b, 1000);
        is_int(buf_len(&b), 1000, "commit after reserve");
        buf_done(&b);
}

static void test_reserve_commit(void) {
        Buf b;
        uint8_t *p;

        buf_init(&b, 64);
        ok(buf_reserve(&b, 5, &p) == 0, "reserve 5");
        memcpy(p, "hello", 5);
        is_int(buf_len(&b), 0, "reserve does not commit");
        buf_commit(&b, 3);
        is_int(buf_len(&b), 3, "partial commit");
        ok(memcmp(buf_ptr(&b), "hel", 3) == 0, "committed bytes");
        buf_done(&b);
}

static void test_positions_stable(void) {
        /* A position recorded as b.size before a series of puts must still
         * name the same bytes afterwards, even with a consumed prefix. */
        Buf b;
        uint8_t junk[200];
        size_t start;

        memset(junk, 'j', sizeof junk);
        buf_init(&b, 4096);
        buf_put(&b, junk, sizeof junk);
        buf_consume(&b, 120);
        start = b.size;
        for (int i = 0; i < 100; i++)
                buf_put_u32(&b, (uint32_t) i);
        ok(le32_get(b.data + start) == 0 && le32_get(b.data + start + 4 * 99) == 99,
           "recorded position survives growth after a partial consume");
        ok(buf_len(&b) == 80 + 400, "unread byte count");
        buf_consume(&b, 80);
        ok(le32_get(buf_ptr(&b)) == 0, "consume compacts without losing data");
        buf_consume(&b, 400);
        ok(b.offset == 0 && b.size == 0, "consume of everything resets");
        buf_done(&b);

        /* Streaming through a small buffer: memory stays bounded. */
        buf_init(&b, 100);
        for (int i = 0; i < 10000; i++) {
                if (buf_put(&b, junk, 60) < 0)
                        break;
                buf_consume(&b, 59);
        }
        ok(buf_len(&b) <= 100 && b.alloc <= 256, "queue use keeps the allocation small (alloc %zu)", b.alloc);
        buf_done(&b);
}

static void test_view(void) {
        static const uint8_t data[] = { 3, 0, 0, 0, 'a', 'b', 'c', 7 };
        Buf v;
        uint8_t *p;
        char *s = NULL;
        uint8_t u8;

        buf_init_view(&v, data, sizeof data);
        is_int(buf_len(&v), 8, "view length");
        ok(buf_ptr(&v) == data, "view points at the memory");
        is_int(buf_put_u8(&v, 1), -EROFS, "puts into a view are refused");
        is_int(buf_reserve(&v, 1, &p), -EROFS, "reserve in a view is refused");
        ok(buf_get_str(&v, 10, &s) == 0, "string from view");
        is_str(s, "abc", "string content");
        free(s);
        ok(buf_get_u8(&v, &u8) == 0 && u8 == 7, "trailing u8");
        is_int(buf_get_u8(&v, &u8), -EBADMSG, "end of view");
        buf_done(&v);   /* must not free memory it does not own */
        ok(true, "buf_done on a view does not free");

        buf_init_view(&v, data, 0);
        is_int(buf_get_u8(&v, &u8), -EBADMSG, "empty view");
}

int main(void) {
        plan(0);
        test_round_trip();
        test_truncation();
        test_truncated_fields();
        test_strings();
        test_max();
        test_reserve_commit();
        test_positions_stable();
        test_view();
        return done_testing();
}
