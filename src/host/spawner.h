/* SPDX-License-Identifier: ISC */
#pragma once

#include "conn.h"

/* Where a session host finds its control connection to dwelld. */
#define SPAWNER_CONTROL_FD 3

/* Serves dwelld's FORK requests on c until dwelld closes it.  Returns 1 in
 * each new session host (its control connection is now on
 * SPAWNER_CONTROL_FD; c is left without a socket, for conn_done()), 0 when
 * dwelld closed the connection, <0 on an error. */
int spawner_run(Conn *c);
