/* SPDX-License-Identifier: ISC */
/*
 * The screen of a terminal session, kept with libvterm (see terminal.h and
 * doc/architecture.md, "Terminal state").
 *
 * libvterm parses the stream and keeps the screen; this file only reads it
 * back through libvterm's public API:
 *  - cells (vterm_screen_get_cell), cursor (vterm_state_get_cursorpos),
 *    the pen (vterm_state_get_penattr), the properties libvterm announces
 *    (cursor visibility/shape/blink, alternate screen, reverse video,
 *    title, mouse reporting) through the screen's settermprop callback;
 *  - the modes libvterm 0.1.4 has no getter for, from what libvterm would
 *    send for a key, a paste, a mouse click or a focus event
 *    (vterm_keyboard_key, vterm_keyboard_start_paste, vterm_mouse_*,
 *    vterm_state_focus_in) while `probing` diverts its output;
 *  - origin mode, autowrap and the scroll region from libvterm's answers
 *    to DECRQM and DECRQSS written into its input, when its parser is
 *    between sequences (terminal_feed() knows);
 *  - the primary screen while the alternate one is active: switching the
 *    screen's buffer back and forth with vterm_state_set_termprop() while
 *    our settermprop callback refuses the change, so that libvterm's state
 *    neither records the switch nor erases the alternate screen.
 * Nothing here interprets the stream: terminal_feed() only follows which
 * state libvterm's parser is in, to keep libvterm 0.1.4 clear of the bugs
 * a program's output reaches (see there).
 *
 * Scrollback: the lines libvterm pushes off the top of the primary screen
 * are kept as their rendering (SGR + UTF-8, trailing blanks cut, a flag
 * for a line full to its last column), in a ring of at most
 * scrollback_lines lines, oldest dropped.  libvterm's requests to pull
 * lines back on a resize are declined.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vterm.h>

#include "macro.h"
#include "terminal.h"

/* libvterm's text callback decodes the rest of the write into a stack
 * array of one uint32_t per byte: feed it in bounded pieces. */
#define FEED_CHUNK 4096u
#define TITLE_MAX 256u
#define PROBE_MAX 256u
#define HOLD_MAX (TERMINAL_MAX_MARK + 4096u)
/* libvterm 0.1.4 writes through a NULL pointer when a wide character
 * comes in a terminal one column wide: it gets two. */
#define MIN_COLS 2u

/* Where libvterm's parser is (its states, mirrored by terminal_feed()). */
typedef enum Scan {
        SCAN_GROUND,
        SCAN_ESC,
        SCAN_CSI_LEADER,
        SCAN_CSI_ARGS,
        SCAN_CSI_INTERMED,
        SCAN_STRING,
        SCAN_STRING_ESC,
} Scan;

/* libvterm 0.1.4 keeps 16 CSI arguments and writes past them (it checks
 * no bound): separators after the 15th are dropped. */
#define CSI_MAX_SEPARATORS 15u

/* A line of scrollback: its rendering, and whether it is full to its last
 * column (probably a line that wrapped into the next). */
typedef struct SbLine {
        uint32_t len;
        uint16_t cols;          /* the screen width when it was pushed */
        uint16_t width;         /* cells its rendering covers */
        uint8_t full;
        char data[];
} SbLine;

struct Terminal {
        VTerm *vt;
        VTermState *state;
        VTermScreen *screen;
        unsigned rows, cols;

        SbLine **sb;            /* ring */
        size_t sb_alloc, sb_head, sb_count, sb_max;

        /* What libvterm announced. */
        bool cursor_visible, cursor_blink, altscreen, reverse;
        int cursor_shape, mouse;
        char *title;
        /* What DECSC saved when the alternate screen was entered (?1049h
         * saves the cursor after switching; 1049l restores it). */
        struct {
                VTermPos pos;
                bool visible, blink;
                int shape;
                VTermScreenCellAttrs attrs;
                VTermColor fg, bg;
        } primary;

        /* terminal_feed()'s view of where libvterm's parser is (see
         * there), and what it holds back: the content of an OSC or DCS
         * string not terminated yet (overlong: one too long to hold, being
         * fed as it comes), the first bytes of a UTF-8 sequence. */
        Scan scan;
        unsigned csi_separators, csi_first;
        bool csi_intermediate, csi_leader;
        uint8_t hold[HOLD_MAX];
        size_t hold_len;
        bool overlong;
        /* The first bytes of a UTF-8 sequence, held back likewise. */
        uint8_t utf8[4];
        size_t utf8_len;

        /* Rendering scratch (a pushed line), reused. */
        Buf scratch;

        /* Code point widths as libvterm reckons them (see glyph_width()). */
        VTerm *measure;
        struct { uint32_t cp; int8_t width; } widths[256];

        bool probing, peeking;
        uint8_t probe[PROBE_MAX];
        size_t probe_len;

        TerminalMarkFn mark;
        void *mark_userdata;
        TerminalReplyFn reply;
        void *reply_userdata;
};

/* ------------------------------------------------------------------ rendering cells */

typedef struct Pen {
        VTermScreenCellAttrs attrs;
        VTermColor fg, bg;
        bool valid;
} Pen;

static bool color_default_fg(const VTermColor *c) {
        return VTERM_COLOR_IS_DEFAULT_FG(c);
}

static bool color_default_bg(const VTermColor *c) {
        return VTERM_COLOR_IS_DEFAULT_BG(c);
}

static bool color_equal(const VTermColor *a, const VTermColor *b) {
        if ((a->type & VTERM_COLOR_DEFAULT_MASK) != (b->type & VTERM_COLOR_DEFAULT_MASK))
                return false;
        if (a->type & VTERM_COLOR_DEFAULT_MASK)
                return true;
        if (VTERM_COLOR_IS_INDEXED(a) != VTERM_COLOR_IS_INDEXED(b))
                return false;
        if (VTERM_COLOR_IS_INDEXED(a))
                return a->indexed.idx == b->indexed.idx;
        return a->rgb.red == b->rgb.red && a->rgb.green == b->rgb.green && a->rgb.blue == b->rgb.blue;
}

