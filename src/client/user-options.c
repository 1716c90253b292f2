/* SPDX-License-Identifier: ISC */
/*
 * The user's defaults file, $XDG_CONFIG_HOME/dwell/options.yaml (else
 * $HOME/.config/dwell/options.yaml; HOME from the environment, else the
 * password database) — the analogue of PowerShell's $PSSessionOption:
 *
 *     idle_timeout: 30m
 *     output_buffering: drop
 *     on_finish: 'notify-send "dwell: $DWELL_SESSION: $DWELL_EXIT_STATUS"'
 *
 * The session settings are read only by the verbs that may create a
 * session (new; invoke without SESSION), and only to fill what the command
 * line left unset; dwelld falls back to the configuration's values for
 * what is still unset, and checks the result against the configuration's
 * max_idle_timeout.  on_finish is the hook of every invoke -d without
 * --on-finish; it is sent as a default (PROTO_REQ_F_HOOK_DEFAULT), which a
 * configuration that allows no hooks drops instead of refusing.
 *
 * A missing file is fine.  A file that cannot be read or parsed is an
 * error (config-error) before anything is sent, reported with the parser's
 * own "FILE:LINE:COLUMN: KEY: ..." message — also when the command line
 * gives both settings, as with ssh's config file: a broken file is news.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "configuration.h"

static bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

/* Allocates the path of the options file. */
static int user_options_path(char **ret) {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        char *p;
        int k;

        /* The XDG base directory spec: a relative value is ignored. */
        if (path_is_absolute(xdg))
                k = asprintf(&p, "%s/dwell/options.yaml", xdg);
        else {
                if (!path_is_absolute(home)) {
                        struct passwd *pw;

                        errno = 0;
                        pw = getpwuid(getuid());
                        if (!pw || !path_is_absolute(pw->pw_dir))
                                return -ENOENT;         /* no home: no options file */
                        home = pw->pw_dir;
                }
                k = asprintf(&p, "%s/.config/dwell/options.yaml", streq(home, "/") ? "" : home);
        }
        if (k < 0)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        *ret = p;
        return 0;
}

int user_options_load(UserOptions *o) {
        _cleanup_free_ char *path = NULL, *error = NULL;
        int r;

        *o = (UserOptions) {};

        r = user_options_path(&path);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        r = config_user_options_load_file(path, o, &error);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r == -ENOMEM)
                return client_error(r, PROTO_ERR_UNAVAILABLE, "out of memory");
        if (r < 0)
                return client_error(r, PROTO_ERR_CONFIG_ERROR, "%s", error ? error : path);
        return 1;
}

static UserOptions opts;        /* on_finish stays in use by req */

int user_options_detach_keys(const char *arg, uint8_t ret[static DETACH_KEYS_MAX]) {
        int r, n;

        if (!arg) {
                r = user_options_load(&opts);
                if (r < 0)
                        return r;
                if (opts.detach_keys[0])
                        arg = opts.detach_keys;
        }
        n = parse_detach_keys(arg ?: DETACH_KEYS_DEFAULT, ret);
        if (n < 0)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "invalid detach keys '%s' (up to %d comma-separated keys, each ctrl-X or one "
                                    "character, e.g. ctrl-a,d)", arg, DETACH_KEYS_MAX);
        return n;
}

int user_options_apply(struct proto_request *req, bool session, bool hook) {
        int r = user_options_load(&opts);

        if (r <= 0)
                return r;
        if (session && req->idle_timeout == 0)
                req->idle_timeout = opts.idle_timeout;
        if (session && req->buffering == BUFFERING_UNSET)
                req->buffering = (uint8_t) opts.output_buffering;
        if (hook && !req->on_finish && opts.on_finish[0]) {
                req->on_finish = opts.on_finish;
                req->flags |= PROTO_REQ_F_HOOK_DEFAULT;
        }
        return 0;
}
