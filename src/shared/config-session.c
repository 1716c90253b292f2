/* SPDX-License-Identifier: ISC */
/*
 * Session configurations (configurations.d/NAME.yaml): names, the schema
 * walked with yaml-walk, formatting back to YAML and comparison.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "configuration.h"
#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "utf8.h"
#include "yaml-walk.h"

/* ---------------------------------------------------------------- names */

static const char * const capability_names[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
        "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
        "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

int config_capability_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (strncasecmp(s, "CAP_", 4) == 0)
                s += 4;
        for (size_t i = 0; i < ELEMENTSOF(capability_names); i++)
                if (strcasecmp(s, capability_names[i] + 4) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *config_capability_to_string(int cap) {
        if (cap < 0 || (size_t) cap >= ELEMENTSOF(capability_names))
                return NULL;
        return capability_names[cap];
}

typedef enum LimitKind {
        LIMIT_COUNT,    /* a plain number */
        LIMIT_BYTES,    /* a number or a size */
        LIMIT_SECONDS,  /* a number of seconds or a duration */
        LIMIT_USEC,     /* a number of microseconds or a duration */
} LimitKind;

static const struct {
        const char *name;
        int resource;
        LimitKind kind;
        uint64_t max;   /* 0: no bound below infinity */
} limit_table[] = {
        { "as",         RLIMIT_AS,         LIMIT_BYTES,   0 },
        { "core",       RLIMIT_CORE,       LIMIT_BYTES,   0 },
        { "cpu",        RLIMIT_CPU,        LIMIT_SECONDS, 0 },
        { "data",       RLIMIT_DATA,       LIMIT_BYTES,   0 },
        { "fsize",      RLIMIT_FSIZE,      LIMIT_BYTES,   0 },
        { "locks",      RLIMIT_LOCKS,      LIMIT_COUNT,   0 },
        { "memlock",    RLIMIT_MEMLOCK,    LIMIT_BYTES,   0 },
        { "msgqueue",   RLIMIT_MSGQUEUE,   LIMIT_BYTES,   0 },
        { "nice",       RLIMIT_NICE,       LIMIT_COUNT,   40 },
        { "nofile",     RLIMIT_NOFILE,     LIMIT_COUNT,   0 },
        { "nproc",      RLIMIT_NPROC,      LIMIT_COUNT,   0 },
        { "rss",        RLIMIT_RSS,        LIMIT_BYTES,   0 },
        { "rtprio",     RLIMIT_RTPRIO,     LIMIT_COUNT,   99 },
        { "rttime",     RLIMIT_RTTIME,     LIMIT_USEC,    0 },
        { "sigpending", RLIMIT_SIGPENDING, LIMIT_COUNT,   0 },
        { "stack",      RLIMIT_STACK,      LIMIT_BYTES,   0 },
};

int config_limit_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(limit_table); i++)
                if (streq(s, limit_table[i].name))
                        return limit_table[i].resource;
        return -EINVAL;
}

const char *config_limit_to_string(int resource) {
        for (size_t i = 0; i < ELEMENTSOF(limit_table); i++)
                if (limit_table[i].resource == resource)
                        return limit_table[i].name;
        return NULL;
}

bool config_name_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n < 1 || n > CONFIG_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

int config_session_name_from_path(const char *path, char **ret) {
        const char *base;
        size_t n;
        char *name;

        if (!path || !ret)
                return -EINVAL;
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        n = strlen(base);
        if (n <= 5 || !streq(base + n - 5, ".yaml"))
                return -EINVAL;
        name = strndup(base, n - 5);
        if (!name)
                return -ENOMEM;
        if (!config_name_valid(name)) {
                free(name);
                return -EINVAL;
        }
        *ret = name;
        return 0;
}

/* ---------------------------------------------------------------- the object */

static void session_config_free(SessionConfig *c) {
        if (!c)
                return;
        free(c->name);
        free(c->description);
        strv_free(c->access_users);
        strv_free(c->access_groups);
        strv_free(c->observer_users);
        strv_free(c->observer_groups);
        free(c->run_as);
        free(c->shell);
        strv_free(c->commands);
        strv_free(c->environment);
        free(c->working_directory);
        free(c->on_finish);
        free(c);
}

static SessionConfig *session_config_new(void) {
        SessionConfig *c = calloc(1, sizeof(SessionConfig));

        if (!c)
                return NULL;
        c->n_ref = 1;
        c->idle_timeout = CONFIG_DEFAULT_IDLE_TIMEOUT;
        c->max_idle_timeout = CONFIG_DEFAULT_MAX_IDLE_TIMEOUT;
        c->output_buffering = BUFFERING_BLOCK;
        c->output_buffer_size = CONFIG_DEFAULT_OUTPUT_BUFFER_SIZE;
        c->allow_on_finish = true;
        c->scrollback = CONFIG_DEFAULT_SCROLLBACK;
        return c;
}

