/* SPDX-License-Identifier: ISC */
/*
 * dwell replay TRANSCRIPT [--speed X] [--idle-limit SEC]
 *
 * Plays a terminal session's recording (an asciicast v2 file, asciicast.h:
 * the one dwell writes, or asciinema's) on this terminal with its timings:
 * the recorded output is written as it was, escape sequences included
 * (that is the point: the terminal shows what the session's terminal
 * showed).  --speed divides the delays, --idle-limit caps each one (before
 * the speed applies).  To anything but a terminal the output comes without
 * delays, as `asciinema cat` prints it.  A recording larger than this
 * terminal (in the header or a later resize) is said once per change on
 * stderr.  Markers (dwell's notes: connected, disconnected ...) are not
 * shown.  Ctrl-C, SIGTERM or SIGHUP stop the playback; the terminal is
 * restored on every exit (its termios, and the modes a recording may have
 * left on: alternate screen, hidden cursor, mouse reporting, bracketed
 * paste, application keys, colours).
 *
 * A command session's transcript ("# dwell transcript N", plain text
 * already escaped) has no timings: it is printed as it is.
 *
 * The file is read with the caller's own rights: transcripts are root's
 * (0600 in a 0700 directory), so root replays them, and administrators
 * through sudo or whatever read access root gave them.
 *
 * Hostile files: a line is read into a buffer of at most LINE_MAX_BYTES,
 * longer ones are skipped whole; JSON nesting is bounded; a time that is
 * not a finite number in [0, 1e9] s, or an event that is not
 * [number, string, string], is skipped and counted; times going backwards
 * wait nothing.  Memory stays bounded whatever the file holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define LINE_MAX_BYTES (4u * 1024 * 1024)
#define JSON_DEPTH_MAX 32
#define TIME_MAX 1e9

enum {
        ARG_SPEED = 0x300,
        ARG_IDLE_LIMIT,
};

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int sig) {
        stop_signal = sig;
}

/* ------------------------------------------------------------ JSON */

typedef struct Json {
        const char *p, *end;
} Json;

static void ws(Json *j) {
        while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
                j->p++;
}

static bool lit(Json *j, char c) {
        ws(j);
        if (j->p < j->end && *j->p == c) {
                j->p++;
                return true;
        }
        return false;
}

static void put_utf8(char **o, uint32_t cp) {
        char *q = *o;

        if (cp < 0x80)
                *q++ = (char) cp;
        else if (cp < 0x800) {
                *q++ = (char) (0xc0 | (cp >> 6));
                *q++ = (char) (0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
                *q++ = (char) (0xe0 | (cp >> 12));
                *q++ = (char) (0x80 | ((cp >> 6) & 0x3f));
                *q++ = (char) (0x80 | (cp & 0x3f));
        } else {
                *q++ = (char) (0xf0 | (cp >> 18));
                *q++ = (char) (0x80 | ((cp >> 12) & 0x3f));
                *q++ = (char) (0x80 | ((cp >> 6) & 0x3f));
                *q++ = (char) (0x80 | (cp & 0x3f));
        }
        *o = q;
}

static int hex4(const char *p, const char *end, uint32_t *ret) {
        uint32_t v = 0;

        if (end - p < 4)
                return -EBADMSG;
        for (int i = 0; i < 4; i++) {
                int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
                                  c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                        return -EBADMSG;
                v = v * 16 + (uint32_t) d;
        }
        *ret = v;
        return 0;
}

/* A JSON string, decoded in place into out (which may be the input: the
 * decoded form is never longer than the escaped one) if out is not NULL.
 * Lone surrogates become U+FFFD; raw bytes are taken as they are. */
static int string(Json *j, char *out, size_t *ret_len) {
        char *o = out;

        if (!lit(j, '"'))
                return -EBADMSG;
        while (j->p < j->end && *j->p != '"') {
                uint32_t cp, lo;
                char c = *j->p++;

                if (c != '\\') {
                        if (o)
                                *o++ = c;
                        continue;
                }
                if (j->p >= j->end)
                        return -EBADMSG;
                c = *j->p++;
                switch (c) {
                case '"': case '\\': case '/': cp = (uint8_t) c; break;
                case 'b': cp = '\b'; break;
                case 'f': cp = '\f'; break;
                case 'n': cp = '\n'; break;
                case 'r': cp = '\r'; break;
                case 't': cp = '\t'; break;
                case 'u':
                        if (hex4(j->p, j->end, &cp) < 0)
                                return -EBADMSG;
                        j->p += 4;
                        if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' &&
                            j->p[1] == 'u' && hex4(j->p + 2, j->end, &lo) >= 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                j->p += 6;
                        } else if (cp >= 0xd800 && cp <= 0xdfff)
                                cp = 0xfffd;
                        break;
                default:
                        return -EBADMSG;
                }
                /* "\uXXXX" (6 bytes) never decodes to more than 3, a pair
                 * (12) to 4: in place is safe. */
                if (o)
                        put_utf8(&o, cp);
        }
        if (j->p >= j->end)
                return -EBADMSG;
        j->p++;
        if (ret_len)
                *ret_len = o ? (size_t) (o - out) : 0;
        return 0;
}