static bool attrs_equal(const VTermScreenCellAttrs *a, const VTermScreenCellAttrs *b) {
        return a->bold == b->bold && a->underline == b->underline && a->italic == b->italic &&
                a->blink == b->blink && a->reverse == b->reverse && a->strike == b->strike &&
                a->font == b->font;
}

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

static char *write_uint(char *p, unsigned v) {
        char tmp[10];
        size_t n = 0;

        do
                tmp[n++] = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        while (n > 0)
                *p++ = tmp[--n];
        return p;
}

static char *write_color(char *p, const VTermColor *c, bool fg) {
        if (fg ? color_default_fg(c) : color_default_bg(c))
                return p;
        *p++ = ';';
        if (VTERM_COLOR_IS_INDEXED(c)) {
                unsigned i = c->indexed.idx;

                if (i < 8)
                        return write_uint(p, (fg ? 30 : 40) + i);
                if (i < 16)
                        return write_uint(p, (fg ? 90 : 100) + i - 8);
                p = write_uint(p, fg ? 38 : 48);
                memcpy(p, ";5;", 3);
                return write_uint(p + 3, i);
        }
        p = write_uint(p, fg ? 38 : 48);
        memcpy(p, ";2;", 3);
        p = write_uint(p + 3, c->rgb.red);
        *p++ = ';';
        p = write_uint(p, c->rgb.green);
        *p++ = ';';
        return write_uint(p, c->rgb.blue);
}

/* A full SGR (reset, then every attribute and colour set), at most
 * SGR_MAX bytes. */
#define SGR_MAX 64u
static char *write_sgr(char *p, const VTermScreenCellAttrs *a, const VTermColor *fg, const VTermColor *bg) {
        memcpy(p, "\033[0", 3);
        p += 3;
        if (a->bold)
                memcpy(p, ";1", 2), p += 2;
        if (a->italic)
                memcpy(p, ";3", 2), p += 2;
        if (a->underline == VTERM_UNDERLINE_SINGLE)
                memcpy(p, ";4", 2), p += 2;
        else if (a->underline == VTERM_UNDERLINE_DOUBLE)
                memcpy(p, ";21", 3), p += 3;
        else if (a->underline == VTERM_UNDERLINE_CURLY)
                memcpy(p, ";4:3", 4), p += 4;
        if (a->blink)
                memcpy(p, ";5", 2), p += 2;
        if (a->reverse)
                memcpy(p, ";7", 2), p += 2;
        if (a->strike)
                memcpy(p, ";9", 2), p += 2;
        if (a->font > 0 && a->font <= 9) {
                *p++ = ';';
                p = write_uint(p, 10 + a->font);
        }
        p = write_color(p, fg, true);
        p = write_color(p, bg, false);
        *p++ = 'm';
        return p;
}

static int put_sgr(Buf *out, const VTermScreenCellAttrs *a, const VTermColor *fg, const VTermColor *bg) {
        char tmp[SGR_MAX];

        return buf_put(out, tmp, (size_t) (write_sgr(tmp, a, fg, bg) - tmp));
}

/* UTF-8 of a code point fit to be printed: C0, DEL, C1, surrogates and
 * out-of-range values become U+FFFD. */
