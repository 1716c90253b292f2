/* SPDX-License-Identifier: ISC */
/*
 * Session configurations (/etc/dwell/configurations.d/NAME.yaml), the
 * daemon settings file (dwelld.yaml) and the user's defaults file
 * (~/.config/dwell/options.yaml), read with libyaml.
 *
 * The parse functions are pure: they take a buffer and a file name (used
 * only in messages) and do no I/O; users and groups are checked through
 * the ConfigLookup callbacks the caller passes (NULL: not checked).
 * Parsing is strict.  A file with errors gives -EINVAL plus an allocated
 * message naming every error, one per line, in the order of the file:
 *
 *     FILE:LINE:COLUMN: KEY: what is wrong
 *     FILE:LINE:COLUMN: syntax error: PROBLEM
 *
 * with LINE and COLUMN 1-based and pointing at the offending key or value;
 * KEY is dotted for nested keys ("access.users", "limits.nofile").  Errors
 * that belong to no key (empty file, top level not a mapping) have no KEY
 * part.  At most YAML_ERRORS_MAX (20) lines are kept, then a last line
 * "FILE: and N more errors".  A syntax error ends the parse (libyaml cannot
 * go on), so it is reported alone.  -ENOMEM comes without a message.
 *
 * The code: yaml-walk.c (the tree, typed values, error collection, shared
 * by the three schemas), config-session.c, config-daemon.c and
 * config-options.c (one schema each).
 *
 * Strictness beyond "unknown key / wrong type", by design:
 *   - one YAML document; anchors, aliases and explicit tags are refused;
 *   - booleans are unquoted true/false (True, TRUE, False, FALSE too; not
 *     yes/no/on/off); integers are unquoted decimal digits; an empty value
 *     ("key:") is an error, never a null;
 *   - umask is always octal ("0077", 077, 22 = 0022, "0o22"), at most 0777;
 *   - capabilities and share_with_access require run_as; share_with_access
 *     also requires access (else it would share root sessions with
 *     everyone); access must name at least one user or group;
 *   - observers: a list of users and "@group"s, or {users: [...], groups:
 *     [...]} as access; at least one entry; not with commands;
 *   - shell and commands are exclusive; commands must not be empty; both
 *     take absolute, normalized paths; working_directory is "~", "~/..."
 *     or absolute;
 *   - durations and sizes use parse-util's syntax; idle_timeout and
 *     max_idle_timeout are 1s..365d and an explicit idle_timeout above
 *     max_idle_timeout is an error, while the default idle_timeout (2h) is
 *     lowered to a smaller max_idle_timeout; output_buffer_size is 4KiB..1GiB;
 *   - max_sessions and max_sessions_per_user are >= 1 (omit for no cap);
 *   - terminal is allow, deny or default (allowed unless commands is set);
 *     allow with commands is an error (a terminal session runs a shell);
 *     scrollback is 1..1000000 lines;
 *   - limits: a number or infinity/unlimited for every RLIMIT_*, also a
 *     size for byte limits (as, core, data, fsize, memlock, msgqueue, rss,
 *     stack) and a duration for cpu (stored in seconds) and rttime (usec);
 *     nice <= 40, rtprio <= 99.  One value sets soft and hard.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "parse-util.h"
#include "proto.h"

typedef enum ConfigTerminal {
        CONFIG_TERMINAL_DEFAULT,                /* allowed unless commands is set */
        CONFIG_TERMINAL_ALLOW,
        CONFIG_TERMINAL_DENY,
} ConfigTerminal;

/* Whether the configuration lets its users create terminal sessions. */
#define config_terminal_allowed(c) \
        ((c)->terminal == CONFIG_TERMINAL_ALLOW || ((c)->terminal == CONFIG_TERMINAL_DEFAULT && !(c)->commands))

#define CONFIG_FILE_MAX (1024 * 1024)           /* config_*_load_file() refuse larger files */
#define CONFIG_NAME_MAX 64                      /* NAME of NAME.yaml */

