/* SPDX-License-Identifier: ISC */
/*
 * The dwell wire protocol (doc/protocol.md is the prose version).
 *
 * Every frame is an 8-byte header followed by a payload:
 *
 *   offset 0  u32  payload length (little endian), at most PROTO_MAX_PAYLOAD
 *   offset 4  u16  message type (PROTO_MSG_*)
 *   offset 6  u8   protocol version, PROTO_VERSION; checked on every frame
 *   offset 7  u8   flags: bit 0 = one file descriptor travels with this frame
 *
 * Payload fields are packed in a fixed order per message with the buf_put_*
 * helpers: integers little endian, strings and byte strings as u32 length +
 * bytes (no NUL).  Every field has a hard size limit; a frame that is too
 * large, truncated, has trailing bytes, an unknown type or another version
 * ends its connection and nothing else.
 *
 * Connections:
 *   client  -> dwelld   PROTO_REQ_*        one request per connection (an
 *                                          optional PROTO_MSG_ORIGIN first)
 *   dwelld  -> client   ERROR, OK, SESSION..END, CONV_PROMPT
 *   after a session request is authorized dwelld hands the client's
 *   connection to the session's worker (PROTO_MSG_HANDOFF with the fd):
 *   worker  -> client   ATTACHED, RECORD, SYNCED, DETACHED, HEARTBEAT, STDIN_WINDOW, ERROR, OK,
 *                       TERM_OUTPUT, TERM_NOTICE (terminal sessions)
 *   client  -> worker   ACK, RUN, DETACH, HEARTBEAT, STDIN, STDIN_EOF, INTERRUPT,
 *                       TERM_INPUT, TERM_SIZE (terminal sessions)
 *   dwelld <-> host     SPAWN, READY, FAILED, STATUS, HANDOFF, TERMINATE
 *   dwelld <-> spawner  SPAWNER, then FORK (+fd) -> FORKED or FAILED
 *
 * Pure: encoding and decoding only, no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_VERSION 3
#define PROTO_HEADER_SIZE 8
#define PROTO_FLAG_FD 0x01u

#define PROTO_MAX_PAYLOAD (256u * 1024u)
#define PROTO_MAX_NAME 256u             /* session, user, configuration names */
#define PROTO_MAX_TEXT 4096u            /* messages, prompts */
#define PROTO_MAX_ORIGIN 256u           /* ORIGIN: 1..256 printable ASCII characters */
#define PROTO_MAX_COMMAND (64u * 1024u) /* one command line */
#define PROTO_MAX_DATA (128u * 1024u)   /* one output record */
#define PROTO_MAX_KV 256u               /* key/value pairs in SPAWN */
#define PROTO_MAX_TERM 64u              /* a TERM value: printable ASCII, no blank */
#define PROTO_MAX_TERM_SIZE 1000u       /* rows and columns a terminal session takes (more: clamped) */

