/* SPDX-License-Identifier: ISC */
/*
 * Writes the seed corpus for fuzz-proto: one file per message type (and a
 * few multi-frame streams), encoded with proto.c itself, so that the
 * corpus follows the protocol when it changes (a PROTO_VERSION bump would
 * otherwise leave every seed stuck at the header check).
 *
 *   cc -D_GNU_SOURCE -Isrc/shared tests/fuzz/make-corpus.c \
 *      src/shared/buf.c src/shared/proto.c -o /tmp/make-corpus
 *   /tmp/make-corpus tests/fuzz/corpus/proto
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "proto.h"

static const char *dir;
static int failed;

static void emit(const char *name, Buf *b, int r) {
        char path[4096];
        FILE *f;

        if (r < 0) {
                fprintf(stderr, "%s: encoding failed: %s\n", name, strerror(-r));
                failed = 1;
                buf_reset(b);
                return;
        }
        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "we");
        if (!f || fwrite(buf_ptr(b), 1, buf_len(b), f) != buf_len(b) || fclose(f) != 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                failed = 1;
        }
        buf_reset(b);
}

int main(int argc, char *argv[]) {
        struct proto_request req = {
                .flags = PROTO_REQ_F_DISCONNECTED,
                .session = (char *) "build",
                .name = (char *) "nightly",
                .config = (char *) "default",
                .credential = (char *) "alice",
                .command = (char *) "make -j8 && make check",
                .idle_timeout = UINT64_C(7200000000),
                .buffering = BUFFERING_DROP,
        };
        struct proto_session s = {
                .id = 3,
                .instance_id = (char *) "6f1c0a9e-2b57-4f43-a0d1-3c8e5d7b9a12",
                .name = (char *) "Session3",
                .host = (char *) "web01",
                .owner = (char *) "alice",
                .run_as = (char *) "root",
                .configuration = (char *) "netops",
                .state = SESSION_DISCONNECTED,
                .availability = AVAILABILITY_NONE,
                .buffering = BUFFERING_BLOCK,
                .temporary = 0,
                .idle_timeout = UINT64_C(7200000000),
                .buffer_size = 4u << 20,
                .buffered = 4096,
                .dropped = 0,
                .command_id = 12,
                .command = (char *) "tail -f /var/log/syslog",
                .created = UINT64_C(1700000000000000),
                .idle_since = UINT64_C(1700000360000000),
                .holder = (char *) "",
                .origin = (char *) "192.0.2.10 51234 192.0.2.1 22",
                .reason = (char *) "",
        };
        static const uint8_t out[] = "total 0\ndrwxr-xr-x 2 root root 40 Jan  1 00:00 .\n";
        struct proto_record rec = {
                .seq = 41, .cmd_id = 12, .kind = RECORD_STDOUT, .data = out, .size = sizeof out - 1,
        };
        struct proto_record drop = { .seq = 40, .cmd_id = 12, .kind = RECORD_DROPPED, .value = 1 << 20 };
        struct proto_record ex = { .seq = 42, .cmd_id = 12, .kind = RECORD_EXIT, .value = 130 };
        struct proto_synced sy = { .running = 0, .last_cmd = 12, .last_status = 130 };
        struct proto_handoff h = {
                .verb = PROTO_REQ_CONNECT,
                .req = req,
                .caller = (char *) "alice",
                .caller_uid = 1000,
                .caller_pid = 31337,
                .origin = (char *) "192.0.2.10 51234 192.0.2.1 22",
        };
        struct proto_kv kv = {};
        Buf b;
        size_t start;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        dir = argv[1];
        buf_init(&b, 1 << 20);

        emit("req-new", &b, proto_put_request(&b, PROTO_REQ_NEW, &(struct proto_request) {
                .name = (char *) "build", .config = (char *) "default", .buffering = BUFFERING_BLOCK }));
        emit("req-invoke", &b, proto_put_request(&b, PROTO_REQ_INVOKE, &req));
        emit("req-list", &b, proto_put_request(&b, PROTO_REQ_LIST, &(struct proto_request) {
                .flags = PROTO_REQ_F_ALL_USERS }));
        emit("origin-then-receive", &b,
             (r = proto_put_str_msg(&b, PROTO_MSG_ORIGIN, "192.0.2.10 51234 192.0.2.1 22")) < 0 ? r :
             proto_put_request(&b, PROTO_REQ_RECEIVE, &(struct proto_request) {
                     .flags = PROTO_REQ_F_NO_WAIT, .session = (char *) "3" }));
        emit("conv", &b,
             (r = proto_put_conv_prompt(&b, 1, "Password: ")) < 0 ? r :
             proto_put_str_msg(&b, PROTO_MSG_CONV_REPLY, "hunter2"));
        emit("error", &b, proto_put_error(&b, PROTO_ERR_NOT_FOUND, "No such session: build"));
        emit("session-list", &b,
             (r = proto_put_session(&b, PROTO_MSG_SESSION, &s)) < 0 ? r :
             (r = proto_put_session(&b, PROTO_MSG_SESSION, &s)) < 0 ? r :
             (r = proto_begin(&b, PROTO_MSG_END, 0, &start)) < 0 ? r :
             (r = buf_put_u32(&b, 2)) < 0 ? r : proto_end(&b, start));

        proto_kv_add(&kv, "name", "default");
        proto_kv_add(&kv, "run_as", "");
        proto_kv_add(&kv, "idle_timeout", "2h");
        proto_kv_add(&kv, "output_buffer_size", "4MiB");
        emit("kv", &b, proto_put_kv(&b, PROTO_MSG_KV, &kv));
        proto_kv_add(&kv, "user", "alice");
        proto_kv_add(&kv, "shell", "/bin/bash");
        emit("spawn", &b, proto_put_kv(&b, PROTO_MSG_SPAWN, &kv));
        proto_kv_done(&kv);

        emit("attached-records", &b,
             (r = proto_put_attached(&b, 15000, &s)) < 0 ? r :
             (r = proto_put_record(&b, &drop)) < 0 ? r :
             (r = proto_put_record(&b, &rec)) < 0 ? r :
             (r = proto_put_record(&b, &ex)) < 0 ? r :
             proto_put_synced(&b, &sy));
        emit("record", &b, proto_put_record(&b, &rec));
        emit("client-stream", &b,
             (r = proto_put_resume(&b, &(struct proto_resume) { .dev = { 64769, 0 }, .ino = { 1234, 0 }, .size = { 4096, 0 } })) < 0 ? r :
             (r = proto_put_ack(&b, &(struct proto_ack) { .seq = 42, .offset = 17, .intent_len = 4096, .intent_size = 8192 })) < 0 ? r :
             (r = proto_put_str_msg(&b, PROTO_MSG_RUN, "cd /srv && ls -la")) < 0 ? r :
             (r = proto_put_empty(&b, PROTO_MSG_HEARTBEAT)) < 0 ? r :
             proto_put_empty(&b, PROTO_MSG_DETACH));
        emit("detached", &b, proto_put_detached(&b, DETACH_REQUESTED, "bob"));
        emit("ok", &b, proto_put_empty(&b, PROTO_MSG_OK));
        emit("host-ready", &b,
             (r = proto_put_ready(&b, 4242, 4243)) < 0 ? r :
             proto_put_session(&b, PROTO_MSG_STATUS, &s));
        emit("host-failed", &b, proto_put_failed(&b, -EPERM, "setresuid(1000): Operation not permitted"));
        emit("handoff", &b, proto_put_handoff(&b, &h));
        emit("spawner", &b,
             (r = proto_put_empty(&b, PROTO_MSG_SPAWNER)) < 0 ? r :
             (r = proto_put_fork(&b)) < 0 ? r :
             (r = proto_put_u32_msg(&b, PROTO_MSG_FORKED, 4244)) < 0 ? r :
             proto_put_failed(&b, -ENOMEM, "clone failed"));
        emit("terminate", &b, proto_put_str_msg(&b, PROTO_MSG_TERMINATE, "idle-timeout"));
        {
                static const uint8_t screen[] = "\033c\033[?1049h\033[1;1Htop - 10:00:00 up 1 day\033[K\r\n";
                struct proto_session ts = s;

                ts.terminal = 1;
                emit("req-connect-terminal", &b, proto_put_request(&b, PROTO_REQ_CONNECT, &(struct proto_request) {
                        .flags = PROTO_REQ_F_TERMINAL, .session = (char *) "work", .term = (char *) "xterm-256color",
                        .rows = 50, .cols = 132 }));
                emit("terminal-stream", &b,
                     (r = proto_put_attached(&b, 15000, &ts)) < 0 ? r :
                     (r = proto_put_str_msg(&b, PROTO_MSG_TERM_NOTICE, "dwell: carol is watching")) < 0 ? r :
                     (r = proto_put_term_data(&b, PROTO_MSG_TERM_OUTPUT, screen, sizeof screen - 1)) < 0 ? r :
                     (r = proto_put_empty(&b, PROTO_MSG_HEARTBEAT)) < 0 ? r :
                     proto_put_detached(&b, DETACH_REMOVED, "the shell exited"));
                emit("terminal-input", &b,
                     (r = proto_put_term_size(&b, 40, 120)) < 0 ? r :
                     (r = proto_put_term_data(&b, PROTO_MSG_TERM_INPUT, "ls -l\r\003\033[A\033[200~x\033[201~", 22)) < 0 ? r :
                     (r = proto_put_term_size(&b, 0, 65535)) < 0 ? r :
                     proto_put_empty(&b, PROTO_MSG_DETACH));
        }

        buf_done(&b);
        return failed;
}
