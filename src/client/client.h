/* SPDX-License-Identifier: ISC */
/*
 * Declarations shared by the dwell client's files: the global options, the
 * verb table entry, option helpers, output (tables, JSON, errors) and the
 * session I/O layer (connection, request, record stream).
 *
 * The client links only libc and libdwell-shared.a.  Error convention: a
 * function that prints a user-facing error (client_error()) returns a
 * negative errno; callers above it must not print again.  Verbs return an
 * exit status (>= 0) or a negative errno, which main() turns into 255.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conn.h"
#include "macro.h"
#include "parse-util.h"
#include "proto.h"
#include "term-text.h"

#define EXIT_DWELL_FAILURE 255

static inline void conn_donep(Conn *c) {
        conn_done(c);
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Global options (dwell.c). */
extern const char *arg_socket;
extern bool arg_json;
extern bool arg_interleave;            /* fan-out receive: live lines prefixed with their host */
extern bool arg_no_history;            /* connect/watch --no-history: the screen without the scrollback */

/* One verb: tmux-style command entry; the table lives in dwell.c. */
typedef struct Verb {
        const char *name;
        const char *synopsis;   /* after "dwell NAME " */
        const char *help;       /* description and options, for NAME --help */
        int (*run)(const struct Verb *v, int argc, char *argv[]);
} Verb;

extern const Verb verb_new;
extern const Verb verb_list;
extern const Verb verb_invoke;
extern const Verb verb_disconnect;
extern const Verb verb_stop;
extern const Verb verb_connect;
extern const Verb verb_receive;
extern const Verb verb_remove;
extern const Verb verb_config;
extern const Verb verb_wait;
extern const Verb verb_watch;
extern const Verb verb_replay;

/* Long-only option ids shared by the verbs. */
enum {
        ARG_IDLE_TIMEOUT = 0x100,
        ARG_OUTPUT_BUFFERING,
        ARG_CREDENTIAL,
        ARG_STATE,
        ARG_ALL_USERS,
        ARG_NO_WAIT,
        ARG_ALL,
        ARG_ON_FINISH,
        ARG_FAIL,
        ARG_RAW,
        ARG_TIMEOUT,
        ARG_ANY,
        ARG_SIGNAL,
        ARG_RECONNECT_TIMEOUT,
        ARG_DETACH_KEYS,
        ARG_NO_HISTORY,
};

/* dwell.c: option helpers.  All print their own error. */
int verb_help(const Verb *v);
int verb_bad_option(const Verb *v, int opt, int optind_now, char *argv[]);
/* Handles -n, -c, -d, --idle-timeout, --output-buffering, --no-wait,
 * --credential: 1 if opt was one of them, 0 if not, <0 on a bad value. */
int request_parse_option(int opt, const char *arg, struct proto_request *req);
/* The option loop of a verb that sends a request: -h prints the verb's
 * help, the request's options go into req (request_parse_option), and
 * any other option of the table to extra(opt, userdata) if given (1:
 * taken, 0: not an option of ours, <0: error).  Returns 1 with optind at
 * the first operand, 0 after --help, <0 on an error (reported). */
int verb_parse_options(const Verb *v, int argc, char *argv[], const char *shortopts, const struct option *options,
                       struct proto_request *req, int (*extra)(int opt, void *userdata), void *userdata);
int session_arg_check(const char *s);
/* --reconnect-timeout DUR: sets arg_reconnect_timeout. */
int parse_reconnect_timeout(const char *arg);
bool string_is_id(const char *s);

/* format.c: errors and output. */
int client_error(int r, uint16_t code, const char *fmt, ...) _printf_(3, 4);
unsigned client_errors_reported(void);
/* While quiet, client_error() keeps the last error (errno, code, message)
 * instead of printing it: a reconnection attempt's failure is news only
 * if it is the last one. */
void client_set_quiet(bool on);
int client_quiet_error(uint16_t *ret_code, const char **ret_msg);
int client_notice(const char *fmt, ...) _printf_(1, 2);
void json_print_string(FILE *f, const char *s);
/* n bytes as a JSON string (NUL and invalid UTF-8 included: escaped, U+FFFD). */
void json_print_bytes(FILE *f, const uint8_t *s, size_t n);
bool utf8_valid(const uint8_t *s, size_t n);
int base64_encode(const uint8_t *p, size_t n, char **ret);     /* standard alphabet, padded */
/* A copy of s fit for a terminal (see table_add), at most max characters. */
char *terminal_sanitize(const char *s, size_t max);
void json_print_session(FILE *f, const struct proto_session *s);
/* The table's columns: the six of `list`, those and Owner (`list
 * --all-users`), or all of them (`list -l`). */
