/* SPDX-License-Identifier: ISC */
/*
 * A tiny epoll event loop: what dwell-host needs of sd-event and nothing
 * more, so that the session host does not link libsystemd.
 *
 *   io sources       level-triggered; events may change; on, off or oneshot
 *   timers           CLOCK_MONOTONIC, relative to evloop_now(); oneshot
 *                    when added, re-armed with evloop_source_set_time_relative()
 *                    and evloop_source_set_enabled(s, EVLOOP_ONESHOT)
 *   child watches    one exited child each (signalfd(SIGCHLD), then
 *                    waitid(P_PID, WEXITED|WNOHANG) for every watched pid);
 *                    the child is reaped and the source turns off
 *   exit signals     SIGTERM, SIGINT: end the loop with code 0
 *
 * Each iteration collects everything ready (one epoll_wait, the due timers,
 * the exited children) and dispatches it in priority order (lower value
 * first, then in the order found).  A source freed, disabled or re-armed
 * during dispatch is not dispatched afterwards in the same iteration; a
 * freed source's memory lives until the iteration ends, so freeing any
 * source from any callback is safe.  After evloop_exit() nothing more is
 * dispatched.  A callback returning < 0 turns its source off.
 *
 * Signals used (SIGCHLD, the exit signals) are blocked by the loop.  Not
 * thread-safe; one loop per process.
 */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

typedef struct EvLoop EvLoop;
typedef struct EvSource EvSource;

typedef int (*evloop_io_handler_t)(EvSource *s, int fd, uint32_t revents, void *userdata);
typedef int (*evloop_time_handler_t)(EvSource *s, uint64_t usec, void *userdata);
typedef int (*evloop_child_handler_t)(EvSource *s, const siginfo_t *si, void *userdata);

enum {
        EVLOOP_OFF = 0,
        EVLOOP_ON = 1,
        EVLOOP_ONESHOT = -1,
};

int evloop_new(EvLoop **ret);
/* Frees the loop and every source still in it (pointers to them die). */
EvLoop *evloop_free(EvLoop *e);

/* Each returns 0 and the source in *ret (enabled: io ON, timers and child
 * watches ONESHOT), or -errno. */
int evloop_add_io(EvLoop *e, EvSource **ret, int fd, uint32_t events, evloop_io_handler_t cb, void *userdata);
int evloop_add_time_relative(EvLoop *e, EvSource **ret, uint64_t usec, evloop_time_handler_t cb, void *userdata);
int evloop_add_child(EvLoop *e, EvSource **ret, pid_t pid, evloop_child_handler_t cb, void *userdata);
/* sig ends the loop with code 0 when it arrives. */
int evloop_add_exit_signal(EvLoop *e, int sig);

/* Each of these accepts NULL (-EINVAL). */
int evloop_source_set_io_events(EvSource *s, uint32_t events);
int evloop_source_set_enabled(EvSource *s, int enabled);
int evloop_source_set_time_relative(EvSource *s, uint64_t usec);
int evloop_source_set_priority(EvSource *s, int priority);
/* Turns the source off and frees it; NULL is fine.  Returns NULL. */
EvSource *evloop_source_free(EvSource *s);

/* CLOCK_MONOTONIC in usec: the time of the current iteration's wake-up
 * (the clock itself before the first one). */
uint64_t evloop_now(EvLoop *e);
int evloop_exit(EvLoop *e, int code);
/* One iteration; waits at most timeout_usec (UINT64_MAX: no limit).
 * Returns 1 if something was dispatched, 0 if not, < 0 on error. */
int evloop_run_once(EvLoop *e, uint64_t timeout_usec);
/* Until evloop_exit(): its code, or < 0 on error. */
int evloop_run(EvLoop *e);
