/* SPDX-License-Identifier: ISC */
/*
 * Output of the dwell client: errors (one "dwell: MESSAGE" line on stderr,
 * or with --json one {"error", "message"} object on stdout), session tables
 * with column widths taken from their content, and JSON session objects.
 *
 * Everything printed here may come from other users (session names, command
 * text), so table cells are made safe for a terminal (control characters
 * and invalid UTF-8 become '?') and JSON strings are escaped completely
 * (invalid UTF-8 becomes U+FFFD).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "parse-util.h"
#include "utf8.h"

#define COMMAND_COLUMN_MAX 40   /* characters of command text in `list -l` */

static unsigned errors_reported = 0;

static struct {
        bool on;
        int r;
        uint16_t code;
        char msg[PROTO_MAX_TEXT + 1];
} quiet;

void client_set_quiet(bool on) {
        quiet.on = on;
        if (on) {
                quiet.r = 0;
                quiet.code = 0;
                quiet.msg[0] = 0;
        }
}

int client_quiet_error(uint16_t *ret_code, const char **ret_msg) {
        *ret_code = quiet.code;
        *ret_msg = quiet.msg;
        return quiet.r;
}

int client_error(int r, uint16_t code, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        errno = r < 0 ? -r : r;         /* for %m */
        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                msg = NULL;

        if (quiet.on) {
                /* A reconnection attempt: kept, shown only if it is the last word. */
                quiet.r = r < 0 ? r : (r > 0 ? -r : -EIO);
                quiet.code = code;
                snprintf(quiet.msg, sizeof quiet.msg, "%s", msg ? msg : "out of memory");
                return quiet.r;
        }
        errors_reported++;
        if (multi_result_fd >= 0)
                /* A child of a multi-host run: the parent reports it, naming the host. */
                (void) multi_send_error(code, msg ? msg : "out of memory");
        else if (arg_json) {
                printf("{\"error\": \"%s\", \"message\": ", proto_error_to_string(code));
                json_print_string(stdout, msg ? msg : "out of memory");
                printf("}\n");
                fflush(stdout);
        } else
                fprintf(stderr, "dwell: %s\n", msg ? msg : "out of memory");
        return r < 0 ? r : (r > 0 ? -r : -EIO);
}

unsigned client_errors_reported(void) {
        return errors_reported;
}

/* A message on stderr that is not a failure of the verb (drop notices, a
 * connect that ended because someone else disconnected the session). */
int client_notice(const char *fmt, ...) {
        va_list ap;

        fputs("dwell: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 0;
}


int base64_encode(const uint8_t *p, size_t n, char **ret) {
        static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);

                *o++ = table[v >> 18 & 63];
                *o++ = table[v >> 12 & 63];
                *o++ = i + 1 < n ? table[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? table[v & 63] : '=';
        }
        *o = 0;
        *ret = out;
        return 0;
}

bool utf8_valid(const uint8_t *s, size_t n) {
        while (n > 0) {
                size_t len = utf8_decode(s, n, NULL);

                if (len == 0)
                        return false;
                s += len;
                n -= len;
        }
        return true;
}

void json_print_string(FILE *f, const char *str) {
        json_print_bytes(f, (const uint8_t *) strempty(str), strlen(str ? str : ""));
}

void json_print_bytes(FILE *f, const uint8_t *s, size_t n) {
        fputc('"', f);
        while (n > 0) {
                size_t len = utf8_decode(s, n, NULL);

                if (len == 0) {
                        fputs("\\ufffd", f);
                        len = 1;
                } else if (len > 1)
                        fwrite(s, 1, len, f);
                else if (*s == '"' || *s == '\\')
                        fprintf(f, "\\%c", *s);
                else if (*s == '\n')
                        fputs("\\n", f);
                else if (*s == '\t')
                        fputs("\\t", f);
                else if (*s == '\r')
                        fputs("\\r", f);
                else if (*s < 0x20 || *s == 0x7f)
                        fprintf(f, "\\u%04x", *s);
                else
                        fputc(*s, f);
                s += len;
                n -= len;
        }
        fputc('"', f);
}

static void json_print_string_or_null(FILE *f, const char *s) {
        if (s && s[0])
                json_print_string(f, s);
        else
                fputs("null", f);
}

/* Seconds as a JSON number, exact (idle timeouts are whole seconds in practice). */
void json_print_seconds(FILE *f, uint64_t usec) {
        uint64_t frac = usec % USEC_PER_SEC;
        char digits[8];
        size_t l;

        if (frac == 0) {
                fprintf(f, "%" PRIu64, usec / USEC_PER_SEC);
                return;
        }
        snprintf(digits, sizeof digits, "%06" PRIu64, frac);
        for (l = strlen(digits); l > 0 && digits[l - 1] == '0'; l--)
                digits[l - 1] = 0;
        fprintf(f, "%" PRIu64 ".%s", usec / USEC_PER_SEC, digits);
}