SessionConfig *config_session_ref(SessionConfig *c) {
        if (c)
                c->n_ref++;
        return c;
}

SessionConfig *config_session_unref(SessionConfig *c) {
        if (c && --c->n_ref == 0)
                session_config_free(c);
        return NULL;
}

SessionConfig *config_session_new_default(void) {
        SessionConfig *c = session_config_new();

        if (!c)
                return NULL;
        c->name = strdup("default");
        c->description = strdup("Interactive shell as the calling user");
        c->shell = strdup(CONFIG_DEFAULT_SHELL);
        c->working_directory = strdup(CONFIG_DEFAULT_WORKING_DIRECTORY);
        if (!c->name || !c->description || !c->shell || !c->working_directory)
                return config_session_unref(c);
        return c;
}

/* ---------------------------------------------------------------- parsing */

#define DESCRIPTION_MAX 4096

static const char * const session_keys[] = {
        "description", "access", "run_as", "share_with_access", "capabilities",
        "no_new_privileges", "shell", "commands", "environment", "working_directory",
        "umask", "idle_timeout", "max_idle_timeout", "output_buffering", "output_buffer_size",
        "max_sessions", "max_sessions_per_user", "transcript", "limits", "on_finish", "allow_on_finish",
        "terminal", "scrollback", "observers", NULL,
};

static const char * const access_keys[] = { "users", "groups", NULL };

/* What the walk saw, for the checks of settings that only make sense together. */
typedef struct SessionWalk {
        SessionConfig *c;
        const YamlNode *k_share, *k_caps, *k_shell, *k_commands, *k_run_as, *k_access;
        const YamlNode *k_on_finish, *v_allow_on_finish, *k_observers;
        const YamlNode *v_terminal;             /* terminal: allow (accepted) */
        const YamlNode *v_idle, *v_share;       /* set when the value was accepted */
        bool nnp_set;
        bool max_idle_bad;                      /* max_idle_timeout given but refused */
} SessionWalk;

static int access_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                      const YamlNode *v, void *userdata) {
        SessionConfig *c = userdata;

        (void) k;
        if (streq(key, "users"))
                return yaml_get_name_list(w, v, path, YAML_NAME_USER, &c->access_users);
        return yaml_get_name_list(w, v, path, YAML_NAME_GROUP, &c->access_groups);
}

static int parse_access(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        int r = yaml_walk_map(w, v, "access", access_keys, access_key, c);

        if (r < 0)
                return r;
        if (!c->access_users && !c->access_groups)
                return yaml_fail(w, v, "access", "must list at least one user or group (omit the key to allow "
                                 "everyone)");
        c->access_restricted = true;
        return 0;
}

static int observers_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                         const YamlNode *v, void *userdata) {
        SessionConfig *c = userdata;

        (void) k;
        if (streq(key, "users"))
                return yaml_get_name_list(w, v, path, YAML_NAME_USER, &c->observer_users);
        return yaml_get_name_list(w, v, path, YAML_NAME_GROUP, &c->observer_groups);
}

/* observers: [carol, "@auditors"] (a leading '@' names a group), or the
 * form of access: {users: [...], groups: [...]}. */