typedef enum TableFormat {
        TABLE_SHORT,
        TABLE_OWNER,
        TABLE_LONG,
} TableFormat;
int print_sessions(const struct proto_session *sessions, size_t n, TableFormat format);
int print_table(const struct proto_session *sessions, size_t n, TableFormat format);
/* The table with a row for each host that failed: its State the failure. */
typedef struct TableFailure {
        const char *host;
        const char *state;
} TableFailure;
int print_table_failures(const struct proto_session *sessions, size_t n, TableFormat format,
                         const TableFailure *failed, size_t n_failed);
int print_session(const struct proto_session *s);

/* A table whose column widths come from its content; cells are made safe
 * for a terminal and cut to max characters ("..."; SIZE_MAX: no limit).
 * Cells are added row by row, the header first. */
typedef struct Table {
        size_t n_columns;
        size_t n_cells;
        char **cells;
        size_t *widths;         /* per cell */
        size_t *column_widths;
} Table;

void table_done(Table *t);
int table_add(Table *t, const char *text, size_t max);
int table_print(Table *t, FILE *f);
void json_print_seconds(FILE *f, uint64_t usec);

/* user-options.c: ~/.config/dwell/options.yaml fills what the command line
 * left unset (idle timeout, output buffering) in a request that may create
 * a session.  A missing file is fine; a broken one is reported. */
/* session: the idle timeout and buffering; hook: on_finish (invoke -d). */
int user_options_apply(struct proto_request *req, bool session, bool hook);
/* The file itself: 1 loaded, 0 none, <0 reported. */
struct UserOptions;
int user_options_load(struct UserOptions *o);
/* The detach keys: arg (--detach-keys) if given, else the options file's
 * detach_keys, else DETACH_KEYS_DEFAULT; their count, or <0 reported. */
int user_options_detach_keys(const char *arg, uint8_t ret[static DETACH_KEYS_MAX]);

/* term-attach.c: connect to a terminal session. */
/* Fills req's term, rows and cols from our terminal (stdin and stdout
 * both terminals); false if we have none. */
bool term_request_fill(struct proto_request *req);
/* Whether this client can hand its terminal to the worker (on this machine, stdin and stdout one terminal). */
bool term_can_hand_over(void);
/* After ATTACHED (attached, not consumed) of a terminal session: raw mode,
 * the session's screen, typing, until the detach keys (keys, n), a
 * disconnect or the session's end.  Returns the exit status. */
int term_attach(Conn *c, Frame *attached, const uint8_t *keys, size_t n_keys, bool reconnect);
/* read_only: dwell watch (no input, no window size; only the detach keys
 * count).  reconnect: a break is mended by reconnecting (reconnect.c). */
int term_attach_full(Conn *c, Frame *attached, const uint8_t *keys, size_t n_keys, bool read_only,
                     bool reconnect);

/* session-io.c: one request per connection. */
#define CLIENT_MAX_IN (2 * (PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD))
#define CLIENT_MAX_OUT (4 * (PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD))

/* Connects and sends one request frame; nothing else may be sent until
 * session_wait_answer() returned. */
int session_request(uint16_t type, const struct proto_request *req, Conn *ret);
/* The first answer, after any conversation prompts.  An ERROR frame, EOF
 * or a bad frame are reported and returned as errors. */
int session_wait_answer(Conn *c, Frame *ret);
/* connect and receive: the one SESSION argument (argv[optind]), the
 * request, and the worker's ATTACHED in *ret. */
int session_attach_one(const char *verb, uint16_t type, int argc, char *argv[], struct proto_request *req,
                       Conn *c, Frame *ret);
/* The next frame of a listing (SESSION ... END); same error handling. */
int session_next_frame(Conn *c, Frame *ret);
/* A listing: add() for each item_type frame, then END, whose count must
 * match the items added. */
int session_read_list(Conn *c, uint16_t item_type, int (*add)(Frame *f, void *userdata), void *userdata);
/* A whole request answered by OK (disconnect, remove). */
int session_request_ok(uint16_t type, const struct proto_request *req);
/* Decodes and reports an ERROR frame; returns a negative errno. */
int session_report_error(Frame *f);
int session_lost_dwelld(int r);
/* A whole SESSION..END listing. */
int session_list(uint32_t flags, const char *credential, struct proto_session **ret, size_t *ret_n);
void session_array_free(struct proto_session *s, size_t n);

