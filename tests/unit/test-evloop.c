/* SPDX-License-Identifier: ISC */
/*
 * evloop: io sources (events, enable, disable, oneshot), relative timers
 * (oneshot, re-arm, disable), child exit watches (exited, killed, exited
 * before the watch), exit signals, evloop_exit(), dispatch order by
 * priority within an iteration, and freeing or disabling a source from its
 * own callback or from another one's in the same iteration (built with
 * ASan: a use after free fails the test).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "macro.h"
#include "tap.h"

#define MSEC 1000u

static int make_pipe(int p[2]) {
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static void drain(int fd) {
        char b[64];

        while (read(fd, b, sizeof b) > 0)
                ;
}

/* ------------------------------------------------------------------ io */

typedef struct IoCounter {
        int calls;
        uint32_t revents;
        bool drain;
} IoCounter;

static int on_io_count(EvSource *s, int fd, uint32_t revents, void *userdata) {
        IoCounter *c = userdata;

        c->calls++;
        c->revents = revents;
        if (c->drain)
                drain(fd);
        return 0;
}

static void test_io(void) {
        EvLoop *e = NULL;
        EvSource *rs = NULL, *ws = NULL;
        IoCounter rc = { .drain = true }, wc = {};
        int p[2];

        ok(evloop_new(&e) == 0, "io: new loop");
        ok(make_pipe(p) == 0, "io: pipe");
        ok(evloop_add_io(e, &rs, p[0], EPOLLIN, on_io_count, &rc) == 0, "io: add reader");
        is_int(evloop_run_once(e, 10 * MSEC), 0, "io: nothing readable, nothing dispatched");
        is_int(write(p[1], "x", 1), 1, "io: write a byte");
        is_int(evloop_run_once(e, 1000 * MSEC), 1, "io: readable dispatched");
        ok(rc.calls == 1 && (rc.revents & EPOLLIN), "io: reader called once with EPOLLIN");

        (void) write(p[1], "x", 1);
        ok(evloop_source_set_enabled(rs, EVLOOP_OFF) == 0, "io: disable");
        is_int(evloop_run_once(e, 10 * MSEC), 0, "io: disabled source not dispatched");
        ok(evloop_source_set_enabled(rs, EVLOOP_ONESHOT) == 0, "io: oneshot");
        rc.drain = false;
        (void) evloop_run_once(e, 1000 * MSEC);
        is_int(rc.calls, 2, "io: oneshot dispatched once");
        is_int(evloop_run_once(e, 10 * MSEC), 0, "io: oneshot is off afterwards (data still there)");
        ok(evloop_source_set_enabled(rs, EVLOOP_ON) == 0, "io: enable again");
        rc.drain = true;
        (void) evloop_run_once(e, 1000 * MSEC);
        is_int(rc.calls, 3, "io: level-triggered data seen again");

        ok(evloop_add_io(e, &ws, p[1], 0, on_io_count, &wc) == 0, "io: writer with no events");
        is_int(evloop_run_once(e, 10 * MSEC), 0, "io: no events asked, none delivered");
        ok(evloop_source_set_io_events(ws, EPOLLOUT) == 0, "io: ask for EPOLLOUT");
        (void) evloop_run_once(e, 1000 * MSEC);
        ok(wc.calls == 1 && (wc.revents & EPOLLOUT), "io: writable dispatched");
        ok(evloop_source_set_io_events(NULL, EPOLLIN) == -EINVAL, "io: NULL source is -EINVAL");

        rs = evloop_source_free(rs);
        ws = evloop_source_free(ws);
        ok(!rs && !ws && !evloop_source_free(NULL), "io: free returns NULL, free(NULL) fine");
        safe_close(p[0]);
        safe_close(p[1]);
        evloop_free(e);
}

/* -------------------------------------------------------------- timers */

typedef struct TimeCounter {
        int calls;
        uint64_t at;
        EvLoop *e;
} TimeCounter;