void json_print_session(FILE *f, const struct proto_session *s) {
        fprintf(f, "{\"id\": %" PRIu32 ", \"instance_id\": ", s->id);
        json_print_string(f, s->instance_id);
        fputs(", \"name\": ", f);
        json_print_string(f, s->name);
        fputs(", \"host\": ", f);
        json_print_string(f, s->host);
        fputs(", \"owner\": ", f);
        json_print_string(f, s->owner);
        fputs(", \"run_as\": ", f);
        json_print_string_or_null(f, s->run_as);
        fputs(", \"configuration\": ", f);
        json_print_string(f, s->configuration);
        fprintf(f, ", \"state\": \"%s\", \"availability\": \"%s\", \"idle_timeout\": ",
                session_state_to_string(s->state), availability_to_string(s->availability));
        json_print_seconds(f, s->idle_timeout);
        fprintf(f, ", \"output_buffering\": \"%s\", \"buffered\": %" PRIu64 ", \"dropped\": %" PRIu64 ", \"command\": ",
                buffering_to_string(s->buffering), s->buffered, s->dropped);
        if (s->command_id == 0)
                fputs("null", f);
        else {
                fprintf(f, "{\"id\": %" PRIu32 ", \"text\": ", s->command_id);
                json_print_string(f, s->command);
                fputc('}', f);
        }
        fputs(", \"last_command\": ", f);
        if (s->last_command_id == 0)
                fputs("null", f);
        else {
                fprintf(f, "{\"id\": %" PRIu32 ", \"text\": ", s->last_command_id);
                json_print_string(f, s->last_command);
                fprintf(f, ", \"exit_status\": %" PRIi32 "}", s->last_exit_status);
        }
        /* Reported by the client that created the session (dwell-bridge: the
         * SSH client's address); null for a local client. */
        fputs(", \"origin\": ", f);
        json_print_string_or_null(f, s->origin);
        fputs(", \"reason\": ", f);
        json_print_string_or_null(f, s->reason);
        fprintf(f, ", \"terminal\": %s", s->terminal ? "true" : "false");
        fprintf(f, ", \"watchers\": %" PRIu32, s->watchers);
        fputc('}', f);
}

/* A copy of str fit for a terminal cell: control characters and invalid
 * UTF-8 become '?' (tabs and newlines a space); at most max characters, a
 * longer text is cut and ends in "...".  *ret_width is its width in
 * characters (wide characters are not accounted for). */
static char *cell_sanitize(const char *str, size_t max, size_t *ret_width) {
        const uint8_t *s = (const uint8_t *) strempty(str);
        size_t n = strlen((const char *) s), width = 0, o = 0, cut = 0;
        char *out = malloc(n + 4);

        if (!out)
                return NULL;
        while (n > 0) {
                size_t len = utf8_decode(s, n, NULL);

                if (width == max) {
                        /* More is left: end in "..." at max - 3 characters. */
                        memcpy(out + cut, "...", 3);
                        o = cut + 3;
                        width = max;
                        break;
                }
                if (width + 3 == max)
                        cut = o;
                if (len == 0 || (len == 1 && (*s < 0x20 || *s == 0x7f))) {
                        out[o++] = *s == '\n' || *s == '\t' ? ' ' : '?';
                        len = 1;
                } else {
                        memcpy(out + o, s, len);
                        o += len;
                }
                width++;
                s += len;
                n -= len;
        }
        out[o] = 0;
        *ret_width = width;
        return out;
}

char *terminal_sanitize(const char *s, size_t max) {
        size_t width;

        return cell_sanitize(s, max, &width);
}

void table_done(Table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->widths);
        free(t->column_widths);
        *t = (Table) {};
}

int table_add(Table *t, const char *text, size_t max) {
        char **c;
        size_t *w;

        c = realloc(t->cells, (t->n_cells + 1) * sizeof(char *));
        if (!c)
                return -ENOMEM;
        t->cells = c;
        w = realloc(t->widths, (t->n_cells + 1) * sizeof(size_t));
        if (!w)
                return -ENOMEM;
        t->widths = w;
        c[t->n_cells] = cell_sanitize(text, max, &w[t->n_cells]);
        if (!c[t->n_cells])
                return -ENOMEM;
        t->n_cells++;
        return 0;
}

