/* SPDX-License-Identifier: ISC */
/*
 * Configuration files.  libyaml's event parser builds a small tree of our
 * own (scalars keep their text, style and position; anchors, aliases and
 * tags are recorded so that they can be refused with a position), then a
 * schema-driven walk checks every key and value and fills the structure.
 * Every node of an accepted file is visited by the walk, so nothing is
 * ignored silently.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "configuration.h"
#include "macro.h"
#include "parse-util.h"

#define TREE_DEPTH_MAX 32
#define ENV_NAME_MAX 128
#define USER_NAME_MAX 256
#define DESCRIPTION_MAX 4096

/* ---------------------------------------------------------------- string vectors */

static size_t strv_length(char * const *l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

static void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}

/* Takes ownership of s (also on failure). */
static int strv_consume(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **t;

        if (!s)
                return -ENOMEM;
        t = reallocarray(*l, n + 2, sizeof(char *));
        if (!t) {
                free(s);
                return -ENOMEM;
        }
        t[n] = s;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

static bool strv_equal(char * const *a, char * const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

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

/* Users and groups: what useradd and NSS back ends commonly accept, never
 * anything that could be confused with a number, an option or a path. */
static bool user_group_name_valid(const char *s) {
        size_t n = strlen(s);
        bool digits = true;

        if (n == 0 || n > USER_NAME_MAX || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!(c >= '0' && c <= '9'))
                        digits = false;
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || c == '@' || (c == '$' && i == n - 1)))
                        return false;
        }
        return !digits;
}

static bool env_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '_'))
                        return false;
        }
        return true;
}

/* Absolute, no empty, "." or ".." components, no trailing slash. */
static bool path_is_normalized(const char *p) {
        if (p[0] != '/' || strlen(p) >= PATH_MAX)
                return false;
        if (streq(p, "/"))
                return true;
        for (const char *s = p; *s;) {
                const char *e = strchrnul(s + 1, '/');
                size_t len = (size_t) (e - s - 1);

                if (len == 0)
                        return false;
                if ((len == 1 && s[1] == '.') || (len == 2 && s[1] == '.' && s[2] == '.'))
                        return false;
                s = e;
        }
        return true;
}

/* ---------------------------------------------------------------- the tree */

typedef enum NodeKind {
        NODE_SCALAR,
        NODE_LIST,
        NODE_MAP,
        NODE_ALIAS,
} NodeKind;

typedef struct Node Node;
struct Node {
        NodeKind kind;
        unsigned line, column;          /* 1-based */
        Node *parent;
        bool anchor, tag;
        /* scalars */
        char *value;                    /* NUL-terminated copy */
        size_t length;                  /* may contain NULs before this */
        bool plain;
        /* lists: items; maps: key, value, key, value, ... */
        Node **items;
        size_t n_items, n_allocated;
};

static void node_free(Node *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_items; i++)
                node_free(n->items[i]);
        free(n->items);
        free(n->value);
        free(n);
}

static void node_freep(Node **n) {
        node_free(*n);
}

static int node_append(Node *parent, Node *child) {
        if (parent->n_items == parent->n_allocated) {
                size_t k = parent->n_allocated ? parent->n_allocated * 2 : 8;
                Node **t = reallocarray(parent->items, k, sizeof(Node *));

                if (!t)
                        return -ENOMEM;
                parent->items = t;
                parent->n_allocated = k;
        }
        parent->items[parent->n_items++] = child;
        child->parent = parent;
        return 0;
}

typedef struct Parser {
        const char *file;
        const ConfigLookup *lookup;
        char *error;
} Parser;

