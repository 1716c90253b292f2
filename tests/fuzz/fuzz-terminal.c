/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the terminal screen state (terminal.c on libvterm).
 *
 * Input: byte 0 and 1 pick the size (rows 1..64, cols 1..160), byte 2 the
 * scrollback (0..255 lines).  The rest is split at 0xff 0xfe pairs into
 * pieces: a piece whose first byte is 0x01 resizes (next two bytes), 0x02
 * renders (the next byte caps the scrollback), anything else is fed as is
 * (in one go, or cut in two where its first byte says).
 *
 * Every render must come back: fed into a fresh terminal of the same size
 * it must never crash, and that terminal's own render must then be a fixed
 * point — rendering it again, fed into a third terminal, gives the same
 * bytes.  Replies and marks are collected and checked for bounds.  Any
 * violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "terminal.h"
#include "fuzz.h"

static void on_reply(const uint8_t *p, size_t n, void *userdata) {
        size_t *total = userdata;

        CHECK(p && n > 0 && n < 4096);
        *total += n;
}

static void on_mark(char kind, const char *args, size_t n, void *userdata) {
        CHECK(args && n <= TERMINAL_MAX_MARK && strlen(args) == n);
}

static void render_into(Terminal *t, Buf *out, unsigned max_sb) {
        buf_reset(out);
        CHECK(terminal_render(t, out, max_sb) == 0);
}

static void check_render(Terminal *a, unsigned max_sb) {
        unsigned rows, cols;
        Terminal *b = NULL, *c = NULL;
        Buf ra, rb, rc;

        terminal_get_size(a, &rows, &cols);
        buf_init(&ra, 64u << 20);
        buf_init(&rb, 64u << 20);
        buf_init(&rc, 64u << 20);
        render_into(a, &ra, max_sb);
        CHECK(terminal_new(rows, cols, max_sb, &b) == 0);
        terminal_feed(b, buf_ptr(&ra), buf_len(&ra));
        render_into(b, &rb, max_sb);
        CHECK(terminal_new(rows, cols, max_sb, &c) == 0);
        terminal_feed(c, buf_ptr(&rb), buf_len(&rb));
        render_into(c, &rc, max_sb);
        CHECK(buf_len(&rb) == buf_len(&rc) && memcmp(buf_ptr(&rb), buf_ptr(&rc), buf_len(&rb)) == 0);
        terminal_free(b);
        terminal_free(c);
        buf_done(&ra);
        buf_done(&rb);
        buf_done(&rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Terminal *t = NULL;
        size_t replies = 0, o = 3;
        char *text = NULL;

        if (size < 3)
                return 0;
        CHECK(terminal_new(1 + data[0] % 64, 1 + data[1] % 160, data[2], &t) == 0);
        terminal_set_reply_handler(t, on_reply, &replies);
        terminal_set_mark_handler(t, on_mark, NULL);
        while (o < size) {
                const uint8_t *end = memmem(data + o, size - o, "\xff\xfe", 2);
                size_t len = end ? (size_t) (end - (data + o)) : size - o;
                const uint8_t *p = data + o;

                if (len >= 3 && p[0] == 0x01)
                        CHECK(terminal_resize(t, 1 + p[1] % 64, 1 + p[2] % 160) == 0);
                else if (len >= 2 && p[0] == 0x02)
                        check_render(t, p[1]);
                else if (len > 0) {
                        size_t cut = len > 1 ? p[0] % len : 0;

                        terminal_feed(t, p, cut);
                        terminal_feed(t, p + cut, len - cut);
                }
                o += len + 2;
        }
        check_render(t, 255);
        CHECK(terminal_scrollback_lines(t) <= data[2]);
        CHECK(terminal_screen_text(t, &text) == 0 && text);
        free(text);
        terminal_free(t);
        return 0;
}
