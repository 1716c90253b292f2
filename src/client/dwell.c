/* SPDX-License-Identifier: ISC */
/*
 * dwell: the client.  main() parses the global options, looks the verb up
 * in the table and runs it; every verb lives in its own verb-*.c file and
 * parses its own options (tmux's cmd-*.c shape).  This file also holds the
 * option helpers the verbs share, so that a bad value is refused the same
 * way everywhere and before anything is sent to dwelld.
 *
 * Exit status: what the verb returns (invoke and receive: the command's
 * status), 255 for any failure of dwell itself.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "parse-util.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#ifdef DWELL_RUNDIR
#define DEFAULT_SOCKET DWELL_RUNDIR "/dwelld.sock"
#else
#define DEFAULT_SOCKET "/run/dwell/dwelld.sock"
#endif

const char *arg_socket = DEFAULT_SOCKET;
bool arg_json = false;
bool arg_interleave = false;
bool arg_no_history = false;
static HostList arg_hosts = {};         /* -H, --hosts-file */

static const Verb *const verbs[] = {
        &verb_new,
        &verb_list,
        &verb_invoke,
        &verb_disconnect,
        &verb_stop,
        &verb_connect,
        &verb_receive,
        &verb_wait,
        &verb_watch,
        &verb_remove,
        &verb_config,
        &verb_replay,
};

static void help(void) {
        printf("Usage: dwell [-H [USER@]HOST[:PORT][,HOST...] | -H @FILE] [--hosts-file FILE] [--throttle N]\n"
               "             [--interleave] [--socket PATH] [--json] VERB ...\n"
               "\n"
               "Persistent, disconnectable shell sessions on this host, or on others over SSH.\n"
               "\n"
               "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-10s %s\n", verbs[i]->name, verbs[i]->synopsis);
        printf("\n"
               "Options:\n"
               "  -H, --host [USER@]HOST[:PORT][,...]\n"
               "                     reach dwelld on HOST through 'ssh -s HOST dwell' ($DWELL_SSH\n"
               "                     replaces ssh; one ssh connection per host and run is shared\n"
               "                     unless DWELL_SSH_SHARE=0); several hosts run in parallel\n"
               "  -H @FILE, --hosts-file FILE\n"
               "                     the hosts of FILE, one per line (# comments)\n"
               "      --throttle N   at most N hosts at a time (default 32)\n"
               "      --reconnect-timeout DUR\n"
               "                     invoke, receive, connect, watch: after a broken connection, reconnect\n"
               "                     by itself for up to DUR (default 4m; 0: do not reconnect)\n"
               "      --interleave   several hosts: receive prints lines as they come, prefixed\n"
               "                     with their host, not one block per host\n"
               "      --socket PATH  dwelld's socket (default: $DWELL_SOCKET, else %s)\n"
               "      --json         machine-readable results and errors on stdout\n"
               "  -h, --help         show this help; 'dwell VERB --help' shows a verb's options\n"
               "      --version      show the version\n"
               "\n"
               "-c CONFIG selects a session configuration ('dwell config list' shows yours).\n"
               "--credential USER authenticates as USER through PAM (the password is read from\n"
               "the terminal, or from the first line of stdin when there is none) and acts as USER.\n"
               "new and invoke take the idle timeout and buffering mode not given on the command\n"
               "line from ~/.config/dwell/options.yaml ($XDG_CONFIG_HOME/dwell/options.yaml), else\n"
               "from the configuration; invoke -d without --on-finish takes that file's on_finish,\n"
               "and invoke, receive, connect and watch its reconnect_timeout.\n"
               "\n"
               "With several hosts: list, new and invoke -d print one table (a Host column);\n"
               "receive prints a block per host, then a summary table (Host, Status, Bytes,\n"
               "Dropped, Duration); wait the summary; --json one object per host.  The exit\n"
               "status is 255 if any host was unreachable or failed, else the highest status.\n",
               DEFAULT_SOCKET);
}

int verb_help(const Verb *v) {
        printf("Usage: dwell %s %s\n\n%s", v->name, v->synopsis, v->help);
        return 0;
}

/* v is NULL for the global options. */
int verb_bad_option(const Verb *v, int opt, int optind_now, char *argv[]) {
        const char *name = optind_now > 0 ? argv[optind_now - 1] : "?";
        const char *verb = v ? v->name : "";
        char shortopt[3] = { '-', (char) optopt, 0 };

        /* For short options optopt names the culprit; for long ones the
         * argument just consumed does. */
        if (optopt > 0 && optopt < 0x80)
                name = shortopt;
        if (opt == ':')
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "%s%soption '%s' requires an argument",
                                    verb, v ? ": " : "", name);
        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "%s%sunknown option '%s' (see 'dwell %s%s--help')",
                            verb, v ? ": " : "", name, verb, v ? " " : "");
}