typedef enum ProtoMsg {
        /* client -> dwelld: one request per connection; payload struct proto_request */
        PROTO_REQ_NEW = 100,
        PROTO_REQ_LIST,
        PROTO_REQ_INVOKE,
        PROTO_REQ_REMOVE,
        PROTO_REQ_DISCONNECT,
        PROTO_REQ_CONNECT,
        PROTO_REQ_RECEIVE,
        PROTO_REQ_CONFIG_LIST,
        PROTO_REQ_CONFIG_SHOW,
        PROTO_REQ_WAIT,                 /* handed to the worker, which answers SYNCED once idle (not attached) */
        PROTO_REQ_STOP,                 /* session; command = signal name ("" = TERM); flags STOP_ALL */
        PROTO_REQ_WATCH,                /* session: attach read-only to a terminal session */
        _PROTO_REQ_LAST,

        PROTO_MSG_ORIGIN = 120,         /* bridge -> dwelld: str origin (SSH_CONNECTION), before the request;
                                         * reported by the client, not verified; printable ASCII only */
        PROTO_MSG_CONV_REPLY,           /* client -> dwelld: str answer */

        /* dwelld (or worker) -> client */
        PROTO_MSG_ERROR = 200,          /* u16 code, str message */
        PROTO_MSG_OK,                   /* empty */
        PROTO_MSG_SESSION,              /* struct proto_session */
        PROTO_MSG_END,                  /* u32 count: ends a SESSION or KV listing */
        PROTO_MSG_CONV_PROMPT,          /* u8 style (PAM_PROMPT_ECHO_OFF=1, ECHO_ON=2, ERROR=3, INFO=4), str text */
        PROTO_MSG_KV,                   /* key/value list (config show, config list rows) */

        /* session worker -> client */
        PROTO_MSG_ATTACHED = 300,       /* u32 heartbeat interval (ms), struct proto_session */
        PROTO_MSG_RECORD,               /* struct proto_record */
        PROTO_MSG_SYNCED,               /* u8 running, u32 last command id, i32 last status (-1: none) */
        PROTO_MSG_DETACHED,             /* u8 reason (ProtoDetach), str by */
        PROTO_MSG_HEARTBEAT,            /* empty; both directions */
        PROTO_MSG_STDIN_WINDOW,         /* u32 bytes: more stdin the client may send (invoke) */
        PROTO_MSG_TERM_OUTPUT,          /* 306: the payload is bytes for the client's terminal */
        PROTO_MSG_TERM_NOTICE,          /* 307: str, a one-line notice the client shows */
        PROTO_MSG_TERM_POS,             /* 308: u64, the live output position the TERM_OUTPUT that follows
                                         * continues from (after each rendering; PROTO_REQ_F_TERM_POS) */
        PROTO_MSG_TERM_TTY_ASK,         /* 309: empty: hand your terminal over (PROTO_REQ_F_TTY_OFFER) */

        /* client -> session worker */
        PROTO_MSG_ACK = 320,            /* struct proto_ack */
        PROTO_MSG_RUN,                  /* str command (interactive connect) */
        PROTO_MSG_DETACH,               /* empty: client leaves, session stays */
        PROTO_MSG_RESUME,               /* struct proto_resume: first frame after ATTACHED */
        PROTO_MSG_STDIN,                /* the payload is stdin data for the invoked command, within the window */
        PROTO_MSG_STDIN_EOF,            /* empty: the invoked command's stdin ends */
        PROTO_MSG_INTERRUPT,            /* empty: SIGINT to the running command (Ctrl-C) */
        PROTO_MSG_TERM_INPUT,           /* 327: the payload is bytes typed, for the session's pty */
        PROTO_MSG_TERM_SIZE,            /* 328: u16 rows, u16 cols: the typer's window size */
        PROTO_MSG_TERM_TTY,             /* 329: u8 n + n detach keys, with the client's terminal (an fd)
                                         * or without (it cannot): the answer to TERM_TTY_ASK */

        /* session worker -> client: reconnection (issue 16; 340-349) */
        PROTO_MSG_INVOKED = 340,        /* struct proto_invoked: a synchronous invoke's command and its stdin so far */

        /* dwelld <-> session host (root-only socketpair) */
        PROTO_MSG_SPAWN = 400,          /* dwelld -> monitor: key/value list */
        PROTO_MSG_READY,                /* worker -> dwelld: u32 worker pid, u32 shell pid */
        PROTO_MSG_FAILED,               /* monitor -> dwelld: i32 errno, str message */
        PROTO_MSG_STATUS,               /* worker -> dwelld: struct proto_session (as seen by nobody) */
        PROTO_MSG_HANDOFF,              /* dwelld -> worker, with the client fd: struct proto_handoff */
        PROTO_MSG_TERMINATE,            /* dwelld -> worker: str by */

        /* dwelld <-> the session spawner (a dwell-host kept loaded, spawner.c) */
        PROTO_MSG_SPAWNER = 420,        /* dwelld -> dwell-host, instead of SPAWN: empty, become the spawner */
        PROTO_MSG_FORK,                 /* dwelld -> spawner, with a session's control fd: empty */
        PROTO_MSG_FORKED,               /* spawner -> dwelld: u32 pid of the new session host */

        /* worker -> monitor, for the recording of a terminal session (asciicast.h) */
        PROTO_MSG_REC_OUTPUT = 430,     /* u64 time (CLOCK_MONOTONIC usec), bytes read from the pty
                                         * (at most PROTO_MAX_DATA) */
        PROTO_MSG_REC_SIZE,             /* u64 time, u16 cols, u16 rows: the pty's new window size */
} ProtoMsg;