static int number(Json *j, double *ret) {
        char tok[64];
        size_t n = 0;
        char *e;

        ws(j);
        while (j->p < j->end && strchr("+-0123456789.eE", *j->p) && *j->p) {
                if (n >= sizeof tok - 1)
                        return -EBADMSG;
                tok[n++] = *j->p++;
        }
        if (n == 0)
                return -EBADMSG;
        tok[n] = 0;
        errno = 0;
        *ret = strtod(tok, &e);
        if (*e || errno || !isfinite(*ret))
                return -EBADMSG;
        return 0;
}

static int skip_value(Json *j, int depth) {
        double d;

        if (depth > JSON_DEPTH_MAX)
                return -EBADMSG;
        ws(j);
        if (j->p >= j->end)
                return -EBADMSG;
        switch (*j->p) {
        case '"':
                return string(j, NULL, NULL);
        case '{':
        case '[': {
                char close = *j->p == '{' ? '}' : ']';
                bool first = true;

                j->p++;
                while (!lit(j, close)) {
                        if (!first && !lit(j, ','))
                                return -EBADMSG;
                        first = false;
                        if (close == '}' && (string(j, NULL, NULL) < 0 || !lit(j, ':')))
                                return -EBADMSG;
                        if (skip_value(j, depth + 1) < 0)
                                return -EBADMSG;
                }
                return 0;
        }
        case 't': case 'f': case 'n': {
                static const char * const words[] = { "true", "false", "null" };

                for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                        size_t l = strlen(words[i]);
                        if ((size_t) (j->end - j->p) >= l && memcmp(j->p, words[i], l) == 0) {
                                j->p += l;
                                return 0;
                        }
                }
                return -EBADMSG;
        }
        default:
                return number(j, &d);
        }
}

/* The header: {"version": 2, "width": W, "height": H, ...}. */
static int parse_header(char *line, size_t n, unsigned *ret_cols, unsigned *ret_rows) {
        Json j = { line, line + n };
        double version = 0, w = 0, h = 0;
        bool first = true;

        if (!lit(&j, '{'))
                return -EBADMSG;
        while (!lit(&j, '}')) {
                char *key;
                size_t kl;

                if (!first && !lit(&j, ','))
                        return -EBADMSG;
                first = false;
                ws(&j);
                key = (char *) j.p + 1;
                if (string(&j, key, &kl) < 0 || !lit(&j, ':'))
                        return -EBADMSG;
                if (kl == 7 && memcmp(key, "version", 7) == 0) {
                        if (number(&j, &version) < 0)
                                return -EBADMSG;
                } else if (kl == 5 && memcmp(key, "width", 5) == 0) {
                        if (number(&j, &w) < 0)
                                return -EBADMSG;
                } else if (kl == 6 && memcmp(key, "height", 6) == 0) {
                        if (number(&j, &h) < 0)
                                return -EBADMSG;
                } else if (skip_value(&j, 1) < 0)
                        return -EBADMSG;
        }
        if (version != 2)
                return -EPROTONOSUPPORT;
        *ret_cols = w >= 1 && w <= 10000 ? (unsigned) w : 0;
        *ret_rows = h >= 1 && h <= 10000 ? (unsigned) h : 0;
        return 0;
}

/* An event: [TIME, "TYPE", "DATA"], DATA decoded in place. */
static int parse_event(char *line, size_t n, double *ret_time, char *ret_type, char **ret_data, size_t *ret_len) {
        Json j = { line, line + n };
        char *type, *data;
        size_t tl;

        if (!lit(&j, '[') || number(&j, ret_time) < 0 || !lit(&j, ','))
                return -EBADMSG;
        if (*ret_time < 0 || *ret_time > TIME_MAX)
                return -ERANGE;
        ws(&j);
        type = (char *) j.p + 1;
        if (string(&j, type, &tl) < 0 || !lit(&j, ','))
                return -EBADMSG;
        ws(&j);
        data = (char *) j.p + 1;
        if (string(&j, data, ret_len) < 0 || !lit(&j, ']'))
                return -EBADMSG;
        ws(&j);
        if (j.p != j.end)
                return -EBADMSG;
        *ret_type = tl == 1 ? type[0] : '?';
        *ret_data = data;
        return 0;
}