static int check_name_arg(const char *what, const char *s) {
        if (!s[0] || strlen(s) > PROTO_MAX_NAME)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "invalid %s '%s'", what, s);
        return 0;
}

int parse_reconnect_timeout(const char *arg) {
        uint64_t usec;

        if (parse_duration(arg, &usec) < 0 || usec > 24 * 60 * 60 * USEC_PER_SEC)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "invalid reconnect timeout '%s' (expected a duration such as 30s, 4m, 1h, up to 1d; 0 disables)",
                                    arg);
        arg_reconnect_timeout = usec;
        return 0;
}

int request_parse_option(int opt, const char *arg, struct proto_request *req) {
        uint64_t usec;
        int r;

        switch (opt) {
        case 'n':
                if (!session_name_valid(arg))
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "invalid session name '%s' (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or _)",
                                            arg);
                req->name = (char *) arg;
                return 1;
        case 'c':
                r = check_name_arg("configuration name", arg);
                if (r < 0)
                        return r;
                req->config = (char *) arg;
                return 1;
        case ARG_CREDENTIAL:
                r = check_name_arg("user name", arg);
                if (r < 0)
                        return r;
                req->credential = (char *) arg;
                return 1;
        case ARG_IDLE_TIMEOUT:
                r = parse_duration(arg, &usec);
                if (r < 0 || usec == 0)
                        return client_error(r < 0 ? r : -EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "invalid idle timeout '%s' (expected a positive duration such as 90s, 30m, 2h, 1d)",
                                            arg);
                req->idle_timeout = usec;
                return 1;
        case ARG_OUTPUT_BUFFERING:
                r = buffering_from_string(arg);
                if (r <= BUFFERING_UNSET)
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "invalid output buffering mode '%s' (expected block or drop)", arg);
                req->buffering = (uint8_t) r;
                return 1;
        case 'd':
                req->flags |= PROTO_REQ_F_DISCONNECTED;
                return 1;
        case 't':
                req->flags |= PROTO_REQ_F_TERMINAL;
                return 1;
        case ARG_NO_WAIT:
                req->flags |= PROTO_REQ_F_NO_WAIT;
                return 1;
        case ARG_NO_HISTORY:
                req->flags |= PROTO_REQ_F_NO_HISTORY;
                arg_no_history = true;          /* and when it reconnects by itself */
                return 1;
        case ARG_RECONNECT_TIMEOUT:
                r = parse_reconnect_timeout(arg);
                return r < 0 ? r : 1;
        case ARG_ON_FINISH:
                if (!arg[0] || strlen(arg) > PROTO_MAX_TEXT)
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "invalid --on-finish command (1 to %u bytes)", PROTO_MAX_TEXT);
                req->on_finish = (char *) arg;
                return 1;
        default:
                return 0;
        }
}

int verb_parse_options(const Verb *v, int argc, char *argv[], const char *shortopts, const struct option *options,
                       struct proto_request *req, int (*extra)(int opt, void *userdata), void *userdata) {
        int opt, r;

        while ((opt = getopt_long(argc, argv, shortopts, options, NULL)) >= 0) {
                if (opt == 'h')
                        return verb_help(v);
                r = request_parse_option(opt, optarg, req);
                if (r == 0 && extra)
                        r = extra(opt, userdata);
                if (r < 0)
                        return r;
                if (r == 0)
                        return verb_bad_option(v, opt, optind, argv);
        }
        return 1;
}

bool string_is_id(const char *s) {
        size_t n = strspn(s, "0123456789");

        return n > 0 && n <= 10 && s[n] == 0 && strtoull(s, NULL, 10) <= UINT32_MAX;
}

int session_arg_check(const char *s) {
        if (string_is_id(s) || session_name_valid(s))
                return 0;
        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "invalid session name or Id '%s'", s);
}

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i]->name, name))
                        return verbs[i];
        return NULL;
}