typedef enum ProtoError {
        PROTO_ERR_NOT_FOUND = 1,
        PROTO_ERR_PERMISSION_DENIED,
        PROTO_ERR_AUTH_FAILED,
        PROTO_ERR_BUSY,
        PROTO_ERR_INVALID_ARGUMENT,
        PROTO_ERR_LIMIT_EXCEEDED,
        PROTO_ERR_TIMEOUT,
        PROTO_ERR_CONFIG_ERROR,
        PROTO_ERR_UNAVAILABLE,
        PROTO_ERR_AMBIGUOUS,            /* a name matches several sessions the caller may act on */
        _PROTO_ERR_MAX,
} ProtoError;

typedef enum SessionState {
        SESSION_OPENED = 1,
        SESSION_DISCONNECTED,
        SESSION_BROKEN,
        SESSION_CLOSED,
        _SESSION_STATE_MAX,
} SessionState;

typedef enum Availability {
        AVAILABILITY_AVAILABLE = 1,
        AVAILABILITY_BUSY,
        AVAILABILITY_NONE,
        _AVAILABILITY_MAX,
} Availability;

typedef enum Buffering {
        BUFFERING_UNSET = 0,
        BUFFERING_BLOCK,
        BUFFERING_DROP,
        _BUFFERING_MAX,
} Buffering;

typedef enum RecordKind {
        RECORD_STDOUT = 1,
        RECORD_STDERR,
        RECORD_START,           /* value: start time (CLOCK_REALTIME usec); data: the command text */
        RECORD_EXIT,            /* value: exit status (128+N for signal N); data: struct proto_exit_info */
        RECORD_DROPPED,         /* value: bytes of this command discarded (drop mode) */
        _RECORD_KIND_MAX,
} RecordKind;

typedef enum ProtoDetach {
        DETACH_REQUESTED = 1,   /* another client ran `dwell disconnect` */
        DETACH_REMOVED,         /* the session is being removed */
        DETACH_TIMEOUT,         /* heartbeats stopped */
        DETACH_KEYS,            /* the detach keys were typed (at a terminal the worker reads) */
        _DETACH_MAX,
} ProtoDetach;

/* Request flags. */
#define PROTO_REQ_F_DISCONNECTED 0x01u  /* invoke -d */
#define PROTO_REQ_F_NO_WAIT      0x02u  /* receive --no-wait */
#define PROTO_REQ_F_ALL_USERS    0x04u  /* list --all-users (root, admins) */
#define PROTO_REQ_F_HOOK_DEFAULT 0x08u  /* on_finish is a default (options.yaml, the configuration), not
                                         * --on-finish: dropped, not refused, where hooks are not allowed */
#define PROTO_REQ_F_STOP_ALL     0x10u  /* stop --all: also drop the queued commands */
#define PROTO_REQ_F_TERMINAL     0x20u  /* new -t: a terminal session; connect -t: create one if the
                                         * caller has no session of that name */
#define PROTO_REQ_F_REATTACH     0x40u  /* invoke: be again the client of the command whose Id is in
                                         * `command` (a client reconnecting by itself) */
#define PROTO_REQ_F_RECONNECT    0x80u  /* the client reconnects by itself: an invoke's stdin is held
                                         * for it, INVOKED is sent, and a silent holder of the same
                                         * caller is replaced */
#define PROTO_REQ_F_NO_HISTORY   0x100u /* connect/watch of a terminal session: the screen without the
                                         * scrollback (--no-history) */