static size_t utf8_put(uint32_t c, char s[static 4]) {
        if (c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                c = 0xfffd;
        if (c < 0x80) {
                s[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                s[0] = (char) (0xc0 | c >> 6);
                s[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                s[0] = (char) (0xe0 | c >> 12);
                s[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                s[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        s[0] = (char) (0xf0 | c >> 18);
        s[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        s[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        s[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/* How many columns libvterm gives the code point c printed after a letter
 * (0: it combines with it), measured once on a small scratch terminal and
 * cached: libvterm has no public width function. */
static int glyph_width(Terminal *t, uint32_t c) {
        size_t slot = (c * 2654435761u) >> 24;
        char s[2 + 4];
        size_t n;
        VTermPos pos;

        if (t->widths[slot].cp == c && c != 0)
                return t->widths[slot].width;
        if (!t->measure) {
                t->measure = vterm_new(1, 8);
                if (!t->measure)
                        return 1;
                vterm_set_utf8(t->measure, 1);
                vterm_obtain_screen(t->measure);
                vterm_screen_reset(vterm_obtain_screen(t->measure), 1);
        }
        /* After a letter: a combining character joins it (0 columns). */
        s[0] = '\r';
        s[1] = 'a';
        n = 2 + utf8_put(c, s + 2);
        vterm_input_write(t->measure, s, n);
        vterm_state_get_cursorpos(vterm_obtain_state(t->measure), &pos);
        t->widths[slot].cp = c;
        t->widths[slot].width = (int8_t) (pos.col - 1);
        return pos.col - 1;
}

static bool cell_is_blank_char(const VTermScreenCell *c) {
        return c->chars[0] == 0 || (c->chars[0] == ' ' && c->chars[1] == 0);
}

/* Whether cells[i] (of n) is drawn as a blank: empty, or a character the
 * render cannot place as libvterm holds it — half a wide character (the
 * other half overwritten, erased or cut by a resize), a wide character
 * left in one column, a lone combining character. */
static bool intact_wide(Terminal *t, const VTermScreenCell *cells, int i, int n) {
        const VTermScreenCell *c = &cells[i];

        return c->width == 2 && i + 1 < n && cells[i + 1].chars[0] == (uint32_t) -1 &&
                c->chars[0] != (uint32_t) -1 && !cell_is_blank_char(c) && glyph_width(t, c->chars[0]) == 2;
}

static bool drawn_blank(Terminal *t, const VTermScreenCell *cells, int i, int n) {
        const VTermScreenCell *c = &cells[i];

        if (c->chars[0] == (uint32_t) -1)
                return !(i > 0 && intact_wide(t, cells, i - 1, n));
        if (cell_is_blank_char(c))
                return true;
        if (c->width > 1 && (i + 1 >= n || cells[i + 1].chars[0] != (uint32_t) -1))
                return true;
        return c->chars[0] >= 0x300 && glyph_width(t, c->chars[0]) != 1 && !intact_wide(t, cells, i, n);
}

static bool attrs_show_on_blank(const VTermScreenCell *c) {
        return !color_default_bg(&c->bg) || c->attrs.reverse || c->attrs.underline != VTERM_UNDERLINE_OFF ||
                c->attrs.strike;
}

/* Appends the rendering of cells[0..n) (SGR changes + text), trailing
 * plain blanks cut; *ret_width: the cells it covers. Starts from a reset
 * pen (the caller emits "\e[0m" before), ends with "\e[0m" if it set one. */
static int render_cells(Terminal *t, Buf *out, const VTermScreenCell *cells, int n, unsigned *ret_width) {
        Pen pen = { .valid = false };
        int end = n, r;
        unsigned width = 0;
        uint8_t *start;
        char *p;

        while (end > 0 && drawn_blank(t, cells, end - 1, n) && !attrs_show_on_blank(&cells[end - 1]))
                end--;

        r = buf_reserve(out, (size_t) end * (SGR_MAX + 4 * VTERM_MAX_CHARS_PER_CELL) + 8, &start);
        if (r < 0)
                return r;
        p = (char *) start;
        for (int i = 0; i < end;) {
                const VTermScreenCell *c = &cells[i];
                uint32_t ch = c->chars[0];
                int w = 1;

                if (pen.valid ? !(attrs_equal(&pen.attrs, &c->attrs) && color_equal(&pen.fg, &c->fg) &&
                                  color_equal(&pen.bg, &c->bg))
                              : (c->attrs.bold || c->attrs.italic || c->attrs.underline || c->attrs.blink ||
                                 c->attrs.reverse || c->attrs.strike || c->attrs.font ||
                                 !color_default_fg(&c->fg) || !color_default_bg(&c->bg))) {
                        p = write_sgr(p, &c->attrs, &c->fg, &c->bg);
                        pen = (Pen) { .attrs = c->attrs, .fg = c->fg, .bg = c->bg, .valid = true };
                }
                if (ch > 0x20 && ch < 0x7f && !c->chars[1] && c->width == 1)
                        *p++ = (char) ch;       /* the common case */
                else if (drawn_blank(t, cells, i, n))
                        *p++ = ' ';
                else {
                        w = intact_wide(t, cells, i, n) ? 2 : 1;
                        for (int k = 0; k < VTERM_MAX_CHARS_PER_CELL && c->chars[k]; k++)
                                p += utf8_put(c->chars[k], p);
                }
                width += (unsigned) w;
                i += w;
        }
        if (pen.valid) {
                memcpy(p, "\033[0m", 4);
                p += 4;
        }
        buf_commit(out, (size_t) (p - (char *) start));
        if (ret_width)
                *ret_width = width;
        return 0;
}

/* ------------------------------------------------------------------ scrollback */

static void sb_clear(Terminal *t) {
        for (size_t i = 0; i < t->sb_count; i++)
                free(t->sb[(t->sb_head + i) % t->sb_alloc]);
        t->sb_count = t->sb_head = 0;
}

static int sb_append(Terminal *t, SbLine *l) {
        if (t->sb_max == 0) {
                free(l);
                return 0;
        }
        if (t->sb_count == t->sb_alloc && t->sb_alloc < t->sb_max) {
                size_t na = t->sb_alloc ? MIN(t->sb_alloc * 2, t->sb_max) : MIN((size_t) 64, t->sb_max);
                SbLine **n = malloc(na * sizeof *n);

                if (!n) {
                        free(l);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < t->sb_count; i++)
                        n[i] = t->sb[(t->sb_head + i) % t->sb_alloc];
                free(t->sb);
                t->sb = n;
                t->sb_alloc = na;
                t->sb_head = 0;
        }
        if (t->sb_count == t->sb_alloc) {
                /* Full at its maximum: the oldest line goes. */
                free(t->sb[t->sb_head]);
                t->sb[t->sb_head] = l;
                t->sb_head = (t->sb_head + 1) % t->sb_alloc;
                return 0;
        }
        t->sb[(t->sb_head + t->sb_count) % t->sb_alloc] = l;
        t->sb_count++;
        return 0;
}

static int push_cells(Terminal *t, const VTermScreenCell *cells, int cols);

static int on_sb_pushline(int cols, const VTermScreenCell *cells, void *user) {
        Terminal *t = user;

        if (t->sb_max == 0 || cols <= 0)
                return 1;
        if (t->reverse && cols <= (int) TERMINAL_MAX_COLS) {
                /* libvterm reports cells inverted under DECSCNM: keep them as drawn. */
                VTermScreenCell copy[TERMINAL_MAX_COLS];

                memcpy(copy, cells, sizeof copy[0] * (size_t) cols);
                for (int i = 0; i < cols; i++)
                        copy[i].attrs.reverse ^= 1;
                return push_cells(t, copy, cols);
        }
        return push_cells(t, cells, cols);
}

static int push_cells(Terminal *t, const VTermScreenCell *cells, int cols) {
        unsigned width = 0;
        SbLine *l;

        buf_reset(&t->scratch);
        if (render_cells(t, &t->scratch, cells, cols, &width) < 0)
                return 1;       /* cannot happen within the scratch bound; dropped */
        l = malloc(offsetof(SbLine, data) + buf_len(&t->scratch));
        if (!l)
                return 1;
        l->len = (uint32_t) buf_len(&t->scratch);
        l->cols = (uint16_t) cols;
        l->width = (uint16_t) width;
        l->full = !drawn_blank(t, cells, cols - 1, cols);
        memcpy(l->data, buf_ptr(&t->scratch), l->len);
        (void) sb_append(t, l);
        return 1;
}

static int on_sb_popline(int cols, VTermScreenCell *cells, void *user) {
        return 0;       /* declined: the lines stay in the scrollback */
}

/* ------------------------------------------------------------------ callbacks */

/* The pen the program writes with now. */
static void get_pen(Terminal *t, VTermScreenCellAttrs *a, VTermColor *fg, VTermColor *bg) {
        VTermValue v;

        *a = (VTermScreenCellAttrs) {};
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_BOLD, &v))
                a->bold = !!v.boolean;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_UNDERLINE, &v))
                a->underline = (unsigned) v.number & 3;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_ITALIC, &v))
                a->italic = !!v.boolean;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_BLINK, &v))
                a->blink = !!v.boolean;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_REVERSE, &v))
                a->reverse = !!v.boolean;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_STRIKE, &v))
                a->strike = !!v.boolean;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_FONT, &v))
                a->font = (unsigned) v.number & 15;
        vterm_color_indexed(fg, 7);
        fg->type |= VTERM_COLOR_DEFAULT_FG;
        vterm_color_indexed(bg, 0);
        bg->type |= VTERM_COLOR_DEFAULT_BG;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_FOREGROUND, &v))
                *fg = v.color;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_BACKGROUND, &v))
                *bg = v.color;
}

