/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>

#include "manager.h"

/* Starts the session spawner if it is not running. */
int spawner_start(Manager *m);
/* Lets it go (it exits when its connection closes), or kills it. */
void spawner_stop(Manager *m, bool kill_it);
/* At dwelld's exit. */
void spawner_done(Manager *m);
/* Starts a session host whose fd 3 is a copy of control_fd: a clone of the
 * spawner, and dwelld's child.  Starts (or replaces) the spawner as needed. */
int spawner_fork(Manager *m, int control_fd, pid_t *ret_pid);
