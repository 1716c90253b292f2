/* SPDX-License-Identifier: ISC */
/*
 * The screen of a terminal session (see terminal.h and
 * doc/architecture.md, "Terminal state").
 *
 * libvterm's parser and VTermState interpret the stream (cursor, wrapping,
 * modes, scroll regions, charsets, the pen); what they draw lands in our
 * own grid (screen.c), not in libvterm's VTermScreen.  This file feeds
 * libvterm and reads back:
 *  - cells and the scrollback from screen.c; the cursor
 *    (vterm_state_get_cursorpos), the pen (vterm_state_get_penattr), the
 *    properties the state announces (cursor visibility/shape/blink,
 *    alternate screen, reverse video, title, mouse reporting);
 *  - the modes libvterm 0.1.4 has no getter for, from what libvterm would
 *    send for a key, a paste, a mouse click or a focus event
 *    (vterm_keyboard_key, vterm_keyboard_start_paste, vterm_mouse_*,
 *    vterm_state_focus_in) while `probing` diverts its output;
 *  - origin mode, autowrap and the scroll region from libvterm's answers
 *    to DECRQM and DECRQSS written into its input, when its parser is
 *    between sequences (terminal_feed() knows).
 * Nothing here interprets the stream: terminal_feed() only follows which
 * state libvterm's parser is in, to keep libvterm 0.1.4 clear of the bugs
 * a program's output reaches (see there).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vterm.h>

#include "macro.h"
#include "terminal-internal.h"

/* libvterm's text callback decodes the rest of the write into a stack
 * array of one uint32_t per byte: feed it in bounded pieces. */
#define FEED_CHUNK 4096u
#define TITLE_MAX 256u
/* A terminal one column wide is kept two wide: a wide character there
 * made libvterm 0.1.4's screen write through NULL.  Our grid clamps (and
 * the state itself is fine), but a one-column terminal shows nothing a
 * program can use; the size stays as documented. */
#define MIN_COLS 2u

/* libvterm 0.1.4 keeps 16 CSI arguments and writes past them (it checks
 * no bound): separators after the 15th are dropped. */
#define CSI_MAX_SEPARATORS 15u

/* ------------------------------------------------------------------ callbacks */

/* The pen the program writes with now. */
void terminal_get_pen(Terminal *t, uint16_t *a, VTermColor *fg, VTermColor *bg) {
        VTermValue v;

        *a = 0;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_BOLD, &v) && v.boolean)
                *a |= SCREEN_A_BOLD;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_UNDERLINE, &v))
                *a |= (uint16_t) (((unsigned) v.number & 3u) << SCREEN_A_UNDERLINE_SHIFT);
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_ITALIC, &v) && v.boolean)
                *a |= SCREEN_A_ITALIC;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_BLINK, &v) && v.boolean)
                *a |= SCREEN_A_BLINK;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_REVERSE, &v) && v.boolean)
                *a |= SCREEN_A_REVERSE;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_STRIKE, &v) && v.boolean)
                *a |= SCREEN_A_STRIKE;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_FONT, &v))
                *a |= (uint16_t) (((unsigned) v.number & 15u) << SCREEN_A_FONT_SHIFT);
        vterm_color_indexed(fg, 7);
        fg->type |= VTERM_COLOR_DEFAULT_FG;
        vterm_color_indexed(bg, 0);
        bg->type |= VTERM_COLOR_DEFAULT_BG;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_FOREGROUND, &v))
                *fg = v.color;
        if (vterm_state_get_penattr(t->state, VTERM_ATTR_BACKGROUND, &v))
                *bg = v.color;
}

