/* SPDX-License-Identifier: ISC */
/*
 * The session host's root monitor: holds the PAM session for the life of
 * the session (pam_setcred, pam_open_session ... pam_close_session), forks
 * the unprivileged worker and waits for it.  Synchronous: one session, one
 * PAM handle, one child.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "proto.h"

/* What dwelld's SPAWN message says about the session. */
typedef struct HostParams {
        uint32_t id;
        char *instance_id;
        char *name;
        char *host;
        char *user;
        uid_t uid;
        gid_t gid;
        char *home;
        char *shell;
        char *configuration;
        char *origin;
        uint64_t idle_timeout;          /* usec */
        uint8_t buffering;
        uint64_t buffer_size;
        bool temporary;
        uint64_t created;               /* realtime usec */
        uint32_t heartbeat_ms;
        char *state_dir;
        char **env;                     /* the shell's environment, built by the monitor */
        int listen_fd;                  /* root-only socket dwelld (re)connects to */
} HostParams;

int host_params_from_kv(const struct proto_kv *kv, HostParams *ret);
void host_params_done(HostParams *p);

/* Runs the session: returns the exit status for the monitor process.
 * spawn is dwelld's SPAWN message, kept in the session's info file so that
 * a restarted dwelld can re-adopt the session. */
int monitor_run(HostParams *p, const struct proto_kv *spawn, Conn *control);
