/* SPDX-License-Identifier: ISC */
/*
 * What worker.c (the commands, the output pipes, dwelld and the monitor)
 * and the client protocol (worker-handoff.c, worker-client.c) share, with
 * the terminal side (worker-term.c, worker-marks.c): the worker's state and
 * the functions each calls in the other.  Internal to dwell-host and to
 * tests/fuzz/fuzz-worker.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "command.h"
#include "conn.h"
#include "detach-keys.h"
#include "evloop.h"
#include "monitor.h"
#include "osc133.h"
#include "outbuf.h"
#include "proto.h"

typedef struct Worker Worker;

typedef struct Command {
        struct Command *next;
        uint32_t id;
        char *text;
        char *caller;                   /* who asked for it */
        char *on_finish;                /* a hook to run when it ends (invoke -d --on-finish), or NULL */
        uint64_t started_real;          /* when the worker passed it to the runner: CLOCK_REALTIME usec */
        uint64_t started_mono;          /* ... CLOCK_MONOTONIC usec, for its duration */
        int drop_signal;                /* dropped by dwell stop --all: ends at once with 128 + this */
        char *dropped_by;
} Command;

/* An --on-finish hook due to run, or running (hooks.c). */
typedef struct Hook {
        struct Hook *next;
        char *text;
        char *caller;                   /* who gave it (the command's caller) */
        uint32_t cmd_id;
        int exit_status;                /* the command's */
} Hook;

typedef struct Client Client;
struct Client {
        Worker *w;
        Client *all_next, *all_prev;    /* every live client, w->clients */
        Conn conn;
        EvSource *io_src;
        EvSource *hb_src;
        EvSource *wait_src;      /* synchronous invoke waiting for the shell */
        uint16_t verb;
        char *who;                      /* "alice (pid 123)" */
        char *caller;
        uint32_t caller_pid;
        char *origin;
        uint32_t invoke_cmd;            /* synchronous invoke: its command */
        uint64_t last_rx;               /* CLOCK_MONOTONIC usec */
        bool closing;                   /* final frame queued: close once written */
        bool resumed;                   /* RESUME arrived: records may flow */
        struct proto_resume resume;     /* its stdout and stderr */
        bool synced_sent;
        struct proto_synced synced;
        uint32_t stdin_credit;          /* invoke: stdin bytes it may still send */
        bool stdin_eof;                 /* invoke: STDIN_EOF arrived */
        uint64_t last_interrupt;        /* CLOCK_MONOTONIC usec of its last INTERRUPT acted on */
        bool reconnects;                /* PROTO_REQ_F_RECONNECT: it comes back by itself if lost */
        bool keep_stdin;                /* lost (not left): its command's stdin is held for it */
        bool draining;                  /* DETACHED sent: its last ACKs are still read, until EOF */
        uint64_t drain_horizon;         /* ... records below it (and of its filter) were sent to it */
        uint32_t drain_filter;
        bool term;                      /* attached to a terminal session's terminal (TERM_OUTPUT) */
        bool term_stale;                /* ... fell behind: no live output until drained, then a redraw */
        bool term_pos;                  /* ... takes TERM_POS after each rendering (PROTO_REQ_F_TERM_POS) */
        uint32_t caller_uid;
        /* Its own terminal, handed over (worker-tty.c): keys read from it,
         * the output written to it.  -EBADF when not. */
        int tty_fd;
        EvSource *tty_src;
        Buf tty_out;
        DetachMatch tty_keys;
        bool tty_asked;                 /* TERM_TTY_ASK sent: the rendering waits for TERM_TTY */
        unsigned render_lines;          /* ... that rendering */
        unsigned render_flags;          /* ... (TerminalRenderFlags) */
        bool render_resume;             /* ... a client reconnecting by itself */
        bool tty_pos_known;             /* tty_pos: where its terminal stands in the live output */
        uint64_t tty_pos;
        bool watcher;                   /* dwell watch: read-only, never the typer */
};

/* A write a client announced (ACK with an intent) and has not yet
 * acknowledged: if the client is lost, the next one's RESUME says from its
 * output file's size how much of it landed. */
typedef struct Intent {
        bool set;
        uint64_t seq, offset, len;
        uint64_t dev, ino, size;
        int stream;                     /* 0 stdout, 1 stderr */
        bool in_file[2];                /* which streams the client wrote to that file */
        uint32_t filter;                /* the records it was sent (set when it left: */
        uint64_t horizon;               /* every client leaves through session_detached()) */
} Intent;