int table_print(Table *t, FILE *f) {
        t->column_widths = calloc(t->n_columns, sizeof(size_t));
        if (!t->column_widths)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_cells; i++)
                t->column_widths[i % t->n_columns] = MAX(t->column_widths[i % t->n_columns], t->widths[i]);

        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;

                fputs(t->cells[i], f);
                if (col + 1 == t->n_columns)
                        fputc('\n', f);
                else
                        fprintf(f, "%*s", (int) (t->column_widths[col] - t->widths[i] + 1), "");
        }
        return 0;
}

static int table_add_session(Table *t, const struct proto_session *s) {
        char id[16], idle[64], buffered[64], dropped[64], last_status[16] = "-", watchers[16];
        _cleanup_free_ char *last = NULL;
        const char *row[] = {
                id, s->name, s->host, session_state_to_string(s->state), s->configuration,
                availability_to_string(s->availability),
                /* -l */
                s->owner, s->run_as && s->run_as[0] ? s->run_as : "-",
                format_duration(idle, sizeof idle, s->idle_timeout),
                buffering_to_string(s->buffering),
                format_size(buffered, sizeof buffered, s->buffered),
                format_size(dropped, sizeof dropped, s->dropped),
                s->origin && s->origin[0] ? s->origin : "-",
                s->reason && s->reason[0] ? s->reason : "-",
                s->terminal ? "yes" : "no",
                watchers,
                "-", last_status,       /* LastCommand (below), LastStatus */
                s->command_id != 0 ? s->command : "-",
        };
        int r;

        snprintf(id, sizeof id, "%" PRIu32, s->id);
        snprintf(watchers, sizeof watchers, "%" PRIu32, s->watchers);
        if (s->last_command_id != 0) {
                if (asprintf(&last, "%" PRIu32 ": %s", s->last_command_id, strempty(s->last_command)) < 0)
                        return -ENOMEM;
                row[ELEMENTSOF(row) - 3] = last;
                snprintf(last_status, sizeof last_status, "%" PRIi32, s->last_exit_status);
        }
        for (size_t i = 0; i < t->n_columns; i++) {
                r = table_add(t, row[i], i == ELEMENTSOF(row) - 3 || i + 1 == ELEMENTSOF(row) ? COMMAND_COLUMN_MAX : SIZE_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

int print_table(const struct proto_session *sessions, size_t n, TableFormat format) {
        return print_table_failures(sessions, n, format, NULL, 0);
}

int print_table_failures(const struct proto_session *sessions, size_t n, TableFormat format,
                         const TableFailure *failed, size_t n_failed) {
        static const char *const header[] = {
                "Id", "Name", "Host", "State", "Configuration", "Availability",
                "Owner", "RunAs", "IdleTimeout", "Buffering", "Buffered", "Dropped", "Origin", "Reason",
                "Terminal", "Watchers", "LastCommand", "LastStatus", "Command",
        };
        /* Owner is the seventh column, in both wider formats. */
        _cleanup_(table_done) Table t = {
                .n_columns = format == TABLE_LONG ? ELEMENTSOF(header) : format == TABLE_OWNER ? 7 : 6,
        };
        int r;

        for (size_t i = 0; i < t.n_columns; i++) {
                r = table_add(&t, header[i], SIZE_MAX);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                r = table_add_session(&t, sessions + i);
                if (r < 0)
                        return r;
        }
        /* Id, Name, Host, State, and "-" for the rest. */
        for (size_t i = 0; i < n_failed; i++)
                for (size_t c = 0; c < t.n_columns; c++) {
                        r = table_add(&t, c == 2 ? failed[i].host : c == 3 ? failed[i].state : "-", SIZE_MAX);
                        if (r < 0)
                                return r;
                }
        return table_print(&t, stdout);
}

/* A listing: the table, or a JSON array of session objects. */
int print_sessions(const struct proto_session *sessions, size_t n, TableFormat format) {
        if (multi_result_fd >= 0)
                return multi_send_sessions(sessions, n, format, true);
        if (!arg_json)
                return print_table(sessions, n, format);

        fputc('[', stdout);
        for (size_t i = 0; i < n; i++) {
                fputs(i == 0 ? "\n  " : ",\n  ", stdout);
                json_print_session(stdout, sessions + i);
        }
        fputs(n > 0 ? "\n]\n" : "]\n", stdout);
        return 0;
}

/* One session (new, invoke -d): a table with its header, or one object. */
int print_session(const struct proto_session *s) {
        if (multi_result_fd >= 0)
                return multi_send_sessions(s, 1, TABLE_SHORT, false);
        if (!arg_json)
                return print_table(s, 1, TABLE_SHORT);
        json_print_session(stdout, s);
        fputc('\n', stdout);
        return 0;
}