_printf_(5, 6)
static int fail_at(Parser *p, unsigned line, unsigned column, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        if (p->error)
                return -EINVAL;
        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (asprintf(&p->error, "%s:%u:%u: %s%s%s", strempty(p->file), line, column,
                     strempty(key), key ? ": " : "", msg) < 0) {
                p->error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

#define fail(p, n, key, ...) fail_at((p), (n)->line, (n)->column, (key), __VA_ARGS__)

/* A user-supplied string made safe and short for a message, in quotes. */
static const char *quote(char *buf, size_t size, const char *s, size_t len) {
        size_t j = 0;

        buf[j++] = '"';
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (j + 8 >= size) {
                        j = MIN(j, size - 5);
                        memcpy(buf + j, "...", 3);
                        j += 3;
                        break;
                }
                if (c == '"' || c == '\\') {
                        buf[j++] = '\\';
                        buf[j++] = (char) c;
                } else if (c >= 0x20 && c < 0x7f)
                        buf[j++] = (char) c;
                else
                        j += (size_t) snprintf(buf + j, size - j, "\\x%02x", c);
        }
        buf[j++] = '"';
        buf[j] = 0;
        return buf;
}

#define QUOTE_MAX 80
#define Q(buf, s) quote((buf), sizeof(buf), (s), strlen(s))

static int syntax_error(Parser *p, yaml_parser_t *y, const char *data, size_t size) {
        unsigned line = (unsigned) y->problem_mark.line + 1, column = (unsigned) y->problem_mark.column + 1;

        if (y->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        if (y->error == YAML_READER_ERROR) {
                /* The reader reports a byte offset, not a mark. */
                size_t end = MIN(y->problem_offset, size);

                line = 1;
                column = 1;
                for (size_t i = 0; i < end; i++) {
                        if (data[i] == '\n') {
                                line++;
                                column = 1;
                        } else if (((unsigned char) data[i] & 0xc0) != 0x80)
                                column++;
                }
        }
        return fail_at(p, line, column, "syntax error", "%s", y->problem ?: "invalid YAML");
}

static int tree_build(Parser *p, const char *data, size_t size, Node **ret) {
        _cleanup_(node_freep) Node *root = NULL;
        yaml_parser_t y;
        Node *cur = NULL;
        unsigned depth = 0, documents = 0;
        bool done = false;
        int r = 0;

        if (!yaml_parser_initialize(&y))
                return -ENOMEM;
        yaml_parser_set_input_string(&y, (const unsigned char *) data, size);
        yaml_parser_set_encoding(&y, YAML_UTF8_ENCODING);

        while (!done && r >= 0) {
                yaml_event_t ev;
                Node *n = NULL;

                if (!yaml_parser_parse(&y, &ev)) {
                        r = syntax_error(p, &y, data, size);
                        break;
                }

                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1)
                                r = fail_at(p, (unsigned) ev.start_mark.line + 1,
                                            (unsigned) ev.start_mark.column + 1, NULL,
                                            "only one YAML document is allowed");
                        break;
                case YAML_SCALAR_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                case YAML_ALIAS_EVENT:
                        n = calloc(1, sizeof(Node));
                        if (!n) {
                                r = -ENOMEM;
                                break;
                        }
                        n->line = (unsigned) ev.start_mark.line + 1;
                        n->column = (unsigned) ev.start_mark.column + 1;
                        if (ev.type == YAML_SCALAR_EVENT) {
                                n->kind = NODE_SCALAR;
                                n->anchor = !!ev.data.scalar.anchor;
                                n->tag = !!ev.data.scalar.tag;
                                n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                                n->length = ev.data.scalar.length;
                                n->value = malloc(n->length + 1);
                                if (n->value) {
                                        memcpy(n->value, ev.data.scalar.value, n->length);
                                        n->value[n->length] = 0;
                                }
                        } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
                                n->kind = NODE_LIST;
                                n->anchor = !!ev.data.sequence_start.anchor;
                                n->tag = !!ev.data.sequence_start.tag;
                        } else if (ev.type == YAML_MAPPING_START_EVENT) {
                                n->kind = NODE_MAP;
                                n->anchor = !!ev.data.mapping_start.anchor;
                                n->tag = !!ev.data.mapping_start.tag;
                        } else
                                n->kind = NODE_ALIAS;

                        if (n->kind == NODE_SCALAR && !n->value)
                                r = -ENOMEM;
                        else if (cur)
                                r = node_append(cur, n);
                        else if (!root)
                                root = n;
                        else
                                r = fail(p, n, NULL, "unexpected node"); /* cannot happen: one root per document */
                        if (r < 0) {
                                node_free(n);
                                break;
                        }
                        if (n->kind == NODE_LIST || n->kind == NODE_MAP) {
                                if (++depth > TREE_DEPTH_MAX) {
                                        r = fail(p, n, NULL, "nesting too deep (more than %d levels)",
                                                 TREE_DEPTH_MAX);
                                        break;
                                }
                                cur = n;
                        }
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (cur) {
                                cur = cur->parent;
                                depth--;
                        }
                        break;
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&y);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(root);
        return 0;
}

/* ---------------------------------------------------------------- typed access */

static const char *kind_name(const Node *n) {
        switch (n->kind) {
        case NODE_SCALAR:
                return n->plain && n->length == 0 ? "nothing" : "a scalar";
        case NODE_LIST:
                return "a list";
        case NODE_MAP:
                return "a mapping";
        default:
                return "an alias";
        }
}

/* Refuses what the schema never uses: anchors, aliases, explicit tags. */
static int node_check(Parser *p, const Node *n, const char *key) {
        if (n->kind == NODE_ALIAS || n->anchor)
                return fail(p, n, key, "anchors and aliases are not supported");
        if (n->tag)
                return fail(p, n, key, "tags are not supported");
        return 0;
}

static int get_scalar(Parser *p, const Node *n, const char *key, const char **ret) {
        int r = node_check(p, n, key);

        if (r < 0)
                return r;
        if (n->kind != NODE_SCALAR)
                return fail(p, n, key, "expected a value, got %s", kind_name(n));
        if (n->plain && n->length == 0)
                return fail(p, n, key, "missing value");
        if (strlen(n->value) != n->length)
                return fail(p, n, key, "contains a NUL character");
        *ret = n->value;
        return 0;
}

static int get_string(Parser *p, const Node *n, const char *key, char **ret) {
        const char *s;
        char *t;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        t = strdup(s);
        if (!t)
                return -ENOMEM;
        free(*ret);
        *ret = t;
        return 0;
}