#define WORKER_MARK_HOLD (4096u + 16u)  /* >= the longest mark terminal.c passes on, whole */
#define WORKER_SCROLLED_MAX 256u        /* positions kept where lines scrolled (worker-term.c) */
#define TERM_CLIENT_MAX (1024u * 1024)  /* unsent output per terminal client before it misses live output */
#define TERM_RENDER_MAX (64u * 1024 * 1024)     /* a rendering at most */

struct Worker {
        EvLoop *event;
        HostParams *p;
        Conn *ctl;
        EvSource *ctl_src;
        EvSource *listen_src;

        Runner *runner;                 /* the shell, or the restricted runner */
        EvSource *out_src, *err_src;
        EvSource *kill_src, *idle_src, *status_timer_src;
        bool paused;                    /* block mode: output reading stopped */
        bool out_eof, err_eof;

        OutBuf out;
        Intent intent;
        uint64_t dropped_before;        /* out.dropped when the running command started */
        Conn mon;                       /* to the monitor: audit events, transcript data */
        EvSource *mon_src;
        Command *queue, *queue_tail;
        Command *running;
        uint32_t next_cmd;
        bool exit_pending;
        int exit_status_pending;
        RunnerStatusSource exit_source_pending;
        uint32_t last_cmd;
        int32_t last_status;
        char *last_text;                /* the last finished command's text, or NULL */
        bool temporary;
        uint32_t temp_cmd;              /* temporary session: the command that ends it */

        /* --on-finish hooks: one runs at a time, at most HOOK_MAX_PENDING wait. */
        Hook *hooks, *hooks_tail;
        unsigned n_hooks;               /* waiting, not counting the running one */
        Hook *hook;                     /* running */
        pid_t hook_pid;
        uint64_t hook_started_mono;
        bool hook_killed;
        EvSource *hook_child_src, *hook_timer_src;
        /* The stdin of a synchronous invoke's command: what its client
         * sent (within PROTO_STDIN_WINDOW), written to the command's pipe. */
        Buf stdin_buf;
        uint32_t stdin_cmd;             /* the command it is for, 0: none */
        bool stdin_eof;                 /* ... ends after stdin_buf */
        int stdin_w;                    /* the running command's stdin (write end), -EBADF: closed */
        EvSource *stdin_src;
        uint64_t stdin_received;        /* bytes taken for stdin_cmd from its clients */
        EvSource *stdin_hold_src;       /* its client was lost: stdin held open until this fires */
        /* The last synchronous invoke's client that went away: its command
         * may be reattached (PROTO_REQ_F_REATTACH); lost_temp_cmd: it was
         * the command of a temporary session, kept because it was lost. */
        uint32_t lost_invoke_cmd;
        uint32_t lost_temp_cmd;

        Client *client;                 /* the connected one */
        Client *clients;                /* every live one, also those answered and closing */
        uint64_t idle_timeout;
        uint64_t idle_since;            /* realtime usec, 0 while connected */
        uint8_t state;                  /* SessionState reported to dwelld */
        bool terminating;
        bool shell_dead;                /* the runner can run nothing more */
        char broken_reason[64];
        int exit_code;

        /* A terminal session (worker-term.c): the pty master is runner->pty_fd. */
        struct Terminal *term;
        EvSource *pty_src;
        Buf pty_in;                     /* typed bytes the pty has not taken yet */
        bool pty_paused;                /* reading stopped while the monitor lags */
        bool pty_eof;                   /* no slave side left */
        bool pty_in_overflow;           /* typed input is being dropped (logged once) */
        /* The live output's position (bytes shown since the session
         * started) and, where it changed, how many lines had scrolled into
         * the scrollback by a position: a ring, newest last.  A client
         * resuming from a position gets the lines that scrolled after it. */
        uint64_t shown;
        struct { uint64_t pos, lines; } scrolled[WORKER_SCROLLED_MAX];
        unsigned scrolled_head, n_scrolled;
        bool scrolled_lost;             /* the ring went round: older positions are not known */
        /* Where the last terminal handed over stood when its client went
         * (a client reconnecting by itself with the same terminal resumes
         * its history there). */
        struct {
                bool set;
                uint64_t rdev;
                uint32_t uid;
                uint64_t pos;
        } tty_left;

        /* Command records from the shell's OSC 133 marks (worker-marks.c). */
        bool marks_on;                  /* the shell was given the hooks and a nonce */
        Osc133State marks;
        Osc133Action mark_action;       /* what the mark just fed asks for */
        Osc133Mark mark;
        bool mark_seen;                 /* the piece just fed held an OSC 133 string */
        /* The end of a read that may be the start of one of the shell's
         * marks, until its string terminator comes (worker-marks.c). */
        uint8_t mark_hold[WORKER_MARK_HOLD];
        size_t mark_hold_len;
        char *last_typer;               /* the caller of the client that typed last */
        Client *term_invoke;            /* an invoke whose line was typed, until its C mark */
        unsigned n_watchers;
};