static int parse_observers(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        _cleanup_(strv_freep) char **users = NULL, **groups = NULL;
        unsigned before = w->n_errors;
        char q[YAML_QUOTE_MAX];
        int r;

        if (v->kind == YAML_NODE_MAP) {
                r = yaml_walk_map(w, v, "observers", access_keys, observers_key, c);
                if (r < 0)
                        return r;
                if (!c->observer_users && !c->observer_groups)
                        return yaml_fail(w, v, "observers", "must list at least one user or group (omit the "
                                         "key for none)");
                return 0;
        }
        r = yaml_get_list(w, v, "observers");
        if (r < 0)
                return r;
        if (v->n_items == 0)
                return yaml_fail(w, v, "observers", "must list at least one user or group (omit the key for "
                                 "none)");
        for (size_t i = 0; i < v->n_items; i++) {
                const YamlNode *item = v->items[i];
                bool group, twice = false;
                const char *s;
                char ***l;

                r = yaml_get_scalar(w, item, "observers", &s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                group = s[0] == '@';
                l = group ? &groups : &users;
                r = yaml_check_name(w, item, "observers", group ? YAML_NAME_GROUP : YAML_NAME_USER, s + group);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                for (char **j = *l; j && *j && !twice; j++)
                        twice = streq(*j, s + group);
                if (twice) {
                        r = yaml_fail(w, item, "observers", "%s listed twice", YQ(q, s));
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                r = strv_consume(l, strdup(s + group));
                if (r < 0)
                        return r;
        }
        if (w->n_errors > before)
                return -EINVAL;
        strv_free(c->observer_users);
        strv_free(c->observer_groups);
        c->observer_users = TAKE_PTR(users);
        c->observer_groups = TAKE_PTR(groups);
        return 0;
}

static int parse_capabilities(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        char q[YAML_QUOTE_MAX];
        unsigned before = w->n_errors;
        uint64_t caps = 0;
        int r = yaml_get_list(w, v, "capabilities");

        if (r < 0)
                return r;
        for (size_t i = 0; i < v->n_items; i++) {
                const YamlNode *item = v->items[i];
                const char *s;
                int cap;

                r = yaml_get_scalar(w, item, "capabilities", &s);
                if (r >= 0) {
                        cap = config_capability_from_string(s);
                        if (cap < 0)
                                r = yaml_fail(w, item, "capabilities", "unknown capability %s", YQ(q, s));
                        else if (caps & (UINT64_C(1) << cap))
                                r = yaml_fail(w, item, "capabilities", "%s listed twice", capability_names[cap]);
                        else
                                caps |= UINT64_C(1) << cap;
                }
                if (r == -ENOMEM)
                        return r;
        }
        c->capabilities = caps;
        c->capabilities_set = true;
        return w->n_errors > before ? -EINVAL : 0;
}

static int parse_commands(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        char q[YAML_QUOTE_MAX];
        unsigned before = w->n_errors;
        int r = yaml_get_list(w, v, "commands");

        if (r < 0)
                return r;
        if (v->n_items == 0)
                return yaml_fail(w, v, "commands", "must list at least one program (omit the key for a shell)");
        for (size_t i = 0; i < v->n_items; i++) {
                const YamlNode *item = v->items[i];
                _cleanup_free_ char *s = NULL;
                bool twice = false;

                r = yaml_get_path(w, item, "commands", &s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                for (char **j = c->commands; j && *j && !twice; j++)
                        twice = streq(*j, s);
                if (twice) {
                        r = yaml_fail(w, item, "commands", "%s listed twice", YQ(q, s));
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                r = strv_consume(&c->commands, TAKE_PTR(s));
                if (r < 0)
                        return r;
        }
        return w->n_errors > before ? -EINVAL : 0;
}

static int environment_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                           const YamlNode *v, void *userdata) {
        SessionConfig *c = userdata;
        char q[YAML_QUOTE_MAX];
        const char *value;
        char *e;
        int r;

        if (!yaml_env_name_valid(key))
                return yaml_fail(w, k, path, "invalid variable name %s (letters, digits and _, not starting "
                                 "with a digit, at most %d)", YQ(q, key), YAML_ENV_NAME_MAX);
        r = yaml_get_scalar(w, v, path, &value);
        if (r < 0)
                return r;
        if (asprintf(&e, "%s=%s", key, value) < 0)
                return -ENOMEM;
        return strv_consume(&c->environment, e);
}

static int parse_working_directory(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        char q[YAML_QUOTE_MAX];
        const char *s;
        int r = yaml_get_scalar(w, v, "working_directory", &s);

        if (r < 0)
                return r;
        if (!(streq(s, "~") || strncmp(s, "~/", 2) == 0 || s[0] == '/'))
                return yaml_fail(w, v, "working_directory", "%s is not an absolute path, \"~\" or \"~/...\"",
                                 YQ(q, s));
        if (strlen(s) >= PATH_MAX)
                return yaml_fail(w, v, "working_directory", "path too long");
        return yaml_get_string(w, v, "working_directory", &c->working_directory);
}

static int parse_umask(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        char q[YAML_QUOTE_MAX];
        const char *s, *d;
        unsigned long m;
        int r = yaml_get_scalar(w, v, "umask", &s);

        if (r < 0)
                return r;
        d = strncmp(s, "0o", 2) == 0 ? s + 2 : s;
        if (*d == 0 || strlen(d) > 4 || strspn(d, "01234567") != strlen(d))
                return yaml_fail(w, v, "umask", "expected an octal mode such as \"0077\", got %s", YQ(q, s));
        m = strtoul(d, NULL, 8);
        if (m > 0777)
                return yaml_fail(w, v, "umask", "%s is out of range (at most 0777)", YQ(q, s));
        c->umask = (mode_t) m;
        c->umask_set = true;
        return 0;
}

static int parse_output_buffer_size(YamlWalk *w, const YamlNode *v, const char *key, SessionConfig *c) {
        char q[YAML_QUOTE_MAX], b1[64], b2[64];
        const char *s;
        uint64_t size;
        int r = yaml_get_scalar(w, v, key, &s);

        if (r < 0)
                return r;
        r = parse_size(s, &size);
        if (r == -EINVAL)
                return yaml_fail(w, v, key, "invalid size %s (use bytes or 512KiB, 4MiB, 1GiB)", YQ(q, s));
        if (r < 0 || size < CONFIG_BUFFER_SIZE_MIN || size > CONFIG_BUFFER_SIZE_MAX)
                return yaml_fail(w, v, key, "%s is out of range (%s to %s)", YQ(q, s),
                                 format_size(b1, sizeof b1, CONFIG_BUFFER_SIZE_MIN),
                                 format_size(b2, sizeof b2, CONFIG_BUFFER_SIZE_MAX));
        c->output_buffer_size = size;
        return 0;
}

static int parse_limit_value(YamlWalk *w, const YamlNode *n, const char *key, size_t t, uint64_t *ret) {
        char q[YAML_QUOTE_MAX];
        const char *s;
        uint64_t v;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        if (streq(s, "infinity") || streq(s, "unlimited")) {
                *ret = CONFIG_LIMIT_INFINITY;
                return 0;
        }
        if (yaml_all_digits(s)) {
                r = parse_size(s, &v);
                if (r < 0 || v == CONFIG_LIMIT_INFINITY)
                        return yaml_fail(w, n, key, "%s is out of range", YQ(q, s));
        } else {
                switch (limit_table[t].kind) {
                case LIMIT_BYTES:
                        r = parse_size(s, &v);
                        if (r == -ERANGE || (r >= 0 && v == CONFIG_LIMIT_INFINITY))
                                return yaml_fail(w, n, key, "%s is out of range", YQ(q, s));
                        if (r < 0)
                                return yaml_fail(w, n, key, "expected a number, a size (512KiB, 4MiB, 1GiB) "
                                                 "or infinity, got %s", YQ(q, s));
                        break;
                case LIMIT_SECONDS:
                case LIMIT_USEC:
                        r = parse_duration(s, &v);
                        if (r == -ERANGE)
                                return yaml_fail(w, n, key, "%s is out of range", YQ(q, s));
                        if (r < 0)
                                return yaml_fail(w, n, key, "expected a number, a duration (30s, 5m, 2h) "
                                                 "or infinity, got %s", YQ(q, s));
                        if (limit_table[t].kind == LIMIT_SECONDS)
                                v /= USEC_PER_SEC;
                        else if (v == CONFIG_LIMIT_INFINITY)
                                return yaml_fail(w, n, key, "%s is out of range", YQ(q, s));
                        break;
                default:
                        return yaml_fail(w, n, key, "expected a number or infinity, got %s", YQ(q, s));
                }
        }
        if (limit_table[t].max > 0 && v > limit_table[t].max)
                return yaml_fail(w, n, key, "%s is out of range (at most %" PRIu64 ")", YQ(q, s),
                                 limit_table[t].max);
        *ret = v;
        return 0;
}

static int limit_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                     const YamlNode *v, void *userdata) {
        SessionConfig *c = userdata;
        size_t t;
        int r;

        (void) k;
        for (t = 0; t < ELEMENTSOF(limit_table); t++)
                if (streq(key, limit_table[t].name))
                        break;
        assert(t < ELEMENTSOF(limit_table)); /* yaml_walk_map() passes known keys only */
        r = parse_limit_value(w, v, path, t, &c->limits[limit_table[t].resource].value);
        if (r < 0)
                return r;
        c->limits[limit_table[t].resource].set = true;
        return 0;
}

static int parse_limits(YamlWalk *w, const YamlNode *v, SessionConfig *c) {
        const char *names[ELEMENTSOF(limit_table) + 1] = {};

        for (size_t t = 0; t < ELEMENTSOF(limit_table); t++)
                names[t] = limit_table[t].name;
        return yaml_walk_map(w, v, "limits", names, limit_key, c);
}

static int session_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                       const YamlNode *v, void *userdata) {
        SessionWalk *s = userdata;
        SessionConfig *c = s->c;
        int r;

        (void) path;
        if (streq(key, "description")) {
                _cleanup_free_ char *d = NULL;

                r = yaml_get_string(w, v, key, &d);
                if (r >= 0 && strlen(d) > DESCRIPTION_MAX)
                        return yaml_fail(w, v, key, "too long (at most %d bytes)", DESCRIPTION_MAX);
                if (r >= 0) {
                        free(c->description);
                        c->description = TAKE_PTR(d);
                }
                return r;
        }
        if (streq(key, "access")) {
                s->k_access = k;
                return parse_access(w, v, c);
        }
        if (streq(key, "observers")) {
                s->k_observers = k;
                return parse_observers(w, v, c);
        }
        if (streq(key, "run_as")) {
                const char *name;

                s->k_run_as = k;
                r = yaml_get_scalar(w, v, key, &name);
                if (r >= 0)
                        r = yaml_check_name(w, v, key, YAML_NAME_USER, name);
                if (r >= 0)
                        r = yaml_get_string(w, v, key, &c->run_as);
                return r;
        }
        if (streq(key, "share_with_access")) {
                s->k_share = k;
                r = yaml_get_bool(w, v, key, &c->share_with_access);
                if (r >= 0)
                        s->v_share = v;
                return r;
        }
        if (streq(key, "capabilities")) {
                s->k_caps = k;
                return parse_capabilities(w, v, c);
        }
        if (streq(key, "no_new_privileges")) {
                s->nnp_set = true;
                return yaml_get_bool(w, v, key, &c->no_new_privileges);
        }
        if (streq(key, "shell")) {
                s->k_shell = k;
                return yaml_get_path(w, v, key, &c->shell);
        }
        if (streq(key, "commands")) {
                s->k_commands = k;
                return parse_commands(w, v, c);
        }
        if (streq(key, "environment"))
                return yaml_walk_map(w, v, "environment", NULL, environment_key, c);
        if (streq(key, "working_directory"))
                return parse_working_directory(w, v, c);
        if (streq(key, "umask"))
                return parse_umask(w, v, c);
        if (streq(key, "idle_timeout")) {
                r = yaml_get_duration(w, v, key, false, CONFIG_TIMEOUT_MAX, &c->idle_timeout);
                if (r >= 0)
                        s->v_idle = v;
                return r;
        }
        if (streq(key, "max_idle_timeout")) {
                r = yaml_get_duration(w, v, key, false, CONFIG_TIMEOUT_MAX, &c->max_idle_timeout);
                s->max_idle_bad = r < 0;
                return r;
        }
        if (streq(key, "output_buffering"))
                return yaml_get_buffering(w, v, key, &c->output_buffering);
        if (streq(key, "output_buffer_size"))
                return parse_output_buffer_size(w, v, key, c);
        if (streq(key, "max_sessions"))
                return yaml_get_count(w, v, key, &c->max_sessions);
        if (streq(key, "max_sessions_per_user"))
                return yaml_get_count(w, v, key, &c->max_sessions_per_user);
        if (streq(key, "transcript"))
                return yaml_get_bool(w, v, key, &c->transcript);
        if (streq(key, "on_finish")) {
                const char *t;

                s->k_on_finish = k;
                r = yaml_get_command(w, v, key, CONFIG_HOOK_MAX, &t);
                if (r >= 0)
                        r = yaml_get_string(w, v, key, &c->on_finish);
                return r;
        }
        if (streq(key, "allow_on_finish")) {
                r = yaml_get_bool(w, v, key, &c->allow_on_finish);
                if (r >= 0)
                        s->v_allow_on_finish = v;
                return r;
        }
        if (streq(key, "terminal")) {
                const char *t;

                r = yaml_get_scalar(w, v, key, &t);
                if (r < 0)
                        return r;
                if (streq(t, "allow")) {
                        c->terminal = CONFIG_TERMINAL_ALLOW;
                        s->v_terminal = v;
                } else if (streq(t, "deny"))
                        c->terminal = CONFIG_TERMINAL_DENY;
                else if (streq(t, "default"))
                        c->terminal = CONFIG_TERMINAL_DEFAULT;
                else
                        return yaml_fail(w, v, key, "must be allow, deny or default");
                return 0;
        }
        if (streq(key, "scrollback")) {
                r = yaml_get_count(w, v, key, &c->scrollback);
                if (r >= 0 && c->scrollback > CONFIG_SCROLLBACK_MAX)
                        r = yaml_fail(w, v, key, "at most %u lines", CONFIG_SCROLLBACK_MAX);
                return r;
        }
        assert(streq(key, "limits"));
        return parse_limits(w, v, c);
}

/* Settings that only make sense together.  A key given with a refused
 * value counts as given, so that its own error is not followed by a
 * misleading one ("requires run_as" after "unknown user"). */
static int session_check_combinations(YamlWalk *w, const SessionWalk *s) {
        const SessionConfig *c = s->c;
        char b1[64], b2[64];
        int r = 0;

        if (s->k_shell && s->k_commands) {
                const YamlNode *later = s->k_commands->line > s->k_shell->line ||
                        (s->k_commands->line == s->k_shell->line && s->k_commands->column > s->k_shell->column) ?
                        s->k_commands : s->k_shell;

                r = yaml_fail(w, later, later->value, "shell and commands cannot both be set "
                              "(a configuration with commands has no shell)");
        }
        if (r != -ENOMEM && s->k_caps && !s->k_run_as)
                r = yaml_fail(w, s->k_caps, "capabilities", "requires run_as (sessions running as the caller "
                              "get no capabilities)");
        if (r != -ENOMEM && s->v_share && c->share_with_access && !s->k_run_as)
                r = yaml_fail(w, s->v_share, "share_with_access", "requires run_as");
        else if (r != -ENOMEM && s->v_share && c->share_with_access && !s->k_access)
                r = yaml_fail(w, s->v_share, "share_with_access", "requires an access list (it would share "
                              "sessions with everyone)");
        if (r != -ENOMEM && s->k_on_finish && s->k_commands)
                r = yaml_fail(w, s->k_on_finish, "on_finish", "requires a shell (a configuration with commands "
                              "runs no hooks)");
        else if (r != -ENOMEM && s->k_on_finish && s->v_allow_on_finish && !c->allow_on_finish)
                r = yaml_fail(w, s->k_on_finish, "on_finish", "cannot be set with allow_on_finish: false");
        if (r != -ENOMEM && s->k_observers && s->k_commands)
                r = yaml_fail(w, s->k_observers, "observers", "requires a shell (a configuration with commands "
                              "has no terminal sessions to watch)");
        if (r != -ENOMEM && s->v_allow_on_finish && c->allow_on_finish && s->k_commands)
                r = yaml_fail(w, s->v_allow_on_finish, "allow_on_finish", "cannot be true with commands "
                              "(a configuration with commands runs no hooks)");
        if (r != -ENOMEM && s->v_terminal && s->k_commands)
                r = yaml_fail(w, s->v_terminal, "terminal", "cannot be allow with commands (a terminal session "
                              "runs a shell)");
        if (r != -ENOMEM && s->v_idle && !s->max_idle_bad && c->idle_timeout > c->max_idle_timeout)
                r = yaml_fail(w, s->v_idle, "idle_timeout", "%s exceeds max_idle_timeout %s",
                              format_duration(b1, sizeof b1, c->idle_timeout),
                              format_duration(b2, sizeof b2, c->max_idle_timeout));
        return r;
}

static int session_parse_tree(YamlWalk *w, const YamlNode *root, SessionConfig *c) {
        SessionWalk s = { .c = c };
        int r = yaml_check_top(w, root);

        if (r < 0)
                return r;
        r = yaml_walk_map(w, root, NULL, session_keys, session_key, &s);
        if (r == -ENOMEM)
                return r;
        if (session_check_combinations(w, &s) == -ENOMEM)
                return -ENOMEM;
        if (w->n_errors > 0)
                return -EINVAL;

        /* Defaults that depend on other settings. */
        if (!s.v_idle)
                c->idle_timeout = MIN(c->idle_timeout, c->max_idle_timeout);
        if (!s.nnp_set)
                c->no_new_privileges = !!c->run_as;
        if (c->commands)
                c->allow_on_finish = false;     /* no shell: no hooks */
        if (!c->commands && !c->shell) {
                c->shell = strdup(CONFIG_DEFAULT_SHELL);
                if (!c->shell)
                        return -ENOMEM;
        }
        if (!c->working_directory) {
                c->working_directory = strdup(CONFIG_DEFAULT_WORKING_DIRECTORY);
                if (!c->working_directory)
                        return -ENOMEM;
        }
        return 0;
}

int config_session_parse(const char *data, size_t size, const char *file,
                         const ConfigLookup *lookup, SessionConfig **ret, char **ret_error) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_session_config_ SessionConfig *c = NULL;
        YamlWalk w = { .file = file, .lookup = lookup };
        int r;

        if (!data && size > 0)
                return -EINVAL;
        r = yaml_tree_build(&w, data ?: "", size, &root);
        if (r >= 0) {
                c = session_config_new();
                r = c ? session_parse_tree(&w, root, c) : -ENOMEM;
        }
        r = yaml_walk_finish(&w, r, ret_error);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(c);
        return 0;
}