#define CONFIG_DEFAULT_SHELL "/bin/bash"
#define CONFIG_DEFAULT_WORKING_DIRECTORY "~"
#define CONFIG_DEFAULT_IDLE_TIMEOUT (UINT64_C(2) * 3600 * USEC_PER_SEC)
#define CONFIG_DEFAULT_MAX_IDLE_TIMEOUT (UINT64_C(12) * 3600 * USEC_PER_SEC)
#define CONFIG_DEFAULT_OUTPUT_BUFFER_SIZE (UINT64_C(4) << 20)
#define CONFIG_DEFAULT_SCROLLBACK 10000u        /* lines a terminal session keeps */
#define CONFIG_SCROLLBACK_MAX 1000000u
#define CONFIG_DEFAULT_HEARTBEAT_INTERVAL (UINT64_C(10) * USEC_PER_SEC)
#define CONFIG_DEFAULT_AUTH_CACHE (UINT64_C(10) * USEC_PER_SEC)
#define CONFIG_DEFAULT_MAX_CONNECTIONS 1024
#define CONFIG_DEFAULT_MAX_CONNECTIONS_PER_USER 64
#define CONFIG_DEFAULT_MAX_PENDING_PER_USER 16
#define CONFIG_DEFAULT_AUTH_PROMPT_TIMEOUT (UINT64_C(30) * USEC_PER_SEC)
#define CONFIG_DEFAULT_AUTH_FAILURE_DELAY (UINT64_C(1) * USEC_PER_SEC)
#define CONFIG_DEFAULT_AUTH_FAILURE_DELAY_MAX (UINT64_C(30) * USEC_PER_SEC)
#define CONFIG_DEFAULT_AUTH_LOCKOUT_FAILURES 10
#define CONFIG_DEFAULT_AUTH_LOCKOUT_WINDOW (UINT64_C(15) * 60 * USEC_PER_SEC)

/* Bounds enforced by the parser. */
#define CONFIG_TIMEOUT_MAX (UINT64_C(365) * 86400 * USEC_PER_SEC)
#define CONFIG_BUFFER_SIZE_MIN (UINT64_C(4) << 10)
#define CONFIG_BUFFER_SIZE_MAX (UINT64_C(1) << 30)
#define CONFIG_LIST_MAX 1024                    /* entries in any list or in environment */

/* A limit of "infinity" (or "unlimited"); maps to RLIM_INFINITY. */
#define CONFIG_LIMIT_INFINITY UINT64_MAX

typedef struct ConfigLookup {
        /* > 0: exists, 0: does not exist, < 0: the look-up failed (-errno). */
        int (*user_exists)(const char *name, void *userdata);
        int (*group_exists)(const char *name, void *userdata);
        void *userdata;
} ConfigLookup;

typedef struct ConfigLimit {
        bool set;
        uint64_t value;                         /* soft = hard; CONFIG_LIMIT_INFINITY */
} ConfigLimit;

typedef struct SessionConfig {
        unsigned n_ref;
        char *name;                             /* NAME of NAME.yaml; set by the loaders, else NULL */

        char *description;                      /* NULL: none */

        /* access: absent = everyone may use the configuration.  Present =
         * only the users listed and members of the groups listed (at least
         * one entry in all).  NULL-terminated; NULL when empty. */
        bool access_restricted;
        char **access_users;
        char **access_groups;

        /* observers: users and groups that may `dwell watch` (read-only) the
         * terminal sessions of this configuration, whoever owns them.
         * NULL-terminated; NULL when none. */
        char **observer_users;
        char **observer_groups;

        char *run_as;                           /* NULL: the session runs as the caller */
        bool share_with_access;                 /* only with run_as and access */

        /* capabilities: a bitmask of capability numbers (1 << CAP_*), only
         * with run_as.  capabilities_set false = key absent: the RunAs
         * identity keeps what it normally has (for root: everything). */
        bool capabilities_set;
        uint64_t capabilities;

        bool no_new_privileges;                 /* default: !!run_as */

        char *shell;                            /* absolute; NULL iff commands is set */
        char **commands;                        /* absolute program paths; NULL: a shell */
        char **environment;                     /* "KEY=VALUE", NULL-terminated; NULL when empty */
        char *working_directory;                /* "~", "~/..." or absolute */

        bool umask_set;                         /* false: inherited */
        mode_t umask;

        uint64_t idle_timeout;                  /* usec, > 0, <= max_idle_timeout */
        uint64_t max_idle_timeout;              /* usec */
        Buffering output_buffering;             /* BUFFERING_BLOCK or BUFFERING_DROP */
        uint64_t output_buffer_size;            /* bytes */

        uint32_t max_sessions;                  /* 0: unlimited */
        uint32_t max_sessions_per_user;         /* 0: unlimited */

        bool transcript;

        ConfigTerminal terminal;                /* terminal sessions (new -t) */
        uint32_t scrollback;                    /* lines a terminal session keeps */

        /* --on-finish hooks (dwell invoke -d): on_finish is run after every
         * detached command that names no hook of its own (NULL: none);
         * allow_on_finish false refuses hooks.  Neither with commands. */
        char *on_finish;
        bool allow_on_finish;                   /* default true */

        ConfigLimit limits[RLIM_NLIMITS];       /* indexed by RLIMIT_* */
} SessionConfig;

