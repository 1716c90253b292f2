/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "user-util.h"

static int fill(const struct passwd *pw, UserRecord *ret) {
        UserRecord u = {
                .uid = pw->pw_uid,
                .gid = pw->pw_gid,
                .name = strdup(pw->pw_name),
                .home = strdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/"),
                .shell = strdup(pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh"),
        };
        if (!u.name || !u.home || !u.shell) {
                user_record_done(&u);
                return -ENOMEM;
        }
        *ret = u;
        return 0;
}

static int lookup(const char *name, uid_t uid, UserRecord *ret) {
        struct passwd pw, *res = NULL;
        size_t n = 4096;

        for (;;) {
                _cleanup_free_ char *buf = malloc(n);
                int r;

                if (!buf)
                        return -ENOMEM;
                r = name ? getpwnam_r(name, &pw, buf, n, &res) : getpwuid_r(uid, &pw, buf, n, &res);
                if (r == ERANGE && n < 1024 * 1024) {
                        n *= 2;
                        continue;
                }
                if (r != 0)
                        return -r;
                if (!res)
                        return -ESRCH;
                return fill(res, ret);
        }
}

int user_by_uid(uid_t uid, UserRecord *ret) {
        return lookup(NULL, uid, ret);
}

int user_by_name(const char *name, UserRecord *ret) {
        if (!name || !*name)
                return -EINVAL;
        return lookup(name, 0, ret);
}

void user_record_done(UserRecord *u) {
        free(u->name);
        free(u->home);
        free(u->shell);
        *u = (UserRecord) {};
}

int user_in_group(const char *user, gid_t gid, const char *group) {
        struct group gr, *res = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ gid_t *groups = NULL;
        int n = 64;

        buf = malloc(16384);
        if (!buf)
                return -ENOMEM;
        if (getgrnam_r(group, &gr, buf, 16384, &res) != 0 || !res)
                return -ESRCH;
        for (;;) {
                int k = n;
                gid_t *g = realloc(groups, sizeof(gid_t) * n);
                if (!g)
                        return -ENOMEM;
                groups = g;
                if (getgrouplist(user, gid, groups, &k) >= 0) {
                        for (int i = 0; i < k; i++)
                                if (groups[i] == res->gr_gid)
                                        return 1;
                        return 0;
                }
                if (k <= n || k > 65536)
                        return -EIO;
                n = k;
        }
}