/* What the state announces, after the screen saw it. */
static void on_prop(VTermProp prop, const VTermValue *val, void *user) {
        Terminal *t = user;

        if (t->probing)
                return;
        switch (prop) {
        case VTERM_PROP_ALTSCREEN:
                if (val->boolean) {
                        vterm_state_get_cursorpos(t->state, &t->primary.pos);
                        t->primary.visible = t->cursor_visible;
                        t->primary.blink = t->cursor_blink;
                        t->primary.shape = t->cursor_shape;
                        terminal_get_pen(t, &t->primary.attrs, &t->primary.fg, &t->primary.bg);
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

static const VTermParserCallbacks fallbacks = {
        .osc = on_osc,
};

/* ------------------------------------------------------------------ lifecycle */

int terminal_new(unsigned rows, unsigned cols, unsigned scrollback_lines, Terminal **ret) {
        Terminal *t;
        int r;

        if (rows < 1 || rows > TERMINAL_MAX_ROWS || cols < 1 || cols > TERMINAL_MAX_COLS ||
            scrollback_lines > TERMINAL_MAX_SCROLLBACK || !ret)
                return -EINVAL;
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        cols = MAX(cols, MIN_COLS);
        t->rows = rows;
        t->cols = cols;
        t->cursor_visible = true;
        t->cursor_blink = true;
        t->cursor_shape = VTERM_PROP_CURSORSHAPE_BLOCK;

        r = screen_new(rows, cols, scrollback_lines, &t->screen);
        if (r < 0) {
                free(t);
                return r;
        }
        t->vt = vterm_new((int) rows, (int) cols);
        if (!t->vt) {
                screen_free(t->screen);
                free(t);
                return -ENOMEM;
        }
        vterm_set_utf8(t->vt, 1);
        vterm_output_set_callback(t->vt, on_output, t);
        t->state = vterm_obtain_state(t->vt);
        screen_attach(t->screen, t->state, on_prop, t);
        vterm_state_set_unrecognised_fallbacks(t->state, &fallbacks, t);
        vterm_state_reset(t->state, 1);
        *ret = t;
        return 0;
}

Terminal *terminal_free(Terminal *t) {
        if (!t)
                return NULL;
        vterm_free(t->vt);
        screen_free(t->screen);
        free(t->title);
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
        char g[4 * SCREEN_MAX_CHARS];
        uint32_t chars[SCREEN_MAX_CHARS];
        const VTermLineInfo *li;
        const ScreenCell *cells;
        const uint32_t *comb;
        VTermPos pos;
        size_t gl = 0, n = 0, nc;
        unsigned width, w = 1, k, col;

        vterm_state_get_cursorpos(t->state, &pos);
        li = vterm_state_get_lineinfo(t->state, pos.row);
        width = li && li->doublewidth ? t->cols / 2 : t->cols;
        if (pos.row < 0 || pos.row >= (int) t->rows || pos.col < 1 || (unsigned) pos.col >= width)
                return;
        cells = screen_row(t->screen, t->altscreen, (unsigned) pos.row, &comb);
        col = (unsigned) pos.col - 1;
        if (cells[col].ch == SCREEN_CONT) {
                if (col == 0)
                        return;
                col--;
                w = 2;
        }
        if (cells[col].ch == 0 || cells[col].ch == SCREEN_CONT || screen_cell_width(&cells[col]) != w ||
            (w == 2 && !screen_intact_wide(cells, col, t->cols)))
                return;
        nc = screen_cell_chars(cells, comb, col, chars);
        for (size_t i = 0; i < nc; i++)
                gl += screen_utf8_put(chars[i], g + gl);
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

/* In a string, right after its ESC: p[i - 1] is a control character (C0,
 * NUL, DEL) that libvterm 0.1.4 would run there, moving the string's
 * start past it while it still waits for the ST's backslash — which then ends
 * the string at length -1 (strncpy reading far past the write: a heap
 * overflow, fuzz-terminal).  It is dropped.  The content before it
 * joins the held content, as a string's content must reach libvterm in
 * one write. */
static void string_drop(Terminal *t, const uint8_t *p, size_t *start, size_t *content, size_t i) {
        size_t n;

        if (*content != SIZE_MAX) {
                /* Begun in this chunk: its introducer goes now, its
                 * content is held from here on. */
                write_vt(t, p + *start, *content - *start);
                *start = *content;
                *content = SIZE_MAX;
        }
        n = i - 1 - *start;
        if (!t->overlong && t->hold_len + n <= HOLD_MAX) {
                memcpy(t->hold + t->hold_len, p + *start, n);
                t->hold_len += n;
        } else {
                /* Too long to hold: fed, but for the ESC (never at the
                 * end of a write). */
                if (n > 0) {
                        write_vt(t, t->hold, t->hold_len);
                        write_vt(t, p + *start, n - 1);
                } else if (t->hold_len > 0)
                        write_vt(t, t->hold, t->hold_len - 1);
                t->hold[0] = 0x1b;
                t->hold_len = 1;
                t->overlong = true;
        }
        *start = i;
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
                if (t->scan == SCAN_STRING_ESC && (c < 0x20 || c == 0x7f) && c != 0x18 && c != 0x1a && c != 0x1b) {
                        string_drop(t, p, &start, &content, i);
                        continue;
                }
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
                        if (t->scan == SCAN_STRING_ESC) {
                                /* ESC ESC: the string is over,
                                 * unterminated, as below; what is held
                                 * of it goes first (libvterm has not
                                 * seen the first ESC if it is held, and
                                 * would take this one for the ST's). */
                                if (content == SIZE_MAX)
                                        string_done(t, p, &start, i - 1);
                                content = SIZE_MAX;
                                t->scan = SCAN_ESC;
                        } else
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
        if (t->scan == SCAN_STRING_ESC && start == n && t->hold_len > 0) {
                /* The ESC is held already (string_drop()). */
                write_vt(t, t->hold, t->hold_len - 1);
                t->hold[0] = 0x1b;
                t->hold_len = 1;
                t->overlong = true;
                return;
        }
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
 *    never so cut; nor is it when a control character (C0, NUL, DEL)
 *    comes between the ESC and the backslash: that one is dropped.
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

        /* libvterm 0.1.4's state keeps the scroll region's top when the
         * rows change: with fewer rows than its top, the next line feed
         * scrolls a negative size (our grid clamps it, but the region is
         * then nonsense).  As xterm does on a resize, the scroll region is
         * reset (DECSTBM, which homes the cursor), and the cursor put back
         * where it was, on the screen (screen.c's resize keeps it there
         * already: libvterm's own screen moved it above the screen). */
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
        return screen_sb_lines(t->screen);
}

uint64_t terminal_scrollback_total(const Terminal *t) {
        return screen_sb_total(t->screen);
}

static void color_out(const VTermColor *c, bool fg, TerminalColor *ret) {
        if (c->type & (fg ? VTERM_COLOR_DEFAULT_FG : VTERM_COLOR_DEFAULT_BG))
                *ret = (TerminalColor) { .kind = TERMINAL_COLOR_DEFAULT };
        else if (VTERM_COLOR_IS_INDEXED(c))
                *ret = (TerminalColor) { .kind = TERMINAL_COLOR_INDEXED, .index = c->indexed.idx };
        else
                *ret = (TerminalColor) { .kind = TERMINAL_COLOR_RGB, .red = c->rgb.red, .green = c->rgb.green,
                                         .blue = c->rgb.blue };
}

int terminal_get_cell(Terminal *t, bool primary, unsigned row, unsigned col, TerminalCell *ret) {
        const ScreenCell *cells, *c;
        const uint32_t *comb;

        if (row >= t->rows || col >= t->cols)
                return -EINVAL;
        cells = screen_row(t->screen, !primary && t->altscreen, row, &comb);
        c = &cells[col];
        *ret = (TerminalCell) {
                .width = c->ch == SCREEN_CONT ? 0 : screen_cell_width(c),
                .bold = !!(c->attrs & SCREEN_A_BOLD),
                .underline = (c->attrs >> SCREEN_A_UNDERLINE_SHIFT) & 3u,
                .italic = !!(c->attrs & SCREEN_A_ITALIC),
                .blink = !!(c->attrs & SCREEN_A_BLINK),
                .reverse = !!(c->attrs & SCREEN_A_REVERSE),
                .strike = !!(c->attrs & SCREEN_A_STRIKE),
                .font = (c->attrs >> SCREEN_A_FONT_SHIFT) & 15u,
                .protect = !!(c->attrs & SCREEN_A_PROTECTED),
        };
        if (c->ch != SCREEN_CONT)
                (void) screen_cell_chars(cells, comb, col, ret->chars);
        color_out(&c->fg, true, &ret->fg);
        color_out(&c->bg, false, &ret->bg);
        return 0;
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
