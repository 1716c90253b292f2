/* SPDX-License-Identifier: ISC */
/*
 * The session's transcript, written by the root monitor (never by the
 * worker, which runs as the session's user) into a root-owned file, mode
 * 0600, in a directory only root may enter (0700): the user can neither
 * read, change nor remove it, and it outlives the session.
 *
 * The format is plain text, one line per header or event (doc/audit.md):
 *
 *   # dwell transcript 2                      header lines start with "# "
 *   # session: 3 work
 *   ...
 *   TIME command 1 started by alice: echo hi  every other line starts with
 *   TIME 1 stdout: hi                         an RFC 3339 UTC timestamp
 *   TIME 1 stderr: oops
 *   TIME command 1 finished: exit status 0
 *   TIME connected: alice (pid 123)
 *   # ended: TIME
 *
 * Everything not from root's own configuration is escaped as escape.h
 * describes (tabs kept): header values, the text of event lines (names,
 * command text, reasons: the worker that reports them runs as the user),
 * and output.  So no byte a user controls can end a line, and every line
 * a user's bytes reach starts with the monitor's own "# KEY: " or
 * timestamp prefix: output printing "# run_as: root" is written as
 * "TIME 1 stdout: # run_as: root".
 *
 * Output is written line by line, one output line per transcript line; a
 * line longer than 64 KiB, or unfinished when its command ends, is written
 * with a trailing "\" + newline continuation mark.  A header value longer
 * than TRANSCRIPT_HEADER_MAX bytes, or an event line longer than
 * TRANSCRIPT_LINE_MAX, is cut and ends with "\...".
 *
 * A terminal session's transcript is instead its recording, in the
 * asciicast v2 format (asciicast.h), in INSTANCE.cast: the output it gets
 * with transcript_term_output() and the window sizes, with every event
 * line above (connected, disconnected, command records ...) as a marker.
 * Its header waits for the first event, so that the pty's first window
 * size (transcript_term_size()) is the recording's.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "asciicast.h"
#include "monitor.h"

#define TRANSCRIPT_FORMAT 2             /* 1: header values and event text were not escaped */
#define TRANSCRIPT_LINE_MAX (64u * 1024u)
#define TRANSCRIPT_HEADER_MAX 1024u

typedef struct Transcript {
        FILE *f;
        char *path;
        uint32_t cmd[2];                /* command of the pending partial line, per stream */
        char *partial[2];               /* stdout, stderr */
        size_t n_partial[2];

        /* terminal sessions */
        bool terminal;
        bool begun;                     /* the asciicast header is written */
        Asciicast cast;
        FILE *pending;                  /* the file, until then */
        uint64_t start;                 /* CLOCK_MONOTONIC usec of the session's start */
        uint64_t timestamp;             /* realtime seconds of the session's start */
        const HostParams *p;
} Transcript;

/* Creates the transcript file of the session in p->transcript_dir and
 * writes its header. */
int transcript_open(Transcript *t, const HostParams *p);
/* Writes the header to f, which the transcript then owns (the unit tests
 * give it a memory stream); for a terminal session (p->terminal) when the
 * first event comes. */
void transcript_begin(Transcript *t, FILE *f, const HostParams *p);
void transcript_line(Transcript *t, const char *fmt, ...) _printf_(2, 3);
void transcript_output(Transcript *t, uint32_t cmd, int stream, const uint8_t *data, size_t n);
/* A terminal session's output and window size, at the worker's
 * CLOCK_MONOTONIC time (usec; never later than now, never before the
 * previous event). */
void transcript_term_output(Transcript *t, uint64_t time, const uint8_t *data, size_t n);
void transcript_term_size(Transcript *t, uint64_t time, unsigned cols, unsigned rows);
/* Writes what is left of a command's unfinished lines. */
void transcript_flush(Transcript *t);
void transcript_close(Transcript *t);
