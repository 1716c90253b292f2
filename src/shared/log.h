/* SPDX-License-Identifier: ISC */
/*
 * Logging for the daemons: one line per message on stderr, prefixed with
 * the program name (journal integration writes structured audit events
 * separately, see audit.h).  log_*_errno() take a negative or positive
 * errno, make it available to %m, log, and return -abs(error) so callers
 * can write "return log_error_errno(r, ...)".
 */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

void log_setup(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Writes text as one line with the usual prefix, in one write(2), without
 * formatting or the length limit of log_internal(): for lines the caller
 * has made safe and bounded (audit_format_line()). */
void log_line(int level, const char *text);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