#define MON_HIGH_WATER (4u * 1024 * 1024)       /* transcript data queued: stop reading output */

/* worker.c */
uint64_t worker_now(Worker *w);
/* Sends what is queued for the monitor, as far as it takes it. */
void worker_mon_flush(Worker *w);
bool worker_busy(const Worker *w);
void worker_session_info(Worker *w, struct proto_session *s, uint8_t state);
void worker_send_status(Worker *w);
void worker_status_later(Worker *w);
/* An audit event for the monitor: key, value, key, value, ..., NULL. */
void worker_event(Worker *w, AuditEvent e, ...);
/* A terminal session's recording (transcript: true): the bytes read from
 * the pty and the pty's window size, sent to the monitor with the time
 * (asciicast.h).  Nothing without a transcript.  The output is queued:
 * the pty's reader sends it (worker_mon_flush) once the clients have
 * theirs. */
void worker_record_output(Worker *w, const uint8_t *data, size_t n);
void worker_record_size(Worker *w, unsigned cols, unsigned rows);
/* (While more than MON_HIGH_WATER wait for the monitor, the pty reader
 * pauses like the pipes' readers, until on_mon_cb() sees the queue
 * drained: the recording is complete, and a program printing faster than
 * root writes it waits as on a slow terminal.) */
const char *worker_num(char buf[static 24], uint64_t v);
void worker_idle_start(Worker *w);
void worker_idle_stop(Worker *w);
void worker_set_reading(Worker *w, bool on);
/* Queues a command (and starts it if nothing runs); its id, 0 if out of memory. */
uint32_t worker_queue_command(Worker *w, const char *text, const char *caller, const char *on_finish);
void worker_command_free(Command *c);
void worker_done(Worker *w);
void worker_finish_command(Worker *w);
void worker_terminate(Worker *w, uint8_t reason, const char *by);
/* The runner's callbacks (userdata: the Worker). */
void worker_runner_done(Runner *r, int status, RunnerStatusSource src, void *userdata);
void worker_runner_gone(Runner *r, int status, void *userdata);
void worker_runner_restarted(Runner *r, void *userdata);
/* Watches the runner's output pipes. */
int worker_watch_output(Worker *w);
/* Passes buffered stdin on to the running command, grants the client
 * more, closes the command's stdin after STDIN_EOF. */
void worker_stdin_flush(Worker *w);
/* The command's client is gone: its stdin ends after what it sent, or is
 * held for PROTO_STDIN_HOLD_USEC if the client was lost and reconnects. */
void worker_stdin_client_gone(Worker *w, Client *c);
/* Ends a hold: the held command's stdin ends (eof) or stays (reattached). */
void worker_stdin_hold_end(Worker *w, bool eof);
/* A new invoke takes the stdin over: an earlier command's still being fed
 * is closed and what was buffered for it dropped. */
void worker_stdin_abandon(Worker *w);
/* dwell stop / Ctrl-C: sig to the running command's processes; with
 * all, the queued commands are dropped too.  Audited.  Returns the number
 * of processes signalled. */
int worker_stop_command(Worker *w, int sig, bool all, const char *by);

/* hooks.c */
#define HOOK_TIMEOUT (60 * USEC_PER_SEC)        /* a hook still running then is killed */
#define HOOK_MAX_PENDING 8u                     /* hooks waiting for the running one; more are skipped */
/* Command c ended with status: queue its hook, if it has one. */
void worker_hook_queue(Worker *w, const Command *c, int status);
/* Kills the running hook and forgets the waiting ones (the session ends). */
void worker_hooks_done(Worker *w);

/* worker-client.c: a client's connection, from its handoff to its end. */
/* Sends buffered records to the connected client, as far as its socket takes them. */
void worker_pump(Worker *w);
/* A Client for fd (taken), its frames read from now on; NULL if out of memory (fd closed). */
Client *client_new(Worker *w, int fd, const struct proto_handoff *h);
void client_start_heartbeats(Client *c);
void client_detach(Worker *w, Client *c, uint8_t reason, const char *by);
/* c typed the detach keys at the terminal it handed over: DETACHED
 * (DETACH_KEYS) once the terminal is let go, then closed. */
void client_leave_by_keys(Client *c);
/* The session's client is gone without leaving (why: for the log and the audit). */
void client_lost(Worker *w, const char *why);
/* The session loses its client (left, vanished or was disconnected). */
void session_detached(Worker *w);
/* A TERM_NOTICE to every terminal client but skip. */
void term_notice_all(Worker *w, Client *skip, const char *text);
void client_free(Client *c);
/* Writes what is queued for c; may free c (a failed write). */
void client_flush(Client *c);