static int get_bool(Parser *p, const Node *n, const char *key, bool *ret) {
        char q[QUOTE_MAX];
        const char *s;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        if (n->plain && (streq(s, "true") || streq(s, "True") || streq(s, "TRUE")))
                *ret = true;
        else if (n->plain && (streq(s, "false") || streq(s, "False") || streq(s, "FALSE")))
                *ret = false;
        else
                return fail(p, n, key, "expected true or false, got %s%s",
                            n->plain ? "" : "the string ", Q(q, s));
        return 0;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* A positive integer (1..UINT32_MAX), unquoted. */
static int get_count(Parser *p, const Node *n, const char *key, uint32_t *ret) {
        char q[QUOTE_MAX];
        const char *s;
        uint32_t v;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        if (!n->plain || !all_digits(s))
                return fail(p, n, key, "expected an integer, got %s%s",
                            n->plain ? "" : "the string ", Q(q, s));
        r = parse_uint32(s, &v);
        if (r < 0)
                return fail(p, n, key, "%s is out of range (at most %" PRIu32 ")", Q(q, s), UINT32_MAX);
        if (v == 0)
                return fail(p, n, key, "must be at least 1 (omit the key for no limit)");
        *ret = v;
        return 0;
}

static int get_duration(Parser *p, const Node *n, const char *key, bool allow_zero, uint64_t max,
                        uint64_t *ret) {
        char q[QUOTE_MAX], b[64];
        const char *s;
        uint64_t v;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        r = parse_duration(s, &v);
        if (r == -ERANGE || (r >= 0 && v > max))
                return fail(p, n, key, "%s is too long (at most %s)", Q(q, s), format_duration(b, sizeof b, max));
        if (r < 0)
                return fail(p, n, key, "invalid duration %s (use a number of seconds or 30s, 5m, 2h, 1d, 1h30m)",
                            Q(q, s));
        if (v == 0 && !allow_zero)
                return fail(p, n, key, "must be greater than 0");
        *ret = v;
        return 0;
}

static int get_buffering(Parser *p, const Node *n, const char *key, Buffering *ret) {
        char q[QUOTE_MAX];
        const char *s;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        if (streq(s, "block"))
                *ret = BUFFERING_BLOCK;
        else if (streq(s, "drop"))
                *ret = BUFFERING_DROP;
        else
                return fail(p, n, key, "expected block or drop, got %s", Q(q, s));
        return 0;
}

static int get_path(Parser *p, const Node *n, const char *key, char **ret) {
        char q[QUOTE_MAX];
        const char *s;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        if (s[0] != '/')
                return fail(p, n, key, "%s is not an absolute path", Q(q, s));
        if (!path_is_normalized(s))
                return fail(p, n, key, "%s is not a normalized path (no \"//\", \".\", \"..\" or trailing \"/\")",
                            Q(q, s));
        return get_string(p, n, key, ret);
}

static int get_list(Parser *p, const Node *n, const char *key) {
        int r = node_check(p, n, key);

        if (r < 0)
                return r;
        if (n->kind != NODE_LIST)
                return fail(p, n, key, "expected a list, got %s", kind_name(n));
        if (n->n_items > CONFIG_LIST_MAX)
                return fail(p, n, key, "too many entries (at most %d)", CONFIG_LIST_MAX);
        return 0;
}

static int get_map(Parser *p, const Node *n, const char *key) {
        int r = node_check(p, n, key);

        if (r < 0)
                return r;
        if (n->kind != NODE_MAP)
                return fail(p, n, key, "expected a mapping, got %s", kind_name(n));
        if (n->n_items / 2 > CONFIG_LIST_MAX)
                return fail(p, n, key, "too many entries (at most %d)", CONFIG_LIST_MAX);
        return 0;
}

/* Key i (an even index) of a mapping: a non-empty string, not seen before.
 * Writes the dotted key path for messages into path. */
static int map_key(Parser *p, const Node *map, size_t i, const char *parent,
                   char *path, size_t path_size, const char **ret) {
        const Node *k = map->items[i];
        char q[QUOTE_MAX];
        int r;

        if (k->kind == NODE_SCALAR && strlen(k->value) == k->length && k->length > 0 &&
            k->length < QUOTE_MAX / 2 && strspn(k->value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                          "0123456789_-.") == k->length)
                snprintf(path, path_size, "%s%s%s", strempty(parent), parent ? "." : "", k->value);
        else if (k->kind == NODE_SCALAR)
                snprintf(path, path_size, "%s%s%s", strempty(parent), parent ? "." : "",
                         quote(q, sizeof q, k->value, k->length));
        else
                snprintf(path, path_size, "%s", strempty(parent));

        r = node_check(p, k, path[0] ? path : NULL);
        if (r < 0)
                return r;
        if (k->kind != NODE_SCALAR)
                return fail(p, k, path[0] ? path : NULL, "keys must be strings, got %s", kind_name(k));
        if (k->length == 0)
                return fail(p, k, path, "empty key");
        if (strlen(k->value) != k->length)
                return fail(p, k, path, "key contains a NUL character");
        for (size_t j = 0; j < i; j += 2)
                if (streq(map->items[j]->value, k->value))
                        return fail(p, k, path, "duplicate key (already given at line %u)",
                                    map->items[j]->line);
        *ret = k->value;
        return 0;
}

static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), prev[33], cur[33];

        if (la > 32 || lb > 32)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (tolower((unsigned char) a[i - 1]) !=
                                                    tolower((unsigned char) b[j - 1]));
                        cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), sub);
                }
                memcpy(prev, cur, sizeof(size_t) * (lb + 1));
        }
        return prev[lb];
}

static int fail_unknown_key(Parser *p, const Node *k, const char *path, const char * const *known) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (size_t i = 0; known[i]; i++) {
                size_t d = edit_distance(k->value, known[i]);

                if (d < best_d) {
                        best_d = d;
                        best = known[i];
                }
        }
        if (best && best_d <= 2)
                return fail(p, k, path, "unknown key (did you mean \"%s\"?)", best);
        return fail(p, k, path, "unknown key");
}