#define PROTO_REQ_F_TERM_POS     0x200u /* connect/watch of a terminal session: the client takes TERM_POS */
#define PROTO_REQ_F_HISTORY_FROM 0x400u /* ... the scrollback that scrolled after the live output position
                                         * in `command` (decimal; a client resuming after a break) */
#define PROTO_REQ_F_TTY_OFFER    0x800u /* connect of a terminal session: the client, on this machine, can
                                         * hand its terminal over (TERM_TTY_ASK, TERM_TTY) */

/* The stdin a synchronous invoke may have in flight: what the worker holds
 * for a command at most (it grants more with STDIN_WINDOW as it passes
 * data on to the command). */
#define PROTO_STDIN_WINDOW (256u * 1024u)

/* How long a worker holds the stdin of a synchronous invoke whose client
 * (PROTO_REQ_F_RECONNECT) was lost, for its reattachment. */
#define PROTO_STDIN_HOLD_USEC (5ull * 60 * 1000000)

/* INVOKED: sent after ATTACHED to an invoke with PROTO_REQ_F_RECONNECT. */
struct proto_invoked {
        uint32_t cmd_id;                /* the invoked command */
        uint64_t stdin_written;         /* bytes of its stdin written to the command */
        uint64_t stdin_received;        /* bytes of stdin the worker has taken for it */
        uint8_t stdin_open;             /* 1: more stdin may be sent; 0: it was closed */
};

struct proto_request {
        uint32_t flags;
        char *session;          /* name or Id; "" = none */
        char *name;             /* new/invoke -n */
        char *config;           /* -c */
        char *credential;       /* --credential USER */
        char *command;          /* invoke */
        uint64_t idle_timeout;  /* usec, 0 = not given */
        uint8_t buffering;      /* Buffering */
        char *on_finish;        /* invoke -d --on-finish: a hook run when the command ends; "" = none */
        char *term;             /* the client's TERM ("" = none; else proto_term_valid()) */
        uint16_t rows, cols;    /* the client's window size; 0 = not a terminal */
};

/* Field order is not wire order (proto_put_session() has that): what
 * dwelld's scans of its session table read comes first. */
struct proto_session {
        uint32_t id;
        uint8_t state;          /* SessionState */
        uint8_t availability;   /* Availability */
        uint8_t buffering;      /* Buffering */
        uint8_t temporary;
        char *name;
        char *instance_id;
        char *host;
        char *owner;
        char *run_as;
        char *configuration;
        uint64_t idle_timeout;  /* usec */
        uint64_t buffer_size;   /* bytes */
        uint64_t buffered;      /* bytes */
        uint64_t dropped;       /* bytes */
        uint32_t command_id;    /* running command, 0 = none */
        char *command;
        uint64_t created;       /* CLOCK_REALTIME usec */
        uint64_t idle_since;    /* CLOCK_REALTIME usec, 0 = connected */
        char *holder;           /* connected client, "" = none */
        char *origin;           /* origin reported by the creating client ("" = local) */
        char *reason;           /* why the session is Broken ("" otherwise) */
        uint32_t last_command_id;       /* last finished command, 0 = none */
        char *last_command;             /* its text */
        int32_t last_exit_status;       /* its exit status, -1 = none */
        uint8_t terminal;               /* a terminal session (a shell on a pty) */
        uint32_t watchers;              /* clients watching it (dwell watch) */
};

struct proto_record {
        uint64_t seq;
        uint32_t cmd_id;
        uint8_t kind;           /* RecordKind */
        int64_t value;
        const uint8_t *data;    /* points into the frame */
        size_t size;
};

struct proto_kv {
        size_t n;
        char **keys;
        char **values;
};

struct proto_handoff {
        uint16_t verb;          /* PROTO_REQ_* */
        struct proto_request req;
        char *caller;           /* user name of the (authenticated) caller */
        uint32_t caller_uid;
        uint32_t caller_pid;
        char *origin;
};