typedef struct DaemonConfig {
        char *socket;                           /* NULL: the built-in default */
        char *state_dir;                        /* NULL: the built-in default */
        char *transcript_dir;                   /* NULL: the built-in default */
        char **admin_groups;                    /* NULL-terminated; NULL when none */
        uint64_t heartbeat_interval;            /* usec, default 10s */
        uint32_t max_sessions;                  /* 0: unlimited */
        uint32_t max_sessions_per_user;         /* 0: unlimited */
        uint64_t auth_cache;                    /* usec, default 10s; 0 = no caching */

        /* Admission control (dwelld(8), "Limits"): connections dwelld holds
         * for non-root callers, together and per uid, and requests of one
         * uid being processed.  root is not counted. */
        uint32_t max_connections;               /* default 1024 */
        uint32_t max_connections_per_user;      /* default 64 */
        uint32_t max_pending_per_user;          /* default 16 */

        /* --credential: time to answer PAM's prompts; the delay before a
         * caller's next attempt after a failure (doubling with each further
         * consecutive failure, up to the maximum); the lock-out after so many
         * failures of one caller for one target within the window. */
        uint64_t auth_prompt_timeout;           /* usec, default 30s */
        uint64_t auth_failure_delay;            /* usec, default 1s; 0 = none */
        uint64_t auth_failure_delay_max;        /* usec, default 30s */
        uint32_t auth_lockout_failures;         /* default 10 */
        uint64_t auth_lockout_window;           /* usec, default 15min */
} DaemonConfig;

#define CONFIG_HOOK_MAX 4096u                   /* bytes of an on_finish command (PROTO_MAX_TEXT) */

typedef struct UserOptions {
        uint64_t idle_timeout;                  /* usec; 0: not set */
        Buffering output_buffering;             /* BUFFERING_UNSET: not set */
        char on_finish[CONFIG_HOOK_MAX + 1];    /* invoke -d's default --on-finish; "": not set */
        uint64_t reconnect_timeout;             /* usec; 0: do not reconnect by itself */
        bool reconnect_timeout_set;
        char detach_keys[64];                   /* connect to a terminal session: parse_detach_keys(); "": not set */
} UserOptions;

/* Session configurations.  The object is reference counted so that a
 * session can keep the configuration it was created with across reloads. */
SessionConfig *config_session_new_default(void);        /* the built-in "default", n_ref = 1 */
SessionConfig *config_session_ref(SessionConfig *c);
SessionConfig *config_session_unref(SessionConfig *c);  /* returns NULL */
static inline void config_session_unrefp(SessionConfig **c) {
        if (*c)
                config_session_unref(*c);
}
#define _cleanup_session_config_ __attribute__((cleanup(config_session_unrefp)))

int config_session_parse(const char *data, size_t size, const char *file,
                         const ConfigLookup *lookup, SessionConfig **ret, char **ret_error);
/* Reads PATH (at most CONFIG_FILE_MAX bytes), parses it and sets ->name
 * from the file name.  Errors other than -ENOMEM come with a message
 * ("PATH: ..." for I/O errors). */
int config_session_load_file(const char *path, const ConfigLookup *lookup,
                             SessionConfig **ret, char **ret_error);

/* Writes the configuration as YAML that config_session_parse() reads back
 * to an equal configuration (every effective value, defaults included). */
int config_session_format(const SessionConfig *c, FILE *f);
/* Same settings (the name included, n_ref ignored). */
bool config_session_equal(const SessionConfig *a, const SessionConfig *b);

/* The daemon settings file: every key optional. */
void config_daemon_init(DaemonConfig *c);               /* the defaults */
void config_daemon_done(DaemonConfig *c);
int config_daemon_parse(const char *data, size_t size, const char *file,
                        const ConfigLookup *lookup, DaemonConfig *ret, char **ret_error);
int config_daemon_load_file(const char *path, const ConfigLookup *lookup,
                            DaemonConfig *ret, char **ret_error);

/* The user's defaults file: idle_timeout and output_buffering only.  No
 * bound against a configuration's max_idle_timeout is applied here. */
int config_user_options_parse(const char *data, size_t size, const char *file,
                              UserOptions *ret, char **ret_error);
int config_user_options_load_file(const char *path, UserOptions *ret, char **ret_error);

/* "netops" from ".../netops.yaml".  -EINVAL unless the file name ends in
 * ".yaml" and NAME is a valid configuration name. */
int config_session_name_from_path(const char *path, char **ret);
/* 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool config_name_valid(const char *name);

/* Capability names: "CAP_NET_ADMIN", "net_admin", any case.  -EINVAL if unknown. */
int config_capability_from_string(const char *s);
const char *config_capability_to_string(int cap);       /* "CAP_NET_ADMIN"; NULL if unknown */
/* Resource limit names: "nofile", ... (RLIMIT_NOFILE). */
int config_limit_from_string(const char *s);
const char *config_limit_to_string(int resource);
