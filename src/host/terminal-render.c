/* SPDX-License-Identifier: ISC */
/*
 * A terminal session's screen as bytes (see terminal.h): the rendering
 * that makes a client's terminal show what the session shows -- reset,
 * scrollback, screen, title, cursor, modes -- built from the grid
 * (screen.c) and the state terminal.c keeps, never from the program's own
 * bytes; and the visible screen as text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "terminal-internal.h"

static int put_str(Buf *out, const char *s) {
        return buf_put(out, s, strlen(s));
}

_printf_(2, 3)
static int put_fmt(Buf *out, const char *fmt, ...) {
        char tmp[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof tmp)
                return -EINVAL;
        return buf_put(out, tmp, (size_t) n);
}

/* ------------------------------------------------------------------ render */

/* Draws a buffer row by row.  A row full to its last column, followed by
 * one that starts with a character, probably wrapped into it: the next
 * row is then drawn by letting the line wrap (the cursor, past the last
 * column, moves down as the next character comes; no row scrolls), so that
 * the outer terminal knows them as one line. */
static int render_screen(Terminal *t, Buf *out, bool alternate) {
        bool prev_full = false;
        int r = 0;

        for (unsigned row = 0; row < t->rows && r >= 0; row++) {
                const ScreenCell *cells = screen_row(t->screen, alternate, row, NULL);
                unsigned width = 0;
                bool full = false;

                if (!prev_full || screen_drawn_blank(cells, 0, t->cols))
                        r = put_fmt(out, "\033[%u;1H", row + 1);
                if (r >= 0)
                        r = screen_render_row(t->screen, alternate, row, out, &width, &full);
                prev_full = width == t->cols && full;
        }
        return r;
}

/* DECSCUSR, if not libvterm's default (a blinking block). */
static int put_cursor_style(Buf *out, int shape, bool blink, bool force) {
        int n = shape == VTERM_PROP_CURSORSHAPE_UNDERLINE ? 3 : shape == VTERM_PROP_CURSORSHAPE_BAR_LEFT ? 5 : 1;

        if (shape == VTERM_PROP_CURSORSHAPE_BLOCK && blink && !force)
                return 0;
        return put_fmt(out, "\033[%d q", n + !blink);
}

/* The title, as printable UTF-8 (no C0/C1 controls, which would end or
 * extend the OSC in the outer terminal). */
static int render_title(Terminal *t, Buf *out) {
        const uint8_t *s = (const uint8_t *) t->title;
        int r;

        if (!s || !*s)
                return 0;
        r = put_str(out, "\033]2;");
        for (size_t i = 0; s[i] && r >= 0;) {
                size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3 :
                             (s[i] & 0xf8) == 0xf0 ? 4 : 0;
                bool good = len > 0;

                for (size_t k = 1; good && k < len; k++)
                        good = (s[i + k] & 0xc0) == 0x80;
                if (good && len == 1)
                        good = s[i] >= 0x20 && s[i] != 0x7f;
                if (good && len == 2)
                        good = !(s[i] == 0xc2 && s[i + 1] < 0xa0) && s[i] >= 0xc2;
                if (good)
                        r = buf_put(out, s + i, len);
                i += good ? len : 1;
        }
        if (r >= 0)
                r = put_str(out, "\a");
        return r;
}

/* Line feeds on the last row: the top n rows go into the history. */
static int push_rows(Buf *out, unsigned rows, size_t n) {
        int r = put_fmt(out, "\033[%u;1H", rows);

        for (size_t i = 0; i < n && r >= 0; i++)
                r = put_str(out, "\n");
        return r;
}

