/* SPDX-License-Identifier: ISC */
/*
 * The grid behind a terminal session's screen (see screen.h and
 * doc/architecture.md, "Terminal state").
 *
 * libvterm's VTermState interprets the stream (cursor, wrapping, modes,
 * scroll regions, charsets, the pen) and tells us what to draw through its
 * callbacks; libvterm's own VTermScreen is not used: it memmoves the whole
 * screen for every line that scrolls, and libvterm 0.1.4's version of it
 * writes wherever a rectangle the state hands over points (a scroll region
 * left beyond the rows by a resize, a wide character in the last column
 * without autowrap, a cursor above the screen after a resize).  Here every
 * rectangle and position is clamped to the grid first.
 *
 * What the cells hold mirrors what VTermScreen kept (so that a test can
 * compare the two): the characters of a glyph in its first cell, SCREEN_CONT
 * in the cells a wide glyph covers, the pen it was drawn with; erased cells
 * take the pen's colours (BCE) and nothing else; DECSCA-protected cells
 * survive a selective erase.
 *
 * Layout: a buffer is one block of rows * cols cells and a ring of row
 * pointers into it (top: the physical slot of row 0).  A scroll of the
 * whole screen moves `top`; a full-width scroll region rotates the row
 * pointers inside it; only rectangles narrower than the screen copy cells.
 * A row's combining characters live in a per-row array allocated the
 * first time one is drawn on it.
 *
 * Scrollback: lines scrolled off the top of the primary screen (full width,
 * region at the top; as VTermScreen pushed them) are stored as runs: UTF-8
 * text (only printable characters: the encoder writes U+FFFD for anything
 * else) and, before a run, a pen record (a byte 0x10..0x17 saying which of
 * attributes, foreground and background follow).  Records are packed into
 * blocks of SB_BLOCK bytes, a line a record; a block is freed when its
 * last line has been dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "screen.h"

#define SB_BLOCK (16u * 1024u)
/* Row pointers a rotation saves on the stack (more: on the heap). */
#define ROTATE_STACK 64u

typedef struct Row {
        ScreenCell *cells;
        uint32_t *comb;         /* NULL, or cols * (SCREEN_MAX_CHARS - 1) */
} Row;

typedef struct Grid {
        ScreenCell *block;      /* rows * cols */
        Row *rows;              /* physical slots */
        unsigned top;           /* the slot of row 0 */
} Grid;

/* A line of scrollback, in a block. */
typedef struct SbHeader {
        uint16_t len;           /* bytes of data after the header */
        uint16_t cols;
        uint16_t width;
        uint8_t full;
} __attribute__((packed)) SbHeader;

typedef struct SbBlock SbBlock;
struct SbBlock {
        SbBlock *next;
        uint32_t size, used;
        uint32_t lines, dropped;
        uint8_t data[];
};

struct Screen {
        VTermState *state;
        unsigned rows, cols;
        Grid grid[2];           /* primary, alternate (allocated when first used) */
        bool alt, reverse;
        ScreenCell pen;         /* ch unused */

        ScreenPropFn prop;
        void *prop_userdata;

        /* Scrollback: a ring of records, in a list of blocks. */
        uint8_t **sb;
        size_t sb_alloc, sb_head, sb_count, sb_max;
        uint64_t sb_total;      /* lines ever pushed */
        SbBlock *sb_first, *sb_last;
        Buf scratch;
};

/* ------------------------------------------------------------------ colours and pens */

static VTermColor color_norm(const VTermColor *c) {
        VTermColor n;

        memset(&n, 0, sizeof n);
        if (c->type & VTERM_COLOR_DEFAULT_MASK)
                n.type = c->type & VTERM_COLOR_DEFAULT_MASK;
        else if (VTERM_COLOR_IS_INDEXED(c)) {
                n.type = VTERM_COLOR_INDEXED;
                n.indexed.idx = c->indexed.idx;
        } else {
                n.type = VTERM_COLOR_RGB;
                n.rgb.red = c->rgb.red;
                n.rgb.green = c->rgb.green;
                n.rgb.blue = c->rgb.blue;
        }
        return n;
}

static bool color_same(const VTermColor *a, const VTermColor *b) {
        return memcmp(a, b, sizeof *a) == 0;   /* normalised */
}

static bool pen_same(const ScreenCell *a, const ScreenCell *b) {
        return ((a->attrs ^ b->attrs) & SCREEN_A_PEN) == 0 && color_same(&a->fg, &b->fg) &&
                color_same(&a->bg, &b->bg);
}

