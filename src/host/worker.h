/* SPDX-License-Identifier: ISC */
/*
 * The session worker: runs as the session's identity with no privileges
 * beyond its configuration's capability keep-list (privdrop.c), owns the
 * runner of its commands (the shell, shell.c, or for a configuration with
 * `commands` the restricted runner, command.c), the command queue and the
 * output buffer (outbuf.c), and serves the one client connected to the
 * session.  It trusts only its control connection to dwelld (fd 3) and
 * the client connections dwelld hands it over that connection.
 *
 * worker.c is the session side, worker-handoff.c and worker-client.c the
 * client protocol;
 * worker-internal.h holds what they share.
 */
#pragma once

#include "conn.h"
#include "monitor.h"

/* Runs the worker's event loop; returns its exit status. */
int worker_main(HostParams *p, Conn *control);