static int on_settermprop(VTermProp prop, VTermValue *val, void *user) {
        Terminal *t = user;

        if (t->probing)
                return 1;
        switch (prop) {
        case VTERM_PROP_ALTSCREEN:
                /* While render peeks at the primary screen: refuse, so
                 * that libvterm's state keeps the mode (and does not
                 * erase the alternate screen when switching back). */
                if (t->peeking)
                        return 0;
                if (val->boolean) {
                        vterm_state_get_cursorpos(t->state, &t->primary.pos);
                        t->primary.visible = t->cursor_visible;
                        t->primary.blink = t->cursor_blink;
                        t->primary.shape = t->cursor_shape;
                        get_pen(t, &t->primary.attrs, &t->primary.fg, &t->primary.bg);
                }
                t->altscreen = val->boolean;
                break;
        case VTERM_PROP_CURSORVISIBLE:
                t->cursor_visible = val->boolean;
                break;
        case VTERM_PROP_CURSORBLINK:
                t->cursor_blink = val->boolean;
                break;
        case VTERM_PROP_CURSORSHAPE:
                t->cursor_shape = val->number;
                break;
        case VTERM_PROP_REVERSE:
                t->reverse = val->boolean;
                break;
        case VTERM_PROP_MOUSE:
                t->mouse = val->number;
                break;
        case VTERM_PROP_TITLE: {
                const char *s = val->string ? val->string : "";
                size_t n = strnlen(s, TITLE_MAX);
                char *c = malloc(n + 1);

                if (c) {
                        memcpy(c, s, n);
                        c[n] = 0;
                        free(t->title);
                        t->title = c;
                }
                break;
        }
        default:
                break;
        }
        return 1;
}

static void on_output(const char *s, size_t len, void *user) {
        Terminal *t = user;

        if (t->probing) {
                size_t n = MIN(len, PROBE_MAX - t->probe_len);

                memcpy(t->probe + t->probe_len, s, n);
                t->probe_len += n;
                return;
        }
        if (t->reply)
                t->reply((const uint8_t *) s, len, t->reply_userdata);
}

/* OSC strings libvterm does not know: "133;X[;args]" are marks. */
static int on_osc(const char *command, size_t cmdlen, void *user) {
        Terminal *t = user;
        const char *args = "";
        size_t n = 0;

        if (cmdlen < 5 || memcmp(command, "133;", 4) != 0)
                return 0;
        if (cmdlen > 5) {
                if (command[5] != ';')
                        return 1;       /* "133;XY": not a mark */
                args = command + 6;
                n = cmdlen - 6;
        }
        if (n > TERMINAL_MAX_MARK)
                return 1;
        if (t->mark) {
                char copy[TERMINAL_MAX_MARK + 1];

                memcpy(copy, args, n);
                copy[n] = 0;
                t->mark(command[4], copy, n, t->mark_userdata);
        }
        return 1;
}

static const VTermScreenCallbacks screen_callbacks = {
        .settermprop = on_settermprop,
        .sb_pushline = on_sb_pushline,
        .sb_popline = on_sb_popline,
};

static const VTermParserCallbacks fallbacks = {
        .osc = on_osc,
};

/* ------------------------------------------------------------------ lifecycle */

int terminal_new(unsigned rows, unsigned cols, unsigned scrollback_lines, Terminal **ret) {
        Terminal *t;

        if (rows < 1 || rows > TERMINAL_MAX_ROWS || cols < 1 || cols > TERMINAL_MAX_COLS ||
            scrollback_lines > TERMINAL_MAX_SCROLLBACK || !ret)
                return -EINVAL;
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        cols = MAX(cols, MIN_COLS);
        t->rows = rows;
        t->cols = cols;
        t->sb_max = scrollback_lines;
        t->cursor_visible = true;
        t->cursor_blink = true;
        t->cursor_shape = VTERM_PROP_CURSORSHAPE_BLOCK;
        buf_init(&t->scratch, (size_t) TERMINAL_MAX_COLS * (SGR_MAX + 4 * VTERM_MAX_CHARS_PER_CELL) + 64);

        t->vt = vterm_new((int) rows, (int) cols);
        if (!t->vt) {
                free(t);
                return -ENOMEM;
        }
        vterm_set_utf8(t->vt, 1);
        vterm_output_set_callback(t->vt, on_output, t);
        t->state = vterm_obtain_state(t->vt);
        t->screen = vterm_obtain_screen(t->vt);
        vterm_screen_enable_altscreen(t->screen, 1);
        vterm_screen_set_callbacks(t->screen, &screen_callbacks, t);
        vterm_screen_set_unrecognised_fallbacks(t->screen, &fallbacks, t);
        vterm_screen_reset(t->screen, 1);
        *ret = t;
        return 0;
}

Terminal *terminal_free(Terminal *t) {
        if (!t)
                return NULL;
        vterm_free(t->vt);
        if (t->measure)
                vterm_free(t->measure);
        sb_clear(t);
        free(t->sb);
        free(t->title);
        buf_done(&t->scratch);
        free(t);
        return NULL;
}

void terminal_set_mark_handler(Terminal *t, TerminalMarkFn fn, void *userdata) {
        t->mark = fn;
        t->mark_userdata = userdata;
}

void terminal_set_reply_handler(Terminal *t, TerminalReplyFn fn, void *userdata) {
        t->reply = fn;
        t->reply_userdata = userdata;
}

static void write_vt(Terminal *t, const uint8_t *p, size_t n) {
        if (n > 0)
                vterm_input_write(t->vt, (const char *) p, n);
}

/* The length of the UTF-8 sequence lead byte c starts (1 if none). */
static size_t utf8_length(uint8_t c) {
        return c >= 0xf0 && c <= 0xf7 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc0 && c <= 0xdf ? 2 : 1;
}