static bool pen_plain(const ScreenCell *c) {
        return (c->attrs & SCREEN_A_PEN) == 0 && (c->fg.type & VTERM_COLOR_DEFAULT_FG) &&
                (c->bg.type & VTERM_COLOR_DEFAULT_BG);
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
        if (c->type & (fg ? VTERM_COLOR_DEFAULT_FG : VTERM_COLOR_DEFAULT_BG))
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

/* A full SGR (reset, then every attribute and colour set). */
static char *write_sgr(char *p, uint16_t a, const VTermColor *fg, const VTermColor *bg) {
        unsigned ul = (a >> SCREEN_A_UNDERLINE_SHIFT) & 3u, font = (a >> SCREEN_A_FONT_SHIFT) & 15u;

        memcpy(p, "\033[0", 3);
        p += 3;
        if (a & SCREEN_A_BOLD)
                memcpy(p, ";1", 2), p += 2;
        if (a & SCREEN_A_ITALIC)
                memcpy(p, ";3", 2), p += 2;
        if (ul == VTERM_UNDERLINE_SINGLE)
                memcpy(p, ";4", 2), p += 2;
        else if (ul == VTERM_UNDERLINE_DOUBLE)
                memcpy(p, ";21", 3), p += 3;
        else if (ul == VTERM_UNDERLINE_CURLY)
                memcpy(p, ";4:3", 4), p += 4;
        if (a & SCREEN_A_BLINK)
                memcpy(p, ";5", 2), p += 2;
        if (a & SCREEN_A_REVERSE)
                memcpy(p, ";7", 2), p += 2;
        if (a & SCREEN_A_STRIKE)
                memcpy(p, ";9", 2), p += 2;
        if (font > 0 && font <= 9) {
                *p++ = ';';
                p = write_uint(p, 10 + font);
        }
        p = write_color(p, fg, true);
        p = write_color(p, bg, false);
        *p++ = 'm';
        return p;
}

int screen_put_sgr(Buf *out, uint16_t attrs, const VTermColor *fg, const VTermColor *bg) {
        char tmp[SCREEN_SGR_MAX];
        VTermColor f = color_norm(fg), b = color_norm(bg);

        return buf_put(out, tmp, (size_t) (write_sgr(tmp, attrs, &f, &b) - tmp));
}

size_t screen_utf8_put(uint32_t c, char s[static 4]) {
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

/* ------------------------------------------------------------------ the grid */

static Grid *grid_active(Screen *s) {
        return &s->grid[s->alt];
}

static Row *row_at(const Screen *s, const Grid *g, unsigned r) {
        unsigned i = g->top + r;

        if (i >= s->rows)
                i -= s->rows;
        return &g->rows[i];
}

/* Erased cells take the pen (its attributes too, as libvterm 0.1.4's
 * screen did; later versions keep only the colours). */
static void cells_erase(ScreenCell *c, unsigned n, const ScreenCell *pen) {
        ScreenCell e = { .ch = 0, .fg = pen->fg, .bg = pen->bg, .attrs = pen->attrs & SCREEN_A_PEN };

        for (unsigned i = 0; i < n; i++)
                c[i] = e;
}

static int grid_alloc(Grid *g, unsigned rows, unsigned cols, const ScreenCell *fill) {
        ScreenCell f = *fill;

        g->block = malloc(sizeof(ScreenCell) * rows * cols);
        g->rows = calloc(rows, sizeof(Row));
        if (!g->block || !g->rows) {
                free(g->block);
                free(g->rows);
                *g = (Grid) {};
                return -ENOMEM;
        }
        f.ch = 0;
        f.attrs &= SCREEN_A_PEN;
        for (size_t i = 0; i < (size_t) rows * cols; i++)
                g->block[i] = f;
        for (unsigned r = 0; r < rows; r++)
                g->rows[r].cells = g->block + (size_t) r * cols;
        g->top = 0;
        return 0;
}

static void grid_free(Grid *g, unsigned rows) {
        if (g->rows)
                for (unsigned r = 0; r < rows; r++)
                        free(g->rows[r].comb);
        free(g->rows);
        free(g->block);
        *g = (Grid) {};
}

static uint32_t *row_comb(Screen *s, Row *row) {
        if (!row->comb)
                row->comb = calloc((size_t) s->cols * (SCREEN_MAX_CHARS - 1), sizeof(uint32_t));
        return row->comb;
}

const ScreenCell *screen_row(const Screen *s, bool alternate, unsigned row, const uint32_t **ret_comb) {
        const Grid *g = &s->grid[alternate && s->grid[1].rows ? 1 : 0];
        const Row *r;

        if (row >= s->rows)
                row = s->rows - 1;
        r = row_at(s, g, row);
        if (ret_comb)
                *ret_comb = r->comb;
        return r->cells;
}

size_t screen_cell_chars(const ScreenCell *cells, const uint32_t *comb, unsigned col,
                         uint32_t chars[static SCREEN_MAX_CHARS]) {
        size_t n = 0;

        chars[n++] = cells[col].ch;
        if ((cells[col].attrs & SCREEN_A_COMBINING) && comb)
                for (size_t k = 0; k < SCREEN_MAX_CHARS - 1 && comb[(size_t) col * (SCREEN_MAX_CHARS - 1) + k]; k++)
                        chars[n++] = comb[(size_t) col * (SCREEN_MAX_CHARS - 1) + k];
        if (n < SCREEN_MAX_CHARS)
                chars[n] = 0;
        return n;
}

/* ------------------------------------------------------------------ scrollback */

static void sb_drop_oldest(Screen *s) {
        SbBlock *b = s->sb_first;

        s->sb_head = (s->sb_head + 1) % s->sb_alloc;
        s->sb_count--;
        if (!b)
                return;
        b->dropped++;
        if (b->dropped == b->lines && b != s->sb_last) {
                s->sb_first = b->next;
                free(b);
        }
}

static void sb_clear(Screen *s) {
        while (s->sb_first) {
                SbBlock *n = s->sb_first->next;

                free(s->sb_first);
                s->sb_first = n;
        }
        s->sb_last = NULL;
        free(s->sb);
        s->sb = NULL;
        s->sb_alloc = s->sb_head = s->sb_count = 0;
}

/* Room for a record of n bytes at the end of the last block. */
static uint8_t *sb_room(Screen *s, size_t n) {
        SbBlock *b = s->sb_last;

        if (!b || b->size - b->used < n) {
                size_t size = MAX((size_t) SB_BLOCK, n);

                b = malloc(offsetof(SbBlock, data) + size);
                if (!b)
                        return NULL;
                *b = (SbBlock) { .size = (uint32_t) size };
                if (s->sb_last)
                        s->sb_last->next = b;
                else
                        s->sb_first = b;
                /* The previous last block, emptied while it was the last. */
                if (s->sb_first != b && s->sb_first->dropped == s->sb_first->lines && s->sb_first->next == b) {
                        SbBlock *old = s->sb_first;

                        s->sb_first = b;
                        free(old);
                }
                s->sb_last = b;
        }
        return b->data + b->used;
}

static int sb_ring_room(Screen *s) {
        size_t na;
        uint8_t **n;

        if (s->sb_count < s->sb_alloc || s->sb_alloc >= s->sb_max)
                return 0;
        na = s->sb_alloc ? MIN(s->sb_alloc * 2, s->sb_max) : MIN((size_t) 64, s->sb_max);
        n = malloc(na * sizeof *n);
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < s->sb_count; i++)
                n[i] = s->sb[(s->sb_head + i) % s->sb_alloc];
        free(s->sb);
        s->sb = n;
        s->sb_alloc = na;
        s->sb_head = 0;
        return 0;
}

/* ------------------------------------------------------------------ rows as runs */

static bool blank_char(const ScreenCell *c) {
        return c->ch == 0 || (c->ch == ' ' && !(c->attrs & SCREEN_A_COMBINING));
}

bool screen_intact_wide(const ScreenCell *cells, unsigned i, unsigned n) {
        const ScreenCell *c = &cells[i];

        return c->ch != SCREEN_CONT && screen_cell_width(c) == 2 && i + 1 < n && cells[i + 1].ch == SCREEN_CONT &&
                !blank_char(c);
}

bool screen_drawn_blank(const ScreenCell *cells, unsigned i, unsigned n) {
        const ScreenCell *c = &cells[i];

        if (c->ch == SCREEN_CONT)
                return !(i > 0 && screen_intact_wide(cells, i - 1, n));
        if (blank_char(c))
                return true;
        if (screen_cell_width(c) == 0)
                return true;            /* a lone combining character */
        return screen_cell_width(c) == 2 && !screen_intact_wide(cells, i, n);
}

static bool shows_on_blank(const ScreenCell *c) {
        return !(c->bg.type & VTERM_COLOR_DEFAULT_BG) ||
                (c->attrs & (SCREEN_A_REVERSE | SCREEN_A_STRIKE | 3u << SCREEN_A_UNDERLINE_SHIFT));
}

#define PEN_RECORD 0x10u
#define PEN_ATTRS 0x01u
#define PEN_FG 0x02u
#define PEN_BG 0x04u
#define RUN_MAX_PER_COL (SCREEN_SGR_MAX + 4u * SCREEN_MAX_CHARS)

static uint8_t *write_pen_record(uint8_t *p, const ScreenCell *c) {
        uint8_t *op = p++;
        uint16_t a = c->attrs & SCREEN_A_PEN;

        *op = PEN_RECORD;
        if (a) {
                *op |= PEN_ATTRS;
                le16_put(p, a);
                p += 2;
        }
        if (!(c->fg.type & VTERM_COLOR_DEFAULT_FG)) {
                *op |= PEN_FG;
                memcpy(p, &c->fg, 4);
                p += 4;
        }
        if (!(c->bg.type & VTERM_COLOR_DEFAULT_BG)) {
                *op |= PEN_BG;
                memcpy(p, &c->bg, 4);
                p += 4;
        }
        return p;
}

/* cells[0..n) as runs: SGR sequences (sgr) or pen records before each run
 * of text, trailing plain blanks cut.  Starts from a reset pen; with SGR,
 * ends with a reset if it set a pen. */
static int encode_row(const ScreenCell *cells, const uint32_t *comb, unsigned n, Buf *out, bool sgr,
                      unsigned *ret_width, bool *ret_full) {
        const ScreenCell *pen = NULL;
        unsigned end = n, width = 0;
        uint8_t *start, *p;
        int r;

        while (end > 0 && screen_drawn_blank(cells, end - 1, n) && !shows_on_blank(&cells[end - 1]))
                end--;
        r = buf_reserve(out, (size_t) end * RUN_MAX_PER_COL + 8, &start);
        if (r < 0)
                return r;
        p = start;
        for (unsigned i = 0; i < end;) {
                const ScreenCell *c = &cells[i];
                uint32_t ch = c->ch;
                unsigned w = 1;

                if (pen ? !pen_same(pen, c) : !pen_plain(c)) {
                        if (sgr)
                                p = (uint8_t *) write_sgr((char *) p, c->attrs & SCREEN_A_PEN, &c->fg, &c->bg);
                        else
                                p = write_pen_record(p, c);
                        pen = c;
                }
                if (ch > 0x20 && ch < 0x7f && !(c->attrs & SCREEN_A_COMBINING))
                        *p++ = (uint8_t) ch;    /* the common case */
                else if (screen_drawn_blank(cells, i, n))
                        *p++ = ' ';
                else {
                        uint32_t chars[SCREEN_MAX_CHARS];
                        size_t k = screen_cell_chars(cells, comb, i, chars);

                        w = screen_intact_wide(cells, i, n) ? 2 : 1;
                        for (size_t j = 0; j < k; j++)
                                p += screen_utf8_put(chars[j], (char *) p);
                }
                width += w;
                i += w;
        }
        if (pen && sgr) {
                memcpy(p, "\033[0m", 4);
                p += 4;
        }
        buf_commit(out, (size_t) (p - start));
        if (ret_width)
                *ret_width = width;
        if (ret_full)
                *ret_full = n > 0 && !screen_drawn_blank(cells, n - 1, n);
        return 0;
}

int screen_render_row(const Screen *s, bool alternate, unsigned row, Buf *out, unsigned *ret_width, bool *ret_full) {
        const uint32_t *comb;
        const ScreenCell *cells = screen_row(s, alternate, row, &comb);

        return encode_row(cells, comb, s->cols, out, true, ret_width, ret_full);
}

/* A row scrolled off the top of the primary screen: into the scrollback. */
static void sb_push(Screen *s, const Row *row) {
        SbHeader h;
        unsigned width;
        bool full;
        uint8_t *rec;
        size_t len;

        if (s->sb_max == 0)
                return;
        buf_reset(&s->scratch);
        if (encode_row(row->cells, row->comb, s->cols, &s->scratch, false, &width, &full) < 0)
                return;
        len = buf_len(&s->scratch);
        if (len > UINT16_MAX)
                return;         /* cannot happen: cols <= 1000 */
        if (s->sb_count == s->sb_max)
                sb_drop_oldest(s);
        else if (sb_ring_room(s) < 0)
                return;
        rec = sb_room(s, sizeof h + len);
        if (!rec)
                return;
        h = (SbHeader) { .len = (uint16_t) len, .cols = (uint16_t) s->cols, .width = (uint16_t) width, .full = full };
        memcpy(rec, &h, sizeof h);
        memcpy(rec + sizeof h, buf_ptr(&s->scratch), len);
        s->sb_last->used += (uint32_t) (sizeof h + len);
        s->sb_last->lines++;
        s->sb[(s->sb_head + s->sb_count) % s->sb_alloc] = rec;
        s->sb_count++;
        s->sb_total++;
}

size_t screen_sb_lines(const Screen *s) {
        return s->sb_count;
}

uint64_t screen_sb_total(const Screen *s) {
        return s->sb_total;
}

static const uint8_t *sb_record(const Screen *s, size_t i, SbHeader *h) {
        const uint8_t *rec = s->sb[(s->sb_head + i) % s->sb_alloc];

        memcpy(h, rec, sizeof *h);
        return rec + sizeof *h;
}

void screen_sb_info(const Screen *s, size_t i, ScreenSbInfo *ret) {
        SbHeader h;

        (void) sb_record(s, i, &h);
        *ret = (ScreenSbInfo) { .cols = h.cols, .width = h.width, .full = h.full };
}

int screen_render_sb_line(const Screen *s, size_t i, Buf *out) {
        SbHeader h;
        const uint8_t *d = sb_record(s, i, &h), *e = d + h.len;
        bool pen = false;
        int r = 0;

        while (d < e && r >= 0) {
                if (*d >= 0x20) {
                        const uint8_t *q = d;

                        while (q < e && *q >= 0x20)
                                q++;
                        r = buf_put(out, d, (size_t) (q - d));
                        d = q;
                        continue;
                }
                {
                        uint8_t op = *d++;
                        uint16_t a = 0;
                        VTermColor fg = { .type = VTERM_COLOR_DEFAULT_FG }, bg = { .type = VTERM_COLOR_DEFAULT_BG };
                        char tmp[SCREEN_SGR_MAX];

                        if (op & PEN_ATTRS)
                                a = le16_get(d), d += 2;
                        if (op & PEN_FG)
                                memcpy(&fg, d, 4), d += 4;
                        if (op & PEN_BG)
                                memcpy(&bg, d, 4), d += 4;
                        r = buf_put(out, tmp, (size_t) (write_sgr(tmp, a, &fg, &bg) - tmp));
                        pen = true;
                }
        }
        if (r >= 0 && pen)
                r = buf_put(out, "\033[0m", 4);
        return r;
}

/* ------------------------------------------------------------------ drawing */

/* A rectangle clamped to the grid; false if empty. */
static bool clamp_rect(const Screen *s, VTermRect *r) {
        r->start_row = MAX(r->start_row, 0);
        r->start_col = MAX(r->start_col, 0);
        r->end_row = MIN(r->end_row, (int) s->rows);
        r->end_col = MIN(r->end_col, (int) s->cols);
        return r->start_row < r->end_row && r->start_col < r->end_col;
}

static void erase_rect(Screen *s, VTermRect rect, bool selective) {
        Grid *g = grid_active(s);

        if (!clamp_rect(s, &rect))
                return;
        for (int row = rect.start_row; row < rect.end_row; row++) {
                ScreenCell *c = row_at(s, g, (unsigned) row)->cells;

                if (!selective) {
                        cells_erase(c + rect.start_col, (unsigned) (rect.end_col - rect.start_col), &s->pen);
                        continue;
                }
                for (int col = rect.start_col; col < rect.end_col; col++)
                        if (!(c[col].attrs & SCREEN_A_PROTECTED))
                                cells_erase(c + col, 1, &s->pen);
        }
}

/* Copies the cells of src (same size as dest) to dest, both clamped. */
static void move_rect(Screen *s, VTermRect dest, VTermRect src) {
        Grid *g = grid_active(s);
        int h = dest.end_row - dest.start_row, w = dest.end_col - dest.start_col;
        int down = src.start_row - dest.start_row;

        if (h != src.end_row - src.start_row || w != src.end_col - src.start_col)
                return;
        if (dest.start_row < 0 || dest.start_col < 0 || src.start_row < 0 || src.start_col < 0 ||
            dest.end_row > (int) s->rows || src.end_row > (int) s->rows ||
            dest.end_col > (int) s->cols || src.end_col > (int) s->cols || h <= 0 || w <= 0)
                return;
        for (int k = 0; k < h; k++) {
                int i = down < 0 ? h - 1 - k : k;
                Row *d = row_at(s, g, (unsigned) (dest.start_row + i));
                Row *f = row_at(s, g, (unsigned) (src.start_row + i));

                memmove(d->cells + dest.start_col, f->cells + src.start_col, sizeof(ScreenCell) * (size_t) w);
                if (f->comb && row_comb(s, d))
                        memmove(d->comb + (size_t) dest.start_col * (SCREEN_MAX_CHARS - 1),
                                f->comb + (size_t) src.start_col * (SCREEN_MAX_CHARS - 1),
                                sizeof(uint32_t) * (SCREEN_MAX_CHARS - 1) * (size_t) w);
                else if (f->comb)
                        for (int col = dest.start_col; col < dest.end_col; col++)
                                d->cells[col].attrs &= (uint16_t) ~SCREEN_A_COMBINING;
        }
}

/* Rows [a, b) of the active grid, full width, scrolled up (n > 0) or down
 * by |n| < b - a rows: row pointers rotate, the rows coming in are erased. */
static void rotate_rows(Screen *s, unsigned a, unsigned b, int n) {
        Grid *g = grid_active(s);
        unsigned k = (unsigned) (n > 0 ? n : -n);
        Row tmp[ROTATE_STACK];
        Row *saved = k <= ELEMENTSOF(tmp) ? tmp : malloc(sizeof(Row) * k);

        if (!saved) {
                /* No memory for the rotation: erase instead of scrolling. */
                erase_rect(s, (VTermRect) { .start_row = (int) a, .end_row = (int) b, .start_col = 0,
                                            .end_col = (int) s->cols }, false);
                return;
        }
        if (n > 0) {
                for (unsigned i = 0; i < k; i++)
                        saved[i] = *row_at(s, g, a + i);
                for (unsigned i = a; i + k < b; i++)
                        *row_at(s, g, i) = *row_at(s, g, i + k);
                for (unsigned i = 0; i < k; i++)
                        *row_at(s, g, b - k + i) = saved[i];
        } else {
                for (unsigned i = 0; i < k; i++)
                        saved[i] = *row_at(s, g, b - k + i);
                for (unsigned i = b; i-- > a + k;)
                        *row_at(s, g, i) = *row_at(s, g, i - k);
                for (unsigned i = 0; i < k; i++)
                        *row_at(s, g, a + i) = saved[i];
        }
        if (saved != tmp)
                free(saved);
        erase_rect(s, (VTermRect) { .start_row = n > 0 ? (int) (b - k) : (int) a,
                                    .end_row = n > 0 ? (int) b : (int) (a + k),
                                    .start_col = 0, .end_col = (int) s->cols }, false);
}

/* Scrolling the span start..end by `by` (towards lower indices when
 * positive): the part that moves, from src to dst. */
static void shift_span(int start, int end, int by, int *dst_start, int *dst_end, int *src_start, int *src_end) {
        if (by >= 0) {
                *dst_start = start;
                *dst_end = end - by;
                *src_start = start + by;
                *src_end = end;
        } else {
                *dst_start = start - by;
                *dst_end = end;
                *src_start = start;
                *src_end = end + by;
        }
}

static void scroll_rect(Screen *s, VTermRect rect, int downward, int rightward) {
        Grid *g = grid_active(s);
        int h, w;
        VTermRect src, dest;

        if (!clamp_rect(s, &rect) || (downward == 0 && rightward == 0))
                return;
        h = rect.end_row - rect.start_row;
        w = rect.end_col - rect.start_col;
        if (downward >= h || downward <= -h || rightward >= w || rightward <= -w) {
                /* More than the area: erased (and nothing pushed, as
                 * libvterm's screen does). */
                erase_rect(s, rect, false);
                return;
        }
        /* A full-width region scrolled up from the top of the primary
         * screen: its top rows go to the scrollback. */
        if (downward > 0 && rightward == 0 && rect.start_row == 0 && rect.start_col == 0 &&
            rect.end_col == (int) s->cols && !s->alt)
                for (int i = 0; i < downward; i++)
                        sb_push(s, row_at(s, g, (unsigned) i));

        if (rightward == 0 && rect.start_col == 0 && rect.end_col == (int) s->cols) {
                if (h == (int) s->rows && downward > 0) {
                        /* The whole screen up: the ring turns. */
                        g->top = (g->top + (unsigned) downward) % s->rows;
                        erase_rect(s, (VTermRect) { .start_row = h - downward, .end_row = h, .start_col = 0,
                                                    .end_col = w }, false);
                        return;
                }
                rotate_rows(s, (unsigned) rect.start_row, (unsigned) rect.end_row, downward);
                return;
        }

        /* The general case, as libvterm's vterm_scroll_rect() does it. */
        shift_span(rect.start_col, rect.end_col, rightward, &dest.start_col, &dest.end_col, &src.start_col,
                   &src.end_col);
        shift_span(rect.start_row, rect.end_row, downward, &dest.start_row, &dest.end_row, &src.start_row,
                   &src.end_row);
        move_rect(s, dest, src);
        if (downward > 0)
                rect.start_row = rect.end_row - downward;
        else if (downward < 0)
                rect.end_row = rect.start_row - downward;
        if (rightward > 0)
                rect.start_col = rect.end_col - rightward;
        else if (rightward < 0)
                rect.end_col = rect.start_col - rightward;
        erase_rect(s, rect, false);
}

/* ------------------------------------------------------------------ state callbacks */

/* libvterm 0.1.4 decodes overlong and out-of-range UTF-8 (F5..FD leads)
 * to any 32-bit value, SCREEN_CONT included: the grid holds code points. */
static uint32_t valid_cp(uint32_t c) {
        return c > 0x10ffff ? 0xfffd : c;
}

static int on_putglyph(VTermGlyphInfo *info, VTermPos pos, void *user) {
        Screen *s = user;
        Row *row;
        ScreenCell *c;
        size_t n = 0;
        unsigned width;

        if ((unsigned) pos.row >= s->rows || (unsigned) pos.col >= s->cols || !info->chars)
                return 1;
        if (info->chars[0] - 0x20u < 0x5fu && info->chars[1] == 0 && info->width == 1) {
                /* The common case: one printable ASCII character. */
                c = &row_at(s, grid_active(s), (unsigned) pos.row)->cells[pos.col];
                *c = s->pen;
                c->ch = info->chars[0];
                c->attrs = (uint16_t) ((s->pen.attrs & SCREEN_A_PEN) | 1u << SCREEN_A_WIDTH_SHIFT |
                                       (info->protected_cell ? SCREEN_A_PROTECTED : 0));
                return 1;
        }
        while (n < SCREEN_MAX_CHARS && info->chars[n])
                n++;
        if (n == 0)
                return 1;
        width = (unsigned) MIN(MAX(info->width, 0), 2);
        row = row_at(s, grid_active(s), (unsigned) pos.row);
        c = &row->cells[pos.col];
        *c = s->pen;
        c->ch = valid_cp(info->chars[0]);
        c->attrs = (uint16_t) ((s->pen.attrs & SCREEN_A_PEN) | (info->protected_cell ? SCREEN_A_PROTECTED : 0) |
                               width << SCREEN_A_WIDTH_SHIFT);
        if (n > 1) {
                uint32_t *comb = row_comb(s, row);

                if (comb) {
                        uint32_t *m = comb + (size_t) pos.col * (SCREEN_MAX_CHARS - 1);

                        memset(m, 0, sizeof(uint32_t) * (SCREEN_MAX_CHARS - 1));
                        for (size_t k = 1; k < n; k++)
                                m[k - 1] = valid_cp(info->chars[k]);
                        c->attrs |= SCREEN_A_COMBINING;
                }
        }
        for (unsigned k = 1; k < width && pos.col + (int) k < (int) s->cols; k++) {
                row->cells[pos.col + (int) k].ch = SCREEN_CONT;
                row->cells[pos.col + (int) k].attrs &= (uint16_t) ~SCREEN_A_COMBINING;
        }
        return 1;
}

static int on_movecursor(VTermPos pos, VTermPos oldpos, int visible, void *user) {
        return 1;
}

static int on_scrollrect(VTermRect rect, int downward, int rightward, void *user) {
        scroll_rect(user, rect, downward, rightward);
        return 1;
}

static int on_moverect(VTermRect dest, VTermRect src, void *user) {
        Screen *s = user;
        VTermRect d = dest;

        /* Clamped: both to the grid, to the same size. */
        if (!clamp_rect(s, &d))
                return 1;
        src.start_row += d.start_row - dest.start_row;
        src.start_col += d.start_col - dest.start_col;
        src.end_row = src.start_row + (d.end_row - d.start_row);
        src.end_col = src.start_col + (d.end_col - d.start_col);
        move_rect(s, d, src);   /* refuses a source off the grid */
        return 1;
}

static int on_erase(VTermRect rect, int selective, void *user) {
        erase_rect(user, rect, selective);
        return 1;
}

static int on_initpen(void *user) {
        Screen *s = user;

        s->pen = (ScreenCell) { .fg.type = VTERM_COLOR_DEFAULT_FG, .bg.type = VTERM_COLOR_DEFAULT_BG };
        return 1;
}

static void set_bits(Screen *s, unsigned shift, unsigned mask, unsigned v) {
        s->pen.attrs = (uint16_t) ((s->pen.attrs & ~(mask << shift)) | ((v & mask) << shift));
}

static int on_setpenattr(VTermAttr attr, VTermValue *val, void *user) {
        Screen *s = user;

        switch (attr) {
        case VTERM_ATTR_BOLD:
                set_bits(s, 0, 1, !!val->boolean);
                break;
        case VTERM_ATTR_UNDERLINE:
                set_bits(s, SCREEN_A_UNDERLINE_SHIFT, 3, (unsigned) val->number);
                break;
        case VTERM_ATTR_ITALIC:
                set_bits(s, 3, 1, !!val->boolean);
                break;
        case VTERM_ATTR_BLINK:
                set_bits(s, 4, 1, !!val->boolean);
                break;
        case VTERM_ATTR_REVERSE:
                set_bits(s, 5, 1, !!val->boolean);
                break;
        case VTERM_ATTR_STRIKE:
                set_bits(s, 6, 1, !!val->boolean);
                break;
        case VTERM_ATTR_FONT:
                set_bits(s, SCREEN_A_FONT_SHIFT, 15, (unsigned) val->number);
                break;
        case VTERM_ATTR_FOREGROUND:
                s->pen.fg = color_norm(&val->color);
                break;
        case VTERM_ATTR_BACKGROUND:
                s->pen.bg = color_norm(&val->color);
                break;
        default:
                return 0;
        }
        return 1;
}

static int on_settermprop(VTermProp prop, VTermValue *val, void *user) {
        Screen *s = user;

        if (prop == VTERM_PROP_ALTSCREEN) {
                if (val->boolean && !s->grid[1].rows && grid_alloc(&s->grid[1], s->rows, s->cols, &s->pen) < 0)
                        return 0;       /* refused: the state stays on the primary screen */
                s->alt = !!val->boolean;
        } else if (prop == VTERM_PROP_REVERSE)
                s->reverse = !!val->boolean;
        if (s->prop)
                s->prop(prop, val, s->prop_userdata);
        return 1;
}

static int on_bell(void *user) {
        return 1;
}

static bool row_blank(const Screen *s, const Grid *g, unsigned r) {
        const ScreenCell *c = row_at(s, g, r)->cells;

        for (unsigned col = 0; col < s->cols; col++)
                if (c[col].ch)
                        return false;
        return true;
}

/* A copy of g at the new size: rows and columns kept from the top left,
 * the rest filled with the pen. */
static int grid_resized(Screen *s, Grid *g, unsigned rows, unsigned cols, Grid *ret) {
        Grid n;
        int r = grid_alloc(&n, rows, cols, &s->pen);

        if (r < 0)
                return r;
        for (unsigned row = 0; row < MIN(rows, s->rows); row++) {
                const Row *o = row_at(s, g, row);

                memcpy(n.rows[row].cells, o->cells, sizeof(ScreenCell) * MIN(cols, s->cols));
                if (o->comb) {
                        n.rows[row].comb = calloc((size_t) cols * (SCREEN_MAX_CHARS - 1), sizeof(uint32_t));
                        if (n.rows[row].comb)
                                memcpy(n.rows[row].comb, o->comb,
                                       sizeof(uint32_t) * (SCREEN_MAX_CHARS - 1) * MIN(cols, s->cols));
                        else
                                for (unsigned col = 0; col < MIN(cols, s->cols); col++)
                                        n.rows[row].cells[col].attrs &= (uint16_t) ~SCREEN_A_COMBINING;
                }
        }
        *ret = n;
        return 0;
}

/* As libvterm 0.1.4's screen: with fewer rows, the primary screen's rows
 * down to the cursor's or the last written one that no longer fit scroll
 * off the top into the scrollback and the cursor moves up with them (not
 * above the screen); the rest is cut at the bottom and right, and rows or
 * columns added are blank. */
static int on_resize(int rows, int cols, VTermPos *delta, void *user) {
        Screen *s = user;
        Grid n[2] = {};
        VTermPos cursor;

        if (rows < 1 || cols < 1 || rows > 100000 || cols > 100000)
                return 0;
        vterm_state_get_cursorpos(s->state, &cursor);
        if (!s->alt && (unsigned) rows < s->rows) {
                int last = (int) s->rows - 1;

                while (last >= rows && last != cursor.row && row_blank(s, &s->grid[0], (unsigned) last))
                        last--;
                if (last + 1 > rows) {
                        int up = last + 1 - rows;

                        scroll_rect(s, (VTermRect) { .start_row = 0, .end_row = (int) s->rows, .start_col = 0,
                                                     .end_col = (int) s->cols }, up, 0);
                        delta->row -= MIN(up, MAX(cursor.row, 0));
                }
        }
        for (int i = 0; i < 2; i++)
                if (s->grid[i].rows && grid_resized(s, &s->grid[i], (unsigned) rows, (unsigned) cols, &n[i]) < 0) {
                        grid_free(&n[0], (unsigned) rows);
                        return 0;       /* the old grid stays: every access is clamped to it */
                }
        for (int i = 0; i < 2; i++)
                if (s->grid[i].rows) {
                        grid_free(&s->grid[i], s->rows);
                        s->grid[i] = n[i];
                }
        s->rows = (unsigned) rows;
        s->cols = (unsigned) cols;
        return 1;
}

static int on_setlineinfo(int row, const VTermLineInfo *newinfo, const VTermLineInfo *oldinfo, void *user) {
        return 1;
}

static const VTermStateCallbacks state_callbacks = {
        .putglyph = on_putglyph,
        .movecursor = on_movecursor,
        .scrollrect = on_scrollrect,
        .moverect = on_moverect,
        .erase = on_erase,
        .initpen = on_initpen,
        .setpenattr = on_setpenattr,
        .settermprop = on_settermprop,
        .bell = on_bell,
        .resize = on_resize,
        .setlineinfo = on_setlineinfo,
};

/* ------------------------------------------------------------------ lifecycle */

int screen_new(unsigned rows, unsigned cols, unsigned scrollback_lines, Screen **ret) {
        Screen *s;

        if (rows < 1 || cols < 1)
                return -EINVAL;
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->rows = rows;
        s->cols = cols;
        s->sb_max = scrollback_lines;
        on_initpen(s);
        if (grid_alloc(&s->grid[0], rows, cols, &s->pen) < 0) {
                free(s);
                return -ENOMEM;
        }
        buf_init(&s->scratch, (size_t) 1000 * RUN_MAX_PER_COL + 64);
        *ret = s;
        return 0;
}

Screen *screen_free(Screen *s) {
        if (!s)
                return NULL;
        grid_free(&s->grid[0], s->rows);
        grid_free(&s->grid[1], s->rows);
        sb_clear(s);
        buf_done(&s->scratch);
        free(s);
        return NULL;
}

void screen_attach(Screen *s, VTermState *state, ScreenPropFn prop, void *userdata) {
        s->state = state;
        s->prop = prop;
        s->prop_userdata = userdata;
        vterm_state_set_callbacks(state, &state_callbacks, s);
}

void screen_get_size(const Screen *s, unsigned *ret_rows, unsigned *ret_cols) {
        if (ret_rows)
                *ret_rows = s->rows;
        if (ret_cols)
                *ret_cols = s->cols;
}

bool screen_altscreen(const Screen *s) {
        return s->alt;
}

bool screen_reverse(const Screen *s) {
        return s->reverse;
}
