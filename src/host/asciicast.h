/* SPDX-License-Identifier: ISC */
/*
 * The recording of a terminal session: the raw terminal stream with its
 * timings, in the asciicast v2 format (https://docs.asciinema.org/manual/
 * asciicast/v2/), which `asciinema play`, `asciinema cat` and `dwell
 * replay` read.  Written by the root monitor (transcript.c opens the file,
 * root-owned, 0600, in a 0700 directory); the worker, which runs as the
 * session's user, only sends it the bytes it read from the pty with the
 * time it read them, and the window sizes.
 *
 *   {"version": 2, "width": 80, "height": 24, "timestamp": 1765000000,
 *    "title": "...", "env": {"TERM": "...", "SHELL": "..."}, "dwell": {...}}
 *   [0.012345, "o", "\u001b[?2004hbash$ "]      output
 *   [3.500000, "r", "100x30"]                   the window changed: COLSxROWS
 *   [4.000000, "m", "connected: alice (pid 7)"] dwell's own notes (markers)
 *
 * One JSON value per line, and the file is printable ASCII only: every
 * byte below 0x20, 0x7f, '"' and '\' is escaped, every valid UTF-8
 * sequence becomes \uXXXX (a surrogate pair above U+FFFF), and every byte
 * that does not start a valid UTF-8 sequence becomes U+FFFD (as asciinema's
 * own recorder does), so that any JSON reader takes it and no terminal
 * interprets a `cat` of the file.  A UTF-8 sequence the pty delivered in
 * two reads is kept whole: the incomplete tail of an output event (at most
 * 3 bytes) waits for the next one.
 *
 * Times are seconds since the header, microsecond precision, and never go
 * backwards nor ahead of the monitor's own clock: the worker's times are
 * its claim, clamped to [previous event, now].
 *
 * Pure but for writing to the FILE it is given; its memory is bounded (the
 * 3-byte tail).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ASCIICAST_TITLE_MAX 1024u       /* header strings are cut after this many bytes */
#define ASCIICAST_MARKER_MAX (64u * 1024u) /* markers (dwell's event lines) after this many */

typedef struct AsciicastHeader {
        unsigned cols, rows;            /* 0: 80x24 */
        uint64_t timestamp;             /* realtime, seconds */
        const char *term, *shell, *title;
        /* "dwell": {KEY: VALUE, ...}: NULL-terminated pairs, or NULL */
        const char * const *fields;
} AsciicastHeader;

typedef struct Asciicast {
        FILE *f;
        uint64_t start;                 /* CLOCK_MONOTONIC usec of time 0 */
        uint64_t last;                  /* usec since start of the last event */
        unsigned cols, rows;
        uint8_t tail[4];                /* an incomplete UTF-8 sequence the last output ended with */
        size_t n_tail;
        uint64_t tail_time;             /* when it came */
} Asciicast;

/* Writes the header to f, which the recording then owns; start is the
 * CLOCK_MONOTONIC time (usec) of time 0. */
void asciicast_begin(Asciicast *a, FILE *f, uint64_t start, const AsciicastHeader *h);
/* Events at CLOCK_MONOTONIC time t (usec), clamped to [last event, now]. */
void asciicast_output(Asciicast *a, uint64_t t, const uint8_t *data, size_t n);
void asciicast_resize(Asciicast *a, uint64_t t, unsigned cols, unsigned rows);
void asciicast_marker(Asciicast *a, uint64_t t, const char *text);
/* Writes what is left of an incomplete UTF-8 sequence, and closes f. */
void asciicast_end(Asciicast *a);

/* Writes s[0..n) as the inside of a JSON string (see above) and returns
 * the number of bytes written out: n, less an incomplete UTF-8 sequence at
 * the end when final is false. */
size_t asciicast_escape(FILE *f, const uint8_t *s, size_t n, bool final);
