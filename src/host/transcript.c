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

int transcript_open(Transcript *t, const HostParams *p) {
        char ts[64];
        int fd;

        *t = (Transcript) {};
        if (mkdir(p->transcript_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", p->transcript_dir);
        /* Whoever made the directory, only root may enter it. */
        if (chown(p->transcript_dir, 0, 0) < 0 || chmod(p->transcript_dir, 0700) < 0)
                return log_error_errno(errno, "Failed to secure %s: %m", p->transcript_dir);
        if (asprintf(&t->path, "%s/%s.transcript", p->transcript_dir, p->instance_id) < 0)
                return -ENOMEM;
        fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", t->path);
        t->f = fdopen(fd, "a");
        if (!t->f) {
                close(fd);
                return -errno;
        }
        timestamp(ts, sizeof ts);
        fprintf(t->f, "# dwell transcript 1\n# session: %u %s\n# instance: %s\n# owner: %s\n"
                "# run_as: %s\n# configuration: %s\n# host: %s\n# origin: %s\n# started: %s\n",
                p->id, p->name, p->instance_id, p->owner, *p->run_as ? p->run_as : "-", p->configuration,
                p->host, *p->origin ? p->origin : "-", ts);
        fflush(t->f);
        return 0;
}

void transcript_line(Transcript *t, const char *fmt, ...) {
        char ts[64];
        va_list ap;

        if (!t->f)
                return;
        timestamp(ts, sizeof ts);
        fprintf(t->f, "%s ", ts);
        va_start(ap, fmt);
        vfprintf(t->f, fmt, ap);
        va_end(ap);
        fputc('\n', t->f);
        fflush(t->f);
}

static void write_escaped(FILE *f, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '\\')
                        fputs("\\\\", f);
                else if ((c < 0x20 && c != '\t') || c == 0x7f)
                        fprintf(f, "\\x%02x", c);
                else
                        fputc(c, f);
        }
}

static void emit(Transcript *t, int stream, const char *s, size_t n, bool continued) {
        char ts[64];

        timestamp(ts, sizeof ts);
        fprintf(t->f, "%s %u %s: ", ts, t->cmd[stream], stream == 0 ? "stdout" : "stderr");
        write_escaped(t->f, s, n);
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