static int on_time_count(EvSource *s, uint64_t usec, void *userdata) {
        TimeCounter *c = userdata;

        c->calls++;
        c->at = evloop_now(c->e);
        return 0;
}

static void test_timers(void) {
        EvLoop *e = NULL;
        EvSource *t = NULL, *u = NULL, *z = NULL;
        TimeCounter tc = {}, uc = {};
        uint64_t start;

        ok(evloop_new(&e) == 0, "timer: new loop");
        tc.e = uc.e = e;
        start = evloop_now(e);
        ok(evloop_add_time_relative(e, &t, 30 * MSEC, on_time_count, &tc) == 0, "timer: add 30 ms");
        for (int i = 0; i < 100 && tc.calls == 0; i++)
                (void) evloop_run_once(e, UINT64_MAX);
        is_int(tc.calls, 1, "timer: fired");
        ok(tc.at >= start + 30 * MSEC, "timer: not before its time");
        is_int(evloop_run_once(e, 50 * MSEC), 0, "timer: oneshot, not again");

        ok(evloop_source_set_time_relative(t, 10 * MSEC) == 0 && evloop_source_set_enabled(t, EVLOOP_ONESHOT) == 0,
           "timer: re-arm");
        for (int i = 0; i < 100 && tc.calls == 1; i++)
                (void) evloop_run_once(e, UINT64_MAX);
        is_int(tc.calls, 2, "timer: re-armed timer fired");

        ok(evloop_add_time_relative(e, &u, 10 * MSEC, on_time_count, &uc) == 0, "timer: add another");
        ok(evloop_source_set_enabled(u, EVLOOP_OFF) == 0, "timer: disable it");
        is_int(evloop_run_once(e, 40 * MSEC), 0, "timer: disabled timer does not fire");
        is_int(uc.calls, 0, "timer: its callback never ran");

        ok(evloop_add_time_relative(e, &z, 0, on_time_count, &tc) == 0, "timer: zero delay");
        (void) evloop_run_once(e, 100 * MSEC);
        is_int(tc.calls, 3, "timer: zero delay fires at the next iteration");
        evloop_free(e);         /* frees t, u and z */
}

/* ---------------------------------------------------------- children */

typedef struct ChildResult {
        int calls;
        siginfo_t si;
} ChildResult;

static int on_child(EvSource *s, const siginfo_t *si, void *userdata) {
        ChildResult *c = userdata;

        c->calls++;
        c->si = *si;
        return 0;
}

static void test_children(void) {
        EvLoop *e = NULL;
        EvSource *a = NULL, *b = NULL, *c = NULL;
        ChildResult ar = {}, br = {}, cr = {};
        pid_t pa, pb, pc;
        sigset_t ss;

        /* As the worker does: SIGCHLD blocked before the first fork. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        ok(evloop_new(&e) == 0, "child: new loop");

        pa = fork();
        if (pa == 0)
                _exit(7);
        pb = fork();
        if (pb == 0) {
                pause();
                _exit(0);
        }
        ok(pa > 0 && pb > 0, "child: forked two");
        ok(evloop_add_child(e, &a, pa, on_child, &ar) == 0, "child: watch the one that exits 7");
        ok(evloop_add_child(e, &b, pb, on_child, &br) == 0, "child: watch the one we kill");
        for (int i = 0; i < 100 && ar.calls == 0; i++)
                (void) evloop_run_once(e, 100 * MSEC);
        ok(ar.calls == 1 && ar.si.si_pid == pa && ar.si.si_code == CLD_EXITED && ar.si.si_status == 7,
           "child: exit status 7 delivered");
        is_int(br.calls, 0, "child: the other is still running");
        (void) kill(pb, SIGKILL);
        for (int i = 0; i < 100 && br.calls == 0; i++)
                (void) evloop_run_once(e, 100 * MSEC);
        ok(br.calls == 1 && br.si.si_pid == pb && br.si.si_code == CLD_KILLED && br.si.si_status == SIGKILL,
           "child: killed by SIGKILL delivered");
        is_int(waitpid(pa, NULL, WNOHANG), -1, "child: reaped by the loop");

        /* Exited (and its SIGCHLD consumed) before the watch exists. */
        pc = fork();
        if (pc == 0)
                _exit(3);
        (void) evloop_run_once(e, 50 * MSEC);
        ok(evloop_add_child(e, &c, pc, on_child, &cr) == 0, "child: watch one that has exited already");
        for (int i = 0; i < 100 && cr.calls == 0; i++)
                (void) evloop_run_once(e, 100 * MSEC);
        ok(cr.calls == 1 && cr.si.si_code == CLD_EXITED && cr.si.si_status == 3, "child: its status delivered");
        is_int(evloop_run_once(e, 20 * MSEC), 0, "child: each watch fires once");
        ar.calls = br.calls = cr.calls = 0;
        evloop_free(e);
}

