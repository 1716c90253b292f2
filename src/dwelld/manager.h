/* SPDX-License-Identifier: ISC */
/*
 * dwelld's state: the Manager owns the event loop, the listening socket,
 * the sessions (Session, session.c), the client connections being served
 * (Request, request.c) and the PAM account checks in flight (acct.c).
 *
 * dwelld runs as root and never blocks: it never calls PAM (dwell-auth and
 * the session host's monitor do), and every child it starts is watched with
 * sd_event_add_child.  (Its one wait is for the session spawner's answer
 * to FORK, a clone() away, as fork() itself would be.)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "configuration.h"
#include "conn.h"
#include "proto.h"

#define LIST_LINK(t) t *prev, *next
#define LIST_PREPEND(head, item)                        \
        do {                                            \
                (item)->prev = NULL;                    \
                (item)->next = (head);                  \
                if (head)                               \
                        (head)->prev = (item);          \
                (head) = (item);                        \
        } while (0)
#define LIST_REMOVE(head, item)                                 \
        do {                                                    \
                if ((item)->next)                               \
                        (item)->next->prev = (item)->prev;      \
                if ((item)->prev)                               \
                        (item)->prev->next = (item)->next;      \
                else                                            \
                        (head) = (item)->next;                  \
                (item)->prev = (item)->next = NULL;             \
        } while (0)

typedef struct Manager Manager;
typedef struct Session Session;
typedef struct Request Request;
typedef struct AcctCheck AcctCheck;
typedef struct AcctEntry AcctEntry;
typedef struct AuthConv AuthConv;
typedef struct AuthCaller AuthCaller;
typedef struct AuthFailure AuthFailure;
typedef struct Spawner Spawner;

struct Manager {
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_src;
        sd_event_source *listen_pause_src;      /* accept() ran out of fds: resume later */
        uint64_t accept_error_logged;
        struct rlimit nofile_saved;             /* RLIMIT_NOFILE at start, for children */

        char *socket_path;
        char *state_dir;
        char *config_dir;
        char *libexec_dir;
        char hostname[256];

        Spawner *spawner;               /* spawner.c: the pre-loaded dwell-host sessions are cloned from */
        Session *sessions;
        unsigned n_sessions;
        uint32_t last_id;
        bool ids_wrapped;               /* last_id went past 999999 once: ids may be in use above it */

        Request *requests;
        unsigned n_user_requests;       /* of them, those of callers other than root */
        bool stopping;                  /* manager_free() runs */
        unsigned refused;               /* connections refused since the last message about it */
        uint64_t refused_logged;
        AcctCheck *acct_checks;
        AcctEntry *acct_cache;
        AuthCaller *auth_callers;       /* --credential attempts and delays, per caller uid */
        AuthFailure *auth_failures;     /* failures per caller and target, for the lock-out */

        DaemonConfig daemon;            /* dwelld.yaml */
        SessionConfig **configs;        /* configurations.d, always with a "default" */
        size_t n_configs;

        uint32_t heartbeat_ms;
        uint64_t acct_cache_usec;
};

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
int manager_listen(Manager *m);
int manager_run(Manager *m);
/* Soft RLIMIT_NOFILE up to the hard limit; children get the old one back. */
void manager_raise_nofile(Manager *m);

/* Path of a helper program (dwell-host, dwell-auth) in libexec_dir. */
char *manager_helper_path(Manager *m, const char *name);
/* fork + exec a helper with fd3 as its fd 3; the child starts its own
 * session when new_session is set (session hosts outlive dwelld). */
int manager_spawn(Manager *m, const char *name, char *const argv[], int fd3, bool new_session, pid_t *ret_pid);
