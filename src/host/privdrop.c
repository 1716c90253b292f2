/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

static int caps_verify_empty(void) {
        cap_t now, none;
        int r = 0;

        now = cap_get_proc();
        none = cap_init();
        if (!now || !none)
                r = -ENOMEM;
        else if (cap_compare(now, none) != 0)
                r = -EPERM;
        cap_free(now);
        cap_free(none);
        if (r >= 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SETUID, 0, 0) > 0)
                r = -EPERM;
        return r;
}

int privdrop(uid_t uid, gid_t gid) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg;
        cap_t none;
        int r;

        if (uid == 0)
                return -EPERM;  /* a session as root needs a RunAs configuration */

        if (setresgid(gid, gid, gid) < 0)
                return log_error_errno(errno, "setresgid(%u) failed: %m", (unsigned) gid);
        if (setresuid(uid, uid, uid) < 0)
                return log_error_errno(errno, "setresuid(%u) failed: %m", (unsigned) uid);

        /* From root without PR_SET_KEEPCAPS the kernel cleared permitted and
         * effective; clear inheritable and ambient explicitly too. */
        (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        none = cap_init();
        if (!none)
                return -ENOMEM;
        r = cap_set_proc(none);
        cap_free(none);
        if (r < 0)
                return log_error_errno(errno, "Failed to clear capabilities: %m");

        if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid)
                return log_error_errno(EPERM, "uid change did not take effect");
        if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
                return log_error_errno(EPERM, "gid change did not take effect");
        if (setuid(0) == 0 || seteuid(0) == 0)
                return log_error_errno(EPERM, "root privileges could be regained");
        r = caps_verify_empty();
        if (r < 0)
                return log_error_errno(r, "Capabilities remain after dropping privileges");
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return log_error_errno(errno, "Failed to make the worker non-dumpable: %m");
        return 0;
}