int terminal_render(Terminal *t, Buf *out, unsigned max_scrollback, TerminalRenderFlags flags) {
        TerminalModes m;
        VTermPos cursor;
        uint16_t pa;
        VTermColor fg, bg;
        size_t first, nsb, sb_count = screen_sb_lines(t->screen), cur = 0;
        int r;

        terminal_get_modes(t, &m);

        /* Leave an alternate screen, soft reset (modes, scroll region,
         * pen, charsets), cursor hidden while drawing, every mode this
         * render may set off, the terminal's own cursor style, then a
         * clear screen (the main screen: the scrollback printed next goes
         * into the outer terminal's history) -- or, to wipe it, every
         * row deleted (no terminal keeps deleted lines). */
        r = put_str(out,
                    "\033[?1047l\033[!p\033(B\033)B\033[?25l\033[0m\033[r"
                    "\033[?1l\033>\033[?2004l\033[?1004l"
                    "\033[?1000l\033[?1002l\033[?1003l\033[?1005l\033[?1006l\033[?1015l"
                    "\033[?5l\033[?6l\033[?7h\033[0 q\033[H");
        if (r >= 0)
                r = flags & TERMINAL_RENDER_WIPE ? put_fmt(out, "\033[%uM", t->rows) : put_str(out, "\033[2J");
        if (r >= 0 && t->reverse)
                r = put_str(out, "\033[?5h");

        /* Scrollback: printed from the top of the cleared screen, and
         * pushed into the outer terminal's history by line feeds on its
         * last row.  The screen is scrolled that way (with no pen set:
         * the new line's blanks take the pen's background) before a line
         * that would not fit, so that a line's own wrapping never
         * scrolls.  A line full to its last column probably wrapped into
         * the next: it is let wrap (the next line's first character moves
         * the cursor down, within the room made for the group), so that
         * the outer terminal knows them as one line. */
        nsb = MIN((size_t) max_scrollback, sb_count);
        first = sb_count - nsb;
        for (size_t i = 0; i < nsb && r >= 0;) {
                size_t j = i, rows = 0;

                /* The group i..j of lines that wrap into one another. */
                for (;;) {
                        ScreenSbInfo l, next;

                        screen_sb_info(t->screen, first + j, &l);
                        rows += l.width > t->cols ? (l.width + t->cols - 1) / t->cols : 1;
                        if (j + 1 >= nsb)
                                break;
                        screen_sb_info(t->screen, first + j + 1, &next);
                        if (!l.full || l.cols != t->cols || l.width != t->cols || next.width == 0 ||
                            next.width > t->cols || rows + 1 > t->rows)
                                break;
                        j++;
                }
                rows = MIN(rows, (size_t) t->rows);
                if (cur + rows > t->rows) {
                        r = push_rows(out, t->rows, cur + rows - t->rows);
                        cur = t->rows - rows;
                        if (r >= 0)
                                r = put_fmt(out, "\033[%zu;1H", cur + 1);
                }
                for (; i <= j && r >= 0; i++)
                        r = screen_render_sb_line(t->screen, first + i, out);
                if (r >= 0)
                        r = put_str(out, "\r\n");
                cur = MIN(cur + rows, (size_t) t->rows - 1);
        }
        if (r >= 0 && nsb > 0) {
                r = push_rows(out, t->rows, cur);
                if (r >= 0)
                        r = put_str(out, "\033[H\033[2J");
        }

        /* The screen; with the alternate screen active, the primary one
         * first, then the alternate one over it. */
        if (r >= 0 && t->altscreen) {
                r = render_screen(t, out, false);
                /* What 1049h saves, and 1049l will restore. */
                if (r >= 0)
                        r = put_cursor_style(out, t->primary.shape, t->primary.blink, false);
                if (r >= 0)
                        r = screen_put_sgr(out, t->primary.attrs, &t->primary.fg, &t->primary.bg);
                if (r >= 0)
                        r = put_fmt(out, "\033[%d;%dH\033[?25%c\033[?1049h\033[?25l\033[0m\033[2J",
                                    t->primary.pos.row + 1, t->primary.pos.col + 1, t->primary.visible ? 'h' : 'l');
        }
        if (r >= 0)
                r = render_screen(t, out, t->altscreen);

        if (r >= 0)
                r = render_title(t, out);

        /* Modes. */
        if (r >= 0 && m.app_cursor)
                r = put_str(out, "\033[?1h");
        if (r >= 0 && m.app_keypad)
                r = put_str(out, "\033=");
        if (r >= 0 && m.bracketed_paste)
                r = put_str(out, "\033[?2004h");
        if (r >= 0 && m.focus_events)
                r = put_str(out, "\033[?1004h");
        if (r >= 0 && m.mouse)
                r = put_fmt(out, "\033[?%uh", m.mouse);
        if (r >= 0 && m.mouse_encoding)
                r = put_fmt(out, "\033[?%uh", m.mouse_encoding);
        if (r >= 0)
                r = put_cursor_style(out, t->cursor_shape, t->cursor_blink,
                                     t->altscreen && (t->primary.shape != VTERM_PROP_CURSORSHAPE_BLOCK || !t->primary.blink));

        /* The scroll region, origin mode (both move the cursor home),
         * autowrap. */
        if (r >= 0 && (m.scroll_top != 1 || m.scroll_bottom != t->rows))
                r = put_fmt(out, "\033[%u;%ur", m.scroll_top, m.scroll_bottom);
        if (r >= 0 && m.origin_mode)
                r = put_str(out, "\033[?6h");
        if (r >= 0 && !m.autowrap)
                r = put_str(out, "\033[?7l");

        /* The pen the program writes with next. */
        if (r >= 0) {
                terminal_get_pen(t, &pa, &fg, &bg);
                r = screen_put_sgr(out, pa, &fg, &bg);
        }

        /* The cursor (in origin mode, counted from the region's top). */
        vterm_state_get_cursorpos(t->state, &cursor);
        if (r >= 0)
                r = put_fmt(out, "\033[%d;%dH",
                            MAX(cursor.row - (m.origin_mode ? (int) m.scroll_top - 1 : 0), 0) + 1,
                            MAX(cursor.col, 0) + 1);
        if (r >= 0 && t->cursor_visible)
                r = put_str(out, "\033[?25h");
        return r;
}