/* Returns 1 to run a verb (argv[optind] names it), 0 to exit 0, <0 on error. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_SOCKET = 0x180, ARG_JSON, ARG_VERSION, ARG_THROTTLE, ARG_HOSTS_FILE, ARG_INTERLEAVE };
        static const struct option options[] = {
                { "host",       required_argument, NULL, 'H'            },
                { "hosts-file", required_argument, NULL, ARG_HOSTS_FILE },
                { "throttle",   required_argument, NULL, ARG_THROTTLE   },
                { "interleave", no_argument,       NULL, ARG_INTERLEAVE },
                { "reconnect-timeout", required_argument, NULL, ARG_RECONNECT_TIMEOUT },
                { "socket",  required_argument, NULL, ARG_SOCKET  },
                { "json",    no_argument,       NULL, ARG_JSON    },
                { "help",    no_argument,       NULL, 'h'         },
                { "version", no_argument,       NULL, ARG_VERSION },
                {}
        };
        const char *e = getenv("DWELL_SOCKET");
        _cleanup_free_ char **host_args = NULL;  /* -H and --hosts-file (a leading '@' for a file) */
        _cleanup_free_ char **host_files = NULL;
        size_t n_host_args = 0;
        int c, r;

        if (e && e[0])
                arg_socket = e;
        opterr = 0;
        /* "+": stop at the verb; its options are its own. */
        while ((c = getopt_long(argc, argv, "+:hH:", options, NULL)) >= 0)
                switch (c) {
                case 'H':
                case ARG_HOSTS_FILE: {
                        /* Read once all options are known (--json for the errors). */
                        char **a = realloc(host_args, (n_host_args + 1) * sizeof(char *));
                        char **fl = realloc(host_files, (n_host_args + 1) * sizeof(char *));

                        if (a)
                                host_args = a;
                        if (fl)
                                host_files = fl;
                        if (!a || !fl)
                                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
                        host_args[n_host_args] = optarg;
                        host_files[n_host_args++] = c == ARG_HOSTS_FILE ? optarg : NULL;
                        break;
                }
                case ARG_INTERLEAVE:
                        arg_interleave = true;
                        break;
                case ARG_THROTTLE: {
                        char *end;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (!optarg[0] || *end || errno || v == 0 || v > 1024 || optarg[0] == '-') {
                                _cleanup_free_ char *safe = terminal_sanitize(optarg, 64);
                                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                                    "invalid throttle '%s' (expected 1-1024)", strempty(safe));
                        }
                        arg_throttle = (unsigned) v;
                        break;
                }
                case ARG_RECONNECT_TIMEOUT:
                        r = parse_reconnect_timeout(optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_SOCKET:
                        if (!optarg[0])
                                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "empty socket path");
                        arg_socket = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dwell %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return verb_bad_option(NULL, c, optind, argv);
                }
        for (size_t i = 0; i < n_host_args; i++) {
                r = host_files[i] ? host_list_add_file(&arg_hosts, host_files[i])
                                  : host_list_add_arg(&arg_hosts, host_args[i]);
                if (r < 0)
                        return r;
        }
        if (optind >= argc)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "missing verb (see 'dwell --help')");
        return 1;
}

static int flush_stdout(void) {
        errno = 0;
        if (fflush(stdout) == 0 && !ferror(stdout))
                return 0;
        return errno > 0 ? -errno : -EIO;
}

static int finish(int r) {
        int k;

        if (r < 0 && client_errors_reported() == 0)
                (void) client_error(r, proto_error_from_errno(r), "%s", strerror(-r));
        k = flush_stdout();
        if (k < 0) {
                /* stdout is gone, so this goes to stderr even with --json; a
                 * closed pipe (dwell list | head) is no news to anyone. */
                if (k != -EPIPE && r >= 0)
                        fprintf(stderr, "dwell: failed to write output: %s\n", strerror(-k));
                return EXIT_DWELL_FAILURE;
        }
        return r < 0 ? EXIT_DWELL_FAILURE : MIN(r, EXIT_DWELL_FAILURE);
}

int main(int argc, char *argv[]) {
        const Verb *v;
        int r;

        /* Broken pipes show up as EPIPE where we can handle them. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return finish(r);

        v = verb_find(argv[optind]);
        if (!v)
                return finish(client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                           "unknown verb '%s' (see 'dwell --help')", argv[optind]));

        if (arg_hosts.n > 0) {
                /* One connection per host for all the requests of this run
                 * (ssh's ControlMaster), where ssh is ours to direct. */
                r = ssh_share_setup(arg_hosts.hosts, arg_hosts.n);
                if (r < 0)
                        return finish(r);
        }
        if (arg_hosts.n == 1 && !arg_hosts.from_file)
                arg_host = arg_hosts.hosts[0];
        else if (arg_hosts.n > 0) {
                /* Fan-out (several hosts, or a hosts file): the parent
                 * returns the worst status; each child goes on below with
                 * arg_host set. */
                bool child = false;

                r = multi_run(arg_hosts.hosts, arg_hosts.n, v->name, argc - optind, argv + optind, &child);
                if (!child) {
                        ssh_share_cleanup();
                        return finish(r);
                }
        }

        /* The verb parses argv[optind..] afresh; 0 resets getopt fully. */
        argc -= optind;
        argv += optind;
        optind = 0;
        return finish(v->run(v, argc, argv));
}
