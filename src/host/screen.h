/* SPDX-License-Identifier: ISC */
/*
 * The grid behind a terminal session's screen (screen.c): what libvterm's
 * VTermState draws, kept by us instead of libvterm's VTermScreen.
 *
 * screen_attach() installs the state's callbacks (putglyph, scrollrect,
 * moverect, erase, setpenattr, settermprop, resize, ...).  Two buffers
 * (primary, alternate) of compact cells, each a ring of row pointers: a
 * full-screen scroll costs one row, a scroll region a rotation of row
 * pointers, only partial-width moves copy cells.  Every rectangle and
 * position the state hands over is clamped to the grid.
 *
 * Lines scrolled off the top of the primary screen (full width, region at
 * the top) go to the scrollback as text and attribute runs, rendered to
 * escape sequences only when asked (screen_render_sb_line()).
 *
 * Pure: no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vterm.h>

#include "buf.h"

/* A cell, 16 bytes. */
typedef struct ScreenCell {
        uint32_t ch;            /* 0: erased; SCREEN_CONT: the right half of a wide character */
        VTermColor fg, bg;      /* normalised: a default colour is its flag alone */
        uint16_t attrs;         /* SCREEN_A_* */
        uint16_t unused;
} ScreenCell;

#define SCREEN_CONT ((uint32_t) -1)

enum {
        SCREEN_A_BOLD = 1u << 0,
        SCREEN_A_UNDERLINE_SHIFT = 1,   /* 2 bits */
        SCREEN_A_ITALIC = 1u << 3,
        SCREEN_A_BLINK = 1u << 4,
        SCREEN_A_REVERSE = 1u << 5,
        SCREEN_A_STRIKE = 1u << 6,
        SCREEN_A_FONT_SHIFT = 7,        /* 4 bits */
        SCREEN_A_PEN = 0x7ffu,          /* the bits above: what SGR shows */
        SCREEN_A_PROTECTED = 1u << 11,  /* DECSCA */
        SCREEN_A_WIDTH_SHIFT = 12,      /* 2 bits: the width the state gave the glyph */
        SCREEN_A_COMBINING = 1u << 14,  /* more characters in the row's comb[] */
};

/* The characters of a cell: the first in the cell, the others (combining,
 * at most SCREEN_MAX_CHARS - 1) in the row's comb[], 0-terminated unless
 * full. */
#define SCREEN_MAX_CHARS VTERM_MAX_CHARS_PER_CELL

typedef struct Screen Screen;

/* What the screen does not keep itself (titles, cursor shape, mouse ...):
 * passed on after the screen saw it (alternate screen, reverse video). */
typedef void (*ScreenPropFn)(VTermProp prop, const VTermValue *val, void *userdata);

int screen_new(unsigned rows, unsigned cols, unsigned scrollback_lines, Screen **ret);
Screen *screen_free(Screen *s);

/* Installs the state's callbacks (user data: s). */
void screen_attach(Screen *s, VTermState *state, ScreenPropFn prop, void *userdata);

void screen_get_size(const Screen *s, unsigned *ret_rows, unsigned *ret_cols);
bool screen_altscreen(const Screen *s);
bool screen_reverse(const Screen *s);

/* A row of a buffer (alternate: the alternate one, else the primary), and
 * its combining characters (NULL if none: then no cell has
 * SCREEN_A_COMBINING). */
const ScreenCell *screen_row(const Screen *s, bool alternate, unsigned row, const uint32_t **ret_comb);

static inline unsigned screen_cell_width(const ScreenCell *c) {
        return (c->attrs >> SCREEN_A_WIDTH_SHIFT) & 3u;
}

/* The characters of cells[col] (with comb from screen_row()), into chars
 * (0-terminated unless SCREEN_MAX_CHARS); returns how many. */
size_t screen_cell_chars(const ScreenCell *cells, const uint32_t *comb, unsigned col,
                         uint32_t chars[static SCREEN_MAX_CHARS]);

/* Whether cells[i] (of n) is drawn as a blank: erased, a space, half a wide
 * character (the other half overwritten, erased or cut off), a glyph the
 * state gave no width (a lone combining character). */
bool screen_drawn_blank(const ScreenCell *cells, unsigned i, unsigned n);
/* Whether cells[i] is a wide character with its right half. */
bool screen_intact_wide(const ScreenCell *cells, unsigned i, unsigned n);

/* Appends the rendering of a row (SGR changes + UTF-8, trailing plain
 * blanks cut), from and back to a reset pen; *ret_width: the cells it
 * covers, *ret_full: whether its last cell shows a character. */
int screen_render_row(const Screen *s, bool alternate, unsigned row, Buf *out, unsigned *ret_width, bool *ret_full);

/* Worst case of screen_render_row() per column. */
#define SCREEN_RENDER_MAX_PER_COL (64u + 4u * SCREEN_MAX_CHARS)

/* Scrollback, oldest first. */
size_t screen_sb_lines(const Screen *s);
/* Lines ever pushed into it (the last of them, if still held, is the
 * newest line; clearing the scrollback does not take back the count). */
uint64_t screen_sb_total(const Screen *s);
typedef struct ScreenSbInfo {
        unsigned cols;          /* the screen's width when the line was pushed */
        unsigned width;         /* cells its rendering covers */
        bool full;              /* its last column shows a character */
} ScreenSbInfo;
void screen_sb_info(const Screen *s, size_t i, ScreenSbInfo *ret);
/* Appends line i's rendering (as screen_render_row() renders a row). */
int screen_render_sb_line(const Screen *s, size_t i, Buf *out);

/* Appends SGR 0 plus every attribute and colour set: at most
 * SCREEN_SGR_MAX bytes. */
#define SCREEN_SGR_MAX 64u
int screen_put_sgr(Buf *out, uint16_t attrs, const VTermColor *fg, const VTermColor *bg);

/* UTF-8 of a code point fit to be printed (C0, DEL, C1, surrogates and
 * out-of-range values become U+FFFD). */
size_t screen_utf8_put(uint32_t c, char s[static 4]);