int terminal_screen_text(Terminal *t, char **ret) {
        Buf b;
        int r = 0;

        buf_init(&b, (size_t) t->rows * (t->cols * 4 * SCREEN_MAX_CHARS + 1) + 1);
        for (unsigned row = 0; row < t->rows && r >= 0; row++) {
                const uint32_t *comb;
                const ScreenCell *cells = screen_row(t->screen, t->altscreen, row, &comb);
                size_t keep;

                if (row > 0)
                        r = buf_put(&b, "\n", 1);
                keep = buf_len(&b);
                for (unsigned col = 0; col < t->cols && r >= 0; col++) {
                        const ScreenCell *c = &cells[col];
                        uint32_t chars[SCREEN_MAX_CHARS];
                        char u[4 * SCREEN_MAX_CHARS];
                        size_t ul = 0, nc;
                        bool blank = c->ch == 0 || (c->ch == ' ' && !(c->attrs & SCREEN_A_COMBINING));

                        if (c->ch == SCREEN_CONT)
                                continue;
                        if (blank)
                                u[ul++] = ' ';
                        else {
                                nc = screen_cell_chars(cells, comb, col, chars);
                                for (size_t k = 0; k < nc; k++)
                                        ul += screen_utf8_put(chars[k], u + ul);
                        }
                        r = buf_put(&b, u, ul);
                        if (!blank)
                                keep = buf_len(&b);
                }
                /* Cut the trailing blanks of this line. */
                if (r >= 0)
                        b.size = b.offset + keep;
        }
        if (r >= 0)
                r = buf_put(&b, "", 1);
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        *ret = (char *) b.data;         /* allocated: the buffer has at least one byte */
        return 0;
}
