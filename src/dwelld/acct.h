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
 * dwell-auth, the conversation relayed between it and the client.  Calls
 * request_authenticated() when done; repeated failures of one caller are
 * answered later and later. */
int auth_start(Manager *m, Request *req, const char *user);
/* The client's answer to the last prompt. */
int auth_reply(AuthConv *a, const char *answer);
AuthConv *auth_free(AuthConv *a);
void acct_free_all(Manager *m);
