/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "proto.h"
#include "log.h"
#include "transcript.h"

static void timestamp(char *buf, size_t n) {
        struct timespec ts;
        struct tm tm;
        size_t l;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + l, n - l, ".%06ldZ", ts.tv_nsec / 1000);
}

/* "# KEY: VALUE", the value escaped (it may come from a user: the
 * session's name, its owner, the origin its client reported); "-" if
 * empty. */
static void header(FILE *f, const char *key, const char *prefix, const char *value) {
        size_t n = strlen(strempty(value));

        fprintf(f, "# %s: %s", key, prefix);
        if (n == 0)
                fputc('-', f);
        escape_fwrite(f, strempty(value), MIN(n, TRANSCRIPT_HEADER_MAX), ESCAPE_KEEP_TAB);
        if (n > TRANSCRIPT_HEADER_MAX)
                fputs(ESCAPE_CUT, f);
        fputc('\n', f);
}

int transcript_open(Transcript *t, const HostParams *p) {
        FILE *f;
        int fd;

        *t = (Transcript) {};
        if (mkdir(p->transcript_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", p->transcript_dir);
        /* Whoever made the directory, only root may enter it. */
        if (chown(p->transcript_dir, 0, 0) < 0 || chmod(p->transcript_dir, 0700) < 0)
                return log_error_errno(errno, "Failed to secure %s: %m", p->transcript_dir);
        if (asprintf(&t->path, "%s/%s.%s", p->transcript_dir, p->instance_id,
                     p->terminal ? "cast" : "transcript") < 0)
                return -ENOMEM;
        fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", t->path);
        f = fdopen(fd, "a");
        if (!f) {
                close(fd);
                return -errno;
        }
        transcript_begin(t, f, p);
        return 0;
}

static uint64_t now_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* The asciicast header, with the size of the first REC_SIZE (if that is
 * what comes first) and dwell's own header values. */
static void cast_begin(Transcript *t, unsigned cols, unsigned rows) {
        const HostParams *p = t->p;
        char id[16], title[PROTO_MAX_NAME + 64];
        const char *fields[] = {
                "format", "dwell terminal recording 1",
                "session", id,
                "instance", p->instance_id,
                "owner", p->owner,
                "run_as", p->run_as,
                "configuration", p->configuration,
                "host", p->host,
                "origin", p->origin,
                NULL,
        };

        if (t->begun || !t->pending)
                return;
        snprintf(id, sizeof id, "%u", p->id);
        snprintf(title, sizeof title, "dwell session %u (%.*s) of %.*s", p->id, (int) PROTO_MAX_NAME,
                 strempty(p->name), 32, strempty(p->owner));
        asciicast_begin(&t->cast, TAKE_PTR(t->pending), t->start, &(AsciicastHeader) {
                .cols = cols ?: p->cols,        /* else the creating client's */
                .rows = rows ?: p->rows,
                .timestamp = t->timestamp,
                .term = p->term && *p->term ? p->term : "xterm-256color",
                .shell = p->shell,
                .title = title,
                .fields = fields,
        });
        t->begun = true;
}

/* Times from the worker are its claim: never later than now. */
static uint64_t clamp_time(uint64_t time) {
        uint64_t now = now_mono();
        return MIN(time, now);
}

void transcript_term_output(Transcript *t, uint64_t time, const uint8_t *data, size_t n) {
        if (!t->terminal)
                return;
        cast_begin(t, 0, 0);
        asciicast_output(&t->cast, clamp_time(time), data, n);
}

void transcript_term_size(Transcript *t, uint64_t time, unsigned cols, unsigned rows) {
        if (!t->terminal || cols == 0 || rows == 0)
                return;
        cast_begin(t, cols, rows);
        asciicast_resize(&t->cast, clamp_time(time), cols, rows);
}

void transcript_begin(Transcript *t, FILE *f, const HostParams *p) {
        char ts[64], id[16];

        if (p->terminal) {
                struct timespec rt;

                clock_gettime(CLOCK_REALTIME, &rt);
                t->terminal = true;
                t->p = p;
                t->pending = f;
                t->start = now_mono();
                t->timestamp = (uint64_t) rt.tv_sec;
                return;
        }
        t->f = f;
        timestamp(ts, sizeof ts);
        snprintf(id, sizeof id, "%u ", p->id);
        fprintf(t->f, "# dwell transcript %d\n", TRANSCRIPT_FORMAT);
        header(t->f, "session", id, p->name);
        header(t->f, "instance", "", p->instance_id);
        header(t->f, "owner", "", p->owner);
        header(t->f, "run_as", "", p->run_as);
        header(t->f, "configuration", "", p->configuration);
        header(t->f, "host", "", p->host);
        header(t->f, "origin", "", p->origin);
        header(t->f, "started", "", ts);
        fflush(t->f);
}

/* One event line: the text as the caller formatted it (with whatever
 * names, command text and reasons users gave), escaped as a whole so that
 * it stays one line, and cut after TRANSCRIPT_LINE_MAX bytes. */
void transcript_line(Transcript *t, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        char ts[64];
        va_list ap;
        int n;

        if (!t->f && !t->terminal)
                return;
        va_start(ap, fmt);
        n = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (t->terminal) {
                cast_begin(t, 0, 0);
                asciicast_marker(&t->cast, now_mono(), text);
                return;
        }
        timestamp(ts, sizeof ts);
        fprintf(t->f, "%s ", ts);
        escape_fwrite(t->f, text, MIN((size_t) n, TRANSCRIPT_LINE_MAX), ESCAPE_KEEP_TAB);
        if ((size_t) n > TRANSCRIPT_LINE_MAX)
                fputs(ESCAPE_CUT, t->f);
        fputc('\n', t->f);
        fflush(t->f);
}

static void emit(Transcript *t, int stream, const char *s, size_t n, bool continued) {
        char ts[64];

        timestamp(ts, sizeof ts);
        fprintf(t->f, "%s %u %s: ", ts, t->cmd[stream], stream == 0 ? "stdout" : "stderr");
        escape_fwrite(t->f, s, n, ESCAPE_KEEP_TAB);
        fputs(continued ? "\\\n" : "\n", t->f);
}

static void flush_stream(Transcript *t, int stream) {
        if (t->n_partial[stream] > 0)
                emit(t, stream, t->partial[stream], t->n_partial[stream], true);
        t->n_partial[stream] = 0;
}

void transcript_output(Transcript *t, uint32_t cmd, int stream, const uint8_t *data, size_t n) {
        if (!t->f || stream < 0 || stream > 1)
                return;
        if (t->cmd[stream] != cmd)
                flush_stream(t, stream);
        t->cmd[stream] = cmd;
        if (!t->partial[stream] && !(t->partial[stream] = malloc(TRANSCRIPT_LINE_MAX)))
                return;
        for (size_t i = 0; i < n; i++) {
                if (data[i] == '\n') {
                        emit(t, stream, t->partial[stream], t->n_partial[stream], false);
                        t->n_partial[stream] = 0;
                        continue;
                }
                if (t->n_partial[stream] == TRANSCRIPT_LINE_MAX)
                        flush_stream(t, stream);
                t->partial[stream][t->n_partial[stream]++] = (char) data[i];
        }
        fflush(t->f);
}

void transcript_flush(Transcript *t) {
        if (!t->f)
                return;
        flush_stream(t, 0);
        flush_stream(t, 1);
        fflush(t->f);
}

void transcript_close(Transcript *t) {
        if (t->terminal) {
                transcript_line(t, "ended");
                asciicast_end(&t->cast);
                if (t->pending)
                        fclose(t->pending);
        }
        if (t->f) {
                char ts[64];

                transcript_flush(t);
                timestamp(ts, sizeof ts);
                fprintf(t->f, "# ended: %s\n", ts);
                fclose(t->f);
        }
        free(t->partial[0]);
        free(t->partial[1]);
        free(t->path);
        *t = (Transcript) {};
}
