/* SPDX-License-Identifier: ISC */
/*
 * The worker in an image of its own.  The worker is the process that
 * parses what clients send (worker.c); the monitor and the spawner it is
 * cloned from run as root.  A fork would give the worker their address
 * space layout and stack-protector canary, so that a user who learnt one
 * worker's layout (it runs as that user) would know the root processes'.
 * Instead the monitor starts the worker as a new execution of dwell-host,
 * as root, in worker mode (`dwell-host --worker`), as OpenSSH's sshd
 * executes sshd-session for each connection; the fresh image then drops
 * privileges (privdrop.c) and runs worker_main().
 *
 * What the new image needs is passed in descriptors at fixed numbers, never
 * in its arguments or environment: the control connection to dwelld, the
 * session's listening socket, the connection to the monitor, and a sealed
 * memfd with dwelld's SPAWN message, the shell's environment (built by the
 * monitor from PAM's) and whatever dwelld had sent beyond SPAWN.  Nothing
 * else stays open.
 *
 * The program executed is /proc/self/exe: the file the monitor itself runs,
 * which the spawner compared with the installed dwell-host just before
 * cloning (spawner.c), so the two sides of the memfd always agree on its
 * format, even while an upgrade replaces the file on disk.
 */
#pragma once

#include <sys/types.h>

#include "conn.h"
#include "monitor.h"
#include "proto.h"

#define WORKER_ARG "--worker"

#define WORKER_CONTROL_FD 3     /* dwelld's control connection (as SPAWNER_CONTROL_FD) */
#define WORKER_LISTEN_FD 4      /* the session's socket, for a restarted dwelld */
#define WORKER_MONITOR_FD 5     /* to the monitor: audit events, transcript data */
#define WORKER_PARAMS_FD 6      /* the sealed memfd described above */

/* In the monitor (root): starts `dwell-host --worker` with the session,
 * monitor_fd its end of the connection to the monitor.  On failure, reports
 * it to dwelld on control and returns <0. */
int worker_spawn(const HostParams *p, const struct proto_kv *spawn, Conn *control, int monitor_fd,
                 pid_t *ret_pid);

/* main() of `dwell-host --worker`: reads what worker_exec() passed, becomes
 * the session's identity and runs worker_main().  Returns the exit status. */
int worker_exec_main(void);
