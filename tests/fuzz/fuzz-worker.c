/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the worker's client protocol: the real worker code
 * (src/host/worker-handoff.c, worker-client.c and worker.c, on a real
 * event loop), with a fake runner in place of the shell.
 *
 * The input is a little program.  Each step is one of: a client handed
 * over by dwelld (invoke, invoke -d, connect, receive, disconnect, with a
 * buffering mode), a frame that client sends (ACK with any seq, offset and
 * intent, RESUME with any files, RUN, HEARTBEAT, DETACH, or any type with
 * any payload), output the running command writes to its stdout or
 * stderr pipe, the command's end, the shell's death, the client
 * vanishing, or the session's removal.  Clients are real socket pairs:
 * what the worker sends is read back and decoded after every step.
 *
 * Checked after every step (abort() on a violation):
 *   - the output buffer is a consistent list (links, seqs increasing and
 *     below next_seq, used = the unacknowledged bytes, the cursor in it);
 *   - next_seq never goes back; a record keeps its seq, and its
 *     acknowledged part (skip) only grows and never passes its size;
 *   - a record leaves the buffer, or loses bytes, only when a client
 *     received it and acknowledged it (an ACK of that seq or a later one;
 *     an intent is one), or a client that announced a write received it
 *     and a RESUME came since (the file grew: doc/protocol.md), or, in
 *     drop mode, because it was dropped (output only);
 *   - every frame the worker sends decodes; the records a client receives
 *     have increasing seqs below next_seq, and an output record's offset
 *     plus its bytes is exactly the record's size.
 * The sanitizers do the rest (no crash, no leak, no overflow).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "command.h"
#include "conn.h"
#include "log.h"
#include "macro.h"
#include "outbuf.h"
#include "parse-util.h"
#include "privdrop.h"
#include "proto.h"
#include "worker-internal.h"
#include "fuzz.h"

/* FUZZ_WORKER_TRACE=1: what each step did, on stderr (for writing seeds). */
static bool trace;
#define TRACE(...) do { if (trace) fprintf(stderr, __VA_ARGS__); } while (0)

/* command.c links these for runner_child_setup(), which only a real
 * runner's child calls: never here. */
int limits_apply(const HostLimit limits[], int *ret_resource) {
        abort();
}
const char *host_limit_name(int resource) {
        abort();
}

/* ------------------------------------------------------------- input */

typedef struct Input {
        const uint8_t *p;
        size_t n;
} Input;

static uint8_t in_u8(Input *in) {
        if (in->n == 0)
                return 0;
        in->n--;
        return *in->p++;
}

static uint16_t in_u16(Input *in) {
        uint16_t lo = in_u8(in);
        return (uint16_t) (lo | in_u8(in) << 8);
}

static uint64_t in_u64(Input *in) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v |= (uint64_t) in_u8(in) << (8 * i);
        return v;
}

/* A short string: length byte (up to 40), then the bytes (NUL ends it early). */
static void in_str(Input *in, char buf[static 41]) {
        size_t len = in_u8(in) % 41, i;

        for (i = 0; i < len; i++) {
                buf[i] = (char) in_u8(in);
                if (!buf[i])
                        break;
        }
        buf[i] = 0;
}

/* ----------------------------------------------------- the fake runner */

typedef struct FakeRunner {
        Runner r;
        int out_w, err_w;       /* the command's stdout and stderr */
        bool running;
} FakeRunner;

/* A command whose text starts with '!' ends at once, refused; any other
 * runs until the input ends it. */
static int fake_run(Runner *r, const char *text, RunnerResult *res) {
        FakeRunner *f = (FakeRunner *) r;

        *res = (RunnerResult) {};
        if (text[0] == '!') {
                *res = (RunnerResult) { .status = 126, .refused = true, .reason = "not-allowed" };
                res->message = strdup("dwell: command refused\n");
                res->program = strdup(text + 1);
                return 1;
        }
        CHECK(!f->running);     /* one command at a time */
        f->running = true;
        return 0;
}

