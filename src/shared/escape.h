/* SPDX-License-Identifier: ISC */
/*
 * Escaping of untrusted bytes for the line-oriented records root writes:
 * the one-line audit events on stderr and the session transcripts.  What
 * comes out is one line of text that no terminal interprets:
 *
 *   - a backslash becomes \\ (and with ESCAPE_QUOTE a double quote \");
 *   - every other byte below 0x20, and 0x7f, becomes \xNN (two lowercase
 *     hex digits), except a tab with ESCAPE_KEEP_TAB;
 *   - a byte that does not start a valid UTF-8 sequence (a stray
 *     continuation byte, an overlong form, a surrogate, beyond U+10FFFF, a
 *     sequence cut short) becomes \xNN;
 *   - a valid UTF-8 sequence is kept, unless it encodes a C1 control
 *     (U+0080..U+009F: 8-bit CSI, OSC ...), a line or paragraph separator
 *     (U+2028, U+2029), a bidirectional control (U+200E, U+200F,
 *     U+202A..U+202E, U+2066..U+2069) or U+FEFF: then each of its bytes
 *     becomes \xNN.
 *
 * Replacing \\ by a backslash, \" by a quote and \xNN by that byte gives
 * the original bytes back.  Escaping never produces a backslash followed
 * by anything else, so writers can mark a cut with "\..." (ESCAPE_CUT).
 * Pure: no I/O but escape_fwrite(), no allocation, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum EscapeFlags {
        ESCAPE_QUOTE = 1 << 0,          /* " becomes \" (for values written in double quotes) */
        ESCAPE_KEEP_TAB = 1 << 1,       /* a tab stays as it is */
} EscapeFlags;

/* The longest escaped form of one input unit: a 3-byte sequence as \xNN\xNN\xNN. */
#define ESCAPE_UNIT_MAX 12u
/* How a writer marks text it cut short. */
#define ESCAPE_CUT "\\..."

/* Escapes the unit (a byte, or a UTF-8 sequence) at s[0..n), n > 0, into
 * out (not NUL-terminated); stores the length written in *ret_len and
 * returns the number of input bytes it stands for (at least 1). */
size_t escape_unit(const char *s, size_t n, EscapeFlags flags, char out[static ESCAPE_UNIT_MAX], size_t *ret_len);

/* Escapes s[0..n) into dst (size > 0; always NUL-terminated), as far as
 * whole units fit in size - 1 bytes.  Returns the number of bytes written
 * (without the NUL); *ret_consumed (if not NULL) is the number of input
 * bytes they stand for: n if everything fit. */
size_t escape_buf(char *dst, size_t size, const char *s, size_t n, EscapeFlags flags, size_t *ret_consumed);

/* The length of the escaped form of s[0..n). */
size_t escape_len(const char *s, size_t n, EscapeFlags flags);

/* Writes the escaped form of s[0..n) to f. */
void escape_fwrite(FILE *f, const char *s, size_t n, EscapeFlags flags);

/* Whether s (NUL-terminated) is 1 to max printable ASCII characters (no
 * control character, no byte above 0x7e). */
bool printable_ascii(const char *s, size_t max);