int config_session_load_file(const char *path, const ConfigLookup *lookup,
                             SessionConfig **ret, char **ret_error) {
        _cleanup_session_config_ SessionConfig *c = NULL;
        _cleanup_free_ char *data = NULL, *name = NULL;
        size_t size;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = config_session_name_from_path(path, &name);
        if (r < 0) {
                if (r == -EINVAL && ret_error &&
                    asprintf(ret_error, "%s: invalid configuration file name (NAME.yaml, NAME of "
                             "1-%d letters, digits, '.', '_' or '-')", path, CONFIG_NAME_MAX) < 0)
                        *ret_error = NULL;
                return r;
        }
        r = yaml_read_file(path, &data, &size, ret_error);
        if (r < 0)
                return r;
        r = config_session_parse(data, size, path, lookup, &c, ret_error);
        if (r < 0)
                return r;
        c->name = TAKE_PTR(name);
        if (ret)
                *ret = TAKE_PTR(c);
        return 0;
}

/* ---------------------------------------------------------------- formatting */

/* A YAML double-quoted scalar that libyaml reads back byte for byte:
 * everything that YAML would not take literally (controls, line breaks
 * such as NEL, LS and PS, the BOM, non-characters) is escaped.  Invalid
 * UTF-8 (never produced by the parser) becomes U+FFFD. */
