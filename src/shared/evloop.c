/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "macro.h"

typedef enum SourceType {
        SOURCE_IO,
        SOURCE_TIME,
        SOURCE_CHILD,
        SOURCE_SIGNALFD,        /* internal: the loop's signalfd */
        SOURCE_EXIT_SIGNAL,     /* internal: an exit signal arrived */
} SourceType;

struct EvSource {
        EvLoop *loop;
        EvSource *prev, *next;          /* the loop's sources */
        EvSource *pending_next;         /* this iteration's ready list, by priority */
        SourceType type;
        int enabled;
        int priority;
        bool pending;                   /* still to be dispatched in this iteration */
        bool queued;                    /* in the ready list (its memory must live) */
        bool running;                   /* its callback runs (its memory must live) */
        bool dead;                      /* freed by the user */
        bool registered;                /* io: in the epoll set */
        void *userdata;
        evloop_io_handler_t io_cb;
        evloop_time_handler_t time_cb;
        evloop_child_handler_t child_cb;
        int fd;
        uint32_t events, revents;
        uint64_t deadline;
        pid_t pid;
        siginfo_t si;
};

struct EvLoop {
        int epoll_fd;
        int signal_fd;
        sigset_t signals;               /* in the signalfd */
        sigset_t exit_signals;
        EvSource *sources;
        EvSource *ready;
        EvSource signal_src;
        EvSource exit_src;
        bool check_children;            /* waitid() the watched pids */
        bool exit_requested;
        int exit_code;
        bool have_now;
        uint64_t now;
};

static uint64_t clock_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

int evloop_new(EvLoop **ret) {
        EvLoop *e;

        if (!ret)
                return -EINVAL;
        e = calloc(1, sizeof *e);
        if (!e)
                return -ENOMEM;
        e->signal_fd = -EBADF;
        sigemptyset(&e->signals);
        sigemptyset(&e->exit_signals);
        e->signal_src = (EvSource) { .loop = e, .type = SOURCE_SIGNALFD, .fd = -EBADF };
        e->exit_src = (EvSource) { .loop = e, .type = SOURCE_EXIT_SIGNAL, .fd = -EBADF, .enabled = EVLOOP_ON };
        e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (e->epoll_fd < 0) {
                int r = -errno;
                free(e);
                return r;
        }
        *ret = e;
        return 0;
}

EvLoop *evloop_free(EvLoop *e) {
        if (!e)
                return NULL;
        while (e->sources) {
                EvSource *s = e->sources;
                e->sources = s->next;
                free(s);
        }
        safe_close(e->signal_fd);
        safe_close(e->epoll_fd);
        free(e);
        return NULL;
}

/* ------------------------------------------------------------ sources */

static EvSource *source_new(EvLoop *e, SourceType type, void *userdata) {
        EvSource *s = calloc(1, sizeof *s);

        if (!s)
                return NULL;
        s->loop = e;
        s->type = type;
        s->fd = -EBADF;
        s->userdata = userdata;
        s->next = e->sources;
        if (e->sources)
                e->sources->prev = s;
        e->sources = s;
        return s;
}

static void source_unlink(EvSource *s) {
        EvLoop *e = s->loop;

        if (s->prev)
                s->prev->next = s->next;
        else
                e->sources = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
}

static int io_register(EvSource *s, bool on) {
        EvLoop *e = s->loop;
        struct epoll_event ev = { .events = s->events, .data.ptr = s };

        if (on == s->registered)
                return 0;
        if (on) {
                if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
                        return -errno;
        } else
                (void) epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);      /* the fd may be closed */
        s->registered = on;
        return 0;
}

/* Inserted after every queued source of the same or a higher priority. */
static void ready_add(EvLoop *e, EvSource *s) {
        EvSource **p = &e->ready;

        s->pending = true;
        if (s->queued)
                return;
        while (*p && (*p)->priority <= s->priority)
                p = &(*p)->pending_next;
        s->pending_next = *p;
        *p = s;
        s->queued = true;
}

static int signal_add(EvLoop *e, int sig) {
        sigset_t one;
        int fd;

        sigemptyset(&one);
        sigaddset(&one, sig);
        if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
                return -errno;
        if (sigismember(&e->signals, sig))
                return 0;
        sigaddset(&e->signals, sig);
        fd = signalfd(e->signal_fd >= 0 ? e->signal_fd : -1, &e->signals, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0) {
                sigdelset(&e->signals, sig);
                return -errno;
        }
        if (e->signal_fd < 0) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &e->signal_src };

                if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        int r = -errno;
                        safe_close(fd);
                        sigdelset(&e->signals, sig);
                        return r;
                }
                e->signal_fd = fd;
        }
        return 0;
}

