/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

#define ROOT_SECUREBITS                                                         \
        (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |                                 \
         SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |               \
         SECBIT_KEEP_CAPS_LOCKED)

static bool has_cap(uint64_t set, int cap) {
        return cap < 64 && (set >> cap) & 1;
}

/* The highest capability number this kernel knows. */
static int cap_last(void) {
        int c = 0;

        while (c < 63 && prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0)
                c++;
        return c;
}

/* A cap_t with exactly set in permitted, effective and inheritable. */
static cap_t caps_make(uint64_t set, int last) {
        cap_t c = cap_init();

        if (!c)
                return NULL;
        for (int i = 0; i <= last; i++) {
                cap_value_t v = i;
                if (has_cap(set, i) &&
                    (cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
                     cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0 ||
                     cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET) < 0)) {
                        cap_free(c);
                        return NULL;
                }
        }
        return c;
}

static int bounding_reduce(uint64_t keep, int last) {
        for (int i = 0; i <= last; i++) {
                if (has_cap(keep, i) || prctl(PR_CAPBSET_READ, i, 0, 0, 0) == 0)
                        continue;
                if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0)
                        return log_error_errno(errno, "Failed to drop capability %d from the bounding set: %m", i);
        }
        return 0;
}

static int caps_set_all(uint64_t keep, int last) {
        cap_t c = caps_make(keep, last);
        int r;

        if (!c)
                return -ENOMEM;
        r = cap_set_proc(c);
        cap_free(c);
        if (r < 0)
                return log_error_errno(errno, "Failed to set the capability sets: %m");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && keep)
                return log_error_errno(errno, "Failed to clear the ambient capabilities: %m");
        for (int i = 0; i <= last; i++)
                if (has_cap(keep, i) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
                        return log_error_errno(errno, "Failed to raise capability %d in the ambient set: %m", i);
        return 0;
}

/* Every set is what it should be: P = E = I = A = keep, and the bounding
 * set is keep when it was reduced. */
static int caps_verify(uint64_t keep, bool bounding, int last) {
        cap_t now, want;
        int r = 0;

        now = cap_get_proc();
        want = caps_make(keep, last);
        if (!now || !want)
                r = -ENOMEM;
        else if (cap_compare(now, want) != 0)
                r = log_error_errno(EPERM, "The capability sets are not the keep-list");
        cap_free(now);
        cap_free(want);
        if (r < 0)
                return r;
        for (int i = 0; i <= last; i++) {
                int a = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, i, 0, 0);
                if (a < 0 ? keep != 0 : (a > 0) != has_cap(keep, i))
                        return log_error_errno(EPERM, "Ambient capability %d is %s", i, a > 0 ? "set" : "not set");
                if (bounding && (prctl(PR_CAPBSET_READ, i, 0, 0, 0) > 0) != has_cap(keep, i))
                        return log_error_errno(EPERM, "Bounding set capability %d is wrong", i);
        }
        return 0;
}

int privdrop(const PrivSpec *s) {
        bool keep_list = s->caps_set, root = s->uid == 0;
        uint64_t keep = keep_list ? s->caps : 0;
        int last = cap_last(), r;
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        if (last < 63 && keep >> (last + 1))
                return log_error_errno(EINVAL, "The keep-list names capabilities this kernel does not have (0x%llx)",
                                       (unsigned long long) keep);
        if (root && !keep_list)
                log_notice("The session runs as root with every capability (its configuration has no keep-list)");

        /* While still fully root: the bounding set (needs CAP_SETPCAP). */
        if (keep_list) {
                r = bounding_reduce(keep, last);
                if (r < 0)
                        return r;
        }
        if (root && keep_list && prctl(PR_SET_SECUREBITS, ROOT_SECUREBITS, 0, 0, 0) < 0)
                return log_error_errno(errno, "Failed to lock the securebits: %m");
        if (!root && keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "PR_SET_KEEPCAPS failed: %m");

        if (setresgid(s->gid, s->gid, s->gid) < 0)
                return log_error_errno(errno, "setresgid(%u) failed: %m", (unsigned) s->gid);
        if (setresuid(s->uid, s->uid, s->uid) < 0)
                return log_error_errno(errno, "setresuid(%u) failed: %m", (unsigned) s->uid);

        if (!root || keep_list) {
                /* From root to another uid without PR_SET_KEEPCAPS the kernel
                 * cleared permitted and effective; this sets all of them,
                 * inheritable and ambient included. */
                r = caps_set_all(keep, last);
                if (r < 0)
                        return r;
        }
        if (!root && keep && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return log_error_errno(errno, "Failed to clear PR_SET_KEEPCAPS: %m");
        if (s->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "Failed to set no_new_privs: %m");
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return log_error_errno(errno, "Failed to make the worker non-dumpable: %m");

        /* Verify. */
        if (getresuid(&ru, &eu, &su) < 0 || ru != s->uid || eu != s->uid || su != s->uid)
                return log_error_errno(EPERM, "uid change did not take effect");
        if (getresgid(&rg, &eg, &sg) < 0 || rg != s->gid || eg != s->gid || sg != s->gid)
                return log_error_errno(EPERM, "gid change did not take effect");
        if (!root && !has_cap(keep, CAP_SETUID) && (setuid(0) == 0 || seteuid(0) == 0))
                return log_error_errno(EPERM, "root privileges could be regained");
        if (!root || keep_list) {
                r = caps_verify(keep, keep_list, last);
                if (r < 0)
                        return log_error_errno(r, "Capabilities are not as configured after dropping privileges");
        }
        if (root && keep_list && prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) != ROOT_SECUREBITS)
                return log_error_errno(EPERM, "The securebits are not locked as they should be");
        if (s->no_new_privileges && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return log_error_errno(EPERM, "no_new_privs did not take effect");
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
                return log_error_errno(EPERM, "The worker is still dumpable");
        return 0;
}

int limits_prepare(const HostLimit limits[], int *ret_resource) {
        for (int i = 0; i < RLIM_NLIMITS; i++) {
                struct rlimit rl;

                if (!limits[i].set)
                        continue;
                if (getrlimit(i, &rl) < 0)
                        goto fail;
                if (rl.rlim_max != RLIM_INFINITY &&
                    (limits[i].value == RLIM_INFINITY || limits[i].value > rl.rlim_max)) {
                        rl.rlim_max = limits[i].value;
                        if (setrlimit(i, &rl) < 0)
                                goto fail;
                }
                continue;
        fail:
                *ret_resource = i;
                return -errno;
        }
        return 0;
}

int limits_apply(const HostLimit limits[], int *ret_resource) {
        for (int i = 0; i < RLIM_NLIMITS; i++) {
                struct rlimit rl = { limits[i].value, limits[i].value };

                if (limits[i].set && setrlimit(i, &rl) < 0) {
                        *ret_resource = i;
                        return -errno;
                }
        }
        return 0;
}
