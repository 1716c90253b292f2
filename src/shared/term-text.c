/* SPDX-License-Identifier: ISC */
/*
 * Escape sequences and control bytes out of a terminal stream (term-text.h).
 * tests/fuzz/fuzz-term-text.c checks its promises.
 */
#include "term-text.h"

enum {
        ST_GROUND,
        ST_ESC,                 /* after ESC */
        ST_ESC_INTER,           /* ESC, intermediates 0x20-0x2f: until a final byte */
        ST_CSI,                 /* ESC [: parameters, intermediates, until a final byte 0x40-0x7e */
        ST_STRING,              /* OSC, DCS, SOS, PM, APC: until BEL or ST */
        ST_STRING_ESC,          /* ESC inside a string */
};

#define ESC 0x1b
#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a

size_t term_text_feed(TermText *t, const uint8_t *p, size_t n, uint8_t *out) {
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                uint8_t c = p[i];

                /* CAN and SUB end any sequence; ESC starts a new one. */
                if ((c == CAN || c == SUB) && t->state != ST_GROUND) {
                        t->state = ST_GROUND;
                        continue;
                }
                switch (t->state) {
                case ST_GROUND:
                        if (c == '\r') {
                                /* At the start of a line a CR does nothing
                                 * (nor does a second one). */
                                if (t->line)
                                        t->cr = 1;
                                break;
                        }
                        if (t->cr) {
                                t->cr = 0;
                                t->line = 0;
                                out[o++] = '\n';
                                if (c == '\n')
                                        continue;
                        }
                        if (c == ESC)
                                t->state = ST_ESC;
                        else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f)) {
                                out[o++] = c;
                                t->line = c != '\n';
                        }
                        break;
                case ST_ESC:
                        if (c == '[')
                                t->state = ST_CSI;
                        else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
                                t->state = ST_STRING;
                                t->string_len = 0;
                        } else if (c == ESC)
                                t->state = ST_ESC;
                        else if (c >= 0x20 && c <= 0x2f)
                                t->state = ST_ESC_INTER;
                        else if (c >= 0x30 && c <= 0x7e)
                                t->state = ST_GROUND;
                        /* C0 controls inside a sequence are executed by a
                         * terminal: dropped here. */
                        break;
                case ST_ESC_INTER:
                        if (c == ESC)
                                t->state = ST_ESC;
                        else if (c >= 0x30 && c <= 0x7e)
                                t->state = ST_GROUND;
                        break;
                case ST_CSI:
                        if (c == ESC)
                                t->state = ST_ESC;
                        else if (c >= 0x40 && c <= 0x7e)
                                t->state = ST_GROUND;
                        break;
                case ST_STRING:
                case ST_STRING_ESC:
                        if (c == BEL || (t->state == ST_STRING_ESC && c == '\\')) {
                                t->state = ST_GROUND;
                                break;
                        }
                        if (t->state == ST_STRING_ESC && c != ESC) {
                                /* ESC and anything but '\': a new sequence
                                 * ends the string (as xterm does). */
                                t->state = ST_ESC;
                                i--;
                                break;
                        }
                        t->state = c == ESC ? ST_STRING_ESC : ST_STRING;
                        if (++t->string_len > TERM_TEXT_STRING_MAX)
                                t->state = ST_GROUND;
                        break;
                default:
                        t->state = ST_GROUND;
                        break;
                }
        }
        return o;
}

size_t term_text_finish(TermText *t, uint8_t *out) {
        size_t o = 0;

        if (t->cr)
                out[o++] = '\n';
        *t = (TermText) TERM_TEXT_INIT;
        return o;
}
