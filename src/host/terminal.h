/* SPDX-License-Identifier: ISC */
/*
 * A terminal session's screen, kept by the worker (terminal.c: libvterm's
 * parser and state, our own grid in screen.c) so that a client attaching later sees what a terminal emulator
 * that had been attached all along would show now.
 *
 * The worker feeds every byte the pty produces, attached or not
 * (terminal_feed), resizes it with the pty (terminal_resize), and on each
 * attach appends terminal_render() to the client's stream: escape sequences
 * that make a fresh terminal of the same size show the same scrollback,
 * screen, cursor and modes.  Lines that scroll off the top are kept in a
 * compact form (text and attribute runs), up to the configured number of
 * lines.
 *
 * Pure: no I/O; replies the emulated terminal owes the program (cursor
 * position reports, device attributes) and shell-integration marks go to
 * callbacks.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct Terminal Terminal;

#define TERMINAL_MAX_ROWS 1000u
#define TERMINAL_MAX_COLS 1000u
#define TERMINAL_MAX_SCROLLBACK 1000000u

/* Shell-integration marks (OSC 133): 'A' prompt starts, 'B' the command
 * line starts, 'C' the command runs, 'D' it finished; args is the text
 * after "133;X" without the separating ';' ("" if none), at most
 * TERMINAL_MAX_MARK bytes (longer marks are ignored). */
#define TERMINAL_MAX_MARK 4096u
typedef void (*TerminalMarkFn)(char kind, const char *args, size_t n, void *userdata);

/* Bytes the terminal answers to the program (written to the pty master by
 * the worker when no client's real terminal answers instead). */
typedef void (*TerminalReplyFn)(const uint8_t *p, size_t n, void *userdata);

int terminal_new(unsigned rows, unsigned cols, unsigned scrollback_lines, Terminal **ret);
Terminal *terminal_free(Terminal *t);

void terminal_set_mark_handler(Terminal *t, TerminalMarkFn fn, void *userdata);
void terminal_set_reply_handler(Terminal *t, TerminalReplyFn fn, void *userdata);

/* Output of the pty (any bytes, any split). */
void terminal_feed(Terminal *t, const uint8_t *p, size_t n);

/* -EINVAL outside 1..TERMINAL_MAX_ROWS/COLS.  (A width of 1 is kept as 2,
 * room for a wide character; terminal_get_size() says so.) */
int terminal_resize(Terminal *t, unsigned rows, unsigned cols);
void terminal_get_size(const Terminal *t, unsigned *ret_rows, unsigned *ret_cols);

/* Appends to out what makes a fresh terminal (TERM xterm-compatible) of
 * t's size show what t shows: a reset, up to max_scrollback lines of
 * scrollback (printed so they scroll into the outer terminal's history),
 * the visible screen with its attributes and colours (the alternate
 * screen's contents when it is active), the title, the cursor's position
 * and visibility, and the modes a program set (application cursor keys
 * and keypad, bracketed paste, focus events, mouse reporting and its
 * encoding, alternate screen, reverse video, cursor style, the pen, and —
 * unless the program left a sequence half-written — the scroll region,
 * origin mode and autowrap).  out must allow
 * about 90 bytes per column more than the rendering takes (a row is
 * reserved at its worst case); -EMSGSIZE otherwise.
 *
 * TERMINAL_RENDER_WIPE: the outer terminal shows this session's own lines
 * already (a client resuming after a break): its screen is erased without
 * being pushed into its history -- the lines of it that scrolled since
 * come again as scrollback, the rest as the screen.  Otherwise the clear
 * leaves what it showed to the outer terminal (most push it into their
 * history). */
typedef enum TerminalRenderFlags {
        TERMINAL_RENDER_WIPE = 1 << 0,
} TerminalRenderFlags;
int terminal_render(Terminal *t, Buf *out, unsigned max_scrollback, TerminalRenderFlags flags);

/* The visible screen as text, one line per row, trailing blanks cut,
 * rows joined with '\n' (tests, the text log). */
int terminal_screen_text(Terminal *t, char **ret);

/* Lines of scrollback held now. */
size_t terminal_scrollback_lines(const Terminal *t);

/* Lines ever pushed into the scrollback (the newest held line is the
 * last of them). */
uint64_t terminal_scrollback_total(const Terminal *t);

/* The modes a program set, as terminal_render() restores them (for tests,
 * and for a client that must undo them on its own terminal). */
typedef struct TerminalModes {
        bool app_cursor;        /* DECCKM (?1) */
        bool app_keypad;        /* DECKPAM (ESC =) */
        bool bracketed_paste;   /* ?2004 */
        bool focus_events;      /* ?1004 */
        bool alt_screen;        /* ?1049 / ?1047 */
        bool cursor_visible;    /* ?25 */
        bool reverse_video;     /* ?5 */
        unsigned mouse;         /* 0, 1000, 1002 or 1003 */
        unsigned mouse_encoding; /* 0 (X10), 1005, 1006 or 1015 */
        unsigned cursor_row, cursor_col;        /* 0-based */
        /* Asked of libvterm (DECRQM, DECRQSS) when its parser is between
         * sequences (modes_known), else the defaults. */
        bool modes_known;
        bool origin_mode;       /* DECOM (?6) */
        bool autowrap;          /* DECAWM (?7) */
        unsigned scroll_top, scroll_bottom;     /* DECSTBM, 1-based, inclusive */
} TerminalModes;
void terminal_get_modes(Terminal *t, TerminalModes *ret);

/* A cell of the grid, as drawn (tests).  chars: the glyph's characters
 * (0-terminated unless TERMINAL_MAX_CHARS; chars[0] 0: erased, nothing
 * drawn); width: the columns the state gave the glyph (2: a wide
 * character, whose right half is the next cell; 0: that right half, or a
 * glyph of no width); attributes as drawn, before reverse video (?5). */
#define TERMINAL_MAX_CHARS 6u
typedef struct TerminalColor {
        enum { TERMINAL_COLOR_DEFAULT, TERMINAL_COLOR_INDEXED, TERMINAL_COLOR_RGB } kind;
        uint8_t index, red, green, blue;
} TerminalColor;
typedef struct TerminalCell {
        uint32_t chars[TERMINAL_MAX_CHARS];
        unsigned width;
        bool bold, italic, blink, reverse, strike, protect;
        unsigned underline;     /* 0 none, 1 single, 2 double, 3 curly */
        unsigned font;          /* 0..9 */
        TerminalColor fg, bg;
} TerminalCell;
/* The cell at row, col (0-based) of the screen shown, or of the primary
 * screen (primary, also while the alternate one is shown); -EINVAL
 * outside the screen. */
int terminal_get_cell(Terminal *t, bool primary, unsigned row, unsigned col, TerminalCell *ret);
