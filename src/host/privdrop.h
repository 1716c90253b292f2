/* SPDX-License-Identifier: ISC */
/*
 * Dropping root for good: the caller has already set the supplementary
 * groups (initgroups in the monitor).  setresgid, setresuid, then verify
 * that nothing can be regained: real/effective/saved ids, setuid(0) fails,
 * every capability set (permitted, effective, inheritable, ambient) is
 * empty, and the process is not dumpable.
 */
#pragma once

#include <sys/types.h>

int privdrop(uid_t uid, gid_t gid);
