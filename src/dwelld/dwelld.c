/* SPDX-License-Identifier: ISC */
/*
 * dwelld: the dwell supervisor.  Runs in the foreground as root (systemd
 * style), listens on the supervisor socket (socket-activated or bound
 * itself), identifies and authorizes callers, starts one session host per
 * session and hands client connections to it.  See dwelld(8).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "manager.h"
#include "policy.h"
#include "session.h"
#include "spawner.h"

static void help(void) {
        printf("Usage: dwelld [OPTIONS]\n\n"
               "The dwell supervisor: disconnected shell sessions with PAM, policy and audit.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --socket PATH       Listen on PATH (default %s/dwelld.sock)\n"
               "     --config-dir DIR    Configuration directory (default %s)\n"
               "     --state-dir DIR     Runtime directory (default %s)\n"
               "     --check-config [PATH]\n"
               "                         Check the configuration files in PATH and exit: a\n"
               "                         configuration directory (default: the one above) or\n"
               "                         one file (dwelld.yaml or a configuration NAME.yaml);\n"
               "                         prints every error; fails if PATH does not exist\n",
               DWELL_RUNDIR, DWELL_SYSCONFDIR, DWELL_RUNDIR);
}

static int parse_argv(int argc, char *argv[], Manager *m, bool *ret_check, const char **ret_check_dir) {
        enum { ARG_VERSION = 0x100, ARG_SOCKET, ARG_CONFIG_DIR, ARG_STATE_DIR, ARG_CHECK };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "check-config", no_argument, NULL, ARG_CHECK },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        exit(EXIT_SUCCESS);
                case ARG_VERSION:
                        printf("dwelld %s\n", PACKAGE_VERSION);
                        exit(EXIT_SUCCESS);
                case ARG_SOCKET:
                        free(m->socket_path);
                        m->socket_path = strdup(optarg);
                        break;
                case ARG_CONFIG_DIR:
                        free(m->config_dir);
                        m->config_dir = strdup(optarg);
                        break;
                case ARG_STATE_DIR:
                        free(m->state_dir);
                        m->state_dir = strdup(optarg);
                        break;
                case ARG_CHECK:
                        *ret_check = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (*ret_check && optind + 1 == argc)
                *ret_check_dir = argv[optind++];
        if (optind < argc) {
                fprintf(stderr, "dwelld: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* Command line, then dwelld.yaml, then the built-in defaults. */
static int fill_defaults(Manager *m) {
        const char *e;

        if (!m->state_dir && !(m->state_dir = strdup(m->daemon.state_dir ? m->daemon.state_dir : DWELL_RUNDIR)))
                return -ENOMEM;
        if (!m->socket_path) {
                if (m->daemon.socket)
                        m->socket_path = strdup(m->daemon.socket);
                else if (asprintf(&m->socket_path, "%s/dwelld.sock", m->state_dir) < 0)
                        m->socket_path = NULL;
                if (!m->socket_path)
                        return -ENOMEM;
        }
        /* For running from a build tree; only root can set dwelld's environment. */
        e = getenv("DWELL_LIBEXECDIR");
        if (!(m->libexec_dir = strdup(e && *e ? e : DWELL_LIBEXECDIR)))
                return -ENOMEM;
        return 0;
}

static int on_sighup_cb(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        (void) sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration");
        log_info("Reloading the configuration from %s", m->config_dir);
        (void) policy_load(m, true);
        /* New sessions pick up changed PAM modules and an upgraded dwell-host. */
        spawner_stop(m, false);
        (void) spawner_start(m);
        (void) sd_notifyf(0, "READY=1\nSTATUS=Serving %s", m->socket_path);
        return 0;
}

int main(int argc, char *argv[]) {
        Manager *m = NULL;
        const char *check_dir = NULL;
        bool check = false;
        sigset_t ss;
        int r;

        log_setup("dwelld");

        r = manager_new(&m);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate manager: %m");
                return EXIT_FAILURE;
        }
        r = parse_argv(argc, argv, m, &check, &check_dir);
        if (r < 0)
                goto finish;
        if (!m->config_dir && !(m->config_dir = strdup(DWELL_SYSCONFDIR))) {
                r = -ENOMEM;
                goto finish;
        }
        if (check) {
                r = policy_check(check_dir ? check_dir : m->config_dir);
                goto finish;
        }
        r = policy_load(m, false);
        if (r >= 0)
                r = fill_defaults(m);
        if (r < 0)
                goto finish;
        if (geteuid() != 0) {
                r = log_error_errno(EPERM, "dwelld must run as root");
                goto finish;
        }

        manager_raise_nofile(m);
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);
        (void) sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup_cb, m);
        (void) sd_event_set_watchdog(m->event, true);

        r = manager_listen(m);
        if (r < 0)
                goto finish;
        (void) session_adopt_all(m);
        (void) spawner_start(m);
        r = manager_run(m);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        manager_free(m);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
