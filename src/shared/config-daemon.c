/* SPDX-License-Identifier: ISC */
/*
 * The daemon settings file (dwelld.yaml), walked with yaml-walk.  Every
 * key is optional.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "configuration.h"
#include "macro.h"
#include "strv.h"
#include "yaml-walk.h"

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

#define HOUR (UINT64_C(3600) * USEC_PER_SEC)

static int daemon_key(YamlWalk *w, const char *key, const char *path, const YamlNode *k,
                      const YamlNode *v, void *userdata) {
        DaemonConfig *c = userdata;

        (void) path;
        (void) k;
        if (streq(key, "socket"))
                return yaml_get_path(w, v, key, &c->socket);
        if (streq(key, "state_dir"))
                return yaml_get_path(w, v, key, &c->state_dir);
        if (streq(key, "transcript_dir"))
                return yaml_get_path(w, v, key, &c->transcript_dir);
        if (streq(key, "admin_groups"))
                return yaml_get_name_list(w, v, key, YAML_NAME_GROUP, &c->admin_groups);
        if (streq(key, "heartbeat_interval"))
                return yaml_get_duration(w, v, key, false, HOUR, &c->heartbeat_interval);
        if (streq(key, "max_sessions"))
                return yaml_get_count(w, v, key, &c->max_sessions);
        if (streq(key, "max_sessions_per_user"))
                return yaml_get_count(w, v, key, &c->max_sessions_per_user);
        if (streq(key, "auth_cache"))
                return yaml_get_duration(w, v, key, true, HOUR, &c->auth_cache);
        if (streq(key, "max_connections"))
                return yaml_get_count(w, v, key, &c->max_connections);
        if (streq(key, "max_connections_per_user"))
                return yaml_get_count(w, v, key, &c->max_connections_per_user);
        if (streq(key, "max_pending_per_user"))
                return yaml_get_count(w, v, key, &c->max_pending_per_user);
        if (streq(key, "auth_prompt_timeout"))
                return yaml_get_duration(w, v, key, false, UINT64_C(600) * USEC_PER_SEC, &c->auth_prompt_timeout);
        if (streq(key, "auth_failure_delay"))
                return yaml_get_duration(w, v, key, true, HOUR, &c->auth_failure_delay);
        if (streq(key, "auth_failure_delay_max"))
                return yaml_get_duration(w, v, key, true, HOUR, &c->auth_failure_delay_max);
        if (streq(key, "auth_lockout_failures"))
                return yaml_get_count(w, v, key, &c->auth_lockout_failures);
        /* yaml_walk_map() passes known keys only */
        return yaml_get_duration(w, v, "auth_lockout_window", false, 7 * 24 * HOUR, &c->auth_lockout_window);
}

int config_daemon_parse(const char *data, size_t size, const char *file,
                        const ConfigLookup *lookup, DaemonConfig *ret, char **ret_error) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlWalk w = { .file = file, .lookup = lookup };
        DaemonConfig c;
        int r;

        if (!ret || (!data && size > 0))
                return -EINVAL;
        config_daemon_init(&c);
        r = yaml_tree_build(&w, data ?: "", size, &root);
        if (r >= 0)
                r = yaml_check_top(&w, root);
        if (r >= 0)
                r = yaml_walk_map(&w, root, NULL, daemon_keys, daemon_key, &c);
        r = yaml_walk_finish(&w, r, ret_error);
        if (r < 0) {
                config_daemon_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

int config_daemon_load_file(const char *path, const ConfigLookup *lookup,
                            DaemonConfig *ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = yaml_read_file(path, &data, &size, ret_error);
        if (r < 0)
                return r;
        return config_daemon_parse(data, size, path, lookup, ret, ret_error);
}
