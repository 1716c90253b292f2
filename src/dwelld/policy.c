/* SPDX-License-Identifier: ISC */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "policy.h"
#include "strv.h"
#include "user-util.h"

static int user_exists(const char *name, void *userdata) {
        UserRecord u = {};
        int r = user_by_name(name, &u);

        user_record_done(&u);
        return r >= 0 ? 1 : r == -ESRCH ? 0 : r;
}

static int group_exists(const char *name, void *userdata) {
        struct group gr, *res = NULL;
        char buf[16384];
        int r = getgrnam_r(name, &gr, buf, sizeof buf, &res);

        if (r != 0)
                return -r;
        return res ? 1 : 0;
}

static const ConfigLookup lookup = {
        .user_exists = user_exists,
        .group_exists = group_exists,
};

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The *.yaml file names in dir, sorted; NULL-terminated. */
static int list_yaml(const char *dir, char ***ret, size_t *ret_n) {
        struct dirent *de;
        char **v = NULL;
        size_t n = 0;
        DIR *d;

        d = opendir(dir);
        if (!d) {
                *ret = NULL;
                *ret_n = 0;
                return errno == ENOENT ? 0 : -errno;
        }
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                char **nv;

                if (de->d_name[0] == '.' || l <= 5 || !streq(de->d_name + l - 5, ".yaml"))
                        continue;
                nv = realloc(v, (n + 2) * sizeof(char *));
                if (!nv)
                        break;
                v = nv;
                if (asprintf(&v[n], "%s/%s", dir, de->d_name) < 0)
                        break;
                v[++n] = NULL;
        }
        closedir(d);
        if (n > 0)
                qsort(v, n, sizeof(char *), cmp_str);
        *ret = v;
        *ret_n = n;
        return 0;
}

static SessionConfig *find_in(SessionConfig **v, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i]->name, name))
                        return v[i];
        return NULL;
}

/* A rejected file: every error on its own log line, then one
 * config-rejected event whose reason carries them all (the parser keeps at
 * most 20, then "and N more") and whose message names the first. */
static void audit_config(AuditEvent e, const char *path, const char *error, const char *action) {
        AuditFields f = AUDIT_FIELDS_INIT;
        unsigned n = 0;

        f.file = path;
        f.reason = error;
        if (e == AUDIT_CONFIG_LOADED) {
                audit_log(e, LOG_INFO, &f, "Configuration loaded: %s", path);
                return;
        }
        for (const char *l = error; l && *l; n++) {
                const char *nl = strchrnul(l, '\n');

                log_warning("%.*s", (int) (nl - l), l);
                l = *nl ? nl + 1 : nl;
        }
        if (n > 1)
                audit_log(e, LOG_WARNING, &f, "Configuration rejected: %.*s (and %u more lines); %s",
                          (int) (strchr(error, '\n') - error), error, n - 1, action);
        else
                audit_log(e, LOG_WARNING, &f, "Configuration rejected: %s; %s", error ? error : path, action);
}

static void load_daemon(Manager *m, bool reload) {
        _cleanup_free_ char *path = NULL, *error = NULL;
        DaemonConfig d;
        int r;

        if (asprintf(&path, "%s/dwelld.yaml", m->config_dir) < 0)
                return;
        config_daemon_init(&d);
        r = config_daemon_load_file(path, &lookup, &d, &error);
        if (r == -ENOENT) {
                config_daemon_done(&m->daemon);
                m->daemon = d;
                return;
        }
        if (r < 0) {
                audit_config(AUDIT_CONFIG_REJECTED, path, error,
                             reload ? "keeping the previous settings" : "using the defaults");
                config_daemon_done(&d);
                return;
        }
        audit_config(AUDIT_CONFIG_LOADED, path, NULL, NULL);
        config_daemon_done(&m->daemon);
        m->daemon = d;
}

static void apply_daemon(Manager *m) {
        m->heartbeat_ms = (uint32_t) (m->daemon.heartbeat_interval / 1000);
        m->acct_cache_usec = m->daemon.auth_cache;
}

