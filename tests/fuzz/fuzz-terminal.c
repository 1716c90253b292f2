/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the terminal screen state (terminal.c and our grid,
 * screen.c, on libvterm's parser and state; libvterm's own VTermScreen,
 * which crashed on such input, is not used).
 *
 * Input: byte 0 and 1 pick the size (rows 1..64, cols 1..160), byte 2 the
 * scrollback (0..255 lines).  The rest is split at 0xff 0xfe pairs into
 * pieces: a piece whose first byte is 0x01 resizes (next two bytes), 0x02
 * renders (the next byte caps the scrollback; bit 0 of the one after asks
 * for TERMINAL_RENDER_WIPE), anything else is fed as is
 * (in one go, or cut in two where its first byte says).
 *
 * Every render must come back: fed into a fresh terminal of the same size
 * it must never crash, and that terminal's own render must then be a fixed
 * point — rendering it again, fed into a third terminal, gives the same
 * bytes (from three columns up, without combining characters: see
 * has_combining()).  Every cell of both screens is read back and checked
 * (widths, code points).  Replies and marks are collected and checked for
 * bounds.  Any violation abort()s.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vterm.h>

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

/* Whether p[0..n) has a character libvterm joins to the one before it
 * (a combining character): libvterm (as B and C) drops one that comes in
 * the last column after an ASCII letter begins a run of text, or in a
 * later write, which terminals do not; renders with them are left out of
 * the fixed-point check. */
static bool has_combining(const uint8_t *p, size_t n) {
        static VTerm *vt;

        if (!vt) {
                vt = vterm_new(1, 8);
                vterm_set_utf8(vt, 1);
                vterm_state_reset(vterm_obtain_state(vt), 1);
        }
        for (size_t i = 0; i < n; i++) {
                size_t len = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc0 ? 2 : 1;
                VTermPos pos;

                if (len == 1 || i + len > n)
                        continue;
                vterm_input_write(vt, "\ra", 2);
                vterm_input_write(vt, (const char *) p + i, len);
                vterm_state_get_cursorpos(vterm_obtain_state(vt), &pos);
                if (pos.col == 1)
                        return true;
                i += len - 1;
        }
        return false;
}

/* Every cell of both screens: a sane width, code points (a right half
 * holds none). */
static void check_cells(Terminal *t) {
        unsigned rows, cols;
        TerminalCell c;

        terminal_get_size(t, &rows, &cols);
        for (int primary = 0; primary < 2; primary++)
                for (unsigned r = 0; r < rows; r++)
                        for (unsigned k = 0; k < cols; k++) {
                                CHECK(terminal_get_cell(t, primary, r, k, &c) == 0);
                                CHECK(c.width <= 2);
                                for (unsigned i = 0; i < TERMINAL_MAX_CHARS && c.chars[i]; i++)
                                        CHECK(c.chars[i] <= 0x10ffff);
                        }
        CHECK(terminal_get_cell(t, false, rows, 0, &c) == -EINVAL);
        CHECK(terminal_get_cell(t, false, 0, cols, &c) == -EINVAL);
}

static void render_into(Terminal *t, Buf *out, unsigned max_sb, TerminalRenderFlags flags) {
        buf_reset(out);
        CHECK(terminal_render(t, out, max_sb, flags) == 0);
}

/* a rendered (with flags) into a fresh b, b into a fresh c: b and c render
 * the same. */
static void check_render(Terminal *a, unsigned max_sb, TerminalRenderFlags flags) {
        unsigned rows, cols;
        Terminal *b = NULL, *c = NULL;
        Buf ra, rb, rc;

        terminal_get_size(a, &rows, &cols);
        buf_init(&ra, 64u << 20);
        buf_init(&rb, 64u << 20);
        buf_init(&rc, 64u << 20);
        render_into(a, &ra, max_sb, flags);
        CHECK(terminal_new(rows, cols, max_sb, &b) == 0);
        terminal_feed(b, buf_ptr(&ra), buf_len(&ra));
        render_into(b, &rb, max_sb, 0);
        CHECK(terminal_new(rows, cols, max_sb, &c) == 0);
        terminal_feed(c, buf_ptr(&rb), buf_len(&rb));
        render_into(c, &rc, max_sb, 0);
        /* (Two columns: libvterm itself, as B and C, scrolls once more
         * after a wide character that wrapped and filled a row; real
         * terminals are not libvterm.) */
        if (cols > 2 && !has_combining(buf_ptr(&ra), buf_len(&ra)))
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
                        check_render(t, p[1], len >= 3 && (p[2] & 1) ? TERMINAL_RENDER_WIPE : 0);
                else if (len > 0) {
                        size_t cut = len > 1 ? p[0] % len : 0;

                        terminal_feed(t, p, cut);
                        terminal_feed(t, p + cut, len - cut);
                }
                o += len + 2;
        }
        check_render(t, 255, 0);
        check_cells(t);
        CHECK(terminal_scrollback_lines(t) <= data[2]);
        CHECK(terminal_screen_text(t, &text) == 0 && text);
        free(text);
        terminal_free(t);
        return 0;
}