/* How many bytes at the end of p[0..n) are an incomplete UTF-8 sequence. */
static size_t utf8_incomplete_tail(const uint8_t *p, size_t n) {
        for (size_t back = 1; back <= 3 && back <= n; back++) {
                uint8_t c = p[n - back];

                if ((c & 0xc0) == 0x80)
                        continue;       /* a continuation byte: look further back */
                return utf8_length(c) > back ? back : 0;
        }
        return 0;
}

/* REP, done safely: the glyph left of the cursor printed count times, up
 * to the end of the line (libvterm's REP does not wrap either). */
static void repeat_glyph(Terminal *t, unsigned count) {
        char s[FEED_CHUNK];
        char g[4 * VTERM_MAX_CHARS_PER_CELL];
        const VTermLineInfo *li;
        VTermScreenCell c;
        VTermPos pos, q;
        size_t gl = 0, n = 0;
        unsigned width, w = 1, k;

        vterm_state_get_cursorpos(t->state, &pos);
        li = vterm_state_get_lineinfo(t->state, pos.row);
        width = li && li->doublewidth ? t->cols / 2 : t->cols;
        if (pos.col < 1 || (unsigned) pos.col >= width)
                return;
        q = (VTermPos) { .row = pos.row, .col = pos.col - 1 };
        if (!vterm_screen_get_cell(t->screen, q, &c))
                return;
        if (c.chars[0] == (uint32_t) -1) {
                q.col--;
                if (q.col < 0 || !vterm_screen_get_cell(t->screen, q, &c) || c.width != 2)
                        return;
                w = 2;
        }
        if (c.chars[0] == 0 || c.chars[0] == (uint32_t) -1 || glyph_width(t, c.chars[0]) != (int) w)
                return;
        for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && c.chars[i]; i++)
                gl += utf8_put(c.chars[i], g + gl);
        k = MIN(count, (width - (unsigned) pos.col) / w);
        for (unsigned i = 0; i < k; i++) {
                if (n + gl > sizeof s) {
                        write_vt(t, (const uint8_t *) s, n);
                        n = 0;
                }
                memcpy(s + n, g, gl);
                n += gl;
        }
        write_vt(t, (const uint8_t *) s, n);
}

/* A string whose content began before this chunk ends at p[end - 1]: its
 * held content and p[*start..end) go to libvterm in one write. */
static void string_done(Terminal *t, const uint8_t *p, size_t *start, size_t end) {
        size_t n = end - *start;

        if (t->hold_len > 0) {
                if (t->hold[t->hold_len - 1] == 0x1b && n > 0 && p[*start] == '\\' &&
                    (t->overlong || t->hold_len + n > HOLD_MAX)) {
                        /* Never an ST cut after its ESC. */
                        write_vt(t, t->hold, t->hold_len - 1);
                        write_vt(t, (const uint8_t *) "\033\\", 2);
                        (*start)++, n--;
                } else if (t->hold_len + n <= HOLD_MAX) {
                        memcpy(t->hold + t->hold_len, p + *start, n);
                        t->hold_len += n;
                        *start = end, n = 0;
                        write_vt(t, t->hold, t->hold_len);
                } else
                        write_vt(t, t->hold, t->hold_len);
        }
        write_vt(t, p + *start, n);
        *start = end;
        t->hold_len = 0;
        t->overlong = false;
}