int policy_load(Manager *m, bool reload) {
        _cleanup_free_ char *dir = NULL;
        SessionConfig **v = NULL;
        char **files = NULL;
        size_t n_files = 0, n = 0;
        int r;

        load_daemon(m, reload);
        apply_daemon(m);

        if (asprintf(&dir, "%s/configurations.d", m->config_dir) < 0)
                return -ENOMEM;
        r = list_yaml(dir, &files, &n_files);
        if (r < 0)
                log_warning_errno(r, "Failed to read %s: %m", dir);

        v = calloc(n_files + 1, sizeof(SessionConfig *));
        if (!v) {
                strv_free(files);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_files; i++) {
                _cleanup_free_ char *error = NULL, *name = NULL;
                SessionConfig *c = NULL, *old;

                r = config_session_load_file(files[i], &lookup, &c, &error);
                if (r >= 0) {
                        audit_config(AUDIT_CONFIG_LOADED, files[i], NULL, NULL);
                        v[n++] = c;
                        continue;
                }
                (void) config_session_name_from_path(files[i], &name);
                old = reload && name ? find_in(m->configs, m->n_configs, name) : NULL;
                audit_config(AUDIT_CONFIG_REJECTED, files[i], error,
                             old ? "keeping its previous version" : "skipped");
                if (old)
                        v[n++] = config_session_ref(old);
        }
        strv_free(files);

        if (!find_in(v, n, "default")) {
                SessionConfig *c = config_session_new_default();
                if (c) {
                        free(c->name);
                        c->name = strdup("default");
                        v[n++] = c;
                }
        }
        policy_free(m);
        m->configs = v;
        m->n_configs = n;
        return 0;
}

void policy_free(Manager *m) {
        for (size_t i = 0; i < m->n_configs; i++)
                config_session_unref(m->configs[i]);
        free(m->configs);
        m->configs = NULL;
        m->n_configs = 0;
}

/* --check-config on one file: dwelld.yaml by its name, else a session
 * configuration (NAME.yaml). */
static int check_file(const char *path) {
        _cleanup_free_ char *error = NULL;
        const char *base = strrchr(path, '/');
        int r;

        base = base ? base + 1 : path;
        if (streq(base, "dwelld.yaml")) {
                DaemonConfig d;

                config_daemon_init(&d);
                r = config_daemon_load_file(path, &lookup, &d, &error);
                config_daemon_done(&d);
        } else
                r = config_session_load_file(path, &lookup, NULL, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error ? error : path);
                return r;
        }
        printf("%s: ok\n", path);
        return 0;
}

int policy_check(const char *dir) {
        _cleanup_free_ char *daemon = NULL, *sessions = NULL;
        char **files = NULL;
        size_t n = 0;
        int failed = 0, r;
        struct stat st;
        DaemonConfig d;

        /* A path that is not there is an error, not an empty configuration. */
        if (stat(dir, &st) < 0) {
                r = -errno;
                fprintf(stderr, "%s: %s\n", dir, strerror(-r));
                return r;
        }
        if (!S_ISDIR(st.st_mode))
                return check_file(dir);

        if (asprintf(&daemon, "%s/dwelld.yaml", dir) < 0 || asprintf(&sessions, "%s/configurations.d", dir) < 0)
                return -ENOMEM;
        config_daemon_init(&d);
        {
                _cleanup_free_ char *error = NULL;
                r = config_daemon_load_file(daemon, &lookup, &d, &error);
                if (r < 0 && r != -ENOENT) {
                        fprintf(stderr, "%s\n", error ? error : daemon);
                        failed++;
                } else if (r >= 0)
                        printf("%s: ok\n", daemon);
        }
        config_daemon_done(&d);

        r = list_yaml(sessions, &files, &n);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", sessions, strerror(-r));
                return r;
        }
        if (n == 0 && access(daemon, F_OK) < 0)
                fprintf(stderr, "%s: warning: neither dwelld.yaml nor configurations.d/*.yaml found\n", dir);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *error = NULL;
                SessionConfig *c = NULL;

                r = config_session_load_file(files[i], &lookup, &c, &error);
                if (r < 0) {
                        fprintf(stderr, "%s\n", error ? error : files[i]);
                        failed++;
                } else
                        printf("%s: ok\n", files[i]);
                config_session_unref(c);
        }
        strv_free(files);
        return failed ? -EINVAL : 0;
}

SessionConfig *policy_find(Manager *m, const char *name) {
        return find_in(m->configs, m->n_configs, name && *name ? name : "default");
}

bool policy_listed(char **users, char **groups, const Caller *who) {
        for (char **u = users; u && *u; u++)
                if (streq(*u, who->user))
                        return true;
        for (char **g = groups; g && *g; g++)
                if (user_in_group(who->user, who->gid, *g) > 0)
                        return true;
        return false;
}

bool policy_may_use(const SessionConfig *c, const Caller *who) {
        if (!c->access_restricted)
                return true;
        return policy_listed(c->access_users, c->access_groups, who);
}

bool policy_is_admin(Manager *m, const Caller *who) {
        if (who->uid == 0)
                return true;
        return policy_listed(NULL, m->daemon.admin_groups, who);
}
