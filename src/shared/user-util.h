/* SPDX-License-Identifier: ISC */
/*
 * Look-ups of users and groups through NSS (getpwnam_r and friends),
 * returning owned copies.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef struct UserRecord {
        char *name;
        uid_t uid;
        gid_t gid;
        char *home;
        char *shell;
} UserRecord;

int user_by_uid(uid_t uid, UserRecord *ret);
int user_by_name(const char *name, UserRecord *ret);
void user_record_done(UserRecord *u);

/* Whether user (with primary group gid) is a member of the named group. */
int user_in_group(const char *user, gid_t gid, const char *group);
