/* SPDX-License-Identifier: ISC */
/*
 * dwell invoke [SESSION] [-d|--disconnected] [-n NAME] [-c CONFIG]
 *              [--idle-timeout DUR] [--output-buffering MODE]
 *              [--on-finish CMD] [--credential USER] -- COMMAND...
 *
 * Runs COMMAND (the words after "--", joined by single spaces, as ssh
 * does) in SESSION's shell, or without SESSION in a temporary session that
 * is removed when the command ends.  The command's stdout and stderr are
 * streamed to ours and dwell exits with its exit status (128+N for a
 * signal).  A synchronous invoke into a session that runs another command
 * waits for it (dwelld gives up after a while: timeout).  Our stdin goes to
 * the command (STDIN frames within the window the worker grants, then
 * STDIN_EOF); SIGINT interrupts the command (INTERRUPT), a second one
 * within a second leaves it running and exits 130.
 *
 * A session created here (no SESSION) takes what the command line leaves
 * unset of the idle timeout and buffering mode from
 * ~/.config/dwell/options.yaml, like `dwell new`.
 *
 * With -d the command is started and the session disconnected at once; the
 * session row (or JSON object) is printed and dwell exits 0; `dwell
 * receive` collects the output later.  -d into a busy session fails at once
 * (busy).  --on-finish CMD (only with -d) has the session's worker run CMD
 * with /bin/sh as the session's identity when the command ends, with
 * DWELL_SESSION, DWELL_COMMAND_ID and DWELL_EXIT_STATUS set (src/host/hooks.c).
 *
 * Failures exit 255 with one "dwell: " line: bad options or no command;
 * dwelld unreachable or refusing (not-found, ambiguous, permission-denied, busy,
 * timeout, limit-exceeded, auth-failed); the session disconnected or
 * removed by someone else while we streamed; the connection lost or the
 * worker silent for three heartbeat intervals (the output is kept: `dwell
 * receive NAME` gets it); our stdout closed (the rest stays buffered).
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/* The words after "--", joined by single spaces. */
static int command_join(int argc, char *argv[], char **ret) {
        size_t len = 0;
        char *s, *p;

        for (int i = 0; i < argc; i++)
                len += strlen(argv[i]) + 1;
        if (argc == 0 || len - 1 == 0)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "invoke: no command given after '--'");
        if (len - 1 > PROTO_MAX_COMMAND)
                return client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT,
                                    "invoke: command too long (at most %u bytes)", PROTO_MAX_COMMAND);
        s = p = malloc(len);
        if (!s)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        for (int i = 0; i < argc; i++)
                p = stpcpy(stpcpy(p, i > 0 ? " " : ""), argv[i]);
        *ret = s;
        return 0;
}

/* Everything before "--" is options and SESSION; getopt would move "--"
 * around, so it is found first. */
static int find_separator(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--"))
                        return i;
        return -1;
}

static int parse_options(const Verb *v, int argc, char *argv[], struct proto_request *req) {
        static const struct option options[] = {
                { "help",             no_argument,       NULL, 'h'                  },
                { "disconnected",     no_argument,       NULL, 'd'                  },
                { "name",             required_argument, NULL, 'n'                  },
                { "config",           required_argument, NULL, 'c'                  },
                { "idle-timeout",     required_argument, NULL, ARG_IDLE_TIMEOUT     },
                { "output-buffering", required_argument, NULL, ARG_OUTPUT_BUFFERING },
                { "credential",       required_argument, NULL, ARG_CREDENTIAL       },
                { "on-finish",        required_argument, NULL, ARG_ON_FINISH        },
                { "reconnect-timeout", required_argument, NULL, ARG_RECONNECT_TIMEOUT },
                {}
        };
        int r;

        r = verb_parse_options(v, argc, argv, ":hdn:c:", options, req, NULL, NULL);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 1: --help, done, exit 0 */
        if (req->on_finish && !(req->flags & PROTO_REQ_F_DISCONNECTED))
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "invoke: --on-finish applies only with -d");
        if (argc - optind > 1)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "invoke: unexpected argument '%s' (the command goes after '--')", argv[optind + 1]);
        if (optind < argc) {
                r = session_arg_check(argv[optind]);
                if (r < 0)
                        return r;
                req->session = argv[optind];
        }
        return 0;
}