/* ------------------------------------------------------------ input */

/* One line (without its newline) into buf (LINE_MAX_BYTES + 1); 1, 0 at
 * the end of the file, -E2BIG for a longer line (skipped whole). */
static int read_line(FILE *f, char *buf, size_t *ret_n) {
        size_t n = 0;
        bool too_long = false;
        int c;

        while ((c = getc_unlocked(f)) != EOF && c != '\n') {
                if (n < LINE_MAX_BYTES)
                        buf[n++] = (char) c;
                else
                        too_long = true;
        }
        if (c == EOF && n == 0 && !too_long)
                return ferror(f) ? -EIO : 0;
        buf[n] = 0;
        *ret_n = n;
        return too_long ? -E2BIG : 1;
}

/* ------------------------------------------------------------ terminal */

typedef struct Player {
        bool tty;
        bool termios_saved;
        struct termios saved;
        double speed, idle_limit;       /* idle_limit 0: none */
        double prev;                    /* time of the previous output */
        unsigned warned_cols, warned_rows;
        unsigned skipped;
} Player;

static void write_all(const char *s, size_t n) {
        while (n > 0 && !stop_signal) {
                ssize_t k = write(STDOUT_FILENO, s, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                s += k;
                n -= (size_t) k;
        }
}

static void player_restore(Player *pl) {
        /* Whatever modes the recording switched on: normal screen (1047,
         * not 1049: that would also move the cursor back to where a
         * recording that already left the alternate screen saved it),
         * cursor shown, colours, keys, mouse and paste modes off. */
        static const char reset[] = "\033[0m\033[?25h\033[?1l\033>\033[?2004l\033[?1000l\033[?1002l"
                                    "\033[?1003l\033[?1006l\033[?1047l\r\n";

        if (!pl->tty)
                return;
        (void) !write(STDOUT_FILENO, reset, sizeof reset - 1);
        if (pl->termios_saved)
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &pl->saved);
}

static void player_size_check(Player *pl, unsigned cols, unsigned rows) {
        struct winsize ws;

        if (!pl->tty || cols == 0 || rows == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
                return;
        if ((cols <= ws.ws_col && rows <= ws.ws_row) || (cols == pl->warned_cols && rows == pl->warned_rows))
                return;
        pl->warned_cols = cols;
        pl->warned_rows = rows;
        fprintf(stderr, "\r\ndwell: the recording is %ux%u, this terminal %ux%u: it may not show as recorded\r\n",
                cols, rows, ws.ws_col, ws.ws_row);
}

static void player_wait(Player *pl, double t) {
        double d = t - pl->prev;
        struct timespec ts;

        if (t > pl->prev)
                pl->prev = t;
        if (!pl->tty || d <= 0)
                return;
        if (pl->idle_limit > 0 && d > pl->idle_limit)
                d = pl->idle_limit;
        d /= pl->speed;
        ts.tv_sec = (time_t) d;
        ts.tv_nsec = (long) ((d - (double) ts.tv_sec) * 1e9);
        /* A signal (Ctrl-C) ends the wait early: the loop then stops. */
        (void) nanosleep(&ts, NULL);
}

static int play(FILE *f, const char *path, char *line, Player *pl, unsigned cols, unsigned rows) {
        unsigned long lineno = 1;
        size_t n;
        int r;

        player_size_check(pl, cols, rows);
        while (!stop_signal && (r = read_line(f, line, &n)) != 0) {
                double t;
                char type, *data;
                size_t len;

                lineno++;
                if (r == -E2BIG || (r > 0 && n > 0 && parse_event(line, n, &t, &type, &data, &len) < 0)) {
                        pl->skipped++;
                        continue;
                }
                if (r < 0)
                        return client_error(r, PROTO_ERR_UNAVAILABLE, "%s: %s", path, strerror(-r));
                if (n == 0)
                        continue;
                if (type == 'o') {
                        player_wait(pl, t);
                        if (stop_signal)
                                break;
                        write_all(data, len);
                } else if (type == 'r') {
                        unsigned c, w;
                        char rest;

                        data[len] = 0;
                        if (sscanf(data, "%ux%u%c", &c, &w, &rest) == 2)
                                player_size_check(pl, c, w);
                }
                /* "m" markers, "i" input and unknown types: not shown */
        }
        return 0;
}

/* A command session's transcript: text, escaped by its writer; printed. */
static int print_transcript(FILE *f, const char *path, const char *first, size_t n) {
        char buf[65536];
        size_t k;

        if (isatty(STDOUT_FILENO))
                fprintf(stderr, "dwell: %s is a command transcript (no timings): printing it\n", path);
        fwrite(first, 1, n, stdout);
        fputc('\n', stdout);
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
                if (fwrite(buf, 1, k, stdout) != k)
                        return -errno;
        return ferror(f) ? client_error(-EIO, PROTO_ERR_UNAVAILABLE, "%s: read error", path) : 0;
}

static int parse_positive(const char *what, const char *arg, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(arg, &end);
        if (!arg[0] || *end || errno || !isfinite(v) || v <= 0 || v > 1e6)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "invalid %s '%s' (expected a positive number)",
                                    what, arg);
        *ret = v;
        return 0;
}