/* stream.c: the record stream after ATTACHED. */
typedef enum StreamUntil {
        STREAM_UNTIL_EXIT,      /* invoke: EXIT of the first command started */
        STREAM_UNTIL_SYNCED,    /* the first SYNCED */
        STREAM_UNTIL_IDLE,      /* a SYNCED with nothing running */
        STREAM_UNTIL_RUN_DONE,  /* connect: the RUN just sent has finished */
        STREAM_UNTIL_INPUT,     /* connect: the input fd is readable */
} StreamUntil;

typedef enum StreamResult {
        STREAM_DONE = 0,        /* the condition was met */
        STREAM_DETACHED,        /* DETACHED arrived (detach_ok) and was reported */
        STREAM_INPUT,           /* the input fd is readable */
        STREAM_INTERRUPTED,     /* STREAM_UNTIL_INPUT: Ctrl-C (SIGINT) at the prompt */
        STREAM_USER_DETACH,     /* a second Ctrl-C within a second: leave, the command goes on */
        STREAM_INPUT_EOF,       /* watch_input: end of input (Ctrl-D) while a command runs */
} StreamResult;

/* What our stdout/stderr is decides how output is written (see
 * stream_write_data()). */
typedef enum OutKind {
        OUT_OTHER,              /* terminal, socket ...: PIPE_BUF pieces */
        OUT_REGULAR,            /* a file: announced writes, measured on resume */
        OUT_PIPE,               /* a pipe: as much as it has room for */
        OUT_SINK,               /* a character device that never blocks (/dev/null) */
} OutKind;

/* How receive shows the records (invoke and connect: always raw). */
typedef enum Presentation {
        PRESENT_RAW,            /* output bytes exactly as produced, nothing else */
        PRESENT_TERMINAL,       /* stdout is a terminal: a header line per command, failures noted */
        PRESENT_JSON,           /* --json: one JSON object per line per record (JSON Lines) */
} Presentation;

/* What a stream asks for again after a break (reconnect.c). */
typedef struct Reconnect {
        uint16_t type;          /* PROTO_REQ_RECEIVE, _CONNECT, _INVOKE (a reattachment); 0: no reconnection */
        uint32_t flags;         /* request flags to keep (NO_WAIT) */
        const char *pickup;     /* the verb that picks the session up later: "receive", "connect" */
} Reconnect;

typedef struct Stream {
        Conn *conn;
        char *name;             /* session name, for messages */
        uint32_t heartbeat_ms;  /* 0 = none */
        int64_t last_rx_ms;
        int64_t next_hb_ms;
        bool have_cmd;          /* invoke: cmd_id below is the invoked command */
        uint32_t cmd_id;
        bool started;           /* a START arrived since stream_send_run() */
        bool exited;            /* the invoked command's EXIT arrived */
        int last_status;        /* last EXIT or SYNCED status, -1 = none */
        bool running;           /* the last SYNCED said a command runs (or is queued) */
        bool detach_ok;         /* connect: DETACHED is a notice, not a failure */
        uint8_t out_kind[2];    /* OutKind of stdout, stderr */
        uint8_t present;        /* Presentation */
        uint32_t header_cmd;    /* PRESENT_TERMINAL: the command whose header was printed last */
        bool mid_line;          /* PRESENT_TERMINAL: the last byte written was not a newline */
        int failed_status;      /* the last non-zero EXIT status received, 0 = none */
        /* invoke: our stdin goes to the command, within the window the
         * worker grants (STDIN_WINDOW); -EBADF: not passed on */
        int stdin_fd;
        uint32_t stdin_credit;
        bool stdin_done;        /* STDIN_EOF sent */
        int64_t last_interrupt_ms;      /* the last Ctrl-C passed on as INTERRUPT */

        /* Reconnection (reconnect.c): rc.type 0 = none. */
        Reconnect rc;
        uint32_t session_id;
        bool broken;                    /* stream_lost(): a break that reconnecting may mend */
        int64_t lost_ms;
        bool run_reconnected;           /* connect: reconnected since the last RUN */
        bool expect_invoked;            /* invoke: the next frame should be INVOKED */
        bool can_reattach;              /* invoke: INVOKED came, cmd_id is ours */
        bool window_initial;            /* invoke: the next STDIN_WINDOW opens the window (not a grant) */
        /* Output handled already, so that records sent again after a
         * reconnection are not written twice: every record up to
         * handled_seq, and record part_seq up to byte part_off. */
        uint64_t handled_seq, part_seq, part_off;
        /* invoke: our stdin as read and not yet known to be written to the
         * command, to be sent again after a reattachment: replay[0] is
         * byte stdin_base of our stdin; replay_len bytes read, the first
         * replay_sent of them sent on this connection. */
        uint8_t *replay;
        size_t replay_len, replay_sent;
        uint64_t stdin_base;
        bool stdin_eof_read;            /* our stdin ended */
        /* What came (fan-out summary): output bytes, bytes dropped, and the
         * earliest start and latest end of the commands whose EXIT came. */
        uint64_t rx_bytes, rx_dropped;
        uint64_t rx_started_usec, rx_finished_usec;
        /* A terminal session's output is a terminal stream: shown as text
         * (term-text.h) unless raw (receive --raw).  Text is written
         * whole and then acknowledged (no announced writes: the text is
         * not the record's bytes). */
        bool terminal;          /* ATTACHED said it is a terminal session */
        bool text;              /* stream_attach(): terminal && !raw */
        bool raw;               /* set before stream_attach() */
        TermText tt;
} Stream;