typedef enum NameKind {
        NAME_USER,
        NAME_GROUP,
} NameKind;

static int check_name(Parser *p, const Node *n, const char *key, NameKind kind, const char *s) {
        const char *what = kind == NAME_USER ? "user" : "group";
        char q[QUOTE_MAX];
        int r;

        if (!user_group_name_valid(s))
                return fail(p, n, key, "invalid %s name %s", what, Q(q, s));
        if (!p->lookup)
                return 0;
        if (kind == NAME_USER && p->lookup->user_exists)
                r = p->lookup->user_exists(s, p->lookup->userdata);
        else if (kind == NAME_GROUP && p->lookup->group_exists)
                r = p->lookup->group_exists(s, p->lookup->userdata);
        else
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(p, n, key, "cannot look up %s %s: %s", what, Q(q, s), strerror(-r));
        if (r == 0)
                return fail(p, n, key, "unknown %s %s", what, Q(q, s));
        return 0;
}

/* A list of user or group names; an empty list leaves *ret NULL. */
static int get_name_list(Parser *p, const Node *n, const char *key, NameKind kind, char ***ret) {
        char q[QUOTE_MAX];
        int r = get_list(p, n, key);

        if (r < 0)
                return r;
        strv_free(*ret);
        *ret = NULL;
        for (size_t i = 0; i < n->n_items; i++) {
                const Node *item = n->items[i];
                const char *s;

                r = get_scalar(p, item, key, &s);
                if (r < 0)
                        return r;
                r = check_name(p, item, key, kind, s);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(n->items[j]->value, s))
                                return fail(p, item, key, "%s listed twice", Q(q, s));
                r = strv_consume(ret, strdup(s));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_top(Parser *p, const Node *root) {
        if (!root || (root->kind == NODE_SCALAR && root->plain && root->length == 0 && !root->anchor &&
                      !root->tag))
                return fail_at(p, root ? root->line : 1, root ? root->column : 1, NULL,
                               "empty file: expected a mapping of settings");
        if (root->kind != NODE_MAP || root->anchor || root->tag)
                return fail(p, root, NULL, "expected a mapping of settings at the top level, got %s",
                            root->anchor || root->tag ? "an anchored or tagged node" : kind_name(root));
        return 0;
}

/* ---------------------------------------------------------------- session configurations */

static const char * const session_keys[] = {
        "description", "access", "run_as", "share_with_access", "capabilities",
        "no_new_privileges", "shell", "commands", "environment", "working_directory",
        "umask", "idle_timeout", "max_idle_timeout", "output_buffering", "output_buffer_size",
        "max_sessions", "max_sessions_per_user", "transcript", "limits", NULL,
};

static const char * const access_keys[] = { "users", "groups", NULL };

static void session_config_free(SessionConfig *c) {
        if (!c)
                return;
        free(c->name);
        free(c->description);
        strv_free(c->access_users);
        strv_free(c->access_groups);
        free(c->run_as);
        free(c->shell);
        strv_free(c->commands);
        strv_free(c->environment);
        free(c->working_directory);
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

static int parse_access(Parser *p, const Node *v, SessionConfig *c) {
        int r = get_map(p, v, "access");

        if (r < 0)
                return r;
        for (size_t i = 0; i < v->n_items; i += 2) {
                const Node *val = v->items[i + 1];
                char path[128];
                const char *key;

                r = map_key(p, v, i, "access", path, sizeof path, &key);
                if (r < 0)
                        return r;
                if (streq(key, "users"))
                        r = get_name_list(p, val, path, NAME_USER, &c->access_users);
                else if (streq(key, "groups"))
                        r = get_name_list(p, val, path, NAME_GROUP, &c->access_groups);
                else
                        r = fail_unknown_key(p, v->items[i], path, access_keys);
                if (r < 0)
                        return r;
        }
        if (!c->access_users && !c->access_groups)
                return fail(p, v, "access", "must list at least one user or group (omit the key to allow everyone)");
        c->access_restricted = true;
        return 0;
}

static int parse_capabilities(Parser *p, const Node *v, SessionConfig *c) {
        char q[QUOTE_MAX];
        int r = get_list(p, v, "capabilities");

        if (r < 0)
                return r;
        c->capabilities = 0;
        for (size_t i = 0; i < v->n_items; i++) {
                const Node *item = v->items[i];
                const char *s;
                int cap;

                r = get_scalar(p, item, "capabilities", &s);
                if (r < 0)
                        return r;
                cap = config_capability_from_string(s);
                if (cap < 0)
                        return fail(p, item, "capabilities", "unknown capability %s", Q(q, s));
                if (c->capabilities & (UINT64_C(1) << cap))
                        return fail(p, item, "capabilities", "%s listed twice", capability_names[cap]);
                c->capabilities |= UINT64_C(1) << cap;
        }
        c->capabilities_set = true;
        return 0;
}

static int parse_commands(Parser *p, const Node *v, SessionConfig *c) {
        char q[QUOTE_MAX];
        int r = get_list(p, v, "commands");

        if (r < 0)
                return r;
        if (v->n_items == 0)
                return fail(p, v, "commands", "must list at least one program (omit the key for a shell)");
        for (size_t i = 0; i < v->n_items; i++) {
                const Node *item = v->items[i];
                char *s = NULL;

                r = get_path(p, item, "commands", &s);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(c->commands[j], s)) {
                                r = fail(p, item, "commands", "%s listed twice", Q(q, s));
                                free(s);
                                return r;
                        }
                r = strv_consume(&c->commands, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_environment(Parser *p, const Node *v, SessionConfig *c) {
        char q[QUOTE_MAX];
        int r = get_map(p, v, "environment");

        if (r < 0)
                return r;
        for (size_t i = 0; i < v->n_items; i += 2) {
                char path[128];
                const char *key, *value;
                char *e;

                r = map_key(p, v, i, "environment", path, sizeof path, &key);
                if (r < 0)
                        return r;
                if (!env_name_valid(key))
                        return fail(p, v->items[i], path, "invalid variable name %s (letters, digits and _, "
                                    "not starting with a digit, at most %d)", Q(q, key), ENV_NAME_MAX);
                r = get_scalar(p, v->items[i + 1], path, &value);
                if (r < 0)
                        return r;
                if (asprintf(&e, "%s=%s", key, value) < 0)
                        return -ENOMEM;
                r = strv_consume(&c->environment, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_working_directory(Parser *p, const Node *v, SessionConfig *c) {
        char q[QUOTE_MAX];
        const char *s;
        int r = get_scalar(p, v, "working_directory", &s);

        if (r < 0)
                return r;
        if (!(streq(s, "~") || strncmp(s, "~/", 2) == 0 || s[0] == '/'))
                return fail(p, v, "working_directory", "%s is not an absolute path, \"~\" or \"~/...\"", Q(q, s));
        if (strlen(s) >= PATH_MAX)
                return fail(p, v, "working_directory", "path too long");
        return get_string(p, v, "working_directory", &c->working_directory);
}

static int parse_umask(Parser *p, const Node *v, SessionConfig *c) {
        char q[QUOTE_MAX];
        const char *s, *d;
        unsigned long m;
        int r = get_scalar(p, v, "umask", &s);

        if (r < 0)
                return r;
        d = strncmp(s, "0o", 2) == 0 ? s + 2 : s;
        if (*d == 0 || strlen(d) > 4 || strspn(d, "01234567") != strlen(d))
                return fail(p, v, "umask", "expected an octal mode such as \"0077\", got %s", Q(q, s));
        m = strtoul(d, NULL, 8);
        if (m > 0777)
                return fail(p, v, "umask", "%s is out of range (at most 0777)", Q(q, s));
        c->umask = (mode_t) m;
        c->umask_set = true;
        return 0;
}

static int parse_limit_value(Parser *p, const Node *n, const char *key, size_t t, uint64_t *ret) {
        char q[QUOTE_MAX];
        const char *s;
        uint64_t v;
        int r = get_scalar(p, n, key, &s);

        if (r < 0)
                return r;
        if (streq(s, "infinity") || streq(s, "unlimited")) {
                *ret = CONFIG_LIMIT_INFINITY;
                return 0;
        }
        if (all_digits(s)) {
                r = parse_size(s, &v);
                if (r < 0 || v == CONFIG_LIMIT_INFINITY)
                        return fail(p, n, key, "%s is out of range", Q(q, s));
        } else {
                switch (limit_table[t].kind) {
                case LIMIT_BYTES:
                        r = parse_size(s, &v);
                        if (r == -ERANGE || (r >= 0 && v == CONFIG_LIMIT_INFINITY))
                                return fail(p, n, key, "%s is out of range", Q(q, s));
                        if (r < 0)
                                return fail(p, n, key, "expected a number, a size (512KiB, 4MiB, 1GiB) "
                                            "or infinity, got %s", Q(q, s));
                        break;
                case LIMIT_SECONDS:
                case LIMIT_USEC:
                        r = parse_duration(s, &v);
                        if (r == -ERANGE)
                                return fail(p, n, key, "%s is out of range", Q(q, s));
                        if (r < 0)
                                return fail(p, n, key, "expected a number, a duration (30s, 5m, 2h) "
                                            "or infinity, got %s", Q(q, s));
                        if (limit_table[t].kind == LIMIT_SECONDS)
                                v /= USEC_PER_SEC;
                        else if (v == CONFIG_LIMIT_INFINITY)
                                return fail(p, n, key, "%s is out of range", Q(q, s));
                        break;
                default:
                        return fail(p, n, key, "expected a number or infinity, got %s", Q(q, s));
                }
        }
        if (limit_table[t].max > 0 && v > limit_table[t].max)
                return fail(p, n, key, "%s is out of range (at most %" PRIu64 ")", Q(q, s), limit_table[t].max);
        *ret = v;
        return 0;
}

static int parse_limits(Parser *p, const Node *v, SessionConfig *c) {
        const char *names[ELEMENTSOF(limit_table) + 1] = {};
        int r = get_map(p, v, "limits");

        if (r < 0)
                return r;
        for (size_t t = 0; t < ELEMENTSOF(limit_table); t++)
                names[t] = limit_table[t].name;

        for (size_t i = 0; i < v->n_items; i += 2) {
                char path[128];
                const char *key;
                size_t t;

                r = map_key(p, v, i, "limits", path, sizeof path, &key);
                if (r < 0)
                        return r;
                for (t = 0; t < ELEMENTSOF(limit_table); t++)
                        if (streq(key, limit_table[t].name))
                                break;
                if (t >= ELEMENTSOF(limit_table))
                        return fail_unknown_key(p, v->items[i], path, names);
                r = parse_limit_value(p, v->items[i + 1], path, t,
                                      &c->limits[limit_table[t].resource].value);
                if (r < 0)
                        return r;
                c->limits[limit_table[t].resource].set = true;
        }
        return 0;
}

static int session_parse_tree(Parser *p, const Node *root, SessionConfig *c) {
        const Node *k_share = NULL, *k_caps = NULL, *k_shell = NULL, *k_commands = NULL,
                *v_idle = NULL, *v_share = NULL;
        bool nnp_set = false;
        char q[QUOTE_MAX], b1[64], b2[64];
        int r = check_top(p, root);

        if (r < 0)
                return r;

        for (size_t i = 0; i < root->n_items; i += 2) {
                const Node *k = root->items[i], *v = root->items[i + 1];
                char path[128];
                const char *key;

                r = map_key(p, root, i, NULL, path, sizeof path, &key);
                if (r < 0)
                        return r;

                if (streq(key, "description")) {
                        r = get_string(p, v, key, &c->description);
                        if (r >= 0 && strlen(c->description) > DESCRIPTION_MAX)
                                r = fail(p, v, key, "too long (at most %d bytes)", DESCRIPTION_MAX);
                } else if (streq(key, "access"))
                        r = parse_access(p, v, c);
                else if (streq(key, "run_as")) {
                        const char *s;

                        r = get_scalar(p, v, key, &s);
                        if (r >= 0)
                                r = check_name(p, v, key, NAME_USER, s);
                        if (r >= 0)
                                r = get_string(p, v, key, &c->run_as);
                } else if (streq(key, "share_with_access")) {
                        r = get_bool(p, v, key, &c->share_with_access);
                        k_share = k;
                        v_share = v;
                } else if (streq(key, "capabilities")) {
                        r = parse_capabilities(p, v, c);
                        k_caps = k;
                } else if (streq(key, "no_new_privileges")) {
                        r = get_bool(p, v, key, &c->no_new_privileges);
                        nnp_set = true;
                } else if (streq(key, "shell")) {
                        r = get_path(p, v, key, &c->shell);
                        k_shell = k;
                } else if (streq(key, "commands")) {
                        r = parse_commands(p, v, c);
                        k_commands = k;
                } else if (streq(key, "environment"))
                        r = parse_environment(p, v, c);
                else if (streq(key, "working_directory"))
                        r = parse_working_directory(p, v, c);
                else if (streq(key, "umask"))
                        r = parse_umask(p, v, c);
                else if (streq(key, "idle_timeout")) {
                        r = get_duration(p, v, key, false, CONFIG_TIMEOUT_MAX, &c->idle_timeout);
                        v_idle = v;
                } else if (streq(key, "max_idle_timeout")) {
                        r = get_duration(p, v, key, false, CONFIG_TIMEOUT_MAX, &c->max_idle_timeout);
                } else if (streq(key, "output_buffering"))
                        r = get_buffering(p, v, key, &c->output_buffering);
                else if (streq(key, "output_buffer_size")) {
                        const char *s;

                        r = get_scalar(p, v, key, &s);
                        if (r >= 0) {
                                r = parse_size(s, &c->output_buffer_size);
                                if (r == -EINVAL)
                                        r = fail(p, v, key, "invalid size %s (use bytes or 512KiB, 4MiB, 1GiB)",
                                                 Q(q, s));
                                else if (r < 0 || c->output_buffer_size < CONFIG_BUFFER_SIZE_MIN ||
                                         c->output_buffer_size > CONFIG_BUFFER_SIZE_MAX)
                                        r = fail(p, v, key, "%s is out of range (%s to %s)", Q(q, s),
                                                 format_size(b1, sizeof b1, CONFIG_BUFFER_SIZE_MIN),
                                                 format_size(b2, sizeof b2, CONFIG_BUFFER_SIZE_MAX));
                        }
                } else if (streq(key, "max_sessions"))
                        r = get_count(p, v, key, &c->max_sessions);
                else if (streq(key, "max_sessions_per_user"))
                        r = get_count(p, v, key, &c->max_sessions_per_user);
                else if (streq(key, "transcript"))
                        r = get_bool(p, v, key, &c->transcript);
                else if (streq(key, "limits"))
                        r = parse_limits(p, v, c);
                else
                        r = fail_unknown_key(p, k, path, session_keys);
                if (r < 0)
                        return r;
        }

        /* Settings that only make sense together. */
        if (k_shell && k_commands) {
                const Node *later = k_commands->line > k_shell->line ||
                        (k_commands->line == k_shell->line && k_commands->column > k_shell->column) ?
                        k_commands : k_shell;

                return fail(p, later, later->value, "shell and commands cannot both be set "
                            "(a configuration with commands has no shell)");
        }
        if (k_caps && !c->run_as)
                return fail(p, k_caps, "capabilities", "requires run_as (sessions running as the caller "
                            "get no capabilities)");
        if (k_share && c->share_with_access && !c->run_as)
                return fail(p, v_share, "share_with_access", "requires run_as");
        if (k_share && c->share_with_access && !c->access_restricted)
                return fail(p, v_share, "share_with_access", "requires an access list (it would share "
                            "sessions with everyone)");
        if (v_idle && c->idle_timeout > c->max_idle_timeout)
                return fail(p, v_idle, "idle_timeout", "%s exceeds max_idle_timeout %s",
                            format_duration(b1, sizeof b1, c->idle_timeout),
                            format_duration(b2, sizeof b2, c->max_idle_timeout));

        /* Defaults that depend on other settings. */
        if (!v_idle)
                c->idle_timeout = MIN(c->idle_timeout, c->max_idle_timeout);
        if (!nnp_set)
                c->no_new_privileges = !!c->run_as;
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

static int finish(Parser *p, int r, char **ret_error) {
        if (r == -EINVAL && !p->error)
                r = -ENOMEM; /* an -EINVAL always has a message */
        if (ret_error)
                *ret_error = r == -EINVAL ? TAKE_PTR(p->error) : NULL;
        free(p->error);
        return r;
}

int config_session_parse(const char *data, size_t size, const char *file,
                         const ConfigLookup *lookup, SessionConfig **ret, char **ret_error) {
        _cleanup_(node_freep) Node *root = NULL;
        _cleanup_session_config_ SessionConfig *c = NULL;
        Parser p = { .file = file, .lookup = lookup };
        int r;

        if (!data && size > 0)
                return -EINVAL;
        r = tree_build(&p, data ?: "", size, &root);
        if (r >= 0) {
                c = session_config_new();
                r = c ? session_parse_tree(&p, root, c) : -ENOMEM;
        }
        r = finish(&p, r, ret_error);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(c);
        return 0;
}

/* ---------------------------------------------------------------- dwelld.yaml */

static const char * const daemon_keys[] = {
        "socket", "state_dir", "transcript_dir", "admin_groups", "heartbeat_interval",
        "max_sessions", "max_sessions_per_user", "auth_cache", "max_connections",
        "max_connections_per_user", "max_pending_per_user", "auth_prompt_timeout",
        "auth_failure_delay", "auth_failure_delay_max", "auth_lockout_failures",
        "auth_lockout_window", NULL,
};

void config_daemon_init(DaemonConfig *c) {
        *c = (DaemonConfig) {
                .heartbeat_interval = CONFIG_DEFAULT_HEARTBEAT_INTERVAL,
                .auth_cache = CONFIG_DEFAULT_AUTH_CACHE,
                .max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS,
                .max_connections_per_user = CONFIG_DEFAULT_MAX_CONNECTIONS_PER_USER,
                .max_pending_per_user = CONFIG_DEFAULT_MAX_PENDING_PER_USER,
                .auth_prompt_timeout = CONFIG_DEFAULT_AUTH_PROMPT_TIMEOUT,
                .auth_failure_delay = CONFIG_DEFAULT_AUTH_FAILURE_DELAY,
                .auth_failure_delay_max = CONFIG_DEFAULT_AUTH_FAILURE_DELAY_MAX,
                .auth_lockout_failures = CONFIG_DEFAULT_AUTH_LOCKOUT_FAILURES,
                .auth_lockout_window = CONFIG_DEFAULT_AUTH_LOCKOUT_WINDOW,
        };
}

void config_daemon_done(DaemonConfig *c) {
        if (!c)
                return;
        free(c->socket);
        free(c->state_dir);
        free(c->transcript_dir);
        strv_free(c->admin_groups);
        config_daemon_init(c);
}

static int daemon_parse_tree(Parser *p, const Node *root, DaemonConfig *c) {
        int r = check_top(p, root);

        if (r < 0)
                return r;
        for (size_t i = 0; i < root->n_items; i += 2) {
                const Node *k = root->items[i], *v = root->items[i + 1];
                char path[128];
                const char *key;

                r = map_key(p, root, i, NULL, path, sizeof path, &key);
                if (r < 0)
                        return r;
                if (streq(key, "socket"))
                        r = get_path(p, v, key, &c->socket);
                else if (streq(key, "state_dir"))
                        r = get_path(p, v, key, &c->state_dir);
                else if (streq(key, "transcript_dir"))
                        r = get_path(p, v, key, &c->transcript_dir);
                else if (streq(key, "admin_groups"))
                        r = get_name_list(p, v, key, NAME_GROUP, &c->admin_groups);
                else if (streq(key, "heartbeat_interval"))
                        r = get_duration(p, v, key, false, UINT64_C(3600) * USEC_PER_SEC, &c->heartbeat_interval);
                else if (streq(key, "max_sessions"))
                        r = get_count(p, v, key, &c->max_sessions);
                else if (streq(key, "max_sessions_per_user"))
                        r = get_count(p, v, key, &c->max_sessions_per_user);
                else if (streq(key, "auth_cache"))
                        r = get_duration(p, v, key, true, UINT64_C(3600) * USEC_PER_SEC, &c->auth_cache);
                else if (streq(key, "max_connections"))
                        r = get_count(p, v, key, &c->max_connections);
                else if (streq(key, "max_connections_per_user"))
                        r = get_count(p, v, key, &c->max_connections_per_user);
                else if (streq(key, "max_pending_per_user"))
                        r = get_count(p, v, key, &c->max_pending_per_user);
                else if (streq(key, "auth_prompt_timeout"))
                        r = get_duration(p, v, key, false, UINT64_C(600) * USEC_PER_SEC, &c->auth_prompt_timeout);
                else if (streq(key, "auth_failure_delay"))
                        r = get_duration(p, v, key, true, UINT64_C(3600) * USEC_PER_SEC, &c->auth_failure_delay);
                else if (streq(key, "auth_failure_delay_max"))
                        r = get_duration(p, v, key, true, UINT64_C(3600) * USEC_PER_SEC,
                                         &c->auth_failure_delay_max);
                else if (streq(key, "auth_lockout_failures"))
                        r = get_count(p, v, key, &c->auth_lockout_failures);
                else if (streq(key, "auth_lockout_window"))
                        r = get_duration(p, v, key, false, UINT64_C(7) * 86400 * USEC_PER_SEC,
                                         &c->auth_lockout_window);
                else
                        r = fail_unknown_key(p, k, path, daemon_keys);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_daemon_parse(const char *data, size_t size, const char *file,
                        const ConfigLookup *lookup, DaemonConfig *ret, char **ret_error) {
        _cleanup_(node_freep) Node *root = NULL;
        Parser p = { .file = file, .lookup = lookup };
        DaemonConfig c;
        int r;

        if (!ret || (!data && size > 0))
                return -EINVAL;
        config_daemon_init(&c);
        r = tree_build(&p, data ?: "", size, &root);
        if (r >= 0)
                r = daemon_parse_tree(&p, root, &c);
        r = finish(&p, r, ret_error);
        if (r < 0) {
                config_daemon_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

/* ---------------------------------------------------------------- options.yaml */

static const char * const user_option_keys[] = { "idle_timeout", "output_buffering", NULL };

static int user_options_parse_tree(Parser *p, const Node *root, UserOptions *o) {
        int r = check_top(p, root);

        if (r < 0)
                return r;
        for (size_t i = 0; i < root->n_items; i += 2) {
                const Node *k = root->items[i], *v = root->items[i + 1];
                char path[128];
                const char *key;

                r = map_key(p, root, i, NULL, path, sizeof path, &key);
                if (r < 0)
                        return r;
                if (streq(key, "idle_timeout"))
                        r = get_duration(p, v, key, false, CONFIG_TIMEOUT_MAX, &o->idle_timeout);
                else if (streq(key, "output_buffering"))
                        r = get_buffering(p, v, key, &o->output_buffering);
                else
                        r = fail_unknown_key(p, k, path, user_option_keys);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_user_options_parse(const char *data, size_t size, const char *file,
                              UserOptions *ret, char **ret_error) {
        _cleanup_(node_freep) Node *root = NULL;
        Parser p = { .file = file };
        UserOptions o = {};
        int r;

        if (!ret || (!data && size > 0))
                return -EINVAL;
        r = tree_build(&p, data ?: "", size, &root);
        if (r >= 0)
                r = user_options_parse_tree(&p, root, &o);
        r = finish(&p, r, ret_error);
        if (r < 0)
                return r;
        *ret = o;
        return 0;
}

/* ---------------------------------------------------------------- files */

static int read_file_limited(const char *path, char **ret, size_t *ret_size, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t have = 0;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                goto fail;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
                r = S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
                if (ret_error && asprintf(ret_error, "%s: not a regular file", path) < 0)
                        *ret_error = NULL;
                return r;
        }
        buf = malloc(CONFIG_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + have, CONFIG_FILE_MAX + 1 - have);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                have += (size_t) n;
                if (have > CONFIG_FILE_MAX) {
                        if (ret_error && asprintf(ret_error, "%s: file too large (more than %d bytes)",
                                                  path, CONFIG_FILE_MAX) < 0)
                                *ret_error = NULL;
                        return -EFBIG;
                }
        }
        *ret = TAKE_PTR(buf);
        *ret_size = have;
        return 0;

fail:
        if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
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
        r = read_file_limited(path, &data, &size, ret_error);
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

int config_daemon_load_file(const char *path, const ConfigLookup *lookup,
                            DaemonConfig *ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = read_file_limited(path, &data, &size, ret_error);
        if (r < 0)
                return r;
        return config_daemon_parse(data, size, path, lookup, ret, ret_error);
}

int config_user_options_load_file(const char *path, UserOptions *ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = read_file_limited(path, &data, &size, ret_error);
        if (r < 0)
                return r;
        return config_user_options_parse(data, size, path, ret, ret_error);
}

/* ---------------------------------------------------------------- formatting */

/* Decodes one UTF-8 sequence; returns its length, or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret) {
        uint32_t c;
        size_t n;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        } else if ((s[0] & 0xe0) == 0xc0) {
                c = s[0] & 0x1f;
                n = 2;
        } else if ((s[0] & 0xf0) == 0xe0) {
                c = s[0] & 0x0f;
                n = 3;
        } else if ((s[0] & 0xf8) == 0xf0) {
                c = s[0] & 0x07;
                n = 4;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
            c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret = c;
        return n;
}

/* A YAML double-quoted scalar that libyaml reads back byte for byte:
 * everything that YAML would not take literally (controls, line breaks
 * such as NEL, LS and PS, the BOM, non-characters) is escaped.  Invalid
 * UTF-8 (never produced by the parser) becomes U+FFFD. */
static void fput_quoted(FILE *f, const char *str) {
        const unsigned char *s = (const unsigned char *) str;

        fputc('"', f);
        while (*s) {
                uint32_t c;
                size_t n = utf8_decode(s, &c);

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
            a->transcript != b->transcript)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(a->limits); i++)
                if (a->limits[i].set != b->limits[i].set ||
                    (a->limits[i].set && a->limits[i].value != b->limits[i].value))
                        return false;
        return true;
}