/* --------------------------------------------------------- priorities */

typedef struct Order {
        char seen[16];
        int n;
        EvSource *victim;               /* freed (or disabled) by the first dispatched */
        bool disable_only;
        bool free_self;
        EvSource **self;
} Order;

typedef struct Tagged {
        Order *o;
        char tag;
} Tagged;

static int on_ordered(EvSource *s, int fd, uint32_t revents, void *userdata) {
        Tagged *t = userdata;
        Order *o = t->o;

        o->seen[o->n++] = t->tag;
        drain(fd);
        if (o->victim) {
                if (o->disable_only)
                        (void) evloop_source_set_enabled(o->victim, EVLOOP_OFF);
                else
                        (void) evloop_source_free(o->victim);
                o->victim = NULL;
        }
        if (o->free_self) {
                *o->self = evloop_source_free(*o->self);
                o->free_self = false;
        }
        return 0;
}

static void test_priorities(void) {
        EvLoop *e = NULL;
        EvSource *s[3] = {};
        int p[3][2];
        Order o = {};
        Tagged t[3] = { { &o, 'a' }, { &o, 'b' }, { &o, 'c' } };

        ok(evloop_new(&e) == 0, "prio: new loop");
        for (int i = 0; i < 3; i++) {
                ok(make_pipe(p[i]) == 0 && evloop_add_io(e, &s[i], p[i][0], EPOLLIN, on_ordered, &t[i]) == 0,
                   "prio: source %c", t[i].tag);
        }
        /* c before a and b, like the worker's output before status. */
        (void) evloop_source_set_priority(s[2], -10);
        (void) evloop_source_set_priority(s[0], 5);
        for (int i = 0; i < 3; i++)
                (void) write(p[i][1], "x", 1);
        is_int(evloop_run_once(e, 1000 * MSEC), 1, "prio: one iteration");
        is_str(o.seen, "cba", "prio: dispatched by priority (-10, 0, 5)");

        /* The first one dispatched frees another that is ready too. */
        memset(&o, 0, sizeof o);
        o.victim = s[1];
        for (int i = 0; i < 3; i++)
                (void) write(p[i][1], "x", 1);
        (void) evloop_run_once(e, 1000 * MSEC);
        is_str(o.seen, "ca", "prio: a source freed in the same iteration is not dispatched");
        s[1] = NULL;

        /* The first one dispatched disables another that is ready too. */
        memset(&o, 0, sizeof o);
        o.victim = s[0];
        o.disable_only = true;
        (void) write(p[0][1], "x", 1);
        (void) write(p[2][1], "x", 1);
        (void) evloop_run_once(e, 1000 * MSEC);
        is_str(o.seen, "c", "prio: a source disabled in the same iteration is not dispatched");
        (void) evloop_source_set_enabled(s[0], EVLOOP_ON);
        (void) evloop_run_once(e, 1000 * MSEC);
        is_str(o.seen, "ca", "prio: and is dispatched once enabled again");

        /* A source frees itself from its own callback. */
        memset(&o, 0, sizeof o);
        o.free_self = true;
        o.self = &s[2];
        (void) write(p[2][1], "x", 1);
        (void) write(p[0][1], "x", 1);
        (void) evloop_run_once(e, 1000 * MSEC);
        ok(s[2] == NULL && streq(o.seen, "ca"), "prio: freed itself, the rest of the iteration still runs");
        (void) write(p[2][1], "x", 1);
        is_int(evloop_run_once(e, 20 * MSEC), 0, "prio: the freed source is gone");
        is_str(o.seen, "ca", "prio: nothing more dispatched");

        for (int i = 0; i < 3; i++) {
                safe_close(p[i][0]);
                safe_close(p[i][1]);
        }
        evloop_free(e);
}

