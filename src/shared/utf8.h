/* SPDX-License-Identifier: ISC */
/*
 * UTF-8 decoding, one sequence at a time, for the code that escapes or
 * checks untrusted text (audit lines, transcripts, JSON, YAML output).
 * Pure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s (at most n > 0 bytes): its length, with the
 * code point in *ret (if not NULL), or 0 if it is not valid UTF-8 — a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut
 * short by n. */
size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *ret);
