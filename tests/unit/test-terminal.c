/* SPDX-License-Identifier: ISC */
/*
 * The terminal screen state (terminal.c, on libvterm).
 *
 * The round trip property: a stream fed into terminal A (rows x cols),
 * A's rendering fed into a fresh terminal B of the same size, B shows what
 * A shows: every cell (text, attributes, colours), the cursor, the modes
 * (terminal_get_modes, learned from libvterm's key/paste/mouse output),
 * the primary screen behind an alternate one (and the cursor it returns
 * to), and B renders to the same bytes as A (title, pen, scrollback).
 * Over generated streams (colours, attributes, cursor movement, scroll
 * regions, the alternate screen, wide and combining characters, wrapped
 * lines, modes, resizes before the render) and recorded ones
 * (tests/unit/terminal-fixtures: vim, ls --color, top, captured with
 * script(1)).
 *
 * Also: feeding in random splits equals feeding whole; replies reach the
 * reply handler, probes do not; OSC 133 marks; the scrollback stays
 * within its bound; and the heap that 10,000 lines of colored `ls -l`
 * scrollback cost (a TAP comment).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <vterm.h>

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);    /* ASan's allocator */
#define HEAP_BYTES() __sanitizer_get_current_allocated_bytes()
#else
#include <malloc.h>
#define HEAP_BYTES() mallinfo2().uordblks
#endif

#include "buf.h"
#include "macro.h"
#include "terminal.h"
#include "tap.h"

/* ------------------------------------------------------------------ PRNG */

static uint64_t rng_state;

static uint32_t rnd(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t) (rng_state >> 11);
}

static unsigned rnd_n(unsigned n) {
        return n ? rnd() % n : 0;
}

/* ------------------------------------------------------------------ comparisons */

static void put_utf8(Buf *b, uint32_t c);

static bool blank_char(const VTermScreenCell *c) {
        return c->chars[0] == 0 || (c->chars[0] == ' ' && c->chars[1] == 0);
}

static bool plain_blank(const VTermScreenCell *c) {
        return blank_char(c) && VTERM_COLOR_IS_DEFAULT_BG(&c->bg) && !c->attrs.reverse &&
                !c->attrs.underline && !c->attrs.strike;
}

static bool chars_eq(const VTermScreenCell *x, const VTermScreenCell *y) {
        for (int k = 0; k < VTERM_MAX_CHARS_PER_CELL; k++) {
                if (x->chars[k] != y->chars[k])
                        return false;
                if (!x->chars[k])
                        break;
        }
        return true;
}

/* The width libvterm gives c printed alone. */
static int cp_width(uint32_t c) {
        static VTerm *vt;
        char s[8];
        VTermPos pos;
        Buf b;

        if (!vt) {
                vt = vterm_new(1, 8);
                vterm_set_utf8(vt, 1);
                vterm_screen_reset(vterm_obtain_screen(vt), 1);
        }
        buf_init(&b, 8);
        put_utf8(&b, c);
        memcpy(s, buf_ptr(&b), buf_len(&b));
        vterm_input_write(vt, "\ra", 2);
        vterm_input_write(vt, s, buf_len(&b));
        buf_done(&b);
        vterm_state_get_cursorpos(vterm_obtain_state(vt), &pos);
        return pos.col - 1;
}

/* Half a wide character whose other half was overwritten, or a lone
 * combining character (libvterm keeps them; the render shows a blank, as
 * terminals do). */
static bool half_wide(VTermScreen *s, VTermPos p, const VTermScreenCell *c) {
        VTermScreenCell o;
        VTermPos q = p;

        if (c->width == 1 && c->chars[0] >= 0x300 && c->chars[0] != (uint32_t) -1 && cp_width(c->chars[0]) != 1)
                return true;
        if (c->chars[0] == (uint32_t) -1) {
                q.col--;
                return q.col < 0 || !vterm_screen_get_cell(s, q, &o) || o.width != 2 ||
                        o.chars[0] == (uint32_t) -1 || blank_char(&o) || cp_width(o.chars[0]) != 2;
        }

        if (c->chars[0] == (uint32_t) -1) {
                q.col--;
                return q.col < 0 || !vterm_screen_get_cell(s, q, &o) || o.width != 2 ||
                        o.chars[0] == (uint32_t) -1 || blank_char(&o);
        }
        if (c->width == 2) {
                q.col++;
                return !vterm_screen_get_cell(s, q, &o) || o.chars[0] != (uint32_t) -1;
        }
        return false;
}

/* A cell as the render draws it. */
static void normalize(VTermScreen *s, VTermPos p, VTermScreenCell *c) {
        if (half_wide(s, p, c))
                c->chars[0] = ' ', c->chars[1] = 0, c->width = 1;
        else if (c->width == 2 && cp_width(c->chars[0]) == 1)
                c->width = 1;    /* a narrow character over half a wide one */
}

