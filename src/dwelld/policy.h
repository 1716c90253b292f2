/* SPDX-License-Identifier: ISC */
/*
 * dwelld's policy: the session configurations and daemon settings loaded
 * from the configuration directory (reloaded on SIGHUP, keeping the last
 * good version of a file that no longer parses), and the decisions made
 * from them: who may use a configuration, who may see a session, who is an
 * administrator.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "configuration.h"
#include "manager.h"

/* Who is asking: the caller, or the user it authenticated as (--credential). */
typedef struct Caller {
        uid_t uid;
        gid_t gid;
        const char *user;
} Caller;

/* Loads dwelld.yaml and configurations.d/ (reload: keep what fails). */
int policy_load(Manager *m, bool reload);
void policy_free(Manager *m);
/* --check-config: parses everything in a configuration directory (or one
 * file: dwelld.yaml or a NAME.yaml), prints every error; <0 if any, or if
 * path does not exist. */
int policy_check(const char *path);

SessionConfig *policy_find(Manager *m, const char *name);
bool policy_may_use(const SessionConfig *c, const Caller *who);
bool policy_is_admin(Manager *m, const Caller *who);
/* Whether who is in a list of users and groups (NULL-terminated vectors). */
bool policy_listed(char **users, char **groups, const Caller *who);
