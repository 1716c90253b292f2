/* SPDX-License-Identifier: ISC */
/*
 * The YAML walker shared by the three configuration schemas
 * (config-session.c, config-daemon.c, config-options.c).
 *
 * libyaml's event parser builds a small tree of our own (scalars keep
 * their text, style and position; anchors, aliases and tags are recorded
 * so that they can be refused with a position); the schemas then walk it
 * with the typed getters below, which check every value and record an
 * error with FILE:LINE:COLUMN for each one that is wrong.  A walk goes on
 * after an error, so that one run reports every error in a file (up to
 * YAML_ERRORS_MAX, then "and N more"); only -ENOMEM stops it.
 *
 * Conventions: getters return 0, -EINVAL after recording an error, or
 * -ENOMEM; they never write their result on failure.  yaml_walk_map()
 * checks that a node is a mapping, that every key is a unique non-empty
 * string and one of the known keys (else "unknown key", with a
 * suggestion), and hands each pair to the schema's callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "configuration.h"
#include "macro.h"

#define YAML_ERRORS_MAX 20              /* errors kept per file; the rest are counted */
#define YAML_KEY_PATH_MAX 128
#define YAML_QUOTE_MAX 80

typedef enum YamlNodeKind {
        YAML_NODE_SCALAR,
        YAML_NODE_LIST,
        YAML_NODE_MAP,
        YAML_NODE_ALIAS,
} YamlNodeKind;

typedef struct YamlNode YamlNode;
struct YamlNode {
        YamlNodeKind kind;
        unsigned line, column;          /* 1-based */
        YamlNode *parent;
        bool anchor, tag;
        /* scalars */
        char *value;                    /* NUL-terminated copy */
        size_t length;                  /* may contain NULs before this */
        bool plain;
        /* lists: items; maps: key, value, key, value, ... */
        YamlNode **items;
        size_t n_items, n_allocated;
};

typedef struct YamlWalk {
        const char *file;               /* for messages only */
        const ConfigLookup *lookup;     /* NULL: names are not looked up */
        char *errors[YAML_ERRORS_MAX];
        unsigned n_errors;              /* all errors, also those not kept */
} YamlWalk;

void yaml_node_free(YamlNode *n);
static inline void yaml_node_freep(YamlNode **n) {
        yaml_node_free(*n);
}

/* Records "FILE:LINE:COLUMN: KEY: MESSAGE" (no "KEY: " when key is NULL).
 * Returns -EINVAL, or -ENOMEM. */
_printf_(5, 6)
int yaml_fail_at(YamlWalk *w, unsigned line, unsigned column, const char *key, const char *fmt, ...);
#define yaml_fail(w, n, key, ...) yaml_fail_at((w), (n)->line, (n)->column, (key), __VA_ARGS__)

/* A user-supplied string made safe and short for a message, in quotes. */
const char *yaml_quote(char *buf, size_t size, const char *s, size_t len);
#define YQ(buf, s) yaml_quote((buf), sizeof(buf), (s), strlen(s))

/* Parses data into a tree (NULL for an empty document).  A syntax error is
 * recorded and ends the parse. */
int yaml_tree_build(YamlWalk *w, const char *data, size_t size, YamlNode **ret);

/* The top level: a mapping of settings. */
int yaml_check_top(YamlWalk *w, const YamlNode *root);

const char *yaml_kind_name(const YamlNode *n);

/* Typed values. */
int yaml_get_scalar(YamlWalk *w, const YamlNode *n, const char *key, const char **ret);
int yaml_get_string(YamlWalk *w, const YamlNode *n, const char *key, char **ret); /* replaces *ret */
/* A command line: 1..max bytes, no newline or other control character. */
int yaml_get_command(YamlWalk *w, const YamlNode *n, const char *key, size_t max, const char **ret);
int yaml_get_bool(YamlWalk *w, const YamlNode *n, const char *key, bool *ret);
int yaml_get_count(YamlWalk *w, const YamlNode *n, const char *key, uint32_t *ret); /* 1..UINT32_MAX */
int yaml_get_duration(YamlWalk *w, const YamlNode *n, const char *key, bool allow_zero, uint64_t max,
                      uint64_t *ret);
int yaml_get_buffering(YamlWalk *w, const YamlNode *n, const char *key, Buffering *ret);
int yaml_get_path(YamlWalk *w, const YamlNode *n, const char *key, char **ret); /* absolute, normalized */
int yaml_get_list(YamlWalk *w, const YamlNode *n, const char *key);   /* checks; items in n->items */

typedef enum YamlNameKind {
        YAML_NAME_USER,
        YAML_NAME_GROUP,
} YamlNameKind;

/* A user or group name, valid and (with a lookup) existing. */
int yaml_check_name(YamlWalk *w, const YamlNode *n, const char *key, YamlNameKind kind, const char *s);
/* A list of user or group names; an empty list leaves *ret NULL.  Every
 * valid entry is kept, every invalid one recorded. */
int yaml_get_name_list(YamlWalk *w, const YamlNode *n, const char *key, YamlNameKind kind, char ***ret);

/* Called for each pair of a mapping whose key is known.  key is the key's
 * text, path the dotted key for messages ("access.users"). */
typedef int (*YamlKeyFn)(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                         const YamlNode *v, void *userdata);

/* Walks a mapping: known is a NULL-terminated list of the keys accepted
 * (NULL: any key, checked by fn).  Returns 0 when the mapping and every
 * value were accepted, -EINVAL when an error was recorded in it, -ENOMEM. */
int yaml_walk_map(YamlWalk *w, const YamlNode *map, const char *parent, const char * const *known,
                  YamlKeyFn fn, void *userdata);

/* Ends a parse: r from the walk (-EINVAL whenever an error was recorded).
 * Hands out the recorded errors, one per line, as *ret_error (NULL unless
 * the result is -EINVAL) and frees the walker's state. */
int yaml_walk_finish(YamlWalk *w, int r, char **ret_error);

/* Reads PATH, at most CONFIG_FILE_MAX bytes.  Errors come with a message
 * "PATH: ..." in *ret_error. */
int yaml_read_file(const char *path, char **ret, size_t *ret_size, char **ret_error);

/* Validators. */
bool yaml_user_group_name_valid(const char *s);
bool yaml_env_name_valid(const char *s);
bool yaml_path_is_normalized(const char *p);
bool yaml_all_digits(const char *s);
#define YAML_ENV_NAME_MAX 128
