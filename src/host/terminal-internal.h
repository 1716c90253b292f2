/* SPDX-License-Identifier: ISC */
/*
 * What terminal.c (feeding libvterm, reading it back) and terminal-render.c
 * (the rendering a client's terminal is sent) share: the Terminal itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vterm.h>

#include "screen.h"
#include "terminal.h"

#define HOLD_MAX (TERMINAL_MAX_MARK + 4096u)
#define PROBE_MAX 256u

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

struct Terminal {
        VTerm *vt;
        VTermState *state;
        Screen *screen;
        unsigned rows, cols;

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
                uint16_t attrs;
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

        bool probing;
        uint8_t probe[PROBE_MAX];
        size_t probe_len;

        TerminalMarkFn mark;
        void *mark_userdata;
        TerminalReplyFn reply;
        void *reply_userdata;
};

/* The pen libvterm's state writes with now, as screen.c keeps attributes. */
void terminal_get_pen(Terminal *t, uint16_t *a, VTermColor *fg, VTermColor *bg);