/* Feeds p[0..n), n <= FEED_CHUNK, in as few writes as the rules allow. */
static void feed_chunk(Terminal *t, const uint8_t *p, size_t n) {
        size_t i = 0, start = 0, content = SIZE_MAX;   /* content: where a string begun here starts */

        if (t->utf8_len > 0) {
                /* Complete the held UTF-8 sequence, in one write. */
                size_t need = utf8_length(t->utf8[0]);

                while (t->utf8_len < need && i < n && (p[i] & 0xc0) == 0x80)
                        t->utf8[t->utf8_len++] = p[i++];
                if (t->utf8_len < need && i == n)
                        return;
                write_vt(t, t->utf8, t->utf8_len);
                t->utf8_len = 0;
                start = i;
        }

        while (i < n) {
                uint8_t c = p[i];

                if (t->scan == SCAN_GROUND) {
                        const uint8_t *e = memchr(p + i, 0x1b, n - i);

                        if (!e) {
                                i = n;
                                break;
                        }
                        i = (size_t) (e - p) + 1;
                        t->scan = SCAN_ESC;
                        continue;
                }
                /* As libvterm's parser does in every state: */
                i++;
                if (c == 0x00 || c == 0x7f)
                        continue;                               /* ignored */
                if (c == 0x18 || c == 0x1a) {                   /* CAN, SUB: back to normal */
                        if (t->scan == SCAN_STRING || t->scan == SCAN_STRING_ESC) {
                                if (content == SIZE_MAX)
                                        string_done(t, p, &start, i);
                                content = SIZE_MAX;
                        }
                        t->scan = SCAN_GROUND;
                        continue;
                }
                if (c == 0x1b) {
                        t->scan = t->scan == SCAN_STRING ? SCAN_STRING_ESC : SCAN_ESC;
                        continue;
                }
                if (c < 0x20 && !(c == 0x07 && t->scan == SCAN_STRING))
                        continue;                               /* C0: executed, state kept */

                switch (t->scan) {
                case SCAN_STRING_ESC:
                        if (c == '\\') {                        /* ST */
                                t->scan = SCAN_GROUND;
                                if (content == SIZE_MAX)
                                        string_done(t, p, &start, i);
                                content = SIZE_MAX;
                                break;
                        }
                        /* The string is over, unterminated (libvterm
                         * keeps an ESC across writes, but for an ST);
                         * the ESC starts an escape with this byte. */
                        if (content == SIZE_MAX)
                                string_done(t, p, &start, i - 1);
                        content = SIZE_MAX;
                        t->scan = SCAN_ESC;
                        __attribute__((fallthrough));
                case SCAN_ESC:
                        if (c == 'P' || c == ']') {             /* DCS, OSC */
                                t->scan = SCAN_STRING;
                                content = i;
                        } else if (c == '[') {
                                t->scan = SCAN_CSI_LEADER;
                                t->csi_separators = t->csi_first = 0;
                                t->csi_intermediate = t->csi_leader = false;
                        } else if (c >= 0x30 && c <= 0x7e)
                                t->scan = SCAN_GROUND;          /* an escape, done */
                        /* else an intermediate, or a byte libvterm skips */
                        break;
                case SCAN_CSI_LEADER:
                        if (c >= 0x3c && c <= 0x3f) {
                                t->csi_leader = true;
                                break;
                        }
                        t->scan = SCAN_CSI_ARGS;
                        __attribute__((fallthrough));
                case SCAN_CSI_ARGS:
                        if (c >= '0' && c <= '9') {
                                if (t->csi_separators == 0)
                                        t->csi_first = MIN(t->csi_first * 10 + (unsigned) (c - '0'), 65535u);
                                break;
                        }
                        if (c == ';' || c == ':') {
                                if (++t->csi_separators > CSI_MAX_SEPARATORS) {
                                        write_vt(t, p + start, i - 1 - start);
                                        start = i;              /* dropped */
                                }
                                break;
                        }
                        t->scan = SCAN_CSI_INTERMED;
                        __attribute__((fallthrough));
                case SCAN_CSI_INTERMED:
                        if (c >= 0x20 && c <= 0x2f) {
                                t->csi_intermediate = true;
                                break;
                        }
                        t->scan = SCAN_GROUND;                  /* the final byte, or an invalid CSI */
                        if (c == 'b' && !t->csi_intermediate && !t->csi_leader) {
                                /* REP: libvterm 0.1.4 repeats the last
                                 * glyph by its width, looping forever on
                                 * a width of 0 (before any glyph, or after
                                 * a lone combining character), writing
                                 * through NULL for a wide one at the last
                                 * column.  The CSI is cancelled (CAN) and
                                 * the glyph left of the cursor printed
                                 * instead, as a program's REP follows the
                                 * character it repeats (ncurses' rep). */
                                write_vt(t, p + start, i - 1 - start);
                                write_vt(t, (const uint8_t *) "\030", 1);
                                start = i;
                                repeat_glyph(t, t->csi_first ? t->csi_first : 1);
                        }
                        break;
                case SCAN_STRING:
                        if (c == 0x07) {                        /* BEL ends it */
                                t->scan = SCAN_GROUND;
                                if (content == SIZE_MAX)
                                        string_done(t, p, &start, i);
                                content = SIZE_MAX;
                                break;
                        }
                        /* The rest of the string's content, quickly. */
                        while (i < n && p[i] >= 0x20 && p[i] != 0x7f)
                                i++;
                        break;
                case SCAN_GROUND:
                        break;
                }
        }

        if (t->scan != SCAN_STRING && t->scan != SCAN_STRING_ESC) {
                size_t cut = t->scan == SCAN_GROUND ? utf8_incomplete_tail(p + start, n - start) : 0;

                write_vt(t, p + start, n - start - cut);
                memcpy(t->utf8, p + n - cut, cut);
                t->utf8_len = cut;
                return;
        }
        /* Inside a string: its content waits for its end. */
        if (content != SIZE_MAX) {
                write_vt(t, p + start, content - start);
                start = content;
        }
        if (!t->overlong && t->hold_len + (n - start) <= HOLD_MAX) {
                memcpy(t->hold + t->hold_len, p + start, n - start);
                t->hold_len += n - start;
                return;
        }
        /* Too long to hold: fed as it comes (libvterm keeps its last
         * part), but never with an ESC at the end of a write. */
        write_vt(t, t->hold, t->hold_len);
        t->hold_len = 0;
        t->overlong = true;
        if (t->scan == SCAN_STRING_ESC) {
                write_vt(t, p + start, n - start - 1);
                t->hold[t->hold_len++] = 0x1b;
        } else
                write_vt(t, p + start, n - start);
}

/* Feeds libvterm, around bugs of libvterm 0.1.4 (fixed in later
 * versions), without interpreting the stream: libvterm parses it, this
 * follows only where its parser is between sequences, in CSI arguments
 * and in OSC/DCS strings.
 *  - A CSI with more than 16 arguments writes past libvterm's array:
 *    separators after the 15th are dropped.
 *  - An OSC or DCS string split across two vterm_input_write() calls
 *    loses its earlier part (a shell-integration mark cut by a pty read
 *    would be lost): a string's content waits for its end, up to HOLD_MAX
 *    bytes (a longer one is fed as it comes).
 *  - An ST whose ESC ends one write gives a string of length SIZE_MAX:
 *    never so cut.
 *  - A UTF-8 sequence split after ASCII text in the same write decodes as
 *    U+FFFD: its first bytes wait for the rest.
 * And pieces of at most FEED_CHUNK bytes: libvterm's text callback puts
 * one uint32_t per remaining byte of a write on the stack. */
void terminal_feed(Terminal *t, const uint8_t *p, size_t n) {
        while (n > 0) {
                size_t k = MIN(n, (size_t) FEED_CHUNK);

                feed_chunk(t, p, k);
                p += k, n -= k;
        }
}

/* Brings libvterm's parser back to its normal state, where terminal.c may
 * write sequences of its own: a sequence the program left half-written is
 * cancelled (CAN) and a held string dropped. */
static void parser_to_ground(Terminal *t) {
        if (t->scan == SCAN_GROUND)
                return;
        write_vt(t, (const uint8_t *) "\030", 1);
        t->scan = SCAN_GROUND;
        t->hold_len = 0;
        t->overlong = false;
}

int terminal_resize(Terminal *t, unsigned rows, unsigned cols) {
        unsigned old_rows = t->rows;
        VTermPos pos;
        char s[48];

        if (rows < 1 || rows > TERMINAL_MAX_ROWS || cols < 1 || cols > TERMINAL_MAX_COLS)
                return -EINVAL;
        cols = MAX(cols, MIN_COLS);
        if (rows == t->rows && cols == t->cols)
                return 0;
        vterm_set_size(t->vt, (int) rows, (int) cols);
        t->rows = rows;
        t->cols = cols;
        if (t->primary.pos.row >= (int) rows)
                t->primary.pos.row = (int) rows - 1;
        if (t->primary.pos.col >= (int) cols)
                t->primary.pos.col = (int) cols - 1;
        if (rows == old_rows)
                return 0;

        /* Two bugs of libvterm 0.1.4 when the rows change.  It keeps the
         * scroll region: with fewer rows than its top, the next line feed
         * scrolls a negative size (fuzz-terminal).  And with fewer rows,
         * the lines it pushes into the scrollback (those down to the last
         * written below the cursor) move the cursor up by as many, above
         * the screen if it was near the top, where the next erase or
         * character writes through NULL.  As xterm does on a resize, the
         * scroll region is reset (DECSTBM, which homes the cursor), and
         * the cursor put back where it was, on the screen. */
        vterm_state_get_cursorpos(t->state, &pos);
        pos.row = MAX(0, MIN(pos.row, (int) rows - 1));
        pos.col = MAX(0, MIN(pos.col, (int) cols - 1));
        parser_to_ground(t);
        snprintf(s, sizeof s, "\033[r\033[%d;%dH", pos.row + 1, pos.col + 1);
        write_vt(t, (const uint8_t *) s, strlen(s));
        return 0;
}

