/* SPDX-License-Identifier: ISC */
/*
 * The session host's root monitor: holds the PAM session of the session
 * identity (the RunAs user, else the owner; PAM_RUSER is the owner) for the
 * life of the session (pam_setcred, pam_open_session ... pam_close_session),
 * forks the worker, which executes a fresh dwell-host in worker mode
 * (worker-exec.h) and drops to the identity (privdrop.c), and waits for it.
 * Synchronous: one session, one PAM handle, one child.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "conn.h"
#include "macro.h"
#include "proto.h"

typedef struct HostLimit {
        bool set;
        rlim_t value;                   /* soft = hard; RLIM_INFINITY */
} HostLimit;

/* What dwelld's SPAWN message says about the session.  Keys added with
 * session configurations are optional here (an info file written by an
 * older dwelld lacks them); absent means what the session did before. */
typedef struct HostParams {
        uint32_t id;
        char *instance_id;
        char *name;
        char *host;
        char *user;                     /* the session identity: RunAs user, else the owner */
        uid_t uid;
        gid_t gid;
        char *home;                     /* the identity's */
        char *owner;                    /* the caller who created the session */
        uid_t owner_uid;
        char *run_as;                   /* the configuration's run_as, "" if none */
        char *shell;                    /* "" when commands is set */
        char **commands;                /* allowed programs (absolute); NULL: a shell session */
        char *configuration;

        /* Privileges of the worker and everything it starts. */
        bool caps_set;                  /* false: none for a user, everything for root */
        uint64_t caps;                  /* keep-list, bit n = capability n */
        bool no_new_privileges;

        /* Applied to the shell or each command, not to the monitor or worker. */
        char *working_directory;        /* absolute, "~" resolved */
        bool working_directory_lenient; /* "~": fall back to "/" like login(1) */
        bool umask_set;
        mode_t umask;
        HostLimit limits[RLIM_NLIMITS];
        char **env_override;            /* "NAME=VALUE", applied after PAM's */

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
        int monitor_fd;                 /* worker -> monitor: audit events, transcript data */
        bool transcript;
        char *transcript_dir;

        /* A terminal session (worker-term.c): the shell is a login shell on
         * a pty; TERM and the size are the creating client's. */
        bool terminal;
        char *term;                     /* "" if the client sent none */
        unsigned rows, cols;            /* 0 if not known */
        unsigned scrollback;            /* lines of scrollback the terminal keeps */
} HostParams;

int host_params_from_kv(const struct proto_kv *kv, HostParams *ret);
void host_params_done(HostParams *p);
/* "nofile" for RLIMIT_NOFILE, as in the SPAWN keys "limit.NAME". */
const char *host_limit_name(int resource);

/* Exit statuses of the monitor (and of a worker that could not start),
 * seen by dwelld. */
#define EXIT_PAM 200
#define EXIT_WORKER 201

/* Logs the message and sends it to dwelld as FAILED on c (best effort). */
void host_report_failure(Conn *c, int error, const char *fmt, ...) _printf_(3, 4);

/* Runs the session: returns the exit status for the monitor process.
 * spawn is dwelld's SPAWN message, kept in the session's info file so that
 * a restarted dwelld can re-adopt the session. */
int monitor_run(HostParams *p, const struct proto_kv *spawn, Conn *control);
