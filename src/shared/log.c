/* SPDX-License-Identifier: ISC */
/*
 * stderr logger.  Under systemd stderr is connected to the journal, which
 * understands the "<N>" priority prefix; we emit it only then (JOURNAL_STREAM
 * set) so that a terminal shows clean lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

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

void log_line(int level, const char *text) {
        char prefix[128];
        struct iovec iov[3];
        int saved = errno;

        if (level > log_max_level)
                return;
        if (log_prefix_level)
                snprintf(prefix, sizeof prefix, "<%d>", level);
        else
                snprintf(prefix, sizeof prefix, "%s[%d]: ", log_ident, (int) getpid());
        iov[0] = (struct iovec) { .iov_base = prefix, .iov_len = strlen(prefix) };
        iov[1] = (struct iovec) { .iov_base = (void *) text, .iov_len = strlen(text) };
        iov[2] = (struct iovec) { .iov_base = (void *) "\n", .iov_len = 1 };
        fflush(stderr);
        /* One writev(2) (partial writes resumed): the line does not
         * interleave with what other processes write to the same stderr. */
        for (size_t i = 0; i < 3;) {
                ssize_t k = writev(STDERR_FILENO, iov + i, (int) (3 - i));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                while (i < 3 && (size_t) k >= iov[i].iov_len)
                        k -= (ssize_t) iov[i++].iov_len;
                if (i < 3) {
                        iov[i].iov_base = (char *) iov[i].iov_base + k;
                        iov[i].iov_len -= (size_t) k;
                }
        }
        errno = saved;
}