static bool color_eq(const VTermColor *a, const VTermColor *b) {
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

static void describe(const VTermScreenCell *c, char *s, size_t n) {
        snprintf(s, n, "U+%04X%s w%d b%d u%d i%d k%d r%d s%d f%d fg%02x:%d bg%02x:%d",
                 c->chars[0], c->chars[1] ? "+" : "", c->width, c->attrs.bold, c->attrs.underline,
                 c->attrs.italic, c->attrs.blink, c->attrs.reverse, c->attrs.strike, c->attrs.font,
                 c->fg.type, c->fg.indexed.idx, c->bg.type, c->bg.indexed.idx);
}

static bool last_col_combining, dump_this;

/* NULL if the screens are the same, else a description of the first difference. */
static char *screens_differ(Terminal *a, Terminal *b) {
        static char why[512];
        unsigned rows, cols, rb, cb;
        TerminalModes ma, mb;
        VTermScreen *sa = terminal_vterm_screen(a), *sb = terminal_vterm_screen(b);
        VTermPos p;

        terminal_get_size(a, &rows, &cols);
        terminal_get_size(b, &rb, &cb);
        terminal_get_modes(a, &ma);
        terminal_get_modes(b, &mb);
        if (rows != rb || cols != cb) {
                snprintf(why, sizeof why, "size %ux%u vs %ux%u", rows, cols, rb, cb);
                return why;
        }
        for (p.row = 0; p.row < (int) rows; p.row++)
                for (p.col = 0; p.col < (int) cols; p.col++) {
                        VTermScreenCell x, y;
                        bool same;

                        vterm_screen_get_cell(sa, p, &x);
                        vterm_screen_get_cell(sb, p, &y);
                        /* Cells as drawn, not as DECSCNM shows them. */
                        x.attrs.reverse ^= ma.reverse_video;
                        y.attrs.reverse ^= mb.reverse_video;
                        normalize(sa, p, &x);
                        normalize(sb, p, &y);
                        /* libvterm cannot add a combining character to an
                         * ASCII character in the last column that began a
                         * run of text (it decodes the run as ASCII, and
                         * the combining character arrives with the cursor
                         * past the column), nor one that comes in a later
                         * write: terminals can, the render sends it, B
                         * drops it. */
                        if (p.col == (int) cols - 1 && x.chars[0] && x.chars[0] == y.chars[0] &&
                            (x.chars[1] || y.chars[1]) && !(x.chars[1] && y.chars[1])) {
                                x.chars[1] = y.chars[1] = 0;
                                last_col_combining = true;
                        }
                        if (x.chars[0] == (uint32_t) -1 || y.chars[0] == (uint32_t) -1)
                                same = x.chars[0] == y.chars[0];       /* the right half of a wide character */
                        else if (plain_blank(&x) || plain_blank(&y))
                                same = plain_blank(&x) && plain_blank(&y);
                        else {
                                same = (x.width == y.width || blank_char(&x)) &&
                                        (blank_char(&x) ? blank_char(&y) : chars_eq(&x, &y)) &&
                                        x.attrs.bold == y.attrs.bold && x.attrs.underline == y.attrs.underline &&
                                        x.attrs.italic == y.attrs.italic && x.attrs.blink == y.attrs.blink &&
                                        x.attrs.reverse == y.attrs.reverse && x.attrs.strike == y.attrs.strike &&
                                        x.attrs.font == y.attrs.font && color_eq(&x.fg, &y.fg) &&
                                        color_eq(&x.bg, &y.bg);
                                if (same && x.chars[0] == (uint32_t) -1)
                                        same = y.chars[0] == (uint32_t) -1;
                        }
                        if (!same) {
                                char dx[160], dy[160];

                                describe(&x, dx, sizeof dx);
                                describe(&y, dy, sizeof dy);
                                snprintf(why, sizeof why, "cell %d,%d: %s vs %s", p.row, p.col, dx, dy);
                                return why;
                        }
                }
        return NULL;
}

static char *modes_differ(Terminal *a, Terminal *b) {
        static char why[512];
        TerminalModes x, y;

        terminal_get_modes(a, &x);
        terminal_get_modes(b, &y);
#define M(f) if (x.f != y.f) { snprintf(why, sizeof why, #f ": %d vs %d", (int) x.f, (int) y.f); return why; }
        M(cursor_row) M(cursor_col) M(app_cursor) M(app_keypad) M(bracketed_paste) M(focus_events)
        M(alt_screen) M(cursor_visible) M(reverse_video) M(mouse) M(mouse_encoding)
        M(modes_known) M(origin_mode) M(autowrap) M(scroll_top) M(scroll_bottom)
#undef M
        return NULL;
}

static void feed_str(Terminal *t, const char *s) {
        terminal_feed(t, (const uint8_t *) s, strlen(s));
}

static char *render_str(Terminal *t, unsigned max_sb, size_t *ret_len) {
        Buf b;
        char *s;

        buf_init(&b, 64u << 20);
        if (terminal_render(t, &b, max_sb) < 0) {
                buf_done(&b);
                return NULL;
        }
        s = malloc(buf_len(&b) + 1);
        memcpy(s, buf_ptr(&b), buf_len(&b));
        s[buf_len(&b)] = 0;
        if (ret_len)
                *ret_len = buf_len(&b);
        buf_done(&b);
        return s;
}

/* Renders a into a fresh b of a's size; checks the round trip.  Returns
 * NULL or what differs. */
static char *round_trip(Terminal *a, unsigned max_sb, bool compare_renders, bool full_renders) {
        static char why[1024];
        Terminal *b = NULL;
        unsigned rows, cols;
        size_t la, lb;
        char *ra, *rb, *d;

        terminal_get_size(a, &rows, &cols);
        if (terminal_new(rows, cols, max_sb, &b) < 0)
                return (char *) "terminal_new";
        ra = render_str(a, max_sb, &la);
        if (!ra) {
                terminal_free(b);
                return (char *) "render failed";
        }
        terminal_feed(b, (const uint8_t *) ra, la);
        last_col_combining = false;
        d = screens_differ(a, b);
        if (last_col_combining)
                compare_renders = false;
        if (!d)
                d = modes_differ(a, b);
        if (!d && compare_renders && max_sb > 0 &&
            MIN(terminal_scrollback_lines(a), (size_t) max_sb) != terminal_scrollback_lines(b)) {
                snprintf(why, sizeof why, "scrollback: %zu lines vs %zu", terminal_scrollback_lines(a),
                         terminal_scrollback_lines(b));
                d = why;
        }
        if (!d && compare_renders) {
                /* (Generated streams: the scrollback's lines may end in
                 * a combining character in the last column, which B,
                 * libvterm, drops; see screens_differ().) */
                if (!full_renders) {
                        free(ra);
                        ra = render_str(a, 0, &la);
                }
                rb = render_str(b, full_renders ? max_sb : 0, &lb);
                if (!rb || lb != la || memcmp(ra, rb, la) != 0) {
                        size_t i = 0;

                        while (rb && i < la && i < lb && ra[i] == rb[i])
                                i++;
                        snprintf(why, sizeof why, "renders differ at byte %zu of %zu/%zu: ...%.40s... vs ...%.40s...",
                                 i, la, lb, ra + (i > 20 ? i - 20 : 0), rb ? rb + (i > 20 ? i - 20 : 0) : "");
                        if (dump_this) {
                                FILE *f = fopen("/tmp/terminal-ra", "we");
                                VTermPos p;

                                fwrite(ra, 1, la, f);
                                fclose(f);
                                fprintf(stderr, "size %ux%u\n", rows, cols);
                                for (p.row = 0; p.row < (int) rows; p.row++)
                                        for (p.col = 0; p.col < (int) cols; p.col++) {
                                                VTermScreenCell x;
                                                char dx[160];

                                                vterm_screen_get_cell(terminal_vterm_screen(a), p, &x);
                                                describe(&x, dx, sizeof dx);
                                                fprintf(stderr, "%d,%d %s\n", p.row, p.col, dx);
                                        }
                        }
                        d = why;
                }
                free(rb);
        }
        if (!d) {
                TerminalModes m;

                terminal_get_modes(a, &m);
                if (m.alt_screen) {
                        /* The primary screen behind, and the cursor it returns to. */
                        feed_str(a, "\033[?1049l");
                        feed_str(b, "\033[?1049l");
                        d = screens_differ(a, b);
                        if (!d)
                                d = modes_differ(a, b);
                        if (d) {
                                snprintf(why, sizeof why, "primary screen: %s", d);
                                d = why;
                        }
                }
        }
        if (d && d != why) {
                snprintf(why, sizeof why, "%s", d);
                d = why;
        }
        free(ra);
        terminal_free(b);
        return d;
}

/* ------------------------------------------------------------------ generator */

static void put_utf8(Buf *b, uint32_t c) {
        char s[4];
        size_t n;

        if (c < 0x80)
                s[0] = (char) c, n = 1;
        else if (c < 0x800)
                s[0] = (char) (0xc0 | c >> 6), s[1] = (char) (0x80 | (c & 0x3f)), n = 2;
        else if (c < 0x10000)
                s[0] = (char) (0xe0 | c >> 12), s[1] = (char) (0x80 | ((c >> 6) & 0x3f)),
                s[2] = (char) (0x80 | (c & 0x3f)), n = 3;
        else
                s[0] = (char) (0xf0 | c >> 18), s[1] = (char) (0x80 | ((c >> 12) & 0x3f)),
                s[2] = (char) (0x80 | ((c >> 6) & 0x3f)), s[3] = (char) (0x80 | (c & 0x3f)), n = 4;
        buf_put(b, s, n);
}

_printf_(2, 3)
static void putf(Buf *b, const char *fmt, ...) {
        char tmp[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        if (n > 0)
                buf_put(b, tmp, (size_t) MIN((size_t) n, sizeof tmp - 1));
}

static void gen_sgr(Buf *b) {
        switch (rnd_n(12)) {
        case 0: putf(b, "\033[0m"); break;
        case 1: putf(b, "\033[%um", 30 + rnd_n(8)); break;
        case 2: putf(b, "\033[%um", 40 + rnd_n(8)); break;
        case 3: putf(b, "\033[%um", 90 + rnd_n(8)); break;
        case 4: putf(b, "\033[38;5;%um", rnd_n(256)); break;
        case 5: putf(b, "\033[48;5;%um", rnd_n(256)); break;
        case 6: putf(b, "\033[38;2;%u;%u;%um", rnd_n(256), rnd_n(256), rnd_n(256)); break;
        case 7: putf(b, "\033[48;2;%u;%u;%um", rnd_n(256), rnd_n(256), rnd_n(256)); break;
        case 8: {
                static const char *const a[] = { "1", "3", "4", "5", "7", "9", "21", "4:3", "22", "23", "24",
                                                  "25", "27", "29", "39", "49", "11", "10" };
                putf(b, "\033[%sm", a[rnd_n(ELEMENTSOF(a))]);
                break;
        }
        default: putf(b, "\033[%u;%um", rnd_n(2) ? 1 : 4, 31 + rnd_n(7)); break;
        }
}

static void gen_text(Buf *b, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                unsigned k = rnd_n(40);

                if (k < 30)
                        buf_put_u8(b, (uint8_t) ('!' + rnd_n(94)));
                else if (k < 33)
                        buf_put_u8(b, ' ');
                else if (k < 35)
                        put_utf8(b, 0x4e00 + rnd_n(0x5000));         /* CJK, wide */
                else if (k < 36)
                        put_utf8(b, 0x1f600 + rnd_n(0x40));          /* emoji, wide */
                else if (k < 38) {
                        /* Combining, on a non-ASCII letter: libvterm
                         * drops one on an ASCII letter in the last column
                         * that began a run of text (see screens_differ()). */
                        put_utf8(b, 0xe0 + rnd_n(0x1f));
                        put_utf8(b, 0x300 + rnd_n(0x40));
                } else
                        put_utf8(b, 0xa1 + rnd_n(0x25f));            /* Latin (no combining marks) */
        }
}

static void gen_stream(Buf *b, unsigned rows, unsigned cols, unsigned steps, bool modes) {
        for (unsigned s = 0; s < steps; s++) {
                switch (rnd_n(modes ? 24 : 20)) {
                case 0 ... 5:
                        gen_text(b, 1 + rnd_n(cols * (rnd_n(4) ? 1 : 3)));
                        break;
                case 6: case 7:
                        gen_sgr(b);
                        break;
                case 8: case 9:
                        putf(b, "\r\n");
                        break;
                case 10:
                        putf(b, "\033[%u;%uH", 1 + rnd_n(rows + 2), 1 + rnd_n(cols + 2));
                        break;
                case 11:
                        putf(b, "\033[%u%c", rnd_n(5), "ABCDEFG"[rnd_n(7)]);
                        break;
                case 12:
                        putf(b, "\033[%uK", rnd_n(3));
                        break;
                case 13:
                        putf(b, "\033[%uJ", rnd_n(3));
                        break;
                case 14: {
                        unsigned top = 1 + rnd_n(rows), bot = top + rnd_n(rows - top + 1);
                        putf(b, "\033[%u;%ur\033[%uH", top, bot, top);
                        gen_text(b, cols);
                        putf(b, "\r\n\n\n\033M\033[%u%c", 1 + rnd_n(3), "LMST"[rnd_n(4)]);
                        if (rnd_n(2))
                                putf(b, "\033[r");
                        break;
                }
                case 15:
                        putf(b, "\t%s\b", rnd_n(2) ? "x" : "");
                        break;
                case 16:
                        putf(b, "\033[%u@\033[%uP\033[%uX", rnd_n(3), rnd_n(3), rnd_n(3));
                        break;
                case 17:
                        putf(b, "\033]2;title %u \xc3\xa9\007", rnd_n(1000));
                        break;
                case 18:
                        /* vim-like: enter the alternate screen, draw, maybe leave. */
                        putf(b, "\033[?1049h\033[22;0;0t\033[H\033[2J");
                        for (unsigned r = 1; r <= rows; r++) {
                                putf(b, "\033[%u;1H\033[34m~\033[0m", r);
                                if (rnd_n(3) == 0)
                                        gen_text(b, rnd_n(cols));
                        }
                        putf(b, "\033[%u;1H\033[7m\"file\" 3L, 40B\033[27m\033[1;1H", rows);
                        if (rnd_n(2))
                                putf(b, "\033[?1049l\033[23;0;0t");
                        break;
                case 19:
                        if (rnd_n(2))
                                putf(b, "\033[?25%c", rnd_n(4) ? 'h' : 'l');
                        else
                                putf(b, "\033[%ub", rnd_n(cols + 3));     /* REP */
                        break;
                case 20: {
                        static const char *const m[] = {
                                "\033[?1h", "\033[?1l", "\033=", "\033>", "\033[?2004h", "\033[?2004l",
                                "\033[?1000h", "\033[?1002h", "\033[?1003h", "\033[?1000l", "\033[?1006h",
                                "\033[?1005h", "\033[?1015h", "\033[?1006l", "\033[?1004h", "\033[?1004l",
                                "\033[?5h", "\033[?5l", "\033[4 q", "\033[6 q", "\033[0 q", "\033[?12l",
                                "\033[?6h", "\033[?6l", "\033[?7l", "\033[?7h", "\033[3;7r",
                        };
                        putf(b, "%s", m[rnd_n(ELEMENTSOF(m))]);
                        break;
                }
                case 21:
                        putf(b, "\033[?1049%c", rnd_n(2) ? 'h' : 'l');
                        break;
                default:
                        putf(b, "\n");
                        break;
                }
        }
}

/* ------------------------------------------------------------------ tests */

static void test_generated(void) {
        unsigned failures = 0, runs = 300;
        char first[1200] = "";

        for (unsigned i = 0; i < runs; i++) {
                unsigned rows = 2 + rnd_n(40), cols = 2 + rnd_n(120);
                bool resize = rnd_n(4) == 0;
                Terminal *a = NULL;
                Buf s;
                char *d;

                rng_state = 0x9e3779b97f4a7c15ull * (i + 1);
                buf_init(&s, 16u << 20);
                gen_stream(&s, rows, cols, 20 + rnd_n(200), true);
                if (terminal_new(rows, cols, 1000, &a) < 0) {
                        failures++;
                        buf_done(&s);
                        continue;
                }
                terminal_feed(a, buf_ptr(&s), buf_len(&s));
                dump_this = getenv("TEST_TERMINAL_DUMP") && (unsigned) atoi(getenv("TEST_TERMINAL_DUMP")) == i;
                if (dump_this) {
                        FILE *f = fopen("/tmp/terminal-stream", "we");

                        if (f) {
                                fwrite(buf_ptr(&s), 1, buf_len(&s), f);
                                fclose(f);
                        }
                }
                if (resize)
                        terminal_resize(a, 2 + rnd_n(40), 2 + rnd_n(120));
                d = round_trip(a, resize ? 0 : 1000, true, false);
                if (d) {
                        if (failures++ == 0)
                                snprintf(first, sizeof first, "stream %u (%ux%u%s): %s", i, rows, cols,
                                         resize ? ", resized" : "", d);
                }
                terminal_free(a);
                buf_done(&s);
        }
        if (!ok(failures == 0, "round trip of %u generated streams", runs))
                diag("%u failed; first: %s", failures, first);
}

static int read_whole(const char *path, uint8_t **ret, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        uint8_t *p;
        long n;

        if (!f)
                return -errno;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        p = malloc((size_t) n + 1);
        if (!p || fread(p, 1, (size_t) n, f) != (size_t) n) {
                free(p);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        *ret = p;
        *ret_n = (size_t) n;
        return 0;
}

/* Fixture NAME-ROWSxCOLS.txt: the bytes a program wrote to a terminal of that size. */
static void test_fixtures(void) {
        struct dirent **names = NULL;
        int n;

        n = scandir(TEST_FIXTURES, &names, NULL, alphasort);
        if (!ok(n > 2, "fixtures in %s", TEST_FIXTURES))
                return;
        for (int i = 0; i < n; i++) {
                char path[4096];
                unsigned rows, cols;
                uint8_t *data = NULL;
                size_t len = 0;
                const char *x = strrchr(names[i]->d_name, '-');

                if (names[i]->d_name[0] == '.' || !x || sscanf(x, "-%ux%u", &rows, &cols) != 2) {
                        free(names[i]);
                        continue;
                }
                snprintf(path, sizeof path, "%s/%s", TEST_FIXTURES, names[i]->d_name);
                if (read_whole(path, &data, &len) == 0) {
                        Terminal *a = NULL, *c = NULL;
                        char *d = NULL, *ra, *rc;
                        size_t la, lc;

                        terminal_new(rows, cols, 500, &a);
                        terminal_new(rows, cols, 500, &c);
                        terminal_feed(a, data, len);
                        /* Fed one byte at a time: the same. */
                        for (size_t k = 0; k < len; k++)
                                terminal_feed(c, data + k, 1);
                        ra = render_str(a, 500, &la);
                        rc = render_str(c, 500, &lc);
                        ok(ra && rc && la == lc && memcmp(ra, rc, la) == 0, "%s fed byte by byte renders the same",
                           names[i]->d_name);
                        d = round_trip(a, 500, true, true);
                        if (!ok(!d, "round trip of %s", names[i]->d_name))
                                diag("%s", d);
                        free(ra);
                        free(rc);
                        terminal_free(a);
                        terminal_free(c);
                        free(data);
                } else
                        ok(false, "read %s", path);
                free(names[i]);
        }
        free(names);
}

static void test_split_feeding(void) {
        unsigned bad = 0;

        for (unsigned i = 0; i < 60; i++) {
                Terminal *a = NULL, *c = NULL;
                Buf s;
                char *ra, *rc, *sd;
                size_t la, lc, o = 0;

                rng_state = 0x1234567ull * (i + 7);
                buf_init(&s, 16u << 20);
                gen_stream(&s, 24, 80, 150, true);
                /* OSC 133 marks and replies in the middle. */
                putf(&s, "\033]133;A\007\033]133;D;%u\033\\\033[6n\033[c", i);
                gen_stream(&s, 24, 80, 50, true);
                terminal_new(24, 80, 300, &a);
                terminal_new(24, 80, 300, &c);
                terminal_feed(a, buf_ptr(&s), buf_len(&s));
                while (o < buf_len(&s)) {
                        size_t want = 1 + rnd_n(rnd_n(2) ? 7 : 300), k = MIN(buf_len(&s) - o, want);

                        terminal_feed(c, buf_ptr(&s) + o, k);
                        o += k;
                }
                ra = render_str(a, 300, &la);
                rc = render_str(c, 300, &lc);
                last_col_combining = false;
                sd = screens_differ(a, c);
                if (!ra || !rc || sd || (!last_col_combining && (la != lc || memcmp(ra, rc, la) != 0))) {
                        if (bad++ == 0 && sd)
                                diag("first: stream %u: %s", i, sd);
                        else if (bad == 1) {
                                size_t j = 0;

                                while (j < la && j < lc && ra[j] == rc[j])
                                        j++;
                                diag("first: stream %u differs at byte %zu of %zu/%zu: ...%.60s... vs ...%.60s...", i, j, la, lc,
                                     ra + (j > 30 ? j - 30 : 0), rc + (j > 30 ? j - 30 : 0));
                        }
                }
                free(ra);
                free(rc);
                terminal_free(a);
                terminal_free(c);
                buf_done(&s);
        }
        is_int(bad, 0, "fed in random splits (UTF-8 and sequences cut) = fed whole, 60 streams");
}

typedef struct Seen {
        char replies[256];
        size_t reply_len;
        char marks[512];
        unsigned nmarks;
} Seen;

static void on_reply(const uint8_t *p, size_t n, void *userdata) {
        Seen *s = userdata;
        size_t k = MIN(n, sizeof s->replies - 1 - s->reply_len);

        memcpy(s->replies + s->reply_len, p, k);
        s->reply_len += k;
        s->replies[s->reply_len] = 0;
}

static void on_mark(char kind, const char *args, size_t n, void *userdata) {
        Seen *s = userdata;
        size_t l = strlen(s->marks);

        snprintf(s->marks + l, sizeof s->marks - l, "%c[%.*s]", kind, (int) n, args);
        s->nmarks++;
}

static void test_replies_and_marks(void) {
        Terminal *t = NULL;
        Seen seen = {};
        Buf b;
        char *big;

        terminal_new(24, 80, 100, &t);
        terminal_set_reply_handler(t, on_reply, &seen);
        terminal_set_mark_handler(t, on_mark, &seen);
        feed_str(t, "\033[?1h\033[?2004h\033[?1000h\033[?1006h\033[?1004hab\033[3;5H\033[6n");
        is_str(seen.replies, "\033[3;5R", "cursor position report goes to the reply handler");
        buf_init(&b, 1 << 20);
        terminal_render(t, &b, 10);
        buf_done(&b);
        is_str(seen.replies, "\033[3;5R", "render's probes never reach the reply handler");
        seen.reply_len = 0;
        feed_str(t, "\033[c");
        ok(seen.reply_len > 3 && memcmp(seen.replies, "\033[?", 3) == 0, "device attributes answered");

        feed_str(t, "\033]133;A\007$ \033]133;B\007ls\r\n\033]133;C\007\033]133;D;0\033\\"
                    "\033]1337;x\007\033]133;\007\033]133;AB\007\033]7;file://h/tmp\007\033]133;P;k=i\007");
        is_str(seen.marks, "A[]B[]C[]D[0]P[k=i]", "OSC 133 marks reach the mark handler, other OSCs do not");
        /* Split across feeds. */
        seen.marks[0] = 0;
        feed_str(t, "\033]13");
        feed_str(t, "3;D");
        feed_str(t, ";127\007");
        is_str(seen.marks, "D[127]", "an OSC 133 mark split across feeds");
        seen.marks[0] = 0;
        big = malloc(TERMINAL_MAX_MARK + 64);
        memset(big, 'x', TERMINAL_MAX_MARK + 63);
        memcpy(big, "\033]133;D;", 8);
        memcpy(big + TERMINAL_MAX_MARK + 60, "\007", 2);
        feed_str(t, big);
        free(big);
        is_str(seen.marks, "", "a mark over TERMINAL_MAX_MARK bytes is ignored");
        terminal_free(t);
}

static void test_modes(void) {
        Terminal *t = NULL;
        TerminalModes m = {};
        char *text = NULL;

        terminal_new(10, 40, 0, &t);
        terminal_get_modes(t, &m);
        ok(!m.app_cursor && !m.app_keypad && !m.bracketed_paste && !m.mouse && !m.mouse_encoding &&
           m.cursor_visible && !m.alt_screen, "a fresh terminal's modes");
        feed_str(t, "\033[?1h\033=\033[?2004h\033[?1002h\033[?1006h\033[?25l\033[?1049h\033[2;3H");
        terminal_get_modes(t, &m);
        ok(m.app_cursor && m.app_keypad && m.bracketed_paste && m.mouse == 1002 && m.mouse_encoding == 1006 &&
           !m.cursor_visible && m.alt_screen && m.cursor_row == 1 && m.cursor_col == 2,
           "modes learned from libvterm's key, paste and mouse output");
        feed_str(t, "\033[?1005h");
        terminal_get_modes(t, &m);
        is_int(m.mouse_encoding, 1005, "UTF-8 mouse encoding");
        feed_str(t, "\033[3;8r\033[?6h\033[?7l");
        terminal_get_modes(t, &m);
        ok(m.modes_known && m.origin_mode && !m.autowrap && m.scroll_top == 3 && m.scroll_bottom == 8,
           "scroll region, origin mode and autowrap asked of libvterm between sequences");
        feed_str(t, "\033[3");
        terminal_get_modes(t, &m);
        ok(!m.modes_known && !m.origin_mode && m.autowrap && m.scroll_top == 1 && m.scroll_bottom == 10,
           "not asked in the middle of a sequence");
        feed_str(t, "1mX\033[r\033[?6l\033[?7h");
        terminal_get_modes(t, &m);
        ok(m.modes_known && !m.origin_mode && m.autowrap && m.scroll_top == 1 && m.scroll_bottom == 10,
           "and again after it");
        feed_str(t, "\033[?1015h\033[?1003h");
        terminal_get_modes(t, &m);
        ok(m.mouse_encoding == 1015 && m.mouse == 1003, "urxvt mouse encoding, any-event tracking");
        feed_str(t, "\033[?1000l\033[?1003l\033[?1015l\033[?1l\033>\033[?2004l\033[?1049l");
        terminal_get_modes(t, &m);
        ok(!m.app_cursor && !m.app_keypad && !m.bracketed_paste && !m.mouse && !m.mouse_encoding && !m.alt_screen,
           "modes reset");
        feed_str(t, "hello \xe4\xb8\xad\xe6\x96\x87 e\xcc\x81!   \r\n\r\n  x");
        terminal_screen_text(t, &text);
        is_str(text, "hello \xe4\xb8\xad\xe6\x96\x87 e\xcc\x81!\n\n  x\n\n\n\n\n\n\n", "terminal_screen_text");
        free(text);
        {
                /* libvterm 0.1.4 writes past its 16 CSI arguments, and
                 * through NULL for a wide character in one column. */
                Buf b;
                unsigned r, c;

                buf_init(&b, 1 << 16);
                putf(&b, "\033[2J\033[H\033[");
                for (unsigned i = 0; i < 3000; i++)
                        putf(&b, "%u;", i % 7);
                putf(&b, "31mred\033[m");
                terminal_feed(t, buf_ptr(&b), buf_len(&b));
                buf_done(&b);
                terminal_screen_text(t, &text);
                ok(strncmp(text, "red", 3) == 0, "a CSI with 3000 arguments");
                free(text);
                /* REP: libvterm 0.1.4 loops forever before any glyph or
                 * after a lone combining character, writes through NULL
                 * for a wide glyph reaching the last column. */
                feed_str(t, "\033[2J\033[H\033[5b\r\n\xcc\x81\033[3b\r\nab\033[3b\r\n\033[37G\xe4\xb8\xad\033[9b"
                            "\r\n\033[1;31m=\033[0m\033[9999b");
                terminal_screen_text(t, &text);
                ok(strncmp(text, "\n\xcc\x81\nabbbb\n                                    \xe4\xb8\xad\xe4\xb8\xad\n"
                                 "========================================\n", 1 + 3 + 6 + 36 + 7 + 41) == 0,
                   "REP repeats the character before it, to the end of the line, and never hangs");
                free(text);
                /* Fewer rows with text below the cursor: libvterm 0.1.4
                 * moves the cursor above the screen. */
                terminal_resize(t, 21, 105);
                feed_str(t, "\033[2J\033[11H \033[H");
                terminal_resize(t, 8, 6);
                feed_str(t, "\033[Kok");
                terminal_get_modes(t, &m);
                ok(m.cursor_row == 0 && m.cursor_col == 2, "shrunk below the cursor's text: the cursor stays on the screen");
                ok(terminal_resize(t, 3, 1) == 0, "resize to one column");
                terminal_get_size(t, &r, &c);
                feed_str(t, "\xe4\xb8\xad\xe6\x96\x87\r\n\xe4\xb8\xad");
                ok(r == 3 && c == 2, "one column is kept as two (a wide character there crashes libvterm 0.1.4)");
                terminal_resize(t, 10, 40);
        }
        ok(terminal_resize(t, 0, 10) == -EINVAL && terminal_resize(t, 10, TERMINAL_MAX_COLS + 1) == -EINVAL,
           "resize out of range refused");
        terminal_free(t);
        ok(terminal_new(0, 80, 0, &t) == -EINVAL && terminal_new(24, 80, TERMINAL_MAX_SCROLLBACK + 1, &t) == -EINVAL,
           "terminal_new out of range refused");
}

static void gen_ls_line(Buf *b, unsigned i) {
        static const char *const colors[] = { "01;34", "01;32", "01;36", "00", "01;35", "40;33;01" };
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun" };

        putf(b, "-rw-r--r-- 1 alice staff %7u %s %2u %02u:%02u \033[%sm%s-%05u.%s\033[0m\r\n",
             (i * 7919u) % 10000000u, months[i % 6], 1 + i % 28, i % 24, i % 60,
             colors[i % ELEMENTSOF(colors)], i % 3 ? "report" : "data", i, i % 2 ? "txt" : "log");
}

static void test_scrollback(void) {
        Terminal *t = NULL;
        Buf b;
        size_t before, after, lines_bytes = 0;
        struct timespec t0, t1;
        double secs;

        terminal_new(24, 80, 100, &t);
        buf_init(&b, 16u << 20);
        for (unsigned i = 0; i < 1000; i++)
                gen_ls_line(&b, i);
        terminal_feed(t, buf_ptr(&b), buf_len(&b));
        is_int(terminal_scrollback_lines(t), 100, "scrollback bounded by scrollback_lines (oldest dropped)");
        ok(round_trip(t, 100, true, true) == NULL, "round trip with 100 lines of scrollback");
        ok(round_trip(t, 7, true, true) == NULL, "round trip with 7 of them");
        terminal_free(t);
        terminal_new(24, 80, 0, &t);
        terminal_feed(t, buf_ptr(&b), buf_len(&b));
        is_int(terminal_scrollback_lines(t), 0, "no scrollback kept with scrollback_lines 0");
        terminal_free(t);

        /* The heap 10,000 lines of scrollback cost at 80x24. */
        buf_reset(&b);
        for (unsigned i = 0; i < 10000; i++)
                gen_ls_line(&b, i);
        lines_bytes = buf_len(&b);
        before = HEAP_BYTES();
        terminal_new(24, 80, 10000, &t);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        terminal_feed(t, buf_ptr(&b), buf_len(&b));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        after = HEAP_BYTES();
        secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        is_int(terminal_scrollback_lines(t), 10000 - 23, "10,000 lines fed: all but the screen's in the scrollback");
        diag("memory: an 80x24 terminal with %zu lines of colored ls -l scrollback (%zu bytes of stream): "
             "%zu KiB of heap (%.0f bytes/line)%s", terminal_scrollback_lines(t), lines_bytes,
             (after - before) / 1024, (double) (after - before) / 10000.0,
#if defined(__SANITIZE_ADDRESS__)
             " [ASan build]"
#else
             ""
#endif
             );
        diag("feed: %.1f MB/s (this build)", (double) lines_bytes / secs / 1e6);
        terminal_free(t);
        buf_done(&b);
}

int main(void) {
        test_modes();
        test_replies_and_marks();
        test_split_feeding();
        test_scrollback();
        test_generated();
        test_fixtures();
        return done_testing();
}
