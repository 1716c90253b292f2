/* SPDX-License-Identifier: ISC */
/*
 * The session's transcript, written by the root monitor (never by the
 * worker, which runs as the session's user) into a root-owned file, mode
 * 0600, in a directory only root may enter (0700): the user can neither
 * read, change nor remove it, and it outlives the session.
 *
 * The format is plain text, one event per line, every line starting with
 * an RFC 3339 UTC timestamp (doc/transcripts.md):
 *
 *   # dwell transcript 1                      header lines start with '#'
 *   # session: 3 work
 *   ...
 *   TIME command 1 started by alice: echo hi
 *   TIME 1 stdout: hi
 *   TIME 1 stderr: oops
 *   TIME command 1 finished: exit status 0
 *   TIME connected: alice (pid 123)
 *
 * Output is written line by line; control characters other than tab are
 * escaped as \xNN (and a backslash as \\), so one output line is one
 * transcript line; a line longer than 64 KiB, or unfinished when its
 * command ends, is written with a trailing "\" + newline continuation mark.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "monitor.h"

#define TRANSCRIPT_LINE_MAX (64u * 1024u)

typedef struct Transcript {
        FILE *f;
        char *path;
        uint32_t cmd[2];                /* command of the pending partial line, per stream */
        char *partial[2];               /* stdout, stderr */
        size_t n_partial[2];
} Transcript;

int transcript_open(Transcript *t, const HostParams *p);
void transcript_line(Transcript *t, const char *fmt, ...) _printf_(2, 3);
void transcript_output(Transcript *t, uint32_t cmd, int stream, const uint8_t *data, size_t n);
/* Writes what is left of a command's unfinished lines. */
void transcript_flush(Transcript *t);
void transcript_close(Transcript *t);