static int fake_stop(Runner *r) {
        return 0;               /* nothing left to wait for: the worker ends at once */
}

static void fake_kill(Runner *r) {
}

static void fake_free(Runner *r) {
        FakeRunner *f = (FakeRunner *) r;

        safe_close(f->out_w);
        safe_close(f->err_w);
        free(f);
}

static const RunnerOps fake_ops = {
        .run = fake_run,
        .stop = fake_stop,
        .kill = fake_kill,
        .free = fake_free,
};

/* ------------------------------------------------------------ clients */

#define MAX_PEERS 4

/* The client end of a socket pair handed to the worker. */
typedef struct Peer {
        Conn conn;
        bool attached;          /* ATTACHED arrived */
        bool announced;         /* sent an ACK announcing a write (an intent) */
        uint64_t last_seq;      /* of the last record received */
} Peer;

#define MAX_TRACK 65536     /* seqs whose delivery is tracked */
static uint8_t received[MAX_TRACK / 8];

static void mark_received(uint64_t seq) {
        if (seq < MAX_TRACK)
                received[seq / 8] |= (uint8_t) (1u << (seq % 8));
}

/* Whether some client received record seq (not tracked past MAX_TRACK). */
static bool was_received(uint64_t seq) {
        return seq >= MAX_TRACK || (received[seq / 8] & (1u << (seq % 8)));
}

/* Reads and checks everything the worker sent to one client. */
static void peer_drain(Peer *pe, const OutBuf *o) {
        for (;;) {
                Frame f;
                int r = conn_fill(&pe->conn);

                if (r <= 0 && r != -EAGAIN) {
                        safe_close(pe->conn.fd);
                        pe->conn.fd = -EBADF;
                }
                while (conn_next(&pe->conn, &f) > 0) {
                        if (f.type == PROTO_MSG_RECORD) {
                                struct proto_record rec;

                                CHECK(pe->attached);
                                CHECK(proto_get_record(&f.payload, &rec) == 0);
                                TRACE("  client got record seq %" PRIu64 " cmd %u kind %u value %" PRIi64 " size %zu\n",
                                      rec.seq, rec.cmd_id, rec.kind, rec.value, rec.size);
                                CHECK(rec.seq > pe->last_seq && rec.seq < o->next_seq);
                                pe->last_seq = rec.seq;
                                mark_received(rec.seq);
                                if (rec.kind == RECORD_STDOUT || rec.kind == RECORD_STDERR) {
                                        CHECK(rec.value >= 0);
                                        for (const OutRecord *x = o->head; x; x = x->next)
                                                if (x->seq == rec.seq && x->kind == rec.kind)
                                                        CHECK((size_t) rec.value + rec.size == x->size);
                                }
                        } else if (f.type == PROTO_MSG_ATTACHED) {
                                uint32_t hb;
                                struct proto_session s = {};

                                CHECK(proto_get_attached(&f.payload, &hb, &s) == 0);
                                TRACE("  client attached\n");
                                proto_session_done(&s);
                                pe->attached = true;
                                pe->last_seq = 0;
                        } else if (f.type == PROTO_MSG_SYNCED) {
                                struct proto_synced s;
                                CHECK(proto_get_synced(&f.payload, &s) == 0);
                        } else if (f.type == PROTO_MSG_ERROR) {
                                uint16_t code;
                                char *msg = NULL;
                                CHECK(proto_get_error(&f.payload, &code, &msg) == 0);
                                TRACE("  client got ERROR %u: %s\n", code, msg);
                                free(msg);
                        } else if (f.type == PROTO_MSG_DETACHED) {
                                uint8_t reason;
                                char *by = NULL;
                                CHECK(proto_get_detached(&f.payload, &reason, &by) == 0);
                                free(by);
                        } else if (f.type == PROTO_MSG_STDIN_WINDOW) {
                                uint32_t n;
                                /* Never more stdin granted than the worker holds at most. */
                                CHECK(proto_get_u32_msg(&f.payload, &n) == 0 && n <= PROTO_STDIN_WINDOW);
                        } else if (f.type == PROTO_MSG_SESSION) {
                                struct proto_session s = {};
                                CHECK(proto_get_session(&f.payload, &s) == 0);
                                proto_session_done(&s);
                        } else
                                CHECK(f.type == PROTO_MSG_OK || f.type == PROTO_MSG_HEARTBEAT);
                        if (f.type != PROTO_MSG_RECORD && f.type != PROTO_MSG_ATTACHED)
                                TRACE("  client got %s\n", proto_msg_to_string(f.type));
                        conn_consume(&pe->conn, &f);
                }
                if (r <= 0)
                        return;
        }
}