static int verb_replay_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "speed",      required_argument, NULL, ARG_SPEED      },
                { "idle-limit", required_argument, NULL, ARG_IDLE_LIMIT },
                {}
        };
        _cleanup_free_ char *line = NULL;
        Player pl = { .speed = 1 };
        unsigned cols = 0, rows = 0;
        struct sigaction sa = { .sa_handler = on_stop }, old[4];
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
        const char *path;
        FILE *f;
        size_t n;
        int c, r, fd;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return verb_help(v);
                case ARG_SPEED:
                        if ((r = parse_positive("speed", optarg, &pl.speed)) < 0)
                                return r;
                        break;
                case ARG_IDLE_LIMIT:
                        if ((r = parse_positive("idle limit", optarg, &pl.idle_limit)) < 0)
                                return r;
                        break;
                default:
                        return verb_bad_option(v, c, optind, argv);
                }
        if (optind != argc - 1)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "replay: expected one TRANSCRIPT file");
        if (arg_host)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "replay: plays a file on this machine; -H is not supported");
        path = argv[optind];

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return client_error(-errno, errno == EACCES || errno == EPERM ? PROTO_ERR_PERMISSION_DENIED :
                                    errno == ENOENT ? PROTO_ERR_NOT_FOUND : PROTO_ERR_UNAVAILABLE, "%s: %m", path);
        f = fdopen(fd, "re");
        if (!f) {
                close(fd);
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        }
        line = malloc(LINE_MAX_BYTES + 1);
        if (!line) {
                fclose(f);
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        }

        r = read_line(f, line, &n);
        if (r > 0 && strncmp(line, "# dwell transcript ", 19) == 0) {
                r = print_transcript(f, path, line, n);
                fclose(f);
                return r;
        }
        if (r == -EIO) {
                fclose(f);
                return client_error(-EIO, PROTO_ERR_UNAVAILABLE, "%s: %s", path, strerror(EIO));
        }
        if (r <= 0 || parse_header(line, n, &cols, &rows) < 0) {
                fclose(f);
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "%s: neither an asciicast v2 recording nor a dwell transcript", path);
        }

        pl.tty = isatty(STDOUT_FILENO);
        if (pl.tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &pl.saved) >= 0) {
                struct termios t = pl.saved;

                /* Keys typed during the playback are not echoed into it;
                 * Ctrl-C still interrupts. */
                t.c_lflag &= ~(tcflag_t) (ECHO | ICANON);
                pl.termios_saved = tcsetattr(STDIN_FILENO, TCSADRAIN, &t) >= 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &sa, &old[i]);

        r = play(f, path, line, &pl, cols, rows);
        fclose(f);
        player_restore(&pl);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &old[i], NULL);
        if (r < 0)
                return r;
        if (pl.skipped > 0)
                fprintf(stderr, "dwell: %s: %u malformed line%s skipped\n", path, pl.skipped, pl.skipped == 1 ? "" : "s");
        if (stop_signal) {
                fprintf(stderr, "dwell: replay stopped\n");
                return 128 + stop_signal;
        }
        return 0;
}

const Verb verb_replay = {
        .name = "replay",
        .synopsis = "TRANSCRIPT [--speed X] [--idle-limit SEC]",
        .help =
        "Play a terminal session's recording (asciicast v2, as written with transcript: true) on this\n"
        "terminal with its timings; Ctrl-C stops.  Into a pipe or file the output comes without delays.\n"
        "A command session's transcript (plain text) is printed.  The file is read with your own\n"
        "rights: transcripts belong to root (replay them as root, e.g. with sudo).\n"
        "\n"
        "      --speed X          play X times faster (default 1)\n"
        "      --idle-limit SEC   wait at most SEC seconds between two outputs\n"
        "  -h, --help             show this help\n",
        .run = verb_replay_run,
};
