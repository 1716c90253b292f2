/* SPDX-License-Identifier: ISC */
/*
 * The YAML walker shared by the configuration schemas: the tree, typed
 * values, mappings with known keys, and error collection.  See
 * yaml-walk.h.
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

#include "parse-util.h"
#include "strv.h"
#include "yaml-walk.h"

#define TREE_DEPTH_MAX 32
#define USER_NAME_MAX 256

/* ---------------------------------------------------------------- validators */

/* Users and groups: what useradd and NSS back ends commonly accept, never
 * anything that could be confused with a number, an option or a path. */
bool yaml_user_group_name_valid(const char *s) {
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

bool yaml_env_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > YAML_ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
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
bool yaml_path_is_normalized(const char *p) {
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

bool yaml_all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* ---------------------------------------------------------------- errors */

int yaml_fail_at(YamlWalk *w, unsigned line, unsigned column, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        if (w->n_errors >= YAML_ERRORS_MAX) {
                /* Counted, not kept. */
                if (w->n_errors < UINT_MAX)
                        w->n_errors++;
                return -EINVAL;
        }
        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (asprintf(&w->errors[w->n_errors], "%s:%u:%u: %s%s%s", strempty(w->file), line, column,
                     strempty(key), key ? ": " : "", msg) < 0) {
                w->errors[w->n_errors] = NULL;
                return -ENOMEM;
        }
        w->n_errors++;
        return -EINVAL;
}

int yaml_walk_finish(YamlWalk *w, int r, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        unsigned kept = MIN(w->n_errors, (unsigned) YAML_ERRORS_MAX);

        if (r != -ENOMEM && w->n_errors > 0)
                r = -EINVAL;
        if (r == -EINVAL && w->n_errors == 0)
                r = -ENOMEM; /* an -EINVAL always has a message */
        if (r == -EINVAL) {
                size_t size = 1;
                char *p;

                for (unsigned i = 0; i < kept; i++)
                        size += strlen(w->errors[i]) + 1;
                if (w->n_errors > kept)
                        size += strlen(strempty(w->file)) + 64;
                text = p = malloc(size);
                if (!text)
                        r = -ENOMEM;
                else {
                        *p = 0;
                        for (unsigned i = 0; i < kept; i++) {
                                if (i > 0)
                                        *p++ = '\n';
                                p = stpcpy(p, w->errors[i]);
                        }
                        if (w->n_errors > kept)
                                snprintf(p, size - (size_t) (p - text), "\n%s: and %u more error%s",
                                         strempty(w->file), w->n_errors - kept,
                                         w->n_errors - kept == 1 ? "" : "s");
                }
        }
        for (unsigned i = 0; i < kept; i++)
                free(w->errors[i]);
        w->n_errors = 0;
        if (ret_error)
                *ret_error = TAKE_PTR(text);
        return r;
}

const char *yaml_quote(char *buf, size_t size, const char *s, size_t len) {
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

/* ---------------------------------------------------------------- the tree */

void yaml_node_free(YamlNode *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_items; i++)
                yaml_node_free(n->items[i]);
        free(n->items);
        free(n->value);
        free(n);
}

static int node_append(YamlNode *parent, YamlNode *child) {
        if (parent->n_items == parent->n_allocated) {
                size_t k = parent->n_allocated ? parent->n_allocated * 2 : 8;
                YamlNode **t = reallocarray(parent->items, k, sizeof(YamlNode *));

                if (!t)
                        return -ENOMEM;
                parent->items = t;
                parent->n_allocated = k;
        }
        parent->items[parent->n_items++] = child;
        child->parent = parent;
        return 0;
}

static int syntax_error(YamlWalk *w, yaml_parser_t *y, const char *data, size_t size) {
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
        return yaml_fail_at(w, line, column, "syntax error", "%s", y->problem ?: "invalid YAML");
}

int yaml_tree_build(YamlWalk *w, const char *data, size_t size, YamlNode **ret) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        yaml_parser_t y;
        YamlNode *cur = NULL;
        unsigned depth = 0, documents = 0;
        bool done = false;
        int r = 0;

        if (!yaml_parser_initialize(&y))
                return -ENOMEM;
        yaml_parser_set_input_string(&y, (const unsigned char *) data, size);
        yaml_parser_set_encoding(&y, YAML_UTF8_ENCODING);

        while (!done && r >= 0) {
                yaml_event_t ev;
                YamlNode *n = NULL;

                if (!yaml_parser_parse(&y, &ev)) {
                        r = syntax_error(w, &y, data, size);
                        break;
                }

                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1)
                                r = yaml_fail_at(w, (unsigned) ev.start_mark.line + 1,
                                                 (unsigned) ev.start_mark.column + 1, NULL,
                                                 "only one YAML document is allowed");
                        break;
                case YAML_SCALAR_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                case YAML_ALIAS_EVENT:
                        n = calloc(1, sizeof(YamlNode));
                        if (!n) {
                                r = -ENOMEM;
                                break;
                        }
                        n->line = (unsigned) ev.start_mark.line + 1;
                        n->column = (unsigned) ev.start_mark.column + 1;
                        if (ev.type == YAML_SCALAR_EVENT) {
                                n->kind = YAML_NODE_SCALAR;
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
                                n->kind = YAML_NODE_LIST;
                                n->anchor = !!ev.data.sequence_start.anchor;
                                n->tag = !!ev.data.sequence_start.tag;
                        } else if (ev.type == YAML_MAPPING_START_EVENT) {
                                n->kind = YAML_NODE_MAP;
                                n->anchor = !!ev.data.mapping_start.anchor;
                                n->tag = !!ev.data.mapping_start.tag;
                        } else
                                n->kind = YAML_NODE_ALIAS;

                        if (n->kind == YAML_NODE_SCALAR && !n->value)
                                r = -ENOMEM;
                        else if (cur)
                                r = node_append(cur, n);
                        else if (!root)
                                root = n;
                        else
                                r = yaml_fail(w, n, NULL, "unexpected node"); /* cannot happen: one root per document */
                        if (r < 0) {
                                yaml_node_free(n);
                                break;
                        }
                        if (n->kind == YAML_NODE_LIST || n->kind == YAML_NODE_MAP) {
                                if (++depth > TREE_DEPTH_MAX) {
                                        r = yaml_fail(w, n, NULL, "nesting too deep (more than %d levels)",
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

const char *yaml_kind_name(const YamlNode *n) {
        switch (n->kind) {
        case YAML_NODE_SCALAR:
                return n->plain && n->length == 0 ? "nothing" : "a scalar";
        case YAML_NODE_LIST:
                return "a list";
        case YAML_NODE_MAP:
                return "a mapping";
        default:
                return "an alias";
        }
}

/* Refuses what the schemas never use: anchors, aliases, explicit tags. */
static int node_check(YamlWalk *w, const YamlNode *n, const char *key) {
        if (n->kind == YAML_NODE_ALIAS || n->anchor)
                return yaml_fail(w, n, key, "anchors and aliases are not supported");
        if (n->tag)
                return yaml_fail(w, n, key, "tags are not supported");
        return 0;
}

int yaml_check_top(YamlWalk *w, const YamlNode *root) {
        if (!root || (root->kind == YAML_NODE_SCALAR && root->plain && root->length == 0 && !root->anchor &&
                      !root->tag))
                return yaml_fail_at(w, root ? root->line : 1, root ? root->column : 1, NULL,
                                    "empty file: expected a mapping of settings");
        if (root->kind != YAML_NODE_MAP || root->anchor || root->tag)
                return yaml_fail(w, root, NULL, "expected a mapping of settings at the top level, got %s",
                                 root->anchor || root->tag ? "an anchored or tagged node" : yaml_kind_name(root));
        return 0;
}

int yaml_get_scalar(YamlWalk *w, const YamlNode *n, const char *key, const char **ret) {
        int r = node_check(w, n, key);

        if (r < 0)
                return r;
        if (n->kind != YAML_NODE_SCALAR)
                return yaml_fail(w, n, key, "expected a value, got %s", yaml_kind_name(n));
        if (n->plain && n->length == 0)
                return yaml_fail(w, n, key, "missing value");
        if (strlen(n->value) != n->length)
                return yaml_fail(w, n, key, "contains a NUL character");
        *ret = n->value;
        return 0;
}

int yaml_get_string(YamlWalk *w, const YamlNode *n, const char *key, char **ret) {
        const char *s;
        char *t;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        t = strdup(s);
        if (!t)
                return -ENOMEM;
        free(*ret);
        *ret = t;
        return 0;
}

int yaml_get_command(YamlWalk *w, const YamlNode *n, const char *key, size_t max, const char **ret) {
        const char *s;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        if (!s[0] || strlen(s) > max)
                return yaml_fail(w, n, key, "must be a command of 1 to %zu bytes", max);
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return yaml_fail(w, n, key, "must be one line without control characters");
        *ret = s;
        return 0;
}

int yaml_get_bool(YamlWalk *w, const YamlNode *n, const char *key, bool *ret) {
        char q[YAML_QUOTE_MAX];
        const char *s;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        if (n->plain && (streq(s, "true") || streq(s, "True") || streq(s, "TRUE")))
                *ret = true;
        else if (n->plain && (streq(s, "false") || streq(s, "False") || streq(s, "FALSE")))
                *ret = false;
        else
                return yaml_fail(w, n, key, "expected true or false, got %s%s",
                                 n->plain ? "" : "the string ", YQ(q, s));
        return 0;
}

int yaml_get_count(YamlWalk *w, const YamlNode *n, const char *key, uint32_t *ret) {
        char q[YAML_QUOTE_MAX];
        const char *s;
        uint32_t v;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        if (!n->plain || !yaml_all_digits(s))
                return yaml_fail(w, n, key, "expected an integer, got %s%s",
                                 n->plain ? "" : "the string ", YQ(q, s));
        r = parse_uint32(s, &v);
        if (r < 0)
                return yaml_fail(w, n, key, "%s is out of range (at most %" PRIu32 ")", YQ(q, s), UINT32_MAX);
        if (v == 0)
                return yaml_fail(w, n, key, "must be at least 1 (omit the key for no limit)");
        *ret = v;
        return 0;
}

int yaml_get_duration(YamlWalk *w, const YamlNode *n, const char *key, bool allow_zero, uint64_t max,
                      uint64_t *ret) {
        char q[YAML_QUOTE_MAX], b[64];
        const char *s;
        uint64_t v;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        r = parse_duration(s, &v);
        if (r == -ERANGE || (r >= 0 && v > max))
                return yaml_fail(w, n, key, "%s is too long (at most %s)", YQ(q, s),
                                 format_duration(b, sizeof b, max));
        if (r < 0)
                return yaml_fail(w, n, key, "invalid duration %s (use a number of seconds or 30s, 5m, 2h, 1d, "
                                 "1h30m)", YQ(q, s));
        if (v == 0 && !allow_zero)
                return yaml_fail(w, n, key, "must be greater than 0");
        *ret = v;
        return 0;
}

int yaml_get_buffering(YamlWalk *w, const YamlNode *n, const char *key, Buffering *ret) {
        char q[YAML_QUOTE_MAX];
        const char *s;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        if (streq(s, "block"))
                *ret = BUFFERING_BLOCK;
        else if (streq(s, "drop"))
                *ret = BUFFERING_DROP;
        else
                return yaml_fail(w, n, key, "expected block or drop, got %s", YQ(q, s));
        return 0;
}

int yaml_get_path(YamlWalk *w, const YamlNode *n, const char *key, char **ret) {
        char q[YAML_QUOTE_MAX];
        const char *s;
        int r = yaml_get_scalar(w, n, key, &s);

        if (r < 0)
                return r;
        if (s[0] != '/')
                return yaml_fail(w, n, key, "%s is not an absolute path", YQ(q, s));
        if (!yaml_path_is_normalized(s))
                return yaml_fail(w, n, key, "%s is not a normalized path (no \"//\", \".\", \"..\" or "
                                 "trailing \"/\")", YQ(q, s));
        return yaml_get_string(w, n, key, ret);
}

int yaml_get_list(YamlWalk *w, const YamlNode *n, const char *key) {
        int r = node_check(w, n, key);

        if (r < 0)
                return r;
        if (n->kind != YAML_NODE_LIST)
                return yaml_fail(w, n, key, "expected a list, got %s", yaml_kind_name(n));
        if (n->n_items > CONFIG_LIST_MAX)
                return yaml_fail(w, n, key, "too many entries (at most %d)", CONFIG_LIST_MAX);
        return 0;
}

static int get_map(YamlWalk *w, const YamlNode *n, const char *key) {
        int r = node_check(w, n, key);

        if (r < 0)
                return r;
        if (n->kind != YAML_NODE_MAP)
                return yaml_fail(w, n, key, "expected a mapping, got %s", yaml_kind_name(n));
        if (n->n_items / 2 > CONFIG_LIST_MAX)
                return yaml_fail(w, n, key, "too many entries (at most %d)", CONFIG_LIST_MAX);
        return 0;
}

/* ---------------------------------------------------------------- users and groups */

int yaml_check_name(YamlWalk *w, const YamlNode *n, const char *key, YamlNameKind kind, const char *s) {
        const char *what = kind == YAML_NAME_USER ? "user" : "group";
        char q[YAML_QUOTE_MAX];
        int r;

        if (!yaml_user_group_name_valid(s))
                return yaml_fail(w, n, key, "invalid %s name %s", what, YQ(q, s));
        if (!w->lookup)
                return 0;
        if (kind == YAML_NAME_USER && w->lookup->user_exists)
                r = w->lookup->user_exists(s, w->lookup->userdata);
        else if (kind == YAML_NAME_GROUP && w->lookup->group_exists)
                r = w->lookup->group_exists(s, w->lookup->userdata);
        else
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return yaml_fail(w, n, key, "cannot look up %s %s: %s", what, YQ(q, s), strerror(-r));
        if (r == 0)
                return yaml_fail(w, n, key, "unknown %s %s", what, YQ(q, s));
        return 0;
}

int yaml_get_name_list(YamlWalk *w, const YamlNode *n, const char *key, YamlNameKind kind, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        char q[YAML_QUOTE_MAX];
        unsigned before = w->n_errors;
        int r = yaml_get_list(w, n, key);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n->n_items; i++) {
                const YamlNode *item = n->items[i];
                const char *s;
                bool twice = false;

                r = yaml_get_scalar(w, item, key, &s);
                if (r >= 0)
                        r = yaml_check_name(w, item, key, kind, s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                for (char **j = l; j && *j && !twice; j++)
                        twice = streq(*j, s);
                if (twice) {
                        r = yaml_fail(w, item, key, "%s listed twice", YQ(q, s));
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                r = strv_consume(&l, strdup(s));
                if (r < 0)
                        return r;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return w->n_errors > before ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- mappings */

/* Key i (an even index) of a mapping: a non-empty string, not seen before.
 * Writes the dotted key path for messages into path. */
static int map_key(YamlWalk *w, const YamlNode *map, size_t i, const char *parent,
                   char *path, size_t path_size, const char **ret) {
        const YamlNode *k = map->items[i];
        char q[YAML_QUOTE_MAX];
        int r;

        if (k->kind == YAML_NODE_SCALAR && strlen(k->value) == k->length && k->length > 0 &&
            k->length < YAML_QUOTE_MAX / 2 &&
            strspn(k->value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") == k->length)
                snprintf(path, path_size, "%s%s%s", strempty(parent), parent ? "." : "", k->value);
        else if (k->kind == YAML_NODE_SCALAR)
                snprintf(path, path_size, "%s%s%s", strempty(parent), parent ? "." : "",
                         yaml_quote(q, sizeof q, k->value, k->length));
        else
                snprintf(path, path_size, "%s", strempty(parent));

        r = node_check(w, k, path[0] ? path : NULL);
        if (r < 0)
                return r;
        if (k->kind != YAML_NODE_SCALAR)
                return yaml_fail(w, k, path[0] ? path : NULL, "keys must be strings, got %s", yaml_kind_name(k));
        if (k->length == 0)
                return yaml_fail(w, k, path, "empty key");
        if (strlen(k->value) != k->length)
                return yaml_fail(w, k, path, "key contains a NUL character");
        for (size_t j = 0; j < i; j += 2) {
                const YamlNode *o = map->items[j];

                if (o->kind == YAML_NODE_SCALAR && !o->anchor && !o->tag && streq(o->value, k->value))
                        return yaml_fail(w, k, path, "duplicate key (already given at line %u)", o->line);
        }
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

static int fail_unknown_key(YamlWalk *w, const YamlNode *k, const char *path, const char * const *known) {
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
                return yaml_fail(w, k, path, "unknown key (did you mean \"%s\"?)", best);
        return yaml_fail(w, k, path, "unknown key");
}

static bool known_key(const char * const *known, const char *key) {
        for (size_t i = 0; known[i]; i++)
                if (streq(known[i], key))
                        return true;
        return false;
}

int yaml_walk_map(YamlWalk *w, const YamlNode *map, const char *parent, const char * const *known,
                  YamlKeyFn fn, void *userdata) {
        unsigned before = w->n_errors;
        int r = get_map(w, map, parent);

        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < map->n_items; i += 2) {
                char path[YAML_KEY_PATH_MAX];
                const char *key = NULL;

                r = map_key(w, map, i, parent, path, sizeof path, &key);
                if (r >= 0) {
                        if (known && !known_key(known, key))
                                r = fail_unknown_key(w, map->items[i], path, known);
                        else
                                r = fn(w, key, path, map->items[i], map->items[i + 1], userdata);
                }
                if (r == -ENOMEM)
                        return r;
        }
        return w->n_errors > before ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- files */

int yaml_read_file(const char *path, char **ret, size_t *ret_size, char **ret_error) {
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
