/* SPDX-License-Identifier: ISC */
/*
 * The user's defaults file (~/.config/dwell/options.yaml), walked with
 * yaml-walk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configuration.h"
#include "macro.h"
#include "yaml-walk.h"

static const char * const user_option_keys[] = {
        "idle_timeout", "output_buffering", "on_finish", "reconnect_timeout", "detach_keys", NULL,
};

static int option_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                      const YamlNode *v, void *userdata) {
        UserOptions *o = userdata;

        (void) path;
        (void) k;
        if (streq(key, "idle_timeout"))
                return yaml_get_duration(w, v, key, false, CONFIG_TIMEOUT_MAX, &o->idle_timeout);
        if (streq(key, "reconnect_timeout")) {
                /* 0 disables reconnecting by itself. */
                o->reconnect_timeout_set = true;
                return yaml_get_duration(w, v, key, true, CONFIG_TIMEOUT_MAX, &o->reconnect_timeout);
        }
        if (streq(key, "on_finish")) {
                const char *t;
                int r = yaml_get_command(w, v, key, CONFIG_HOOK_MAX, &t);

                if (r >= 0)
                        snprintf(o->on_finish, sizeof o->on_finish, "%s", t);
                return r;
        }
        if (streq(key, "detach_keys")) {
                uint8_t keys[DETACH_KEYS_MAX];
                const char *t;
                int r = yaml_get_scalar(w, v, key, &t);

                if (r < 0)
                        return r;
                if (strlen(t) >= sizeof o->detach_keys || parse_detach_keys(t, keys) < 0)
                        return yaml_fail(w, v, key, "must be up to %d comma-separated keys, each ctrl-X or one "
                                         "character (e.g. ctrl-a,d)", DETACH_KEYS_MAX);
                snprintf(o->detach_keys, sizeof o->detach_keys, "%s", t);
                return 0;
        }
        /* yaml_walk_map() passes known keys only */
        return yaml_get_buffering(w, v, "output_buffering", &o->output_buffering);
}

int config_user_options_parse(const char *data, size_t size, const char *file,
                              UserOptions *ret, char **ret_error) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlWalk w = { .file = file };
        UserOptions o = {};
        int r;

        if (!ret || (!data && size > 0))
                return -EINVAL;
        r = yaml_tree_build(&w, data ?: "", size, &root);
        if (r >= 0)
                r = yaml_check_top(&w, root);
        if (r >= 0)
                r = yaml_walk_map(&w, root, NULL, user_option_keys, option_key, &o);
        r = yaml_walk_finish(&w, r, ret_error);
        if (r < 0)
                return r;
        *ret = o;
        return 0;
}

int config_user_options_load_file(const char *path, UserOptions *ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = yaml_read_file(path, &data, &size, ret_error);
        if (r < 0)
                return r;
        return config_user_options_parse(data, size, path, ret, ret_error);
}