/* worker-tty.c: a local typer's own terminal, handed over. */
/* c offered its terminal (PROTO_REQ_F_TTY_OFFER) and may hand it over: asked
 * (TERM_TTY_ASK); true if so, and the rendering waits for TERM_TTY. */
bool worker_tty_ask(Worker *w, Client *c, const struct proto_request *req);
/* TERM_TTY from c: 0, or <0 (a protocol error: the connection ends). */
int worker_tty_take(Worker *w, Client *c, Frame *f);
/* Output for c's terminal: queued and written as far as it takes it
 * (more than TERM_CLIENT_MAX behind: c misses live output, then a redraw). */
void worker_tty_put(Client *c, const void *p, size_t n, bool live);
void worker_tty_flush(Client *c);
/* A one-line notice written into c's terminal. */
void worker_tty_notice(Client *c, const char *text);
/* c's terminal given back (closed); where it stood is kept for a reconnect. */
void worker_tty_release(Client *c);

/* worker-handoff.c: what each verb handed over asks. */
/* A client handed over by dwelld on fd (taken). */
void worker_handoff(Worker *w, int fd, const struct proto_handoff *h);
/* The session became idle (or cannot run anything more): answer `dwell wait`. */
void worker_wake_waiters(Worker *w);

/* worker-term.c: terminal sessions. */
/* Resolves TERM, sets up the terminal state and starts the login shell
 * on its pty (the runner). */
int worker_term_start(Worker *w, const RunnerCallbacks *cb);
void worker_term_done(Worker *w);
void worker_term_set_reading(Worker *w, bool on);
/* Reads what the pty still has (the shell has exited). */
void worker_term_drain(Worker *w);
/* c (connect) becomes the typer: the pty takes its size, and it gets the
 * rendered screen; then live output. */
int worker_term_attach(Worker *w, Client *c, const struct proto_request *req);
/* TERM_INPUT and TERM_SIZE. */
int worker_term_frame(Worker *w, Client *c, Frame *f);
/* c's queued output was all written: a client that fell behind is redrawn. */
void worker_term_client_drained(Client *c);
/* c's rendering, which waited for TERM_TTY: to its terminal if the worker
 * took it, else to its socket. */
void worker_term_render_asked(Worker *w, Client *c);
bool worker_terminfo_has(const char *name);
/* Output for the attached clients, the watchers and the recording (sent:
 * the clients and watchers have it already; the recording only). */
void worker_term_show(Worker *w, const uint8_t *p, size_t n, bool sent);
/* Bytes for the pty, as typed. */
void worker_term_input(Worker *w, const uint8_t *p, size_t n);
/* A watcher (dwell watch): the rendered screen, then live output. */
void worker_term_watch(Worker *w, Client *c, const struct proto_request *req);

/* worker-marks.c: command records from the shell's marks; invoke at the prompt. */
/* Before the shell starts: the hooks and a nonce in its environment (bash only). */
int worker_marks_env(Worker *w);
/* Once the terminal state exists: its marks come here. */
void worker_marks_attach(Worker *w);
/* The pty's output: fed to the terminal state, recorded cut at the marks,
 * and shown (worker_term_show) without the shell's own marks; sent: the
 * clients have it already (only when worker_marks_shows_all() said so). */
void worker_marks_feed(Worker *w, const uint8_t *p, size_t n, bool sent);
/* Whether all of p, read from the pty, will be shown as it is, which the
 * bytes tell before the terminal state is fed: no mark can start in it. */
bool worker_marks_shows_all(Worker *w, const uint8_t *p, size_t n);
/* The pty is at its end: what was held back as a possible mark goes out. */
void worker_marks_flush(Worker *w);
/* A client typed at the terminal. */
void worker_marks_typed(Worker *w, Client *c);
void worker_marks_done(Worker *w);
/* invoke on a terminal session: 1 if c was refused (answered), 0 if it may go on. */
int worker_marks_invoke(Worker *w, Client *c, const struct proto_handoff *h);
/* c is attached: its line is typed at the prompt. */
void worker_marks_invoke_start(Worker *w, Client *c, const char *text);
void worker_marks_client_gone(Worker *w, Client *c);
/* worker-handoff.c: an error answer, the connection closes once it is out. */
void client_refuse(Client *c, uint16_t code, const char *fmt, ...) _printf_(3, 4);
/* worker-client.c: an attached client gets an error and goes; the session is detached. */
void client_abandon(Client *c, uint16_t code, const char *message);