static void fput_quoted(FILE *f, const char *str) {
        const uint8_t *s = (const uint8_t *) str, *end = s + strlen(str);

        fputc('"', f);
        while (*s) {
                uint32_t c;
                size_t n = utf8_decode(s, (size_t) (end - s), &c);

                if (n == 0) {
                        fputs("\\uFFFD", f);
                        s++;
                        continue;
                }
                if (c == '"' || c == '\\') {
                        fputc('\\', f);
                        fputc((int) c, f);
                } else if (c == '\n')
                        fputs("\\n", f);
                else if (c == '\t')
                        fputs("\\t", f);
                else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
                        fprintf(f, "\\x%02X", (unsigned) c);
                else if (c == 0x2028 || c == 0x2029 || c == 0xfeff || c == 0xfffe || c == 0xffff)
                        fprintf(f, "\\u%04X", (unsigned) c);
                else
                        fwrite(s, 1, n, f);
                s += n;
        }
        fputc('"', f);
}

static void fput_list(FILE *f, const char *indent, const char *key, char * const *l) {
        fprintf(f, "%s%s: [", indent, key);
        for (size_t i = 0; l && l[i]; i++) {
                if (i > 0)
                        fputs(", ", f);
                fput_quoted(f, l[i]);
        }
        fputs("]\n", f);
}

