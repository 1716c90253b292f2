/* SPDX-License-Identifier: ISC */
/*
 * Audit events: one structured journal entry per decision that matters,
 * each kind with its own stable MESSAGE_ID (explained in the catalog,
 * units/dwell.catalog, for journalctl -x) and DWELL_* fields.  Written only
 * by root processes (dwelld and the session host's monitor), so that a
 * reader can trust them by _UID=0; the worker reports its events to the
 * monitor.  Where no journal socket exists, each event is one line on
 * stderr with the same fields.
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

const char *audit_event_to_string(AuditEvent e);        /* "session-created" */
AuditEvent audit_event_from_string(const char *s);
const char *audit_event_message_id(AuditEvent e);        /* 32 hex digits */

/* priority: LOG_INFO for the normal course, LOG_NOTICE for denials and
 * failures, LOG_WARNING for broken sessions and rejected configurations. */
void audit_log(AuditEvent e, int priority, const AuditFields *f, const char *fmt, ...) _printf_(4, 5);