static void peer_send(Peer *pe, Buf *frame) {
        if (pe->conn.fd >= 0 && buf_len(frame) > 0)
                (void) write(pe->conn.fd, buf_ptr(frame), buf_len(frame));     /* a full socket drops it */
        buf_consume(frame, buf_len(frame));
}

/* ---------------------------------------------------------- invariants */

#define MAX_SEEN 4096

/* What the buffer held after the previous step. */
typedef struct Seen {
        size_t n;
        struct { uint64_t seq; size_t skip, size; uint8_t kind; } r[MAX_SEEN];
} Seen;

typedef struct State {
        Worker w;
        HostParams p;
        Conn ctl;
        FakeRunner *runner;
        Peer peers[MAX_PEERS];
        size_t n_peers;
        uint64_t acked;         /* the highest seq any client acknowledged (ACK, or an intent's) */
        uint64_t announced_gone;/* the last seq received by an announcing client no longer tracked */
        uint64_t next_seq;
        bool drop_seen;         /* drop mode at the previous step or now */
        Seen seen;
} State;

static bool outbuf_consistent(const OutBuf *o) {
        const OutRecord *prev = NULL;
        size_t used = 0, n = 0;
        bool cursor_found = o->cursor == NULL;
        uint64_t last_seq = 0;

        for (const OutRecord *r = o->head; r; prev = r, r = r->next) {
                if (r->prev != prev || r->seq <= last_seq || r->seq >= o->next_seq || r->skip > r->size)
                        return false;
                if (r->skip > 0 && r->skip == r->size)
                        return false;   /* wholly acknowledged: it should be gone */
                last_seq = r->seq;
                used += r->size - r->skip;
                n++;
                if (r == o->cursor)
                        cursor_found = true;
        }
        return o->tail == prev && used == o->used && n == o->n_records && cursor_found;
}

static void check_state(State *st) {
        const OutBuf *o = &st->w.out;
        const OutRecord *r = o->head;
        size_t i = 0;

        TRACE("  buffer: next_seq %" PRIu64 " records %zu used %zu/%zu %s; running %u, queued %s, client %s\n",
              o->next_seq, o->n_records, o->used, o->max, o->mode == BUFFERING_DROP ? "drop" : "block",
              st->w.running ? st->w.running->id : 0, st->w.queue ? "yes" : "no", st->w.client ? "yes" : "no");
        CHECK(outbuf_consistent(o));
        CHECK(o->next_seq >= st->next_seq);
        st->next_seq = o->next_seq;
        st->drop_seen = st->drop_seen || o->mode == BUFFERING_DROP;

        /* Every record seen before is still there with what it had, or
         * was acknowledged, or dropped. */
        for (size_t k = 0; k < st->seen.n; k++) {
                uint64_t seq = st->seen.r[k].seq;
                bool output = st->seen.r[k].kind == RECORD_STDOUT || st->seen.r[k].kind == RECORD_STDERR;

                while (r && r->seq < seq)
                        r = r->next;
                if (r && r->seq == seq) {
                        CHECK(r->size == st->seen.r[k].size || r->kind == RECORD_DROPPED);
                        if (r->kind != st->seen.r[k].kind)
                                CHECK(st->drop_seen && output && r->kind == RECORD_DROPPED);
                        else if (r->skip != st->seen.r[k].skip) {
                                CHECK(r->skip > st->seen.r[k].skip);
                                CHECK(seq <= st->acked && was_received(seq));
                        }
                } else
                        CHECK((seq <= st->acked && was_received(seq)) || (st->drop_seen && output));
        }

        st->drop_seen = o->mode == BUFFERING_DROP;
        st->seen.n = 0;
        for (r = o->head; r && i < MAX_SEEN; r = r->next, i++)
                st->seen.r[st->seen.n++] = (typeof(st->seen.r[0])) {
                        .seq = r->seq, .skip = r->skip, .size = r->size, .kind = r->kind,
                };
}

