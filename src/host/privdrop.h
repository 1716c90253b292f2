/* SPDX-License-Identifier: ISC */
/*
 * Becoming the session identity for good, in the worker (forked by the root
 * monitor, which has already set the supplementary groups with initgroups,
 * and executed in worker mode: worker-exec.h).
 *
 *   identity not root, no keep-list: setresgid, setresuid; every capability
 *     set empty (permitted, effective, inheritable, ambient); the bounding
 *     set is left as for a login, so setuid programs (sudo) work unless
 *     no_new_privileges is set.
 *   identity not root, keep-list K: the bounding set reduced to K (while
 *     still root), PR_SET_KEEPCAPS across setresuid, then permitted =
 *     effective = inheritable = K and every capability of K raised in the
 *     ambient set, so that the shell and the programs it executes hold K.
 *   identity root, keep-list K (possibly empty): uid 0 stays, the bounding
 *     set is reduced to K and the securebits NOROOT, NO_SETUID_FIXUP and
 *     KEEP_CAPS are locked (NOROOT set: executing a program as uid 0 grants
 *     nothing beyond the ambient set), then P = E = I = A = K.
 *   identity root, no keep-list: full root (the configuration says so).
 *
 * Then no_new_privs if asked for, the process made non-dumpable, and all
 * of it verified: ids, setuid(0) failing (unless CAP_SETUID is kept), each
 * capability set, the bounding set, the securebits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "monitor.h"

typedef struct PrivSpec {
        uid_t uid;
        gid_t gid;
        bool caps_set;          /* false: no keep-list (see above) */
        uint64_t caps;          /* bit n = capability n */
        bool no_new_privileges;
} PrivSpec;

int privdrop(const PrivSpec *spec);

/* Resource limits.  limits_prepare() runs while still root: it raises the
 * hard limit of each configured resource whose value is above it (soft
 * limits untouched, so the worker itself is not bound by them);
 * limits_apply() then sets soft = hard = value in the process about to
 * execute the shell or a command, which needs no privilege.  Both return
 * the failing resource in *ret_resource. */
int limits_prepare(const HostLimit limits[], int *ret_resource);
int limits_apply(const HostLimit limits[], int *ret_resource);
