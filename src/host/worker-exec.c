/* SPDX-License-Identifier: ISC */
/*
 * The worker in an image of its own (see worker-exec.h).
 *
 * The memfd on WORKER_PARAMS_FD holds, written by the monitor and read by
 * the worker, a new execution of the same program:
 *   a PROTO_MSG_SPAWN frame    dwelld's SPAWN message, as received
 *   u32 n, n x str             the shell's environment, "NAME=VALUE"
 *   str                        bytes of the control connection read with
 *                              SPAWN but not yet consumed (dwelld sends
 *                              nothing before READY; passed on regardless)
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"
#include "worker-exec.h"
#include "worker.h"

#define PARAMS_MAX (8u * 1024 * 1024)
#define ENV_MAX 4096u                   /* entries */
#define ENV_ENTRY_MAX (128u * 1024)     /* bytes of one entry */

static int params_write(const HostParams *p, const struct proto_kv *spawn, const Conn *control, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uint32_t n = 0;
        Buf b;
        int r;

        for (char **e = p->env; e && *e; e++)
                n++;
        if (n > ENV_MAX)
                return -E2BIG;
        buf_init(&b, PARAMS_MAX);
        r = proto_put_kv(&b, PROTO_MSG_SPAWN, spawn);
        if (r >= 0)
                r = buf_put_u32(&b, n);
        for (uint32_t i = 0; r >= 0 && i < n; i++)
                r = strlen(p->env[i]) > ENV_ENTRY_MAX ? -E2BIG : buf_put_str(&b, p->env[i]);
        if (r >= 0)
                r = buf_put_bytes(&b, buf_ptr(&control->in), buf_len(&control->in));
        if (r < 0)
                goto out;

        fd = memfd_create("dwell-worker-params", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        r = loop_write(fd, buf_ptr(&b), buf_len(&b));
        if (r >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                r = -errno;
        if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
                r = -errno;
        if (r >= 0)
                *ret_fd = TAKE_FD(fd);
out:
        buf_done(&b);
        return r;
}

int worker_spawn(const HostParams *p, const struct proto_kv *spawn, Conn *control, int monitor_fd,
                 pid_t *ret_pid) {
        static char *const argv[] = { (char *) "dwell-host", (char *) WORKER_ARG, NULL };
        const int to[] = { WORKER_CONTROL_FD, WORKER_LISTEN_FD, WORKER_MONITOR_FD, WORKER_PARAMS_FD };
        int from[] = { control->fd, p->listen_fd, monitor_fd, -EBADF };
        int high[ELEMENTSOF(to)] = { -EBADF, -EBADF, -EBADF, -EBADF };
        posix_spawn_file_actions_t fa;
        const char *what;
        pid_t pid;
        int r;

        what = "pass the session to its worker";
        if (control->n_in_fds > 0)
                r = -EBADMSG;   /* a descriptor from dwelld before READY: not part of the protocol */
        else
                r = params_write(p, spawn, control, &from[3]);
        if (r < 0)
                goto fail;

        /* The sources may sit on each other's targets: in the child each is
         * dup2()ed from a copy above all of them (close-on-exec here; the
         * dup2()ed copy is not), then everything else above stderr is
         * closed, whatever a PAM module left open without close-on-exec. */
        for (size_t i = 0; i < ELEMENTSOF(to); i++) {
                high[i] = fcntl(from[i], F_DUPFD_CLOEXEC, WORKER_PARAMS_FD + 1);
                if (high[i] < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        r = -posix_spawn_file_actions_init(&fa);
        if (r < 0)
                goto fail;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(to); i++)
                r = -posix_spawn_file_actions_adddup2(&fa, high[i], to[i]);
        if (r >= 0)
                r = -posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_PARAMS_FD + 1);
        /* posix_spawn: a vfork-like clone that shares the monitor's memory
         * until the exec, so no copy of its page tables (and no copy-on-write
         * faults in the monitor afterwards), and the exec's failure is
         * returned here. */
        what = "execute its worker (/proc/self/exe)";
        if (r >= 0)
                r = -posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
fail:
        for (size_t i = 0; i < ELEMENTSOF(to); i++)
                safe_close(high[i]);
        safe_close(from[3]);
        if (r < 0) {
                host_report_failure(control, r, "Session %s: cannot %s: %s", p->name, what, strerror(-r));
                return r;
        }
        *ret_pid = pid;
        return 0;
}

static int params_read(HostParams *p, struct proto_kv *spawn, Conn *control) {
        _cleanup_free_ uint8_t *data = NULL;
        const uint8_t *rest;
        size_t size = 0, rest_size;
        struct stat st;
        uint16_t type;
        uint8_t flags;
        uint32_t len, n;
        char **env;
        Buf b, frame;
        int r;

        if (fstat(WORKER_PARAMS_FD, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t) st.st_size > PARAMS_MAX)
                return -EBADMSG;
        data = malloc((size_t) st.st_size);
        if (!data)
                return -ENOMEM;
        while (size < (size_t) st.st_size) {
                ssize_t k = read(WORKER_PARAMS_FD, data + size, (size_t) st.st_size - size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EBADMSG;
                size += (size_t) k;
        }

        r = proto_parse_header(data, size, &type, &flags, &len);
        if (r < 0)
                return r == -EAGAIN ? -EBADMSG : r;
        if (type != PROTO_MSG_SPAWN || flags != 0 || size - PROTO_HEADER_SIZE < len)
                return -EBADMSG;
        buf_init_view(&frame, data + PROTO_HEADER_SIZE, len);
        r = proto_get_kv(&frame, spawn);
        if (r < 0)
                return r;
        r = host_params_from_kv(spawn, p);
        if (r < 0)
                return r;

        buf_init_view(&b, data + PROTO_HEADER_SIZE + len, size - PROTO_HEADER_SIZE - len);
        r = buf_get_u32(&b, &n);
        if (r < 0)
                return r;
        if (n > ENV_MAX)
                return -EBADMSG;
        env = calloc((size_t) n + 1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        p->env = env;
        for (uint32_t i = 0; i < n; i++) {
                r = buf_get_str(&b, ENV_ENTRY_MAX, &env[i]);
                if (r < 0)
                        return r;
        }
        r = buf_get_bytes(&b, PARAMS_MAX, &rest, &rest_size);
        if (r < 0)
                return r;
        if (buf_len(&b) != 0)
                return -EBADMSG;
        return buf_put(&control->in, rest, rest_size);
}

/* Becomes the session identity, then runs the worker. */
static int become_worker(HostParams *p, Conn *control) {
        const PrivSpec spec = {
                .uid = p->uid,
                .gid = p->gid,
                .caps_set = p->caps_set && *p->run_as,  /* only RunAs configurations have a keep-list */
                .caps = p->caps,
                .no_new_privileges = p->no_new_privileges,
        };
        int resource = 0, r;

        r = limits_prepare(p->limits, &resource);
        if (r < 0) {
                host_report_failure(control, r,
                                    "Session %s: cannot set the resource limit %s of configuration %s: %s",
                                    p->name, host_limit_name(resource), p->configuration, strerror(-r));
                return EXIT_WORKER;
        }
        r = privdrop(&spec);
        if (r < 0) {
                host_report_failure(control, r, "Failed to drop privileges to %s", p->user);
                return EXIT_WORKER;
        }
        /* As the identity: the directory must be reachable by it.  The
         * shell and every command start there. */
        if (chdir(p->working_directory) < 0) {
                r = -errno;
                if (!p->working_directory_lenient) {
                        host_report_failure(control, r, "Session %s: cannot use the working directory %s of "
                                            "configuration %s as %s: %s", p->name, p->working_directory,
                                            p->configuration, p->user, strerror(-r));
                        return EXIT_WORKER;
                }
                log_warning("Session %s: no home directory %s (%s), starting in /",
                            p->name, p->working_directory, strerror(-r));
                if (chdir("/") < 0)
                        return EXIT_WORKER;
        }
        return worker_main(p, control);
}

int worker_exec_main(void) {
        HostParams p = { .listen_fd = -EBADF, .monitor_fd = -EBADF };
        struct proto_kv spawn = {};
        Conn c;
        int r;

        /* The name the worker had as a fork of its monitor; exec made it "exe". */
        (void) prctl(PR_SET_NAME, "dwell-host", 0, 0, 0);
        /* Root still, but holding the session's environment: nobody attaches. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        log_setup("dwell-worker");
        for (int fd = WORKER_CONTROL_FD; fd <= WORKER_PARAMS_FD; fd++)
                if (fd_cloexec(fd, true) < 0) {
                        fprintf(stderr, "dwell-host %s is started by a session's monitor (as root, with fds %d-%d).\n",
                                WORKER_ARG, WORKER_CONTROL_FD, WORKER_PARAMS_FD);
                        return 2;
                }
        conn_init(&c, WORKER_CONTROL_FD, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);
        r = params_read(&p, &spawn, &c);
        (void) close(WORKER_PARAMS_FD);
        if (r < 0) {
                host_report_failure(&c, r, "The session's worker could not read its parameters: %s", strerror(-r));
                host_params_done(&p);
                proto_kv_done(&spawn);
                conn_done(&c);
                return EXIT_WORKER;
        }
        p.listen_fd = WORKER_LISTEN_FD;
        p.monitor_fd = WORKER_MONITOR_FD;
        log_setup(p.name);
        r = become_worker(&p, &c);
        host_params_done(&p);
        proto_kv_done(&spawn);
        conn_done(&c);
        return r;
}