/* ---------------------------------------------------------------- steps */

static void run_loop(State *st) {
        for (int i = 0; i < 16; i++) {
                for (size_t k = 0; k < st->n_peers; k++)
                        peer_drain(&st->peers[k], &st->w.out);
                if (evloop_run_once(st->w.event, 0) <= 0)
                        break;
        }
        for (size_t k = 0; k < st->n_peers; k++)
                peer_drain(&st->peers[k], &st->w.out);
        /* The monitor reads what the worker reports. */
        buf_consume(&st->w.mon.out, buf_len(&st->w.mon.out));
}

static const uint16_t verbs[] = {
        PROTO_REQ_INVOKE, PROTO_REQ_INVOKE, PROTO_REQ_CONNECT, PROTO_REQ_RECEIVE, PROTO_REQ_DISCONNECT,
        PROTO_REQ_LIST, PROTO_REQ_WAIT,
};

static void step_handoff(State *st, Input *in) {
        uint8_t b = in_u8(in), v = (uint8_t) ((b & 0x0f) % ELEMENTSOF(verbs)), buffering = (b >> 4) & 3;
        char text[41];
        struct proto_handoff h = {
                .verb = verbs[v],
                .caller = (char *) "alice",
                .caller_uid = 1000,
                .caller_pid = 4242,
                .origin = (char *) "",
        };
        int sv[2];
        Peer *pe;

        in_str(in, text);
        h.req.flags = v == 1 ? PROTO_REQ_F_DISCONNECTED : 0;
        h.req.command = text;
        h.req.buffering = buffering == 1 ? BUFFERING_BLOCK : buffering == 2 ? BUFFERING_DROP : BUFFERING_UNSET;
        h.req.idle_timeout = (b & 0x80) ? 3600 * USEC_PER_SEC : 0;
        if (st->n_peers == MAX_PEERS) {
                if (st->peers[0].announced)
                        st->announced_gone = MAX(st->announced_gone, st->peers[0].last_seq);
                conn_done(&st->peers[0].conn);
                memmove(&st->peers[0], &st->peers[1], sizeof(Peer) * (MAX_PEERS - 1));
                st->n_peers--;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        pe = &st->peers[st->n_peers++];
        *pe = (Peer) {};
        conn_init(&pe->conn, sv[0], PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 64u * 1024 * 1024);
        worker_handoff(&st->w, sv[1], &h);
}

static void step_frame(State *st, Input *in, uint8_t op) {
        Peer *pe = st->n_peers > 0 ? &st->peers[st->n_peers - 1] : NULL;
        Buf frame;
        char text[41];

        buf_init(&frame, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        switch (op) {
        case 0: {       /* ACK near what arrived, or anywhere */
                uint8_t b = in_u8(in);
                struct proto_ack a = {};

                if (b & 1)
                        a.seq = in_u64(in);
                else            /* the last seq received, -4 .. +3 */
                        a.seq = (pe ? pe->last_seq : 0) + (uint64_t) (int64_t) ((int8_t) in_u8(in) / 32);
                a.offset = (b & 2) ? in_u64(in) : in_u16(in);
                a.intent_len = (b & 4) ? in_u16(in) : 0;
                a.intent_size = (b & 8) ? in_u8(in) : 0;
                /* What the worker may take as acknowledged: this seq;
                 * an intent also lets a later RESUME forget what this
                 * client was sent (see the RESUME step). */
                st->acked = MAX(st->acked, a.seq);
                if (pe && a.intent_len > 0)
                        pe->announced = true;
                (void) proto_put_ack(&frame, &a);
                break;
        }
        case 1: {       /* RESUME: files 0..3, sizes near the intents' */
                struct proto_resume r = {};

                for (int i = 0; i < 2; i++) {
                        uint8_t b = in_u8(in);
                        r.dev[i] = b & 3;
                        r.ino[i] = (b >> 2) & 3;
                        r.size[i] = in_u16(in);
                }
                (void) proto_put_resume(&frame, &r);
                /* A client that announced a write may have made more
                 * writes than its acknowledgements told (doc/protocol.md,
                 * "Write intents"): the file's growth this RESUME shows
                 * may cover any record it was sent, and no other. */
                st->acked = MAX(st->acked, st->announced_gone);
                for (size_t k = 0; k < st->n_peers; k++)
                        if (st->peers[k].announced)
                                st->acked = MAX(st->acked, st->peers[k].last_seq);
                break;
        }
        case 2:
                in_str(in, text);
                (void) proto_put_str_msg(&frame, PROTO_MSG_RUN, text);
                break;
        case 3:
                (void) proto_put_empty(&frame, PROTO_MSG_HEARTBEAT);
                break;
        case 4:
                (void) proto_put_empty(&frame, PROTO_MSG_DETACH);
                break;

        default: {      /* any type, any payload */
                uint16_t type = in_u16(in);
                size_t len = in_u8(in), start;

                /* Types 0xff00.. (unknown anyway) stand for the stdin
                 * frames, well formed: STDIN of len bytes, STDIN_EOF,
                 * INTERRUPT. */
                if (type >= 0xff00)
                        type = (uint16_t[]) { PROTO_MSG_STDIN, PROTO_MSG_STDIN_EOF, PROTO_MSG_INTERRUPT,
                                              PROTO_MSG_STDIN }[type & 3];
                if (type == PROTO_MSG_STDIN_EOF || type == PROTO_MSG_INTERRUPT)
                        len = 0;

                if (proto_begin(&frame, type, 0, &start) == 0) {
                        for (size_t i = 0; i < len && in->n > 0; i++)
                                (void) buf_put_u8(&frame, in_u8(in));
                        (void) proto_end(&frame, start);
                }
                break;
        }
        }
        if (pe)
                peer_send(pe, &frame);
        buf_done(&frame);
}

static void step_output(State *st, Input *in) {
        static uint8_t chunk[70000];
        uint8_t b = in_u8(in);
        size_t len = (b & 0x80) ? (size_t) in_u16(in) + 1 : (size_t) (b & 0x3f) + 1;
        int fd = (b & 0x40) ? st->runner->err_w : st->runner->out_w;

        for (size_t i = 0; i < len; i++)
                chunk[i] = (uint8_t) ('a' + i % 26);
        (void) write(fd, chunk, len);   /* a full pipe takes less */
}

static void state_init(State *st) {
        static char name[] = "fuzz", empty[] = "", id[] = "00000000-0000-0000-0000-000000000000";
        const RunnerCallbacks cb = { .done = worker_runner_done, .gone = worker_runner_gone, .userdata = &st->w };
        int rd[2], wr[2];

        st->p = (HostParams) {
                .id = 1, .instance_id = id, .name = name, .host = name, .user = name, .owner = name,
                .run_as = empty, .shell = empty, .configuration = name, .origin = empty,
                .idle_timeout = 3600 * USEC_PER_SEC, .buffering = BUFFERING_BLOCK,
                .heartbeat_ms = 0,      /* no timers: every run is the same */
                .listen_fd = -EBADF, .monitor_fd = -EBADF,
        };
        conn_init(&st->ctl, -EBADF, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 16u * 1024 * 1024);
        st->w = (Worker) {
                .p = &st->p,
                .ctl = &st->ctl,
                .idle_timeout = st->p.idle_timeout,
                .state = SESSION_DISCONNECTED,
                .last_status = -1,
                .stdin_w = -EBADF,
        };
        buf_init(&st->w.stdin_buf, PROTO_STDIN_WINDOW);
        conn_init(&st->w.mon, -EBADF, 4096, 64u * 1024 * 1024);
        CHECK(evloop_new(&st->w.event) == 0);

        st->runner = calloc(1, sizeof *st->runner);
        CHECK(st->runner);
        runner_init(&st->runner->r, &fake_ops, st->w.event, &st->p, &cb);
        CHECK(runner_output_pipes(rd, wr) == 0);
        st->runner->r.out_fd = rd[0];
        st->runner->r.err_fd = rd[1];
        st->runner->out_w = wr[0];
        st->runner->err_w = wr[1];
        (void) fd_nonblock(wr[0], true);
        (void) fd_nonblock(wr[1], true);
        (void) fcntl(rd[0], F_SETPIPE_SZ, 65536);       /* smaller: fills sooner */
        (void) fcntl(rd[1], F_SETPIPE_SZ, 65536);
        st->w.runner = &st->runner->r;
        CHECK(worker_watch_output(&st->w) == 0);
        st->next_seq = 1;
}

static void state_done(State *st) {
        for (size_t k = 0; k < st->n_peers; k++)
                conn_done(&st->peers[k].conn);
        worker_done(&st->w);
        conn_done(&st->ctl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static State st;
        Input in = { data, size };
        uint8_t mode = in_u8(&in);

        trace = getenv("FUZZ_WORKER_TRACE") != NULL;
        log_set_max_level(trace ? LOG_DEBUG : LOG_CRIT);       /* the worker's own messages */
        memset(&st, 0, sizeof st);
        memset(received, 0, sizeof received);
        state_init(&st);
        /* The buffer: 1 KiB .. 256 KiB, block or drop. */
        outbuf_init(&st.w.out, (size_t) 1024 << ((mode & 0x0f) % 9), (mode & 0x10) ? BUFFERING_DROP : BUFFERING_BLOCK);
        st.w.temporary = (mode & 0x20) != 0;
        check_state(&st);

        for (unsigned steps = 0; in.n > 0 && steps < 256 && !st.w.terminating; steps++) {
                uint8_t op = in_u8(&in);

                TRACE("step %u: op %u\n", steps, op % 12);
                switch (op % 12) {
                case 0:
                        step_handoff(&st, &in);
                        break;
                case 1 ... 6:
                        step_frame(&st, &in, (uint8_t) (op % 12 - 1));
                        break;
                case 7:
                        step_output(&st, &in);
                        break;
                case 8:         /* the running command ends */
                        run_loop(&st);  /* its output first, as the real loop's priorities do */
                        if (st.runner->running && st.w.running) {
                                st.runner->running = false;
                                worker_runner_done(&st.runner->r, in_u8(&in), RUNNER_STATUS_SHELL, &st.w);
                        }
                        break;
                case 9:         /* the shell dies */
                        if (!st.w.shell_dead) {
                                run_loop(&st);
                                st.runner->running = false;
                                worker_runner_gone(&st.runner->r, 128 + 9, &st.w);
                        }
                        break;
                case 10:        /* the newest client vanishes */
                        if (st.n_peers > 0) {
                                Peer *pe = &st.peers[st.n_peers - 1];
                                pe->conn.fd = safe_close(pe->conn.fd);
                        }
                        break;
                case 11:        /* dwell remove */
                        worker_terminate(&st.w, DETACH_REMOVED, "fuzz");
                        break;
                }
                run_loop(&st);
                check_state(&st);
        }
        state_done(&st);
        return 0;
}