/* Whether a session is a terminal session (proto_session.terminal). */
#define SESSION_IS_TERMINAL(s) ((s)->terminal)

/* Takes ATTACHED; the stream borrows c.  raw: a terminal session's
 * output is written as it is (receive --raw), not as text. */
int stream_attach(Stream *s, Conn *c, Frame *attached);
int stream_attach_raw(Stream *s, Conn *c, Frame *attached, bool raw);
/* invoke and connect: from now on SIGINT (Ctrl-C) interrupts the running
 * command: the first is sent to the worker as INTERRUPT, a second within a
 * second ends stream_run() with STREAM_USER_DETACH (at connect's prompt:
 * STREAM_INTERRUPTED). */
void stream_catch_sigint(void);
void stream_done(Stream *s);
/* >= 0: a StreamResult; < 0: failure, reported. */
int stream_run(Stream *s, StreamUntil until, int input_fd);
/* Reads from input_fd while waiting for until (not STREAM_UNTIL_INPUT):
 * appended to buf (len of size), for connect's typed-ahead lines; end of
 * input ends stream_run() with STREAM_INPUT_EOF. */
typedef struct StreamInput {
        int fd;
        char *buf;
        size_t *len;
        size_t size;
} StreamInput;
int stream_run_reading(Stream *s, StreamUntil until, StreamInput *in);
int stream_send_run(Stream *s, const char *command);
/* Sends DETACH and flushes, best effort. */
void stream_detach(Stream *s);
int stream_exit_status(const Stream *s);

/* A Ctrl-C arrived since stream_catch_sigint() (and is taken). */
bool stream_take_sigint(void);
/* session_wait_answer() gives up after timeout_ms (-1: never). */
void session_set_answer_timeout(int timeout_ms);

/* reconnect.c: reconnecting by itself after a break (dwell(1), RECONNECTION). */
#define RECONNECT_TIMEOUT_DEFAULT (4 * 60 * USEC_PER_SEC)
#define RECONNECT_TIMEOUT_UNSET UINT64_MAX
extern uint64_t arg_reconnect_timeout;  /* --reconnect-timeout; RECONNECT_TIMEOUT_UNSET: not given */
/* Settles arg_reconnect_timeout: the option, else options.yaml's
 * reconnect_timeout, else the default.  <0: the file is broken (reported). */
int reconnect_timeout_resolve(void);
/* The window in usec (0: disabled). */
uint64_t reconnect_timeout(void);
/* The one reconnection loop, for any client attached to a session (the
 * record stream here; a terminal's attach loop alike): after a break
 * noticed at lost_ms, sends req of type again - a fresh connection, or ssh
 * run again for -H - with backoff (0.5 s doubling to 10 s, jittered) until
 * the worker answers ATTACHED, left in *ret with c the new connection.
 * Shows one status line on stderr meanwhile.  A refusal that retrying
 * cannot change (not-found, permission-denied, auth-failed, ...; busy
 * after the old connection's heartbeats must have run out) is reported
 * as such; after the window: "gave up after ...; the session keeps
 * running: dwell [-H HOST] PICKUP NAME".  0: attached; <0: reported. */
int session_reconnect(uint16_t type, const struct proto_request *req, const char *name, const char *pickup,
                      uint32_t heartbeat_ms, int64_t lost_ms, Conn *c, Frame *ret);
