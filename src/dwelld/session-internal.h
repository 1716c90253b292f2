/* SPDX-License-Identifier: ISC */
/*
 * Shared by session.c and session-adopt.c only: the pieces of a session's
 * life that starting one and re-adopting one have in common.
 */
#pragma once

#include "session.h"

#define SESSION_KILL_TIMEOUT (10 * USEC_PER_SEC)

uint32_t session_next_id(Manager *m);
int session_set_paths(Session *s);
int session_info_read(const char *path, struct proto_kv *ret);
int session_watch_host(Session *s, uint32_t events);
void session_watch_monitor(Session *s, int pidfd);
void session_arm_kill_timeout(Session *s);
void session_audit_broken(Session *s, const char *reason);
void session_delete_file(const char *path);
void session_delete_files(Session *s);