int config_session_format(const SessionConfig *c, FILE *f) {
        char b[64];

        if (!c || !f)
                return -EINVAL;

        if (c->name)
                fprintf(f, "# Configuration %s\n", c->name);
        if (c->description) {
                fputs("description: ", f);
                fput_quoted(f, c->description);
                fputc('\n', f);
        }
        if (c->access_restricted) {
                fputs("access:\n", f);
                if (c->access_users)
                        fput_list(f, "  ", "users", c->access_users);
                if (c->access_groups)
                        fput_list(f, "  ", "groups", c->access_groups);
        }
        if (c->observer_users || c->observer_groups) {
                fputs("observers:\n", f);
                if (c->observer_users)
                        fput_list(f, "  ", "users", c->observer_users);
                if (c->observer_groups)
                        fput_list(f, "  ", "groups", c->observer_groups);
        }
        if (c->run_as) {
                fputs("run_as: ", f);
                fput_quoted(f, c->run_as);
                fputc('\n', f);
        }
        if (c->share_with_access)
                fputs("share_with_access: true\n", f);
        if (c->capabilities_set) {
                bool first = true;

                fputs("capabilities: [", f);
                for (size_t i = 0; i < ELEMENTSOF(capability_names); i++)
                        if (c->capabilities & (UINT64_C(1) << i)) {
                                fprintf(f, "%s%s", first ? "" : ", ", capability_names[i]);
                                first = false;
                        }
                fputs("]\n", f);
        }
        fprintf(f, "no_new_privileges: %s\n", c->no_new_privileges ? "true" : "false");
        if (c->shell) {
                fputs("shell: ", f);
                fput_quoted(f, c->shell);
                fputc('\n', f);
        }
        if (c->commands) {
                fputs("commands:\n", f);
                for (size_t i = 0; c->commands[i]; i++) {
                        fputs("  - ", f);
                        fput_quoted(f, c->commands[i]);
                        fputc('\n', f);
                }
        }
        if (c->environment) {
                fputs("environment:\n", f);
                for (size_t i = 0; c->environment[i]; i++) {
                        const char *e = c->environment[i], *eq = strchr(e, '=');

                        if (!eq)
                                continue;
                        fprintf(f, "  %.*s: ", (int) (eq - e), e);
                        fput_quoted(f, eq + 1);
                        fputc('\n', f);
                }
        }
        if (c->working_directory) {
                fputs("working_directory: ", f);
                fput_quoted(f, c->working_directory);
                fputc('\n', f);
        }
        if (c->umask_set)
                fprintf(f, "umask: \"%04o\"\n", (unsigned) c->umask);
        fprintf(f, "idle_timeout: %s\n", format_duration(b, sizeof b, c->idle_timeout));
        fprintf(f, "max_idle_timeout: %s\n", format_duration(b, sizeof b, c->max_idle_timeout));
        fprintf(f, "output_buffering: %s\n", c->output_buffering == BUFFERING_DROP ? "drop" : "block");
        fprintf(f, "output_buffer_size: %s\n", format_size(b, sizeof b, c->output_buffer_size));
        if (c->max_sessions > 0)
                fprintf(f, "max_sessions: %" PRIu32 "\n", c->max_sessions);
        if (c->max_sessions_per_user > 0)
                fprintf(f, "max_sessions_per_user: %" PRIu32 "\n", c->max_sessions_per_user);
        fprintf(f, "transcript: %s\n", c->transcript ? "true" : "false");
        if (c->on_finish) {
                fputs("on_finish: ", f);
                fput_quoted(f, c->on_finish);
                fputc('\n', f);
        }
        if (!c->commands)
                fprintf(f, "allow_on_finish: %s\n", c->allow_on_finish ? "true" : "false");
        fprintf(f, "terminal: %s\n", c->terminal == CONFIG_TERMINAL_ALLOW ? "allow" :
                c->terminal == CONFIG_TERMINAL_DENY ? "deny" : "default");
        if (config_terminal_allowed(c))
                fprintf(f, "scrollback: %" PRIu32 "\n", c->scrollback);

        bool any = false;
        for (size_t t = 0; t < ELEMENTSOF(limit_table); t++) {
                const ConfigLimit *l = &c->limits[limit_table[t].resource];

                if (!l->set)
                        continue;
                if (!any)
                        fputs("limits:\n", f);
                any = true;
                if (l->value == CONFIG_LIMIT_INFINITY)
                        fprintf(f, "  %s: infinity\n", limit_table[t].name);
                else if (limit_table[t].kind == LIMIT_BYTES)
                        fprintf(f, "  %s: %s\n", limit_table[t].name, format_size(b, sizeof b, l->value));
                else
                        fprintf(f, "  %s: %" PRIu64 "\n", limit_table[t].name, l->value);
        }

        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

bool config_session_equal(const SessionConfig *a, const SessionConfig *b) {
        if (a == b)
                return true;
        if (!a || !b)
                return false;
        if (!streq_ptr(a->name, b->name) ||
            !streq_ptr(a->description, b->description) ||
            a->access_restricted != b->access_restricted ||
            !strv_equal(a->access_users, b->access_users) ||
            !strv_equal(a->access_groups, b->access_groups) ||
            !strv_equal(a->observer_users, b->observer_users) ||
            !strv_equal(a->observer_groups, b->observer_groups) ||
            !streq_ptr(a->run_as, b->run_as) ||
            a->share_with_access != b->share_with_access ||
            a->capabilities_set != b->capabilities_set ||
            a->capabilities != b->capabilities ||
            a->no_new_privileges != b->no_new_privileges ||
            !streq_ptr(a->shell, b->shell) ||
            !strv_equal(a->commands, b->commands) ||
            !strv_equal(a->environment, b->environment) ||
            !streq_ptr(a->working_directory, b->working_directory) ||
            a->umask_set != b->umask_set ||
            (a->umask_set && a->umask != b->umask) ||
            a->idle_timeout != b->idle_timeout ||
            a->max_idle_timeout != b->max_idle_timeout ||
            a->output_buffering != b->output_buffering ||
            a->output_buffer_size != b->output_buffer_size ||
            a->max_sessions != b->max_sessions ||
            a->max_sessions_per_user != b->max_sessions_per_user ||
            a->transcript != b->transcript ||
            !streq_ptr(a->on_finish, b->on_finish) ||
            a->allow_on_finish != b->allow_on_finish ||
            a->terminal != b->terminal ||
            a->scrollback != b->scrollback)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(a->limits); i++)
                if (a->limits[i].set != b->limits[i].set ||
                    (a->limits[i].set && a->limits[i].value != b->limits[i].value))
                        return false;
        return true;
}