void terminal_get_size(const Terminal *t, unsigned *ret_rows, unsigned *ret_cols) {
        if (ret_rows)
                *ret_rows = t->rows;
        if (ret_cols)
                *ret_cols = t->cols;
}

size_t terminal_scrollback_lines(const Terminal *t) {
        return t->sb_count;
}

struct VTermScreen *terminal_vterm_screen(Terminal *t) {
        return t->screen;
}

/* ------------------------------------------------------------------ modes */

/* Runs a probe: libvterm's output while fn runs is collected, not replied. */
static void probe_begin(Terminal *t) {
        t->probing = true;
        t->probe_len = 0;
}

static void probe_end(Terminal *t) {
        t->probing = false;
}

void terminal_get_modes(Terminal *t, TerminalModes *ret) {
        VTermPos pos;

        *ret = (TerminalModes) {
                .alt_screen = t->altscreen,
                .cursor_visible = t->cursor_visible,
                .reverse_video = t->reverse,
                .autowrap = true,
                .scroll_top = 1,
                .scroll_bottom = t->rows,
        };
        vterm_state_get_cursorpos(t->state, &pos);
        ret->cursor_row = (unsigned) MAX(pos.row, 0);
        ret->cursor_col = (unsigned) MAX(pos.col, 0);
        ret->mouse = t->mouse == VTERM_PROP_MOUSE_CLICK ? 1000 :
                     t->mouse == VTERM_PROP_MOUSE_DRAG ? 1002 :
                     t->mouse == VTERM_PROP_MOUSE_MOVE ? 1003 : 0;

        /* DECCKM: the Up key is SS3 A in application mode, CSI A otherwise. */
        probe_begin(t);
        vterm_keyboard_key(t->vt, VTERM_KEY_UP, VTERM_MOD_NONE);
        ret->app_cursor = t->probe_len >= 2 && t->probe[1] == 'O';

        /* DECKPAM: keypad 0 is SS3 p in application mode, "0" otherwise. */
        t->probe_len = 0;
        vterm_keyboard_key(t->vt, VTERM_KEY_KP_0, VTERM_MOD_NONE);
        ret->app_keypad = t->probe_len >= 2 && t->probe[0] == '\033';

        /* Bracketed paste: a paste starts with CSI 200 ~ only when on. */
        t->probe_len = 0;
        vterm_keyboard_start_paste(t->vt);
        ret->bracketed_paste = t->probe_len > 0;
        vterm_keyboard_end_paste(t->vt);

        /* Focus events (1004): focus-in reports CSI I only when on. */
        t->probe_len = 0;
        vterm_state_focus_in(t->state);
        ret->focus_events = t->probe_len > 0;

        /* Mouse encoding: the report of a click at column 101 (with mouse
         * reporting switched on for the probe if it is off): CSI < ... M
         * (SGR, 1006), CSI M + UTF-8 (1005), CSI digits ... M (1015),
         * CSI M + bytes (the default). */
        t->probe_len = 0;
        if (t->mouse == VTERM_PROP_MOUSE_NONE) {
                VTermValue v = { .number = VTERM_PROP_MOUSE_CLICK };
                vterm_state_set_termprop(t->state, VTERM_PROP_MOUSE, &v);
        }
        vterm_mouse_move(t->vt, 0, 100, VTERM_MOD_NONE);
        t->probe_len = 0;
        vterm_mouse_button(t->vt, 1, true, VTERM_MOD_NONE);
        if (t->probe_len >= 3 && t->probe[0] == '\033' && t->probe[1] == '[') {
                if (t->probe[2] == '<')
                        ret->mouse_encoding = 1006;
                else if (t->probe[2] >= '0' && t->probe[2] <= '9')
                        ret->mouse_encoding = 1015;
                else if (t->probe[2] == 'M' && t->probe_len == 3 + 1 + 2 + 1)
                        ret->mouse_encoding = 1005;
        }
        vterm_mouse_button(t->vt, 1, false, VTERM_MOD_NONE);
        vterm_mouse_move(t->vt, 0, 0, VTERM_MOD_NONE);
        if (t->mouse == VTERM_PROP_MOUSE_NONE) {
                VTermValue v = { .number = VTERM_PROP_MOUSE_NONE };
                vterm_state_set_termprop(t->state, VTERM_PROP_MOUSE, &v);
        }

        /* Origin mode, autowrap and the scroll region: libvterm answers
         * DECRQM and DECRQSS written into its input, which is safe only
         * where its parser is between sequences (terminal_feed() knows:
         * a query in the middle of the program's sequence would break
         * it). */
        if (t->scan == SCAN_GROUND) {
                static const char query[] = "\033[?6$p\033[?7$p\033P$qr\033\\";
                const char *a;
                unsigned top, bottom;
                char reply[PROBE_MAX + 1];

                t->probe_len = 0;
                write_vt(t, (const uint8_t *) query, sizeof query - 1);
                memcpy(reply, t->probe, t->probe_len);
                reply[t->probe_len] = 0;
                a = strstr(reply, "\033[?6;");
                ret->origin_mode = a && a[5] == '1';
                a = strstr(reply, "\033[?7;");
                ret->autowrap = !a || a[5] != '2';
                a = strstr(reply, "\033P1$r");
                if (a && sscanf(a + 5, "%u;%ur", &top, &bottom) == 2 && top >= 1 && top < bottom &&
                    bottom <= t->rows) {
                        ret->scroll_top = top;
                        ret->scroll_bottom = bottom;
                }
                ret->modes_known = true;
        }
        probe_end(t);
}

