/* SPDX-License-Identifier: ISC */
/*
 * stderr logger.  Under systemd stderr is connected to the journal, which
 * understands the "<N>" priority prefix; we emit it only then (JOURNAL_STREAM
 * set) so that a terminal shows clean lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_ident = "dwell";
static int log_max_level = LOG_INFO;
static int log_prefix_level;

void log_setup(const char *ident) {
        const char *e;

        log_ident = ident;
        log_prefix_level = getenv("JOURNAL_STREAM") != NULL;
        e = getenv("DWELL_LOG_LEVEL");
        if (e && streq(e, "debug"))
                log_max_level = LOG_DEBUG;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        char buf[2048];
        va_list ap;

        (void) file;
        (void) line;
        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return -error;

        errno = error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        if (log_prefix_level)
                fprintf(stderr, "<%d>%s\n", level, buf);
        else
                fprintf(stderr, "%s[%d]: %s\n", log_ident, (int) getpid(), buf);
        return -error;
}
