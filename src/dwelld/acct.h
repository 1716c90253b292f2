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
void acct_free_all(Manager *m);