int evloop_add_io(EvLoop *e, EvSource **ret, int fd, uint32_t events, evloop_io_handler_t cb, void *userdata) {
        EvSource *s;
        int r;

        if (!e || !ret || fd < 0 || !cb)
                return -EINVAL;
        s = source_new(e, SOURCE_IO, userdata);
        if (!s)
                return -ENOMEM;
        s->fd = fd;
        s->events = events;
        s->io_cb = cb;
        s->enabled = EVLOOP_ON;
        r = io_register(s, true);
        if (r < 0) {
                source_unlink(s);
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static uint64_t add_usec(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int evloop_add_time_relative(EvLoop *e, EvSource **ret, uint64_t usec, evloop_time_handler_t cb, void *userdata) {
        EvSource *s;

        if (!e || !ret || !cb)
                return -EINVAL;
        s = source_new(e, SOURCE_TIME, userdata);
        if (!s)
                return -ENOMEM;
        s->time_cb = cb;
        s->deadline = add_usec(evloop_now(e), usec);
        s->enabled = EVLOOP_ONESHOT;
        *ret = s;
        return 0;
}

int evloop_add_child(EvLoop *e, EvSource **ret, pid_t pid, evloop_child_handler_t cb, void *userdata) {
        EvSource *s;
        int r;

        if (!e || !ret || pid <= 0 || !cb)
                return -EINVAL;
        r = signal_add(e, SIGCHLD);
        if (r < 0)
                return r;
        s = source_new(e, SOURCE_CHILD, userdata);
        if (!s)
                return -ENOMEM;
        s->pid = pid;
        s->child_cb = cb;
        s->enabled = EVLOOP_ONESHOT;
        e->check_children = true;       /* it may have exited already */
        *ret = s;
        return 0;
}

int evloop_add_exit_signal(EvLoop *e, int sig) {
        int r;

        if (!e || sig <= 0 || sig == SIGCHLD)
                return -EINVAL;
        r = signal_add(e, sig);
        if (r < 0)
                return r;
        sigaddset(&e->exit_signals, sig);
        return 0;
}

int evloop_source_set_io_events(EvSource *s, uint32_t events) {
        if (!s || s->dead || s->type != SOURCE_IO)
                return -EINVAL;
        if (s->events == events)
                return 0;
        if (s->registered) {
                struct epoll_event ev = { .events = events, .data.ptr = s };

                if (epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
                        return -errno;
        }
        s->events = events;
        s->pending = false;     /* what it was ready for may not be asked for any more */
        return 0;
}

int evloop_source_set_enabled(EvSource *s, int enabled) {
        int r;

        if (!s || s->dead || (enabled != EVLOOP_OFF && enabled != EVLOOP_ON && enabled != EVLOOP_ONESHOT))
                return -EINVAL;
        if (s->type == SOURCE_IO) {
                r = io_register(s, enabled != EVLOOP_OFF);
                if (r < 0)
                        return r;
        }
        if (s->type == SOURCE_CHILD && enabled != EVLOOP_OFF && s->enabled == EVLOOP_OFF)
                s->loop->check_children = true;
        if (enabled == EVLOOP_OFF)
                s->pending = false;
        s->enabled = enabled;
        return 0;
}

int evloop_source_set_time_relative(EvSource *s, uint64_t usec) {
        if (!s || s->dead || s->type != SOURCE_TIME)
                return -EINVAL;
        s->deadline = add_usec(evloop_now(s->loop), usec);
        s->pending = false;
        return 0;
}

int evloop_source_set_priority(EvSource *s, int priority) {
        if (!s || s->dead)
                return -EINVAL;
        s->priority = priority;
        return 0;
}

EvSource *evloop_source_free(EvSource *s) {
        if (!s || s->dead)
                return NULL;
        if (s->type == SOURCE_IO)
                (void) io_register(s, false);
        s->enabled = EVLOOP_OFF;
        s->pending = false;
        s->dead = true;
        source_unlink(s);
        /* Still referenced by the dispatcher: it frees it. */
        if (!s->queued && !s->running)
                free(s);
        return NULL;
}

/* --------------------------------------------------------------- loop */

uint64_t evloop_now(EvLoop *e) {
        return e && e->have_now ? e->now : clock_usec();
}

int evloop_exit(EvLoop *e, int code) {
        if (!e)
                return -EINVAL;
        if (!e->exit_requested) {
                e->exit_requested = true;
                e->exit_code = code;
        }
        return 0;
}

static void read_signals(EvLoop *e) {
        struct signalfd_siginfo ssi;

        while (read(e->signal_fd, &ssi, sizeof ssi) == (ssize_t) sizeof ssi) {
                if ((int) ssi.ssi_signo == SIGCHLD)
                        e->check_children = true;
                else if (sigismember(&e->exit_signals, (int) ssi.ssi_signo))
                        ready_add(e, &e->exit_src);
        }
}

static void reap_children(EvLoop *e) {
        e->check_children = false;
        for (EvSource *s = e->sources; s; s = s->next) {
                siginfo_t si = {};

                if (s->type != SOURCE_CHILD || s->enabled == EVLOOP_OFF || s->pending)
                        continue;
                if (waitid(P_PID, (id_t) s->pid, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                        continue;
                s->si = si;
                ready_add(e, s);
        }
}

static uint64_t next_deadline(EvLoop *e) {
        uint64_t t = UINT64_MAX;

        for (EvSource *s = e->sources; s; s = s->next)
                if (s->type == SOURCE_TIME && s->enabled != EVLOOP_OFF)
                        t = MIN(t, s->deadline);
        return t;
}

static int wait_ms(EvLoop *e, uint64_t timeout_usec) {
        uint64_t deadline = next_deadline(e), now, wait;

        if (e->check_children || e->ready)
                return 0;
        if (deadline != UINT64_MAX) {
                now = clock_usec();
                wait = deadline > now ? deadline - now : 0;
                timeout_usec = MIN(timeout_usec, wait);
        }
        if (timeout_usec == UINT64_MAX)
                return -1;
        /* Rounded up: waking before a deadline would only spin. */
        return (int) MIN((timeout_usec + 999) / 1000, (uint64_t) INT_MAX);
}

/* Everything ready now goes to e->ready, by priority. */
static int collect(EvLoop *e, uint64_t timeout_usec) {
        struct epoll_event evs[64];
        int n;

        n = epoll_wait(e->epoll_fd, evs, (int) ELEMENTSOF(evs), wait_ms(e, timeout_usec));
        if (n < 0 && errno != EINTR)
                return -errno;
        e->now = clock_usec();
        e->have_now = true;
        for (int i = 0; i < n; i++) {
                EvSource *s = evs[i].data.ptr;

                if (s == &e->signal_src) {
                        read_signals(e);
                        continue;
                }
                if (s->dead || s->enabled == EVLOOP_OFF)
                        continue;
                s->revents = evs[i].events;
                ready_add(e, s);
        }
        if (e->check_children)
                reap_children(e);
        for (EvSource *s = e->sources; s; s = s->next)
                if (s->type == SOURCE_TIME && s->enabled != EVLOOP_OFF && s->deadline <= e->now)
                        ready_add(e, s);
        return 0;
}

static int dispatch_one(EvSource *s) {
        EvLoop *e = s->loop;

        switch (s->type) {
        case SOURCE_IO:
                return s->io_cb(s, s->fd, s->revents, s->userdata);
        case SOURCE_TIME:
                return s->time_cb(s, e->now, s->userdata);
        case SOURCE_CHILD:
                return s->child_cb(s, &s->si, s->userdata);
        case SOURCE_EXIT_SIGNAL:
                return evloop_exit(e, 0);
        default:
                return 0;
        }
}

int evloop_run_once(EvLoop *e, uint64_t timeout_usec) {
        bool dispatched = false;
        EvSource *s;
        int r;

        if (!e)
                return -EINVAL;
        if (e->exit_requested)
                return 0;
        r = collect(e, timeout_usec);
        if (r < 0)
                return r;
        while ((s = e->ready)) {
                e->ready = s->pending_next;
                s->pending_next = NULL;
                s->queued = false;
                if (s->dead) {
                        free(s);
                        continue;
                }
                if (!s->pending || e->exit_requested) {
                        s->pending = false;
                        continue;
                }
                s->pending = false;
                /* A reaped child cannot end twice. */
                if (s->enabled == EVLOOP_ONESHOT || s->type == SOURCE_CHILD)
                        (void) evloop_source_set_enabled(s, EVLOOP_OFF);
                s->running = true;
                r = dispatch_one(s);
                s->running = false;
                dispatched = true;
                if (s->dead) {
                        if (!s->queued)
                                free(s);
                        continue;
                }
                if (r < 0)
                        (void) evloop_source_set_enabled(s, EVLOOP_OFF);
        }
        return dispatched;
}

int evloop_run(EvLoop *e) {
        int r;

        if (!e)
                return -EINVAL;
        while (!e->exit_requested) {
                r = evloop_run_once(e, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return e->exit_code;
}
