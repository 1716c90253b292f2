/* SPDX-License-Identifier: ISC */
/*
 * dwell-host: one per session, started by dwelld as root with a framed
 * control connection on fd 3.  It reads the SPAWN message, opens the PAM
 * session in the root monitor (monitor.c) and starts the unprivileged worker
 * (worker.c) that owns the shell and the output buffer.
 *
 * If the first message is SPAWNER instead, this dwell-host becomes the
 * session spawner (spawner.c): it stays loaded and clones itself for each
 * new session, and each clone carries on here as a session host.
 *
 * `dwell-host --worker` is that worker in an image of its own, executed by
 * the monitor with the session in fixed descriptors (worker-exec.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"
#include "spawner.h"
#include "worker-exec.h"

#define CONTROL_FD SPAWNER_CONTROL_FD

/* Returns 1 if dwelld asked for the spawner instead of a session. */
static int read_spawn(Conn *c, struct proto_kv *kv, HostParams *p) {
        Frame f;
        int r;

        r = conn_wait_frame(c, &f, 10 * 1000);
        if (r <= 0)
                return r == 0 ? -ECONNRESET : r;
        if (f.type == PROTO_MSG_SPAWNER) {
                r = proto_expect_end(&f.payload);
                conn_consume(c, &f);
                return r < 0 ? r : 1;
        }
        if (f.type != PROTO_MSG_SPAWN)
                r = -EBADMSG;
        else
                r = proto_get_kv(&f.payload, kv);
        conn_consume(c, &f);
        if (r < 0)
                return r;
        r = host_params_from_kv(kv, p);
        if (r < 0)
                proto_kv_done(kv);
        return r;
}

int main(int argc, char *argv[]) {
        HostParams p = { .listen_fd = -EBADF, .monitor_fd = -EBADF };
        struct proto_kv kv = {};
        Conn c;
        int r;

        log_setup("dwell-host");
        if (argc == 2 && streq(argv[1], WORKER_ARG)) {
                if (geteuid() != 0) {
                        fprintf(stderr, "dwell-host %s is started by a session's monitor (as root).\n", WORKER_ARG);
                        return 2;
                }
                signal(SIGPIPE, SIG_IGN);
                return worker_exec_main();
        }
        if (argc != 1) {
                fprintf(stderr, "dwell-host takes no arguments; it is started by dwelld.\n");
                return 2;
        }
        if (geteuid() != 0 || fcntl(CONTROL_FD, F_GETFD) < 0) {
                fprintf(stderr, "dwell-host must be started by dwelld (as root, with fd %d).\n", CONTROL_FD);
                return 2;
        }
        (void) fd_cloexec(CONTROL_FD, true);
        signal(SIGPIPE, SIG_IGN);
        conn_init(&c, CONTROL_FD, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);

        r = read_spawn(&c, &kv, &p);
        if (r > 0) {
                log_setup("dwell-spawner");
                r = spawner_run(&c);
                conn_done(&c);
                if (r <= 0)
                        return r < 0 ? 1 : 0;
                /* A new session host: fd 3 is its own control connection now. */
                log_setup("dwell-host");
                conn_init(&c, CONTROL_FD, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);
                r = read_spawn(&c, &kv, &p);
                if (r > 0)
                        r = -EBADMSG;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read the session parameters: %m");
                return 2;
        }
        log_setup(p.name);
        r = monitor_run(&p, &kv, &c);
        host_params_done(&p);
        proto_kv_done(&kv);
        conn_done(&c);
        return r;
}