static int invoke_stream(Conn *c, Frame *attached, bool reconnect) {
        _cleanup_(stream_done) Stream s = {};
        _cleanup_close_ int devnull = -EBADF;
        int r;

        r = stream_attach(&s, c, attached);
        conn_consume(c, attached);
        if (r < 0)
                return r;
        /* A break is mended by reattaching to the command (INVOKED tells
         * which, and how much of our stdin the worker has). */
        if (reconnect) {
                s.rc = (Reconnect) { PROTO_REQ_INVOKE, 0, "receive" };
                s.expect_invoked = true;
        }
        /* The command's stdin, until its end or the command's.  With
         * several hosts (-H a,b) one stdin cannot feed them all: the
         * commands read end-of-file. */
        s.stdin_fd = STDIN_FILENO;
        if (multi_label) {
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                s.stdin_fd = devnull;
        }
        stream_catch_sigint();
        r = stream_run(&s, STREAM_UNTIL_EXIT, -EBADF);
        /* Leave politely either way; a lost connection makes this a no-op. */
        stream_detach(&s);
        if (r == STREAM_USER_DETACH) {
                client_notice("detached from session %s; the command goes on (dwell receive %s)", s.name, s.name);
                return 130;
        }
        return r < 0 ? r : stream_exit_status(&s);
}

static int invoke_answer(Conn *c, Frame *f, bool disconnected, bool reconnect) {
        struct proto_session s;
        int r;

        if (f->type == PROTO_MSG_ATTACHED && !disconnected)
                return invoke_stream(c, f, reconnect);
        if (f->type != PROTO_MSG_SESSION || !disconnected || proto_get_session(&f->payload, &s) < 0)
                return session_lost_dwelld(-EBADMSG);
        conn_consume(c, f);
        r = print_session(&s);
        proto_session_done(&s);
        return r;
}

static int verb_invoke_run(const Verb *v, int argc, char *argv[]) {
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        _cleanup_free_ char *command = NULL;
        struct proto_request req = { .session = (char *) "" };
        bool reconnect;
        int sep, r;
        Frame f;

        sep = find_separator(argc, argv);
        r = parse_options(v, sep < 0 ? argc : sep, argv, &req);
        if (r != 0)
                return r > 0 ? 0 : r;
        if (sep < 0)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "invoke: missing '--' before the command (dwell invoke [SESSION] -- COMMAND...)");
        r = command_join(argc - sep - 1, argv + sep + 1, &command);
        if (r < 0)
                return r;
        req.command = command;
        /* Only a request that may create a session takes the user's session
         * defaults; every invoke -d without --on-finish its default hook. */
        if (!req.session[0] || (req.flags & PROTO_REQ_F_DISCONNECTED && !req.on_finish)) {
                r = user_options_apply(&req, !req.session[0], req.flags & PROTO_REQ_F_DISCONNECTED);
                if (r < 0)
                        return r;
        }

        /* A synchronous invoke reconnects by itself (not with --credential:
         * the password would be asked for again): the worker is told, so
         * that it holds the command's stdin for us if we are lost. */
        r = reconnect_timeout_resolve();
        if (r < 0)
                return r;
        reconnect = !(req.flags & PROTO_REQ_F_DISCONNECTED) && !req.credential && arg_reconnect_timeout > 0;
        if (reconnect)
                req.flags |= PROTO_REQ_F_RECONNECT;
        r = session_request(PROTO_REQ_INVOKE, &req, &c);
        if (r < 0)
                return r;
        r = session_wait_answer(&c, &f);
        if (r < 0)
                return r;
        return invoke_answer(&c, &f, req.flags & PROTO_REQ_F_DISCONNECTED, reconnect);
}

const Verb verb_invoke = {
        .name = "invoke",
        .synopsis = "[SESSION] [-d [--on-finish CMD]] [-n NAME] [-c CONFIG] [--idle-timeout DUR] [--output-buffering MODE] [--reconnect-timeout DUR] [--credential USER] -- COMMAND...",
        .help =
        "Run COMMAND in SESSION (or in a temporary session), stream its output and exit with its status.\n"
        "Standard input goes to COMMAND (end-of-file with -d).  Ctrl-C interrupts COMMAND; a second\n"
        "Ctrl-C within a second leaves it running and disconnects.\n"
        "\n"
        "  -d, --disconnected           start the command, disconnect at once and print the session\n"
        "      --on-finish CMD          with -d: when the command ends, run CMD (/bin/sh -c, as the session's\n"
        "                               user, DWELL_SESSION, DWELL_COMMAND_ID, DWELL_EXIT_STATUS set;\n"
        "                               killed after 60 s)\n"
        "      --output-buffering MODE  block or drop when the output buffer is full (for an existing\n"
        "                               session: from now on)\n"
        "      --credential USER        authenticate as USER (password prompted)\n"
        "      --reconnect-timeout DUR  after a broken connection, reattach to the command for up to DUR\n"
        "                               (default 4m; 0: do not)\n"
        "  -h, --help                   show this help\n"
        "\n"
        "Only when a new session is created, that is without SESSION:\n"
        "  -n, --name NAME              its name (with -d: your session NAME, created if there is none)\n"
        "  -c, --config CONFIG          its configuration\n"
        "      --idle-timeout DUR       its idle timeout (90s, 30m, 2h, 1d); with -d, also an existing\n"
        "                               session's\n",
        .run = verb_invoke_run,
};
