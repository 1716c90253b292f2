/* SPDX-License-Identifier: ISC */
/*
 * The detach keys taken out of what is typed: by the client reading its
 * terminal, or by the worker reading a terminal a local client handed it
 * (worker-tty.c).  A sequence typed only in part is passed on as typed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse-util.h"

typedef struct DetachMatch {
        uint8_t keys[DETACH_KEYS_MAX];
        size_t n_keys;          /* 1..DETACH_KEYS_MAX */
        size_t matched;         /* keys typed so far */
} DetachMatch;

/* p[0..n) as typed: what goes on to the session is written to out (room
 * for n + DETACH_KEYS_MAX bytes), its length to *ret_n.  true when the
 * whole sequence was typed: the bytes after it are dropped. */
bool detach_match(DetachMatch *m, const uint8_t *p, size_t n, uint8_t *out, size_t *ret_n);
