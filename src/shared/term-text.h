/* SPDX-License-Identifier: ISC */
/*
 * The text of a terminal stream, for `dwell receive` and `dwell invoke` on
 * terminal sessions (`--raw` prints the stream as it is).
 *
 * Not a terminal emulator: it keeps no screen and no modes (the worker's
 * libvterm state does that, terminal.h).  It only removes what is not
 * text, whatever the bytes and however they are split:
 *   - escape sequences: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC
 *     strings (up to BEL or ESC \, or a CAN / SUB that cancels them, at
 *     most TERM_TEXT_STRING_MAX bytes are skipped as a string: then the
 *     rest is text again), and ESC with intermediates and a final byte;
 *   - C0 control bytes and DEL, except TAB and LF; CR LF becomes LF, a CR
 *     not followed by LF (a redrawn progress line) becomes LF too, so that
 *     no overwritten text runs into the next line; a CR at the start of a
 *     line (no text since the last LF) does nothing, as on a terminal;
 *   - bytes >= 0x80 pass as they are (UTF-8; 8-bit C1 controls are not
 *     interpreted, as in a UTF-8 terminal).
 * The output is never longer than the input plus one byte.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TERM_TEXT_STRING_MAX (64u * 1024u)

typedef struct TermText {
        uint8_t state;
        uint8_t cr;             /* a CR is pending (written as LF unless an LF follows) */
        uint8_t line;           /* text was written since the last LF */
        uint32_t string_len;
} TermText;

#define TERM_TEXT_INIT {}

/* Appends the text of p[0..n) to out, which has room for n + 1 bytes;
 * returns the number of bytes written. */
size_t term_text_feed(TermText *t, const uint8_t *p, size_t n, uint8_t *out);
/* At the end of the stream: the pending CR, if any (out: 1 byte). */
size_t term_text_finish(TermText *t, uint8_t *out);
