/* SPDX-License-Identifier: ISC */
/*
 * PAM account checks for callers (pam_acct_mgmt on service "dwell"), run
 * in the dwell-auth helper so that the event loop never blocks.  Results
 * are cached per uid for a short time (Manager.acct_cache_usec): the
 * per-request cost of dwell is a measured figure, and a fork+exec+PAM per
 * `dwell invoke` would dominate it.  Concurrent checks of one uid share
 * one helper.
 */
#pragma once

#include "manager.h"

/* Starts (or joins, or answers from the cache) the check for req's caller;
 * calls request_authorized(req, error, message) when done, maybe at once. */
int acct_check(Manager *m, Request *req);

/* --credential USER: pam_authenticate + pam_acct_mgmt for USER in
 * dwell-auth, the conversation relayed between it and the client; rationed
 * per caller (one attempt at a time, a growing delay after failures, a
 * lock-out per caller and target) and audited: see acct.c.
 *
 * req is in REQUEST_AUTHENTICATING without an attempt; it waits for its
 * turn, then request_authenticated(req, error) is called, or it is refused
 * (auth_refuse) — maybe at once. */
int auth_enqueue(Manager *m, Request *req);
/* Refuses a --credential request without running PAM; audited. */
void auth_refuse(Request *req, uint16_t code, const char *reason);
/* req goes away while it waits for its turn or its attempt runs: audited
 * as such, or its attempt goes on without it (to its verdict, still
 * counted and audited) unless a prompt is left unanswered. */
void auth_request_gone(Request *req);
void auth_detach(AuthConv *a);
/* The client's answer to the last prompt. */
int auth_reply(AuthConv *a, const char *answer);
void acct_free_all(Manager *m);
