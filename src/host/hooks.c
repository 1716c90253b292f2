/* SPDX-License-Identifier: ISC */
/*
 * --on-finish hooks (`dwell invoke -d --on-finish CMD`): when a command
 * that carries one ends, the worker runs CMD with /bin/sh -c, as the
 * session's identity (the worker's own: same user, groups and
 * capabilities as the session's commands; never root), with the session's
 * environment plus DWELL_SESSION, DWELL_COMMAND_ID and DWELL_EXIT_STATUS.
 *
 * A hook never holds up the session: it runs beside the next command, its
 * stdin, stdout and stderr are /dev/null (nothing it prints reaches the
 * output buffer), and it is bounded:
 *   - one hook runs at a time; at most HOOK_MAX_PENDING wait behind it,
 *     and any more are skipped (audited);
 *   - it runs in its own process group, which is killed (SIGKILL) when the
 *     hook's process ends, so nothing it left in the background survives
 *     it, and after HOOK_TIMEOUT if it is still running;
 *   - it is killed when the session ends.
 * Each hook's end is an audit event (hook-finished) with the hook's text,
 * its exit status and duration, and a reason when it was killed or
 * skipped.  Whether a hook may be given at all is dwelld's decision (the
 * configuration's allow_on_finish; its on_finish is the default hook);
 * the worker itself refuses hooks in a restricted session.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "log.h"
#include "parse-util.h"
#include "strv.h"
#include "worker-internal.h"

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void hook_free(Hook *h) {
        if (h) {
                free(h->text);
                free(h->caller);
                free(h);
        }
}

static void hook_audit(Worker *w, const Hook *h, int status, int64_t duration, const char *reason) {
        char nb[24], sb[24], db[24];

        worker_event(w, AUDIT_HOOK_FINISHED, "command_id", worker_num(nb, h->cmd_id), "command", h->text,
                     "exit_status", status >= 0 ? worker_num(sb, (uint64_t) status) : NULL,
                     "duration_usec", duration >= 0 ? worker_num(db, (uint64_t) duration) : NULL,
                     "caller", h->caller, "reason", reason, NULL);
}

/* The environment: the session's, without any DWELL_SESSION,
 * DWELL_COMMAND_ID or DWELL_EXIT_STATUS of its own, plus ours. */
static char **hook_env(Worker *w, const Hook *h) {
        static const char *const ours[] = { "DWELL_SESSION=", "DWELL_COMMAND_ID=", "DWELL_EXIT_STATUS=" };
        size_t n = 0, k = 0;
        char **env;

        while (w->p->env && w->p->env[n])
                n++;
        env = calloc(n + 4, sizeof(char *));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                bool skip = false;

                for (size_t j = 0; j < ELEMENTSOF(ours); j++)
                        if (strncmp(w->p->env[i], ours[j], strlen(ours[j])) == 0)
                                skip = true;
                if (!skip && !(env[k++] = strdup(w->p->env[i])))
                        goto fail;
        }
        if (asprintf(&env[k++], "DWELL_SESSION=%s", w->p->name) < 0 ||
            asprintf(&env[k++], "DWELL_COMMAND_ID=%u", h->cmd_id) < 0 ||
            asprintf(&env[k++], "DWELL_EXIT_STATUS=%d", h->exit_status) < 0) {
                env[k - 1] = NULL;
                goto fail;
        }
        return env;
fail:
        strv_free(env);
        return NULL;
}

static void hook_start_next(Worker *w);

static void hook_ended(Worker *w, int status) {
        Hook *h = w->hook;
        int64_t duration = (int64_t) (mono_usec() - w->hook_started_mono);

        /* Whatever it left behind in its process group goes with it. */
        if (w->hook_pid > 0)
                (void) kill(-w->hook_pid, SIGKILL);
        w->hook_pid = 0;
        w->hook_child_src = evloop_source_free(w->hook_child_src);
        w->hook_timer_src = evloop_source_free(w->hook_timer_src);
        w->hook = NULL;
        log_debug("Hook of command %u ended with status %d", h->cmd_id, status);
        hook_audit(w, h, status, duration, w->hook_killed ? "killed: still running after 60 s" : NULL);
        w->hook_killed = false;
        hook_free(h);
        hook_start_next(w);
}