/* Frames */
int proto_parse_header(const uint8_t *p, size_t n, uint16_t *ret_type, uint8_t *ret_flags, uint32_t *ret_len);
int proto_begin(Buf *b, uint16_t type, uint8_t flags, size_t *ret_start);
int proto_end(Buf *b, size_t start);
int proto_expect_end(const Buf *payload);

/* Messages: put_* append a whole frame; get_* decode a payload. */
int proto_put_empty(Buf *b, uint16_t type);
/* FORK: empty, the session's control fd travels with it. */
int proto_put_fork(Buf *b);
int proto_put_request(Buf *b, uint16_t type, const struct proto_request *r);
int proto_get_request(Buf *p, struct proto_request *ret);
void proto_request_done(struct proto_request *r);

int proto_put_error(Buf *b, uint16_t code, const char *message);
int proto_get_error(Buf *p, uint16_t *ret_code, char **ret_message);

int proto_put_session_fields(Buf *b, const struct proto_session *s);
int proto_put_session(Buf *b, uint16_t type, const struct proto_session *s);
int proto_get_session(Buf *p, struct proto_session *ret);
void proto_session_done(struct proto_session *s);
int proto_session_copy(const struct proto_session *s, struct proto_session *ret);

int proto_put_record(Buf *b, const struct proto_record *r);
/* REC_OUTPUT and REC_SIZE; data points into the frame. */
int proto_put_rec_output(Buf *b, uint64_t time, const uint8_t *data, size_t size);
int proto_get_rec_output(Buf *p, uint64_t *ret_time, const uint8_t **ret_data, size_t *ret_size);
int proto_put_rec_size(Buf *b, uint64_t time, uint16_t cols, uint16_t rows);
int proto_get_rec_size(Buf *p, uint64_t *ret_time, uint16_t *ret_cols, uint16_t *ret_rows);
int proto_get_record(Buf *p, struct proto_record *ret);

/* The data of an EXIT record: three u64, little endian. */
#define PROTO_EXIT_INFO_SIZE 24u
struct proto_exit_info {
        uint64_t started;       /* CLOCK_REALTIME usec */
        uint64_t finished;      /* CLOCK_REALTIME usec */
        uint64_t dropped;       /* bytes of this command's output discarded (drop mode) */
};
void proto_exit_info_encode(const struct proto_exit_info *e, uint8_t ret[static PROTO_EXIT_INFO_SIZE]);
/* -EBADMSG unless size is PROTO_EXIT_INFO_SIZE. */
int proto_exit_info_decode(const uint8_t *data, size_t size, struct proto_exit_info *ret);

int proto_put_str_msg(Buf *b, uint16_t type, const char *s);
int proto_get_str_msg(Buf *p, size_t max, char **ret);

int proto_put_u32_msg(Buf *b, uint16_t type, uint32_t v);
int proto_put_invoked(Buf *b, const struct proto_invoked *i);
int proto_get_invoked(Buf *p, struct proto_invoked *ret);
int proto_get_u32_msg(Buf *p, uint32_t *ret);
int proto_put_u64_msg(Buf *b, uint16_t type, uint64_t v);
/* TERM_TTY: the detach keys (1..PROTO_DETACH_KEYS_MAX), and the frame carries an fd if with_fd. */
#define PROTO_DETACH_KEYS_MAX 8
int proto_put_term_tty(Buf *b, const uint8_t *keys, size_t n, bool with_fd);
int proto_get_term_tty(Buf *p, uint8_t keys[static PROTO_DETACH_KEYS_MAX], size_t *ret_n);
int proto_get_u64_msg(Buf *p, uint64_t *ret);

int proto_put_kv(Buf *b, uint16_t type, const struct proto_kv *kv);
int proto_get_kv(Buf *p, struct proto_kv *ret);
void proto_kv_done(struct proto_kv *kv);
int proto_kv_add(struct proto_kv *kv, const char *key, const char *value);
const char *proto_kv_get(const struct proto_kv *kv, const char *key);
/* A decimal value: -ENOENT if absent or empty, -EBADMSG if not a number. */
int proto_kv_get_u64(const struct proto_kv *kv, const char *key, uint64_t *ret);

