/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the configuration parser: the input is one file, read
 * as a session configuration, as dwelld.yaml and as options.yaml (no user
 * or group look-ups).  Checks, beyond the sanitizers':
 *   - a failure is -EINVAL with a message of one "fuzz.yaml:LINE:COLUMN: "
 *     line per error, at most 20 then "and N more" (or -ENOMEM), and
 *     returns no object;
 *   - an accepted session configuration formats to text that parses back
 *     to an equal configuration.
 * Any violation abort()s.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configuration.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                \
        do {                                                                    \
                if (!(x)) {                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n",            \
                                __FILE__, __LINE__, #x);                        \
                        abort();                                                \
                }                                                               \
        } while (0)

/* Every line "fuzz.yaml:LINE:COLUMN: ...", at most 20 of them, then
 * possibly "fuzz.yaml: and N more errors". */
static void check_error(int r, const char *error) {
        unsigned lines = 0;

        if (r == -ENOMEM)
                return;
        CHECK(r == -EINVAL);
        CHECK(error && *error);
        for (const char *s = error; s; lines++) {
                const char *nl = strchr(s, '\n');
                unsigned line, column, more;
                int n = 0;

                if (sscanf(s, "fuzz.yaml: and %u more error%n", &more, &n) == 1 && n > 0) {
                        CHECK(lines == 20 && more >= 1 && !nl);
                        break;
                }
                CHECK(sscanf(s, "fuzz.yaml:%u:%u: %n", &line, &column, &n) == 2 && n > 0);
                CHECK(line >= 1 && column >= 1);
                CHECK(!nl || nl - s > n);
                s = nl ? nl + 1 : NULL;
        }
        CHECK(lines >= 1 && lines <= 21);
}

static void round_trip(const SessionConfig *c) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        SessionConfig *d = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return;
        r = config_session_format(c, f);
        fclose(f);
        if (r < 0)
                return;
        r = config_session_parse(text, size, "formatted", NULL, &d, &error);
        if (r == -ENOMEM)
                return;
        if (r < 0)
                fprintf(stderr, "formatted configuration does not parse: %s\n%s", error, text);
        CHECK(r == 0);
        if (!config_session_equal(c, d))
                fprintf(stderr, "formatted configuration parses to something else:\n%s", text);
        CHECK(config_session_equal(c, d));
        config_session_unref(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        SessionConfig *c = NULL;
        DaemonConfig d;
        UserOptions o;
        char *error = NULL;
        int r;

        if (size > CONFIG_FILE_MAX)
                return 0;

        r = config_session_parse(text, size, "fuzz.yaml", NULL, &c, &error);
        if (r < 0) {
                check_error(r, error);
                CHECK(!c);
        } else {
                CHECK(c && !error);
                CHECK(c->idle_timeout > 0 && c->idle_timeout <= c->max_idle_timeout);
                CHECK(!!c->shell != !!c->commands);
                CHECK(c->working_directory);
                round_trip(c);
                config_session_unref(c);
        }
        free(error);
        error = NULL;

        r = config_daemon_parse(text, size, "fuzz.yaml", NULL, &d, &error);
        if (r < 0)
                check_error(r, error);
        else {
                CHECK(!error);
                config_daemon_done(&d);
        }
        free(error);
        error = NULL;

        r = config_user_options_parse(text, size, "fuzz.yaml", &o, &error);
        if (r < 0)
                check_error(r, error);
        else
                CHECK(!error);
        free(error);
        return 0;
}