static int on_hook_child_cb(EvSource *s, const siginfo_t *si, void *userdata) {
        hook_ended(userdata, runner_exit_status(si));
        return 0;
}

static int on_hook_timer_cb(EvSource *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        log_info("Hook of command %u still running after %llu s, killing it", w->hook ? w->hook->cmd_id : 0,
                 (unsigned long long) (HOOK_TIMEOUT / USEC_PER_SEC));
        w->hook_killed = true;
        if (w->hook_pid > 0) {
                (void) kill(-w->hook_pid, SIGKILL);
                (void) kill(w->hook_pid, SIGKILL);      /* in case it has not made its group yet */
        }
        return 0;
}

_noreturn_ static void hook_child(Worker *w, char **env, const char *text) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                _exit(126);
        (void) close_range(3, ~0U, 0);
        if (runner_child_setup(w->p) < 0)      /* default signals, its own session, umask, limits */
                _exit(126);
        execve("/bin/sh", (char *[]) { (char *) "sh", (char *) "-c", (char *) text, NULL }, env);
        _exit(127);
}

static void hook_start_next(Worker *w) {
        Hook *h;
        char **env;
        pid_t pid;
        int r;

        while (!w->hook && w->hooks && !w->terminating) {
                h = w->hooks;
                w->hooks = h->next;
                if (!w->hooks)
                        w->hooks_tail = NULL;
                w->n_hooks--;
                h->next = NULL;

                env = hook_env(w, h);
                pid = env ? fork() : -1;
                if (pid == 0)
                        hook_child(w, env, h->text);
                strv_free(env);
                if (pid < 0) {
                        log_warning_errno(errno, "Failed to start the hook of command %u: %m", h->cmd_id);
                        hook_audit(w, h, -1, -1, "could not be started");
                        hook_free(h);
                        continue;
                }
                w->hook = h;
                w->hook_pid = pid;
                w->hook_started_mono = mono_usec();
                r = evloop_add_child(w->event, &w->hook_child_src, pid, on_hook_child_cb, w);
                if (r >= 0)
                        r = evloop_add_time_relative(w->event, &w->hook_timer_src, HOOK_TIMEOUT, on_hook_timer_cb, w);
                if (r < 0) {
                        log_warning_errno(r, "Failed to watch the hook of command %u: %m", h->cmd_id);
                        (void) kill(-pid, SIGKILL);
                        (void) kill(pid, SIGKILL);
                        if (!w->hook_child_src) {
                                /* Without a child source we would never learn its end. */
                                (void) waitpid(pid, NULL, 0);
                                hook_ended(w, 128 + SIGKILL);
                                return;
                        }
                }
                log_debug("Hook of command %u started, pid %d", h->cmd_id, (int) pid);
        }
}

void worker_hook_queue(Worker *w, const Command *c, int status) {
        Hook *h;

        if (!c->on_finish || w->terminating)
                return;
        h = calloc(1, sizeof *h);
        if (!h || !(h->text = strdup(c->on_finish)) || !(h->caller = strdup(strempty(c->caller)))) {
                hook_free(h);
                log_warning("Out of memory: the hook of command %u is not run", c->id);
                return;
        }
        h->cmd_id = c->id;
        h->exit_status = status;
        if (w->n_hooks >= HOOK_MAX_PENDING) {
                char why[96];

                snprintf(why, sizeof why, "skipped: %u hooks already waiting", w->n_hooks);
                hook_audit(w, h, -1, -1, why);
                hook_free(h);
                return;
        }
        if (w->hooks_tail)
                w->hooks_tail->next = h;
        else
                w->hooks = h;
        w->hooks_tail = h;
        w->n_hooks++;
        hook_start_next(w);
}

void worker_hooks_done(Worker *w) {
        while (w->hooks) {
                Hook *h = w->hooks;

                w->hooks = h->next;
                hook_free(h);
        }
        w->hooks_tail = NULL;
        w->n_hooks = 0;
        if (w->hook_pid > 0) {
                (void) kill(-w->hook_pid, SIGKILL);
                (void) kill(w->hook_pid, SIGKILL);
        }
        w->hook_pid = 0;
        w->hook_child_src = evloop_source_free(w->hook_child_src);
        w->hook_timer_src = evloop_source_free(w->hook_timer_src);
        w->hook = (hook_free(w->hook), NULL);
}