/* ------------------------------------------------------------------ render */

/* Draws the screen row by row.  A row full to its last column, followed
 * by one that starts with a character, probably wrapped into it: the next
 * row is then drawn by letting the line wrap (the cursor, past the last
 * column, moves down as the next character comes; no row scrolls), so that
 * the outer terminal knows them as one line. */
static int render_screen(Terminal *t, Buf *out) {
        VTermScreenCell cells[TERMINAL_MAX_COLS];
        bool prev_full = false;
        int r = 0;

        for (int row = 0; row < (int) t->rows && r >= 0; row++) {
                VTermPos pos = { .row = row };
                unsigned width = 0;

                for (pos.col = 0; pos.col < (int) t->cols; pos.col++) {
                        if (!vterm_screen_get_cell(t->screen, pos, &cells[pos.col]))
                                memset(&cells[pos.col], 0, sizeof cells[pos.col]);
                        /* libvterm reports cells inverted under DECSCNM,
                         * which the render sets before drawing. */
                        if (t->reverse)
                                cells[pos.col].attrs.reverse ^= 1;
                }
                if (!prev_full || drawn_blank(t, cells, 0, (int) t->cols))
                        r = put_fmt(out, "\033[%d;1H", row + 1);
                if (r >= 0)
                        r = render_cells(t, out, cells, (int) t->cols, &width);
                prev_full = width == t->cols && !drawn_blank(t, cells, (int) t->cols - 1, (int) t->cols);
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

static const SbLine *sb_line(const Terminal *t, size_t i) {
        return t->sb[(t->sb_head + i) % t->sb_alloc];
}

/* Line feeds on the last row: the top n rows go into the history. */
static int push_rows(Buf *out, unsigned rows, size_t n) {
        int r = put_fmt(out, "\033[%u;1H", rows);

        for (size_t i = 0; i < n && r >= 0; i++)
                r = put_str(out, "\n");
        return r;
}

int terminal_render(Terminal *t, Buf *out, unsigned max_scrollback) {
        TerminalModes m;
        VTermPos cursor;
        VTermScreenCellAttrs pa;
        VTermValue v;
        VTermColor fg, bg;
        size_t first, nsb, cur = 0;
        int r;

        terminal_get_modes(t, &m);

        /* Leave an alternate screen, soft reset (modes, scroll region,
         * pen, charsets), cursor hidden while drawing, every mode this
         * render may set off, the terminal's own cursor style, then a
         * clear screen (the main screen: the scrollback printed next goes
         * into the outer terminal's history). */
        r = put_str(out,
                    "\033[?1047l\033[!p\033(B\033)B\033[?25l\033[0m\033[r"
                    "\033[?1l\033>\033[?2004l\033[?1004l"
                    "\033[?1000l\033[?1002l\033[?1003l\033[?1005l\033[?1006l\033[?1015l"
                    "\033[?5l\033[?6l\033[?7h\033[0 q\033[H\033[2J");
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
        nsb = MIN((size_t) max_scrollback, t->sb_count);
        first = t->sb_count - nsb;
        for (size_t i = 0; i < nsb && r >= 0;) {
                size_t j = i, rows = 0;

                /* The group i..j of lines that wrap into one another. */
                for (;;) {
                        const SbLine *l = sb_line(t, first + j);
                        const SbLine *next = j + 1 < nsb ? sb_line(t, first + j + 1) : NULL;

                        rows += l->width > t->cols ? (l->width + t->cols - 1) / t->cols : 1;
                        if (!next || !l->full || l->cols != t->cols || l->width != t->cols || next->width == 0 ||
                            next->width > t->cols || rows + 1 > t->rows)
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
                for (; i <= j && r >= 0; i++) {
                        const SbLine *l = sb_line(t, first + i);

                        r = buf_put(out, l->data, l->len);
                }
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
         * first (peeked at), then the alternate one over it. */
        if (r >= 0 && t->altscreen) {
                v.boolean = 0;
                t->peeking = true;
                vterm_state_set_termprop(t->state, VTERM_PROP_ALTSCREEN, &v);
                r = render_screen(t, out);
                v.boolean = 1;
                vterm_state_set_termprop(t->state, VTERM_PROP_ALTSCREEN, &v);
                t->peeking = false;
                /* What 1049h saves, and 1049l will restore. */
                if (r >= 0)
                        r = put_cursor_style(out, t->primary.shape, t->primary.blink, false);
                if (r >= 0)
                        r = put_sgr(out, &t->primary.attrs, &t->primary.fg, &t->primary.bg);
                if (r >= 0)
                        r = put_fmt(out, "\033[%d;%dH\033[?25%c\033[?1049h\033[?25l\033[0m\033[2J",
                                    t->primary.pos.row + 1, t->primary.pos.col + 1, t->primary.visible ? 'h' : 'l');
        }
        if (r >= 0)
                r = render_screen(t, out);

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
                get_pen(t, &pa, &fg, &bg);
                r = put_sgr(out, &pa, &fg, &bg);
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
        VTermScreenCell c;
        VTermPos pos;
        int r = 0;

        buf_init(&b, (size_t) t->rows * (t->cols * 4 * VTERM_MAX_CHARS_PER_CELL + 1) + 1);
        for (pos.row = 0; pos.row < (int) t->rows && r >= 0; pos.row++) {
                size_t keep;

                if (pos.row > 0)
                        r = buf_put(&b, "\n", 1);
                keep = buf_len(&b);
                for (pos.col = 0; pos.col < (int) t->cols && r >= 0; pos.col++) {
                        char u[4 * VTERM_MAX_CHARS_PER_CELL];
                        size_t ul = 0;

                        if (!vterm_screen_get_cell(t->screen, pos, &c) || c.chars[0] == (uint32_t) -1)
                                continue;
                        if (cell_is_blank_char(&c))
                                u[ul++] = ' ';
                        else
                                for (int k = 0; k < VTERM_MAX_CHARS_PER_CELL && c.chars[k]; k++)
                                        ul += utf8_put(c.chars[k], u + ul);
                        r = buf_put(&b, u, ul);
                        if (!cell_is_blank_char(&c))
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
