/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <string.h>

#include "asciicast.h"
#include "macro.h"

/* The UTF-8 sequence at s[0..n), n > 0: its length (*ret_cp its code
 * point), 0 if s is a valid sequence cut short by the end of the buffer,
 * -1 if s[0] does not start a valid sequence (RFC 3629: no overlong form,
 * no surrogate, nothing above U+10FFFF). */
static int utf8_decode(const uint8_t *s, size_t n, uint32_t *ret_cp) {
        uint8_t c = s[0], lo = 0x80, hi = 0xbf;
        uint32_t cp;
        int len;

        if (c < 0x80) {
                *ret_cp = c;
                return 1;
        }
        if (c >= 0xc2 && c <= 0xdf) {
                len = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                len = 3;
                cp = c & 0x0f;
                if (c == 0xe0)
                        lo = 0xa0;
                else if (c == 0xed)
                        hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                len = 4;
                cp = c & 0x07;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f;
        } else
                return -1;

        for (int i = 1; i < len; i++) {
                if ((size_t) i >= n)
                        return 0;
                if (s[i] < lo || s[i] > hi)
                        return -1;
                lo = 0x80;
                hi = 0xbf;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        *ret_cp = cp;
        return len;
}

static void put_u16(FILE *f, uint32_t u) {
        static const char hex[] = "0123456789abcdef";
        char e[6] = { '\\', 'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15], hex[u & 15] };

        fwrite_unlocked(e, 1, sizeof e, f);
}

static void put_u(FILE *f, uint32_t cp) {
        if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u16(f, 0xd800 + (cp >> 10));
                put_u16(f, 0xdc00 + (cp & 0x3ff));
        } else
                put_u16(f, cp);
}

static bool plain(uint8_t c) {
        return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

size_t asciicast_escape(FILE *f, const uint8_t *s, size_t n, bool final) {
        size_t i = 0;

        while (i < n) {
                uint32_t cp;
                size_t run = i;
                int l;

                /* Printable ASCII goes out as it is, a run at a time. */
                while (run < n && plain(s[run]))
                        run++;
                if (run > i) {
                        fwrite_unlocked(s + i, 1, run - i, f);
                        i = run;
                        continue;
                }
                l = utf8_decode(s + i, n - i, &cp);
                if (l == 0 && !final)
                        break;          /* the rest comes with the next event */
                if (l <= 0) {
                        put_u(f, 0xfffd);
                        i++;
                        continue;
                }
                i += (size_t) l;
                switch (cp) {
                case '"':  fputs_unlocked("\\\"", f); break;
                case '\\': fputs_unlocked("\\\\", f); break;
                case '\n': fputs_unlocked("\\n", f); break;
                case '\r': fputs_unlocked("\\r", f); break;
                case '\t': fputs_unlocked("\\t", f); break;
                case '\b': fputs_unlocked("\\b", f); break;
                case '\f': fputs_unlocked("\\f", f); break;
                default:
                        put_u(f, cp);   /* controls, DEL and everything beyond ASCII */
                }
        }
        return i;
}

/* A header string or marker: valid JSON whatever it holds, cut at
 * ASCIICAST_TITLE_MAX bytes. */
static void put_string(FILE *f, const char *s) {
        size_t n = strlen(strempty(s));

        fputc('"', f);
        (void) asciicast_escape(f, (const uint8_t *) strempty(s), MIN(n, (size_t) ASCIICAST_TITLE_MAX), true);
        if (n > ASCIICAST_TITLE_MAX)
                fputs("...", f);
        fputc('"', f);
}

void asciicast_begin(Asciicast *a, FILE *f, uint64_t start, const AsciicastHeader *h) {
        *a = (Asciicast) {
                .f = f,
                .start = start,
                .cols = h->cols ?: 80,
                .rows = h->rows ?: 24,
        };
        fprintf(f, "{\"version\": 2, \"width\": %u, \"height\": %u, \"timestamp\": %" PRIu64, a->cols, a->rows,
                h->timestamp);
        if (h->title) {
                fputs(", \"title\": ", f);
                put_string(f, h->title);
        }
        fputs(", \"env\": {\"TERM\": ", f);
        put_string(f, h->term);
        fputs(", \"SHELL\": ", f);
        put_string(f, h->shell);
        fputc('}', f);
        if (h->fields) {
                fputs(", \"dwell\": {", f);
                for (size_t i = 0; h->fields[i] && h->fields[i + 1]; i += 2) {
                        if (i > 0)
                                fputs(", ", f);
                        put_string(f, h->fields[i]);
                        fputs(": ", f);
                        put_string(f, h->fields[i + 1]);
                }
                fputc('}', f);
        }
        fputs("}\n", f);
        fflush(f);
}

/* "[SECONDS, "TYPE", " */
static void event_start(Asciicast *a, uint64_t t, char type) {
        uint64_t rel = t > a->start ? t - a->start : 0;

        if (rel < a->last)
                rel = a->last;
        a->last = rel;
        fprintf(a->f, "[%" PRIu64 ".%06" PRIu64 ", \"%c\", \"", rel / 1000000, rel % 1000000, type);
}

static void event_end(Asciicast *a) {
        fputs("\"]\n", a->f);
        fflush(a->f);
}

void asciicast_output(Asciicast *a, uint64_t t, const uint8_t *data, size_t n) {
        uint8_t seq[8];
        size_t k, m, used;
        uint32_t cp;

        if (!a->f || n == 0)
                return;
        /* The sequence the last event left unfinished, completed with the
         * first bytes of this one (it needs at most 3 more). */
        k = MIN(n, sizeof seq - a->n_tail);
        m = a->n_tail + k;
        memcpy(seq, a->tail, a->n_tail);
        memcpy(seq + a->n_tail, data, k);
        if (k == n && m < 4 && utf8_decode(seq, m, &cp) == 0) {
                /* still nothing but the start of one sequence: no event yet */
                memcpy(a->tail, seq, m);
                a->n_tail = m;
                a->tail_time = t;
                return;
        }
        event_start(a, t, 'o');
        if (a->n_tail > 0) {
                size_t done = asciicast_escape(a->f, seq, m, false);

                if (done < a->n_tail) {
                        /* (cannot happen: the tail is one lead byte and
                         * continuation bytes) keep what is left for later */
                        a->n_tail = m - done;
                        memmove(a->tail, seq + done, MIN(a->n_tail, sizeof a->tail));
                        a->n_tail = MIN(a->n_tail, sizeof a->tail);
                        event_end(a);
                        return;
                }
                data += done - a->n_tail;
                n -= done - a->n_tail;
                a->n_tail = 0;
        }
        used = asciicast_escape(a->f, data, n, false);
        memcpy(a->tail, data + used, n - used);
        a->n_tail = n - used;
        a->tail_time = t;
        event_end(a);
}

void asciicast_resize(Asciicast *a, uint64_t t, unsigned cols, unsigned rows) {
        if (!a->f || cols == 0 || rows == 0 || (cols == a->cols && rows == a->rows))
                return;
        a->cols = cols;
        a->rows = rows;
        event_start(a, t, 'r');
        fprintf(a->f, "%ux%u", cols, rows);
        event_end(a);
}

void asciicast_marker(Asciicast *a, uint64_t t, const char *text) {
        size_t n = strlen(strempty(text));

        if (!a->f)
                return;
        event_start(a, t, 'm');
        (void) asciicast_escape(a->f, (const uint8_t *) strempty(text), MIN(n, (size_t) ASCIICAST_MARKER_MAX), true);
        if (n > ASCIICAST_MARKER_MAX)
                fputs("...", a->f);
        event_end(a);
}

void asciicast_end(Asciicast *a) {
        if (!a->f)
                return;
        if (a->n_tail > 0) {
                event_start(a, a->tail_time, 'o');
                (void) asciicast_escape(a->f, a->tail, a->n_tail, true);
                event_end(a);
        }
        fclose(a->f);
        *a = (Asciicast) {};
}
