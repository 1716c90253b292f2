/* SPDX-License-Identifier: ISC */
/*
 * Audit events: one structured journal entry per decision that matters,
 * each kind with its own stable MESSAGE_ID (explained in the catalog,
 * units/dwell.catalog, for journalctl -x) and DWELL_* fields.  Written only
 * by root processes (dwelld and the session host's monitor), so that a
 * reader can trust them by _UID=0; the worker reports its events to the
 * monitor.  Where no journal socket exists, each event is one line on
 * stderr with the same fields (audit_format_line()).
 *
 * Most values come from users (session names, command text, reasons, the
 * origin a client reports): the journal gets them exactly, as binary-safe
 * fields; MESSAGE and the stderr line escape them.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

typedef enum AuditEvent {
        AUDIT_AUTH_SUCCEEDED,
        AUDIT_AUTH_FAILED,
        AUDIT_ACCESS_DENIED,
        AUDIT_SESSION_CREATED,
        AUDIT_SESSION_CONNECTED,
        AUDIT_SESSION_DISCONNECTED,
        AUDIT_COMMAND_STARTED,
        AUDIT_COMMAND_FINISHED,
        AUDIT_COMMAND_REFUSED,
        AUDIT_OUTPUT_DROPPED,
        AUDIT_IDLE_TIMEOUT,
        AUDIT_SESSION_REMOVED,
        AUDIT_SESSION_BROKEN,
        AUDIT_CONFIG_LOADED,
        AUDIT_CONFIG_REJECTED,
        AUDIT_ADMIN_LIST,
        AUDIT_HOOK_FINISHED,
        AUDIT_COMMAND_STOPPED,
        AUDIT_SESSION_ENDED,            /* a terminal session's shell exited: the session ends */
        AUDIT_SESSION_WATCHED,
        _AUDIT_EVENT_MAX,
        _AUDIT_EVENT_INVALID = -1,
} AuditEvent;

/* Every field is optional: NULL strings, 0 ids, -1 status are left out. */
typedef struct AuditFields {
        uint32_t session_id;
        const char *session_name;
        const char *instance_id;
        const char *owner;
        const char *caller;
        pid_t caller_pid;
        const char *run_as;
        const char *configuration;
        const char *origin;
        uint32_t command_id;
        const char *command;
        int exit_status;                /* -1: none */
        const char *status_source;      /* who says exit_status: "shell", "process", "dwell" */
        uint64_t started_usec;          /* when the worker started the command, CLOCK_REALTIME; 0: none */
        int64_t duration_usec;          /* how long it ran, as the worker measured it; -1: none */
        int64_t bytes;                  /* -1: none */
        const char *reason;
        const char *file;
} AuditFields;

#define AUDIT_FIELDS_INIT { .exit_status = -1, .duration_usec = -1, .bytes = -1 }
#define AUDIT_FIELDS_MAX 18u            /* the members of AuditFields */

const char *audit_event_to_string(AuditEvent e);        /* "session-created" */
AuditEvent audit_event_from_string(const char *s);
const char *audit_event_message_id(AuditEvent e);        /* 32 hex digits */

/* The one-line form of an event, written to stderr where there is no
 * journal (and by the tests):
 *
 *   AUDIT EVENT: KEY=VALUE ... -- MESSAGE
 *
 * with the DWELL_* fields that are set, in a fixed order.  A VALUE that
 * is 1 to AUDIT_LINE_VALUE_MAX bytes of printable ASCII other than space,
 * quote and backslash is written as it is; any other in double quotes,
 * escaped as escape.h describes (with \" for a quote).  MESSAGE is escaped
 * the same way (quotes left as they are).  A value longer than
 * AUDIT_LINE_VALUE_MAX bytes once escaped, or a message longer than
 * AUDIT_LINE_MESSAGE_MAX, is cut at a whole escape and marked with "\..."
 * (inside the quotes for a value): escaping never produces that.  So the
 * line holds no control character and no invalid UTF-8, and is at most
 * AUDIT_LINE_MAX bytes.  Returns 0 and the line (malloc'd, no newline) in
 * *ret, -EINVAL for an unknown event or -ENOMEM. */
#define AUDIT_LINE_VALUE_MAX 1024u
#define AUDIT_LINE_MESSAGE_MAX 2048u
#define AUDIT_LINE_MAX (32u + AUDIT_FIELDS_MAX * (24u + AUDIT_LINE_VALUE_MAX) + 4u + AUDIT_LINE_MESSAGE_MAX + 4u)
int audit_format_line(AuditEvent e, const AuditFields *f, const char *message, char **ret);

/* priority: LOG_INFO for the normal course, LOG_NOTICE for denials and
 * failures, LOG_WARNING for broken sessions and rejected configurations. */
void audit_log(AuditEvent e, int priority, const AuditFields *f, const char *fmt, ...) _printf_(4, 5);