/* ----------------------------------------------------------- exiting */

typedef struct ExitCtx {
        EvLoop *e;
        int calls;
} ExitCtx;

static int on_exit_now(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ExitCtx *x = userdata;

        x->calls++;
        drain(fd);
        return evloop_exit(x->e, 42);
}

static int on_fail(EvSource *s, int fd, uint32_t revents, void *userdata) {
        ExitCtx *x = userdata;

        x->calls++;
        return -EIO;
}

static int on_signal_timer(EvSource *s, uint64_t usec, void *userdata) {
        (void) kill(getpid(), SIGTERM);
        return 0;
}

static void test_exit(void) {
        EvLoop *e = NULL;
        EvSource *a = NULL, *b = NULL, *t = NULL;
        ExitCtx xa = {}, xb = {};
        int p[2], q[2];

        ok(evloop_new(&e) == 0, "exit: new loop");
        xa.e = xb.e = e;
        ok(make_pipe(p) == 0 && make_pipe(q) == 0, "exit: pipes");
        ok(evloop_add_io(e, &a, p[0], EPOLLIN, on_exit_now, &xa) == 0, "exit: source that exits");
        ok(evloop_add_io(e, &b, q[0], EPOLLIN, on_exit_now, &xb) == 0, "exit: another, lower priority");
        (void) evloop_source_set_priority(b, 1);
        (void) write(p[1], "x", 1);
        (void) write(q[1], "x", 1);
        is_int(evloop_run(e), 42, "exit: evloop_run returns the exit code");
        ok(xa.calls == 1 && xb.calls == 0, "exit: nothing dispatched after evloop_exit()");
        evloop_free(e);

        /* A failing callback turns its source off. */
        ok(evloop_new(&e) == 0, "exit: second loop");
        xa = (ExitCtx) { .e = e };
        drain(q[0]);
        (void) write(q[1], "x", 1);
        ok(evloop_add_io(e, &b, q[0], EPOLLIN, on_fail, &xa) == 0, "exit: failing source");
        (void) evloop_run_once(e, 1000 * MSEC);
        is_int(evloop_run_once(e, 20 * MSEC), 0, "exit: a callback's error disables its source");
        is_int(xa.calls, 1, "exit: called once");

        /* SIGTERM ends the loop with 0. */
        ok(evloop_add_exit_signal(e, SIGTERM) == 0, "exit: SIGTERM ends the loop");
        ok(evloop_add_time_relative(e, &t, 5 * MSEC, on_signal_timer, NULL) == 0, "exit: a timer sends SIGTERM");
        is_int(evloop_run(e), 0, "exit: SIGTERM: evloop_run returns 0");
        evloop_free(e);
        safe_close(p[0]);
        safe_close(p[1]);
        safe_close(q[0]);
        safe_close(q[1]);
}

int main(void) {
        plan(0);
        test_io();
        test_timers();
        test_children();
        test_priorities();
        test_exit();
        return done_testing();
}