int proto_put_handoff(Buf *b, const struct proto_handoff *h);
int proto_get_handoff(Buf *p, struct proto_handoff *ret);
void proto_handoff_done(struct proto_handoff *h);

struct proto_synced {
        uint8_t running;        /* a command is running (or queued) */
        uint32_t last_cmd;      /* last finished command, 0 = none */
        int32_t last_status;    /* its exit status, -1 = none */
};

/* Records before seq are consumed, and record seq up to byte offset of its
 * data (>= size: whole).  intent_len > 0 announces a write: the client is
 * about to write intent_len more bytes of record seq, from offset, to its
 * output file (stdout or stderr by the record's kind), which now holds
 * intent_size bytes.  After a client is lost, the next one's RESUME tells
 * from that file's size how much of the announced write landed. */
struct proto_ack {
        uint64_t seq;
        uint64_t offset;
        uint64_t intent_len;
        uint64_t intent_size;
};

/* The client's stdout ([0]) and stderr ([1]): device, inode and size when
 * they are regular files, zeros otherwise.  The worker sends no record
 * before it has this. */
struct proto_resume {
        uint64_t dev[2];
        uint64_t ino[2];
        uint64_t size[2];
};

int proto_put_ack(Buf *b, const struct proto_ack *a);
int proto_get_ack(Buf *p, struct proto_ack *ret);
int proto_put_resume(Buf *b, const struct proto_resume *r);
int proto_get_resume(Buf *p, struct proto_resume *ret);
int proto_put_attached(Buf *b, uint32_t heartbeat_ms, const struct proto_session *s);
int proto_get_attached(Buf *p, uint32_t *ret_heartbeat_ms, struct proto_session *ret);
int proto_put_synced(Buf *b, const struct proto_synced *s);
int proto_get_synced(Buf *p, struct proto_synced *ret);
int proto_put_detached(Buf *b, uint8_t reason, const char *by);
int proto_get_detached(Buf *p, uint8_t *ret_reason, char **ret_by);
int proto_put_ready(Buf *b, uint32_t worker_pid, uint32_t shell_pid);
int proto_get_ready(Buf *p, uint32_t *ret_worker_pid, uint32_t *ret_shell_pid);
int proto_put_failed(Buf *b, int32_t error, const char *message);
int proto_get_failed(Buf *p, int32_t *ret_error, char **ret_message);
int proto_put_conv_prompt(Buf *b, uint8_t style, const char *text);
int proto_get_conv_prompt(Buf *p, uint8_t *ret_style, char **ret_text);

/* Terminal sessions.  TERM_OUTPUT and TERM_INPUT carry at most
 * PROTO_MAX_DATA bytes each; put_* of more is -EMSGSIZE. */
int proto_put_term_data(Buf *b, uint16_t type, const void *p, size_t n);
/* A view into the payload (valid while the frame is). */
int proto_get_term_data(Buf *p, const uint8_t **ret, size_t *ret_n);
int proto_put_term_size(Buf *b, uint16_t rows, uint16_t cols);
int proto_get_term_size(Buf *p, uint16_t *ret_rows, uint16_t *ret_cols);
/* A TERM value: 1..PROTO_MAX_TERM characters of [A-Za-z0-9.+_-], not
 * starting with '.' or '-' (a terminfo entry's file name). */
bool proto_term_valid(const char *s);

/* Names for logs, tables and JSON. */
const char *proto_msg_to_string(uint16_t type);
const char *proto_error_to_string(uint16_t code);       /* "not-found", ... */
int proto_error_from_string(const char *s);
const char *session_state_to_string(uint8_t s);         /* "Opened", ... */
int session_state_from_string(const char *s);
const char *availability_to_string(uint8_t a);
const char *buffering_to_string(uint8_t b);             /* "block", "drop" */
int buffering_from_string(const char *s);
/* Maps a negative errno to the closest ProtoError. */
uint16_t proto_error_from_errno(int r);
