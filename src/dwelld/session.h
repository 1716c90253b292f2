/* SPDX-License-Identifier: ISC */
/*
 * Session, as dwelld sees it: identity and ownership, the session host it
 * started (monitor pid, control connection to the worker), and the last
 * status the worker reported (connected client, buffer use, running
 * command), from which `dwell list` is answered without asking the hosts.
 */
#pragma once

#include "audit.h"
#include "manager.h"
#include "policy.h"
#include "user-util.h"

typedef enum SessionPhase {
        PHASE_STARTING,         /* host spawned, waiting for READY */
        PHASE_READY,
        PHASE_ENDING,           /* TERMINATE sent, waiting for the monitor to exit */
        PHASE_BROKEN,           /* host died unexpectedly; kept for inspection */
} SessionPhase;

struct Session {
        Manager *manager;
        LIST_LINK(Session);
        uid_t owner_uid;                /* next to next and info's id, state, name: what table scans read */

        struct proto_session info;      /* as reported by the worker */
        SessionConfig *config;          /* captured at creation; NULL if adopted */
        uint64_t max_idle_timeout;      /* of that configuration (kept across re-adoption) */

        /* Sharing (a RunAs configuration with share_with_access): these
         * users and groups may see and reconnect to the session. */
        bool share;
        char **share_users;
        char **share_groups;

        /* The configuration's observers: these users and groups may watch
         * (read-only) the session's terminal. */
        char **observer_users;
        char **observer_groups;

        SessionPhase phase;
        char *broken_reason;
        bool remove_when_ready;
        bool removed;                   /* remove requested: no longer listed or found, its files go */
        bool start_failed;              /* the host reported FAILED: going, not listed */
        char *removed_by;
        pid_t monitor_pid;
        pid_t worker_pid;
        pid_t shell_pid;
        sd_event_source *child_src;      /* hosts we started */
        sd_event_source *pidfd_src;      /* hosts adopted after a restart */
        bool adopted;
        char *info_path;                /* STATE_DIR/sessions/INSTANCE.info, written by the monitor */
        char *sock_path;                /* ... .sock, where the worker listens */
        char *removed_path;             /* ... .removed, dwelld's record of a removal under way */
        sd_event_source *kill_src;
        Conn host;
        sd_event_source *host_src;
};

typedef struct SessionParams {
        const char *name;               /* NULL: SessionN */
        SessionConfig *config;
        const UserRecord *owner;        /* the caller (or the user it authenticated as) */
        const UserRecord *identity;     /* whom the shell runs as: owner, or the RunAs user */
        uint64_t idle_timeout;          /* usec */
        uint8_t buffering;
        bool temporary;
        const char *origin;
        bool terminal;                  /* a terminal session (new -t, connect -t) */
        const char *term;               /* the creating client's TERM ("" = none) */
        uint16_t rows, cols;            /* ... its window size (0 = not known) */
} SessionParams;

int session_create(Manager *m, const SessionParams *p, Session **ret);
Session *session_free(Session *s);
/* Finds the session hosts a previous dwelld started (STATE_DIR/sessions)
 * and re-adopts them, or lists them Broken if their host died. */
int session_adopt_all(Manager *m);

/* Resolves SESSION (a name or an Id) among the sessions the caller may act
 * on: those it may see, or every session with all = true (root and
 * administrators removing).  An Id is exact.  A name is the caller's own
 * session of that name if it has one, else the one session of that name.
 * Returns 0 and *ret; -ENOENT if nothing matches; -ENOTUNIQ if several
 * sessions of other owners match (session_ambiguity() says which). */
int session_lookup(Manager *m, const Caller *who, const char *name, bool all, Session **ret);
/* The same among the sessions who may watch: those it may see, those
 * whose configuration lists it among the observers, and with admin every
 * session (root and administrators). */
int session_lookup_watch(Manager *m, const Caller *who, const char *name, bool admin, Session **ret);
bool session_may_watch(const Session *s, const Caller *who, bool admin);
/* "'NAME' matches sessions 2 (alice) and 21 (bob); use the Id" for a
 * lookup that gave -ENOTUNIQ. */
char *session_ambiguity(Manager *m, const Caller *who, const char *name, bool all);
char *session_ambiguity_watch(Manager *m, const Caller *who, const char *name, bool admin);
/* Any session of that name or Id, whoever owns it (to audit a denial). */
Session *session_find_any(Manager *m, const char *name);
/* The caller's own session of that name (names are unique per owner). */
Session *session_find_own(Manager *m, uid_t owner, const char *name);
/* Listed and found at all: not removed, not ended. */
bool session_listed(const Session *s);
bool session_visible(const Session *s, const Caller *who);
/* Live sessions of configuration config, of it owned by owner, and of
 * owner in all (one pass over the table). */
typedef struct SessionCounts {
        unsigned config;
        unsigned config_owner;
        unsigned owner;
} SessionCounts;
void session_count(Manager *m, const char *config, uid_t owner, SessionCounts *ret);

/* Removes the session, whatever its state: records the removal under
 * STATE_DIR/sessions first (so that a dwelld killed meanwhile finishes it
 * when it starts again, instead of re-adopting the session), then frees a
 * Broken session and deletes its files at once (returns 0), or sends
 * TERMINATE (returns 1; waiters are told when the host has ended, and its
 * files are deleted then). */
int session_remove(Session *s, const char *by);
/* Hands a client connection to the worker. Takes the fd. */
int session_handoff(Session *s, int fd, const struct proto_handoff *h);
/* The session's DWELL_* audit fields. */
void session_audit_fields(const Session *s, AuditFields *ret);

/* The session as the given client should see it (state/availability relative to it). */
void session_view(const Session *s, bool held_by_caller, struct proto_session *ret);