/* A terminal in raw mode showing a session (term-attach.c) while
 * session_reconnect() runs: the status line is drawn on the terminal's
 * last row (cursor saved and restored: the reattachment's screen replaces
 * it), the keys typed are given to interrupted() while waiting (readable
 * set; also called with it false: true stops reconnecting), and
 * leave_raw() restores the terminal before the last message. */
typedef struct ReconnectTerminal {
        int input_fd;
        bool (*interrupted)(void *userdata, bool readable);
        void (*leave_raw)(void);
        void *userdata;
} ReconnectTerminal;
void reconnect_set_terminal(const ReconnectTerminal *t);   /* NULL: none */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_now_ms(void);

/* remote.c: -H HOST, one ssh process per request (see there). */
extern const char *arg_host;            /* NULL: the local socket */

typedef struct RemoteHost {
        char user[PROTO_MAX_NAME + 1];  /* "" = ssh's default */
        char host[1024];
        char port[8];                   /* "" = ssh's default */
} RemoteHost;

/* [USER@]HOST[:PORT] ([HOST]:PORT for IPv6); prints its own error
 * (naming FILE:LINE if file is given). */
int remote_parse_host(const char *spec, RemoteHost *ret);
int remote_parse_host_at(const char *spec, const char *file, unsigned line, RemoteHost *ret);

/* hosts.c: the host list of -H a,b,c, -H @FILE and --hosts-file FILE. */
#define HOSTS_MAX 4096u
#define HOSTS_LINE_MAX 2048u
#define HOSTS_FILE_LINES_MAX 65536u

typedef struct HostList {
        char **hosts;           /* NULL-terminated */
        size_t n;
        bool from_file;         /* some came from a file: fan-out even for one */
} HostList;

void host_list_done(HostList *l);
/* -H ARG: a comma-separated list, or @FILE; duplicates dropped. */
int host_list_add_arg(HostList *l, const char *arg);
int host_list_add_file(HostList *l, const char *path);
/* Starts ssh for arg_host; returns our end of its stdin/stdout. */
int remote_connect(void);
/* After EOF before any answer: true if ssh reported that the host has no
 * dwell subsystem, so that the request should be sent again through the
 * bridge run as a command (remote_connect() now does that). */
bool remote_retry_as_command(void);
/* Reports the connection to arg_host as lost, with ssh's own reason
 * (auth-failed when ssh says its authentication failed). */
int remote_lost(int r);
/* Reconnecting: the current ssh is of no more use (it may hang on a dead
 * link); it is terminated and reaped later. */
void remote_abandon(void);

/* ssh-share.c: one ssh connection per host and run (ControlMaster). */
bool ssh_share_wanted(void);
/* Makes the private control directory, prepares the cleanup (atexit and
 * SIGTERM, SIGHUP, SIGINT); nothing if sharing is off. */
int ssh_share_setup(char **hosts, size_t n_hosts);
/* NULL when not sharing. */
const char *ssh_share_dir(void);
/* Appends the -o options for ssh to argv (room for 6). */
int ssh_share_argv(const char **argv, size_t *n);
/* Ends the masters and removes the directory (in the process that made it). */
void ssh_share_cleanup(void);
/* In a forked child: use the masters, leave their end to the owner. */
void ssh_share_forget(void);

/* multi.c: -H HOST,HOST...: one child dwell per host, at most
 * arg_throttle at a time; their output prefixed with the host, their
 * sessions and errors (sent as frames on multi_result_fd) merged. */
extern unsigned arg_throttle;
extern int multi_result_fd;             /* >= 0 in such a child */
extern const char *multi_label;         /* the child's host, for prompts */
/* Parent: runs the children and returns the worst exit status.  Child:
 * sets *ret_child and arg_host, and the caller goes on to run the verb. */
int multi_run(char **hosts, size_t n_hosts, const char *verb, int argc, char *argv[], bool *ret_child);
int multi_send_error(uint16_t code, const char *message);
/* receive: what this host's run got (duration_usec < 0: unknown). */
int multi_send_stats(uint64_t bytes, uint64_t dropped, int64_t duration_usec);
/* ssh could not connect to this host. */
void multi_note_unreachable(void);
int multi_send_sessions(const struct proto_session *s, size_t n, TableFormat format, bool listing);
/* Serializes PAM prompts of the children on the one terminal. */
void multi_conv_lock(bool lock);
