/* SPDX-License-Identifier: ISC */
/*
 * proto and conn: every message helper round-trips; every decoder rejects
 * trailing bytes and every truncation; header parsing (version, size,
 * flags, incomplete); the enum string tables; and Conn over a socketpair:
 * reassembly byte by byte, fd passing arriving with the right frame (also
 * after a partial flush), oversize and malformed frames, buffer limits,
 * EOF and timeouts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "macro.h"
#include "proto.h"
#include "tap.h"

/* ---------------------------------------------------------------- helpers */

/* Takes the first frame out of b: header fields and a view of the payload.
 * The payload stays valid until the next change to b. */
static int take_frame(Buf *b, uint16_t *type, uint8_t *flags, Buf *payload) {
        uint32_t len;
        int r;

        r = proto_parse_header(buf_ptr(b), buf_len(b), type, flags, &len);
        if (r < 0)
                return r;
        if (buf_len(b) < PROTO_HEADER_SIZE + (size_t) len)
                return -EAGAIN;
        buf_init_view(payload, buf_ptr(b) + PROTO_HEADER_SIZE, len);
        b->offset += PROTO_HEADER_SIZE + len;      /* no compaction: the view stays valid */
        return 0;
}

/* Encodes with put(), returns a private heap copy of the payload so that
 * ASan sees reads past its end. */
static uint8_t *payload_copy(Buf *b, uint16_t want_type, size_t *ret_len) {
        uint16_t type;
        uint8_t flags;
        Buf p;
        uint8_t *c;

        if (take_frame(b, &type, &flags, &p) < 0 || type != want_type)
                return NULL;
        c = malloc(buf_len(&p) + 1);
        memcpy(c, buf_ptr(&p), buf_len(&p));
        *ret_len = buf_len(&p);
        return c;
}

typedef int (*decode_fn)(Buf *p);

/* Every strict prefix of the payload must fail, the whole payload must
 * decode, and one trailing byte must fail with -EBADMSG. */
static void check_strict(const char *what, const uint8_t *payload, size_t len, decode_fn decode) {
        uint8_t *longer = malloc(len + 1);
        bool prefixes_fail = true;
        Buf v;

        for (size_t cut = 0; cut < len; cut++) {
                uint8_t *copy = malloc(cut ? cut : 1);

                memcpy(copy, payload, cut);
                buf_init_view(&v, copy, cut);
                if (decode(&v) >= 0) {
                        diag("%s: prefix of %zu bytes decoded", what, cut);
                        prefixes_fail = false;
                }
                free(copy);
        }
        ok(prefixes_fail, "%s: every truncation is rejected", what);

        memcpy(longer, payload, len);
        longer[len] = 0;
        buf_init_view(&v, longer, len + 1);
        is_int(decode(&v), -EBADMSG, "trailing byte rejected");
        free(longer);
}

static bool session_eq(const struct proto_session *a, const struct proto_session *b) {
        return a->id == b->id &&
                streq(strempty(a->instance_id), strempty(b->instance_id)) &&
                streq(strempty(a->name), strempty(b->name)) &&
                streq(strempty(a->host), strempty(b->host)) &&
                streq(strempty(a->owner), strempty(b->owner)) &&
                streq(strempty(a->run_as), strempty(b->run_as)) &&
                streq(strempty(a->configuration), strempty(b->configuration)) &&
                a->state == b->state && a->availability == b->availability &&
                a->buffering == b->buffering && a->temporary == b->temporary &&
                a->idle_timeout == b->idle_timeout && a->buffer_size == b->buffer_size &&
                a->buffered == b->buffered && a->dropped == b->dropped &&
                a->command_id == b->command_id &&
                streq(strempty(a->command), strempty(b->command)) &&
                a->created == b->created && a->idle_since == b->idle_since &&
                streq(strempty(a->holder), strempty(b->holder)) &&
                streq(strempty(a->origin), strempty(b->origin)) &&
                streq(strempty(a->reason), strempty(b->reason)) &&
                a->last_command_id == b->last_command_id &&
                streq(strempty(a->last_command), strempty(b->last_command)) &&
                a->last_exit_status == b->last_exit_status && a->terminal == b->terminal;
}

static bool request_eq(const struct proto_request *a, const struct proto_request *b) {
        return a->flags == b->flags &&
                streq(strempty(a->session), strempty(b->session)) &&
                streq(strempty(a->name), strempty(b->name)) &&
                streq(strempty(a->config), strempty(b->config)) &&
                streq(strempty(a->credential), strempty(b->credential)) &&
                streq(strempty(a->command), strempty(b->command)) &&
                a->idle_timeout == b->idle_timeout && a->buffering == b->buffering &&
                streq(strempty(a->on_finish), strempty(b->on_finish)) &&
                streq(strempty(a->term), strempty(b->term)) && a->rows == b->rows && a->cols == b->cols;
}

static struct proto_session sample_session(void) {
        return (struct proto_session) {
                .id = 7,
                .instance_id = (char *) "0b3f1c1e-8d0e-4c9a-9f57-5b0c1a2d3e4f",
                .name = (char *) "Session7",
                .host = (char *) "web01",
                .owner = (char *) "alice",
                .run_as = (char *) "root",
                .configuration = (char *) "netops",
                .state = SESSION_DISCONNECTED,
                .availability = AVAILABILITY_NONE,
                .buffering = BUFFERING_DROP,
                .temporary = 1,
                .idle_timeout = UINT64_C(7200000000),
                .buffer_size = 4u << 20,
                .buffered = 12345,
                .dropped = UINT64_MAX,
                .command_id = 42,
                .command = (char *) "make -j8 world",
                .created = UINT64_C(1700000000000000),
                .idle_since = UINT64_C(1700000000123456),
                .holder = NULL,
                .origin = (char *) "192.0.2.1 5555 192.0.2.2 22",
                .reason = (char *) "shell exited with status 0",
                .last_command_id = 41,
                .last_command = (char *) "make clean",
                .last_exit_status = -1,
                .terminal = 1,
        };
}

/* ---------------------------------------------------------------- decoders for check_strict */

static int dec_request(Buf *p) {
        struct proto_request r;
        int k = proto_get_request(p, &r);
        if (k >= 0)
                proto_request_done(&r);
        return k;
}

static int dec_error(Buf *p) {
        uint16_t code;
        char *m = NULL;
        int k = proto_get_error(p, &code, &m);
        free(m);
        return k;
}

static int dec_session(Buf *p) {
        struct proto_session s;
        int k = proto_get_session(p, &s);
        if (k >= 0) {
                k = proto_expect_end(p);
                proto_session_done(&s);
        }
        return k;
}

static int dec_record(Buf *p) {
        struct proto_record rec;
        return proto_get_record(p, &rec);
}

static int dec_kv(Buf *p) {
        struct proto_kv kv;
        int k = proto_get_kv(p, &kv);
        if (k >= 0)
                proto_kv_done(&kv);
        return k;
}

static int dec_handoff(Buf *p) {
        struct proto_handoff h;
        int k = proto_get_handoff(p, &h);
        if (k >= 0)
                proto_handoff_done(&h);
        return k;
}

static int dec_attached(Buf *p) {
        struct proto_session s;
        uint32_t hb;
        int k = proto_get_attached(p, &hb, &s);
        if (k >= 0)
                proto_session_done(&s);
        return k;
}

static int dec_synced(Buf *p) {
        struct proto_synced s;
        return proto_get_synced(p, &s);
}

static int dec_detached(Buf *p) {
        uint8_t reason;
        char *by = NULL;
        int k = proto_get_detached(p, &reason, &by);
        free(by);
        return k;
}

static int dec_ready(Buf *p) {
        uint32_t a, b;
        return proto_get_ready(p, &a, &b);
}

static int dec_failed(Buf *p) {
        int32_t e;
        char *m = NULL;
        int k = proto_get_failed(p, &e, &m);
        free(m);
        return k;
}

static int dec_conv_prompt(Buf *p) {
        uint8_t style;
        char *t = NULL;
        int k = proto_get_conv_prompt(p, &style, &t);
        free(t);
        return k;
}

static int dec_str(Buf *p) {
        char *s = NULL;
        int k = proto_get_str_msg(p, PROTO_MAX_TEXT, &s);
        free(s);
        return k;
}

static int dec_u32(Buf *p) {
        uint32_t v;
        return proto_get_u32_msg(p, &v);
}

/* ---------------------------------------------------------------- messages */

static void test_header(void) {
        uint8_t h[PROTO_HEADER_SIZE] = { 4, 0, 0, 0, 0x2d, 0x01, PROTO_VERSION, PROTO_FLAG_FD };
        uint16_t type = 0;
        uint8_t flags = 0;
        uint32_t len = 0;
        bool all_again = true;

        ok(proto_parse_header(h, sizeof h, &type, &flags, &len) == 0, "valid header");
        ok(type == 0x012d && flags == PROTO_FLAG_FD && len == 4, "header fields");

        for (size_t n = 0; n < PROTO_HEADER_SIZE; n++)
                if (proto_parse_header(h, n, &type, &flags, &len) != -EAGAIN)
                        all_again = false;
        ok(all_again, "incomplete headers are -EAGAIN");

        h[6] = PROTO_VERSION + 1;
        is_int(proto_parse_header(h, sizeof h, &type, &flags, &len), -EPROTONOSUPPORT, "wrong version");
        h[6] = 0;
        is_int(proto_parse_header(h, sizeof h, &type, &flags, &len), -EPROTONOSUPPORT, "version 0");
        h[6] = PROTO_VERSION;

        le32_put(h, PROTO_MAX_PAYLOAD);
        ok(proto_parse_header(h, sizeof h, &type, &flags, &len) == 0 && len == PROTO_MAX_PAYLOAD,
           "payload of exactly the maximum accepted");
        le32_put(h, PROTO_MAX_PAYLOAD + 1);
        is_int(proto_parse_header(h, sizeof h, &type, &flags, &len), -EMSGSIZE, "oversized payload");
        le32_put(h, UINT32_MAX);
        is_int(proto_parse_header(h, sizeof h, &type, &flags, &len), -EMSGSIZE, "4 GiB payload");
        le32_put(h, 0);

        for (unsigned bit = 1; bit < 8; bit++) {
                h[7] = (uint8_t) (1u << bit);
                if (proto_parse_header(h, sizeof h, &type, &flags, &len) != -EBADMSG) {
                        ok(false, "unknown flag bit %u accepted", bit);
                        return;
                }
        }
        ok(true, "every unknown flag bit is -EBADMSG");
}

static void test_frame_limits(void) {
        Buf b;
        char *big = malloc(PROTO_MAX_PAYLOAD + 1);
        struct proto_record rec = { .seq = 1, .cmd_id = 1, .kind = RECORD_STDOUT };

        memset(big, 'x', PROTO_MAX_PAYLOAD);
        big[PROTO_MAX_PAYLOAD] = 0;
        buf_init(&b, 2 * PROTO_MAX_PAYLOAD);
        proto_put_empty(&b, PROTO_MSG_OK);
        is_int(proto_put_str_msg(&b, PROTO_MSG_RUN, big), -EMSGSIZE, "frame over PROTO_MAX_PAYLOAD refused");
        is_int(buf_len(&b), PROTO_HEADER_SIZE, "and nothing of it is left behind");

        big[PROTO_MAX_PAYLOAD - 4] = 0;
        ok(proto_put_str_msg(&b, PROTO_MSG_RUN, big) == 0, "frame of exactly PROTO_MAX_PAYLOAD accepted");
        buf_reset(&b);

        rec.data = (const uint8_t *) big;
        rec.size = PROTO_MAX_DATA + 1;
        is_int(proto_put_record(&b, &rec), -EMSGSIZE, "record over PROTO_MAX_DATA refused");
        is_int(buf_len(&b), 0, "nothing left behind");
        buf_done(&b);

        /* A full output buffer: the partial frame is removed. */
        buf_init(&b, 20);
        is_int(proto_put_str_msg(&b, PROTO_MSG_RUN, "0123456789abcdef"), -EMSGSIZE, "frame larger than the Buf");
        is_int(buf_len(&b), 0, "no partial frame");
        is_int(proto_put_error(&b, 1, "0123456789abcdef"), -EMSGSIZE, "error frame larger than the Buf");
        is_int(buf_len(&b), 0, "no partial error frame");
        buf_done(&b);
        free(big);
}

static void test_request(void) {
        static const uint16_t types[] = {
                PROTO_REQ_NEW, PROTO_REQ_LIST, PROTO_REQ_INVOKE, PROTO_REQ_REMOVE, PROTO_REQ_DISCONNECT,
                PROTO_REQ_CONNECT, PROTO_REQ_RECEIVE, PROTO_REQ_CONFIG_LIST, PROTO_REQ_CONFIG_SHOW,
                PROTO_REQ_WAIT,
        };
        struct proto_request in = {
                .flags = PROTO_REQ_F_DISCONNECTED | PROTO_REQ_F_NO_WAIT,
                .session = (char *) "build",
                .name = (char *) "n",
                .config = (char *) "default",
                .credential = NULL,
                .command = (char *) "echo 'hi there' | tr a-z A-Z",
                .idle_timeout = UINT64_C(3600000000),
                .buffering = BUFFERING_DROP,
                .on_finish = (char *) "curl -d \"$DWELL_EXIT_STATUS\" https://hook.example/",
                .term = (char *) "xterm-256color",
                .rows = 50,
                .cols = 132,
        }, out;
        Buf b, p;
        uint16_t type;
        uint8_t flags;
        uint8_t *copy;
        size_t len;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                ok(proto_put_request(&b, types[i], &in) == 0, "put request %s", proto_msg_to_string(types[i]));
                ok(take_frame(&b, &type, &flags, &p) == 0 && type == types[i] && flags == 0, "request header");
                ok(proto_get_request(&p, &out) == 0, "get request");
                ok(request_eq(&in, &out), "request round trip");
                ok(out.credential && out.credential[0] == 0, "NULL string arrives as \"\"");
                proto_request_done(&out);
                ok(out.session == NULL, "request_done clears");
        }

        proto_put_request(&b, PROTO_REQ_NEW, &in);
        copy = payload_copy(&b, PROTO_REQ_NEW, &len);
        check_strict("request", copy, len, dec_request);
        /* buffering out of range (it comes before on_finish and term, strs, and rows, cols) */
        copy[len - 1 - 4 - strlen(in.on_finish) - 4 - strlen(in.term) - 4] = _BUFFERING_MAX;
        buf_init_view(&p, copy, len);
        is_int(proto_get_request(&p, &out), -EBADMSG, "request with unknown buffering rejected");
        free(copy);

        /* TERM: printable, no blanks or control characters, at most PROTO_MAX_TERM. */
        {
                static const char *const bad[] = {
                        "xterm\033[31m", "xterm 256", "../../etc/passwd", ".hidden", "-x", "a/b", "x\ty",
                };
                char longterm[PROTO_MAX_TERM + 2];
                struct proto_request t = in;

                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        t.term = (char *) bad[i];
                        buf_reset(&b);
                        ok(proto_put_request(&b, PROTO_REQ_CONNECT, &t) == 0, "put request with TERM #%zu", i);
                        take_frame(&b, &type, &flags, &p);
                        ok(proto_get_request(&p, &out) == -EBADMSG, "decoder refuses TERM #%zu", i);
                }
                memset(longterm, 'x', sizeof longterm - 1);
                longterm[sizeof longterm - 1] = 0;
                t.term = longterm;
                buf_reset(&b);
                ok(proto_put_request(&b, PROTO_REQ_CONNECT, &t) == 0, "put request with a long TERM");
                take_frame(&b, &type, &flags, &p);
                ok(proto_get_request(&p, &out) < 0, "decoder refuses TERM over PROTO_MAX_TERM");
                longterm[PROTO_MAX_TERM] = 0;
                ok(proto_term_valid(longterm), "a TERM of PROTO_MAX_TERM characters is valid");
                ok(proto_term_valid("xterm-256color") && proto_term_valid("screen.xterm-256color") &&
                   proto_term_valid("rxvt-unicode+x"), "usual TERM values are valid");
                ok(!proto_term_valid(""), "an empty TERM is not a TERM");
                t.term = (char *) "";
                t.rows = t.cols = 0;
                buf_reset(&b);
                proto_put_request(&b, PROTO_REQ_CONNECT, &t);
                take_frame(&b, &type, &flags, &p);
                ok(proto_get_request(&p, &out) == 0 && out.term && !*out.term && out.rows == 0,
                   "no TERM and no size: not a terminal");
                proto_request_done(&out);
        }

        /* Field limits on decode. */
        {
                char name[PROTO_MAX_NAME + 2];
                struct proto_request big = in;

                memset(name, 'n', sizeof name - 1);
                name[sizeof name - 1] = 0;
                big.name = name;
                buf_reset(&b);
                ok(proto_put_request(&b, PROTO_REQ_NEW, &big) == 0, "put request with an over-long name");
                take_frame(&b, &type, &flags, &p);
                is_int(proto_get_request(&p, &out), -E2BIG, "decoder refuses names over PROTO_MAX_NAME");
        }
        buf_done(&b);
}

static void test_error(void) {
        Buf b, p;
        uint16_t type, code = 0;
        uint8_t flags;
        char *m = NULL;
        char *longmsg = malloc(PROTO_MAX_TEXT + 100);
        uint8_t *copy;
        size_t len;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        ok(proto_put_error(&b, PROTO_ERR_BUSY, "session is busy") == 0, "put error");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_ERROR, "error header");
        ok(proto_get_error(&p, &code, &m) == 0 && code == PROTO_ERR_BUSY, "get error");
        is_str(m, "session is busy", "error message");
        free(m);

        ok(proto_put_error(&b, PROTO_ERR_TIMEOUT, NULL) == 0, "error without message");
        take_frame(&b, &type, &flags, &p);
        ok(proto_get_error(&p, &code, &m) == 0 && code == PROTO_ERR_TIMEOUT, "get error");
        is_str(m, "", "NULL message arrives as \"\"");
        free(m);

        memset(longmsg, 'e', PROTO_MAX_TEXT + 99);
        longmsg[PROTO_MAX_TEXT + 99] = 0;
        ok(proto_put_error(&b, PROTO_ERR_CONFIG_ERROR, longmsg) == 0, "over-long error message is cut");
        take_frame(&b, &type, &flags, &p);
        ok(proto_get_error(&p, &code, &m) == 0 && strlen(m) == PROTO_MAX_TEXT, "to PROTO_MAX_TEXT");
        free(m);
        free(longmsg);

        proto_put_error(&b, PROTO_ERR_NOT_FOUND, "no such session");
        copy = payload_copy(&b, PROTO_MSG_ERROR, &len);
        check_strict("error", copy, len, dec_error);
        free(copy);
        buf_done(&b);
}

static void test_session(void) {
        struct proto_session in = sample_session(), out, copy_s;
        Buf b, p;
        uint16_t type;
        uint8_t flags;
        uint8_t *copy;
        size_t len;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        ok(proto_put_session(&b, PROTO_MSG_SESSION, &in) == 0, "put session");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_SESSION, "session header");
        ok(proto_get_session(&p, &out) == 0 && proto_expect_end(&p) == 0, "get session");
        ok(session_eq(&in, &out), "session round trip");
        ok(out.holder && out.holder[0] == 0, "NULL holder arrives as \"\"");

        ok(proto_session_copy(&out, &copy_s) == 0, "session copy");
        ok(session_eq(&out, &copy_s) && copy_s.name != out.name, "copy is equal and deep");
        proto_session_done(&copy_s);
        proto_session_done(&out);
        ok(out.name == NULL && out.id == 0, "session_done clears");

        ok(proto_put_session(&b, PROTO_MSG_STATUS, &in) == 0, "put STATUS");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_STATUS, "STATUS header");
        ok(proto_get_session(&p, &out) == 0 && session_eq(&in, &out), "STATUS round trip");
        proto_session_done(&out);

        proto_put_session(&b, PROTO_MSG_SESSION, &in);
        copy = payload_copy(&b, PROTO_MSG_SESSION, &len);
        check_strict("session", copy, len, dec_session);
        free(copy);

        /* Enum fields out of range. */
        in.state = _SESSION_STATE_MAX;
        proto_put_session(&b, PROTO_MSG_SESSION, &in);
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_session(&p, &out), -EBADMSG, "unknown state rejected");
        in.state = SESSION_OPENED;
        in.availability = 200;
        proto_put_session(&b, PROTO_MSG_SESSION, &in);
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_session(&p, &out), -EBADMSG, "unknown availability rejected");
        in.availability = AVAILABILITY_BUSY;
        in.buffering = _BUFFERING_MAX;
        proto_put_session(&b, PROTO_MSG_SESSION, &in);
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_session(&p, &out), -EBADMSG, "unknown buffering rejected");
        in.buffering = BUFFERING_DROP;
        in.terminal = 2;
        proto_put_session(&b, PROTO_MSG_SESSION, &in);
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_session(&p, &out), -EBADMSG, "terminal other than 0 or 1 rejected");
        buf_done(&b);
}

static int dec_term_size(Buf *p) {
        uint16_t r, c;
        return proto_get_term_size(p, &r, &c);
}

static void test_terminal(void) {
        static const uint8_t data[] = "\033[?1049h\033[H\033[2Jtop - 10:00:00 \xe2\x94\x80\0tail";
        uint8_t *big = calloc(1, PROTO_MAX_DATA + 1);
        const uint8_t *got;
        uint16_t type, rows, cols;
        uint8_t flags, *copy;
        size_t n, len;
        Buf b, p;

        buf_init(&b, 2 * PROTO_MAX_PAYLOAD);
        for (int i = 0; i < 2; i++) {
                uint16_t t = i == 0 ? PROTO_MSG_TERM_OUTPUT : PROTO_MSG_TERM_INPUT;

                ok(proto_put_term_data(&b, t, data, sizeof data) == 0, "put %s", proto_msg_to_string(t));
                ok(take_frame(&b, &type, &flags, &p) == 0 && type == t && flags == 0, "%s header",
                   proto_msg_to_string(t));
                ok(proto_get_term_data(&p, &got, &n) == 0 && n == sizeof data && memcmp(got, data, n) == 0 &&
                   proto_expect_end(&p) == 0, "%s round trip (any bytes, NUL included)", proto_msg_to_string(t));
        }
        ok(proto_put_term_data(&b, PROTO_MSG_TERM_INPUT, data, 0) == 0, "put an empty TERM_INPUT");
        take_frame(&b, &type, &flags, &p);
        ok(proto_get_term_data(&p, &got, &n) == 0 && n == 0, "an empty TERM_INPUT decodes");
        ok(proto_put_term_data(&b, PROTO_MSG_TERM_OUTPUT, big, PROTO_MAX_DATA) == 0, "PROTO_MAX_DATA bytes fit");
        take_frame(&b, &type, &flags, &p);
        ok(proto_get_term_data(&p, &got, &n) == 0 && n == PROTO_MAX_DATA, "... and decode");
        is_int(proto_put_term_data(&b, PROTO_MSG_TERM_OUTPUT, big, PROTO_MAX_DATA + 1), -EMSGSIZE,
               "more than PROTO_MAX_DATA: -EMSGSIZE");
        ok(buf_len(&b) == 0, "... and nothing queued");
        buf_init_view(&p, big, PROTO_MAX_DATA + 1);
        is_int(proto_get_term_data(&p, &got, &n), -EBADMSG, "a payload over PROTO_MAX_DATA is refused");

        ok(proto_put_term_size(&b, 65535, 0) == 0, "put TERM_SIZE (65535x0: the decoder passes it on)");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_TERM_SIZE, "TERM_SIZE header");
        ok(proto_get_term_size(&p, &rows, &cols) == 0 && rows == 65535 && cols == 0, "TERM_SIZE round trip");
        proto_put_term_size(&b, 24, 80);
        copy = payload_copy(&b, PROTO_MSG_TERM_SIZE, &len);
        check_strict("TERM_SIZE", copy, len, dec_term_size);
        free(copy);

        ok(proto_put_str_msg(&b, PROTO_MSG_TERM_NOTICE, "dwell: carol is watching") == 0, "put TERM_NOTICE");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_TERM_NOTICE, "TERM_NOTICE header");
        {
                _cleanup_free_ char *t = NULL;

                ok(proto_get_str_msg(&p, PROTO_MAX_TEXT, &t) == 0 && streq(t, "dwell: carol is watching"),
                   "TERM_NOTICE round trip");
        }
        ok(streq(proto_msg_to_string(PROTO_MSG_TERM_OUTPUT), "TERM_OUTPUT") &&
           streq(proto_msg_to_string(PROTO_MSG_TERM_NOTICE), "TERM_NOTICE") &&
           streq(proto_msg_to_string(PROTO_MSG_TERM_INPUT), "TERM_INPUT") &&
           streq(proto_msg_to_string(PROTO_MSG_TERM_SIZE), "TERM_SIZE"), "terminal message names");
        ok(PROTO_MSG_TERM_OUTPUT == 306 && PROTO_MSG_TERM_NOTICE == 307 && PROTO_MSG_TERM_INPUT == 327 &&
           PROTO_MSG_TERM_SIZE == 328 && PROTO_VERSION == 3, "terminal message numbers, protocol version 3");
        free(big);
        buf_done(&b);
}

static void test_record(void) {
        static const uint8_t data[] = "line one\nline \0two\n";
        struct proto_record in = {
                .seq = UINT64_C(0x1122334455667788),
                .cmd_id = 9,
                .kind = RECORD_STDERR,
                .value = -5,
                .data = data,
                .size = sizeof data - 1,
        }, out;
        Buf b, p;
        uint16_t type;
        uint8_t flags;
        uint8_t *copy;
        size_t len;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        ok(proto_put_record(&b, &in) == 0, "put record");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_RECORD, "record header");
        ok(proto_get_record(&p, &out) == 0, "get record");
        ok(out.seq == in.seq && out.cmd_id == in.cmd_id && out.kind == in.kind && out.value == -5 &&
           out.size == in.size && memcmp(out.data, data, in.size) == 0, "record round trip (binary data)");

        for (uint8_t k = RECORD_STDOUT; k < _RECORD_KIND_MAX; k++) {
                in.kind = k;
                in.value = k == RECORD_DROPPED ? INT64_MAX : 137;
                proto_put_record(&b, &in);
                take_frame(&b, &type, &flags, &p);
                if (proto_get_record(&p, &out) < 0 || out.kind != k || out.value != in.value)
                        break;
                if (k == _RECORD_KIND_MAX - 1)
                        ok(true, "every record kind round-trips");
        }

        in.kind = RECORD_EXIT;
        in.data = NULL;
        in.size = 0;
        ok(proto_put_record(&b, &in) == 0, "record without data");
        take_frame(&b, &type, &flags, &p);
        ok(proto_get_record(&p, &out) == 0 && out.size == 0, "empty data");

        in.kind = 0;
        proto_put_record(&b, &in);
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_record(&p, &out), -EBADMSG, "record kind 0 rejected");
        in.kind = _RECORD_KIND_MAX;
        proto_put_record(&b, &in);
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_record(&p, &out), -EBADMSG, "unknown record kind rejected");

        in.kind = RECORD_STDOUT;
        in.data = data;
        in.size = sizeof data - 1;
        proto_put_record(&b, &in);
        copy = payload_copy(&b, PROTO_MSG_RECORD, &len);
        check_strict("record", copy, len, dec_record);
        free(copy);
        buf_done(&b);
}

static int dec_rec_output(Buf *p) {
        const uint8_t *d;
        uint64_t t;
        size_t n;
        return proto_get_rec_output(p, &t, &d, &n);
}

static int dec_rec_size(Buf *p) {
        uint64_t t;
        uint16_t c, r;
        return proto_get_rec_size(p, &t, &c, &r);
}

/* The worker's reports to the monitor for a terminal session's recording. */
static void test_rec(void) {
        static const uint8_t data[] = "\x1b[1mhi\0\xff";
        const uint8_t *d;
        uint64_t t;
        uint16_t c, r;
        uint8_t *copy, flags;
        uint16_t type;
        size_t n, len;
        Buf b, p;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        ok(proto_put_rec_output(&b, 123456789, data, sizeof data - 1) == 0, "put REC_OUTPUT");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_REC_OUTPUT, "REC_OUTPUT header");
        ok(proto_get_rec_output(&p, &t, &d, &n) == 0 && t == 123456789 && n == sizeof data - 1 &&
           memcmp(d, data, n) == 0, "REC_OUTPUT round trip");
        is_int(proto_put_rec_output(&b, 1, data, PROTO_MAX_DATA + 1), -EMSGSIZE, "REC_OUTPUT over PROTO_MAX_DATA refused");
        proto_put_rec_output(&b, 7, data, sizeof data - 1);
        copy = payload_copy(&b, PROTO_MSG_REC_OUTPUT, &len);
        check_strict("REC_OUTPUT", copy, len, dec_rec_output);
        free(copy);

        ok(proto_put_rec_size(&b, 42, 132, 43) == 0, "put REC_SIZE");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_REC_SIZE, "REC_SIZE header");
        ok(proto_get_rec_size(&p, &t, &c, &r) == 0 && t == 42 && c == 132 && r == 43, "REC_SIZE round trip");
        proto_put_rec_size(&b, 42, 80, 24);
        copy = payload_copy(&b, PROTO_MSG_REC_SIZE, &len);
        check_strict("REC_SIZE", copy, len, dec_rec_size);
        free(copy);
        is_str(proto_msg_to_string(PROTO_MSG_REC_OUTPUT), "REC_OUTPUT", "REC_OUTPUT has a name");
        buf_done(&b);
}

static void test_kv(void) {
        struct proto_kv kv = {}, out;
        Buf b, p;
        uint16_t type;
        uint8_t flags;
        uint8_t *copy;
        size_t len;
        bool same = true;

        ok(proto_kv_add(&kv, "user", "alice") == 0, "kv add");
        ok(proto_kv_add(&kv, "shell", "/bin/bash") == 0, "kv add");
        ok(proto_kv_add(&kv, "empty", NULL) == 0, "kv add NULL value");
        ok(proto_kv_add(&kv, "user", "bob") == 0, "kv add duplicate key");
        is_str(proto_kv_get(&kv, "user"), "bob", "the last value wins");
        is_str(proto_kv_get(&kv, "empty"), "", "NULL value stored as \"\"");
        ok(proto_kv_get(&kv, "nope") == NULL, "missing key");

        buf_init(&b, PROTO_MAX_PAYLOAD);
        ok(proto_put_kv(&b, PROTO_MSG_SPAWN, &kv) == 0, "put kv");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_SPAWN, "kv header");
        ok(proto_get_kv(&p, &out) == 0 && out.n == kv.n, "get kv");
        for (size_t i = 0; i < kv.n && i < out.n; i++)
                same = same && streq(kv.keys[i], out.keys[i]) && streq(kv.values[i], out.values[i]);
        ok(same, "kv round trip keeps order and duplicates");
        proto_kv_done(&out);
        ok(out.n == 0 && out.keys == NULL, "kv_done clears");

        proto_put_kv(&b, PROTO_MSG_KV, &kv);
        copy = payload_copy(&b, PROTO_MSG_KV, &len);
        check_strict("kv", copy, len, dec_kv);
        free(copy);
        proto_kv_done(&kv);

        /* Limits. */
        for (unsigned i = 0; i < PROTO_MAX_KV; i++) {
                char k[16];
                snprintf(k, sizeof k, "k%u", i);
                if (proto_kv_add(&kv, k, "v") < 0)
                        break;
        }
        is_int(kv.n, PROTO_MAX_KV, "PROTO_MAX_KV pairs");
        is_int(proto_kv_add(&kv, "one", "more"), -E2BIG, "one more pair is -E2BIG");
        ok(proto_put_kv(&b, PROTO_MSG_KV, &kv) == 0, "a full list encodes");
        take_frame(&b, &type, &flags, &p);
        ok(proto_get_kv(&p, &out) == 0 && out.n == PROTO_MAX_KV, "and decodes");
        proto_kv_done(&out);
        kv.n++;         /* pretend: the encoder must refuse, without reading the extra slot */
        is_int(proto_put_kv(&b, PROTO_MSG_KV, &kv), -E2BIG, "encoder refuses more than PROTO_MAX_KV");
        kv.n--;
        is_int(buf_len(&b), 0, "no partial frame");
        proto_kv_done(&kv);

        /* A count over the limit is refused before anything is allocated. */
        buf_reset(&b);
        {
                size_t start;
                proto_begin(&b, PROTO_MSG_KV, 0, &start);
                buf_put_u32(&b, PROTO_MAX_KV + 1);
                proto_end(&b, start);
        }
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_kv(&p, &out), -E2BIG, "count over PROTO_MAX_KV rejected");
        buf_done(&b);
}

static void test_handoff(void) {
        struct proto_handoff in = {
                .verb = PROTO_REQ_CONNECT,
                .req = {
                        .flags = PROTO_REQ_F_NO_WAIT,
                        .session = (char *) "3",
                        .command = (char *) "uptime",
                        .buffering = BUFFERING_BLOCK,
                },
                .caller = (char *) "bob",
                .caller_uid = 1001,
                .caller_pid = 4242,
                .origin = (char *) "ssh 10.0.0.1",
        }, out;
        Buf b, p;
        uint16_t type;
        uint8_t flags;
        uint8_t *copy;
        size_t len;

        buf_init(&b, PROTO_MAX_PAYLOAD);
        ok(proto_put_handoff(&b, &in) == 0, "put handoff");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_HANDOFF, "handoff header");
        ok(flags == PROTO_FLAG_FD, "handoff carries the fd flag");
        ok(proto_get_handoff(&p, &out) == 0, "get handoff");
        ok(out.verb == in.verb && request_eq(&in.req, &out.req) && streq(out.caller, "bob") &&
           out.caller_uid == 1001 && out.caller_pid == 4242 && streq(out.origin, in.origin),
           "handoff round trip");
        proto_handoff_done(&out);

        proto_put_handoff(&b, &in);
        copy = payload_copy(&b, PROTO_MSG_HANDOFF, &len);
        check_strict("handoff", copy, len, dec_handoff);
        free(copy);
        buf_done(&b);
}

static void test_small_messages(void) {
        struct proto_session s = sample_session(), s_out;
        struct proto_synced sy = { .running = 1, .last_cmd = 17, .last_status = -1 }, sy_out;
        Buf b, p;
        uint16_t type;
        uint8_t flags, u8 = 0;
        uint32_t a = 0, c = 0;
        int32_t e = 0;
        uint32_t u32 = 0;
        char *str = NULL;
        uint8_t *copy;
        size_t len;

        buf_init(&b, PROTO_MAX_PAYLOAD);

        /* ATTACHED */
        ok(proto_put_attached(&b, 15000, &s) == 0, "put attached");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_ATTACHED, "attached header");
        ok(proto_get_attached(&p, &a, &s_out) == 0 && a == 15000 && session_eq(&s, &s_out), "attached round trip");
        proto_session_done(&s_out);
        proto_put_attached(&b, 1, &s);
        copy = payload_copy(&b, PROTO_MSG_ATTACHED, &len);
        check_strict("attached", copy, len, dec_attached);
        free(copy);

        /* SYNCED */
        ok(proto_put_synced(&b, &sy) == 0, "put synced");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_SYNCED, "synced header");
        ok(proto_get_synced(&p, &sy_out) == 0 && sy_out.running == 1 && sy_out.last_cmd == 17 &&
           sy_out.last_status == -1, "synced round trip");
        sy.last_status = 255;
        proto_put_synced(&b, &sy);
        copy = payload_copy(&b, PROTO_MSG_SYNCED, &len);
        check_strict("synced", copy, len, dec_synced);
        free(copy);

        /* DETACHED */
        ok(proto_put_detached(&b, DETACH_REQUESTED, "carol") == 0, "put detached");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_DETACHED, "detached header");
        ok(proto_get_detached(&p, &u8, &str) == 0 && u8 == DETACH_REQUESTED, "get detached");
        is_str(str, "carol", "detached by");
        free(str);
        str = NULL;
        proto_put_detached(&b, DETACH_TIMEOUT, "");
        copy = payload_copy(&b, PROTO_MSG_DETACHED, &len);
        check_strict("detached", copy, len, dec_detached);
        free(copy);

        /* READY */
        ok(proto_put_ready(&b, 100, UINT32_MAX) == 0, "put ready");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_READY, "ready header");
        ok(proto_get_ready(&p, &a, &c) == 0 && a == 100 && c == UINT32_MAX, "ready round trip");
        proto_put_ready(&b, 1, 2);
        copy = payload_copy(&b, PROTO_MSG_READY, &len);
        check_strict("ready", copy, len, dec_ready);
        free(copy);

        /* FAILED */
        ok(proto_put_failed(&b, -EACCES, "setresuid: Permission denied") == 0, "put failed");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_FAILED, "failed header");
        ok(proto_get_failed(&p, &e, &str) == 0 && e == -EACCES, "get failed");
        is_str(str, "setresuid: Permission denied", "failed message");
        free(str);
        str = NULL;
        proto_put_failed(&b, 5, "m");
        copy = payload_copy(&b, PROTO_MSG_FAILED, &len);
        check_strict("failed", copy, len, dec_failed);
        free(copy);

        /* CONV_PROMPT */
        ok(proto_put_conv_prompt(&b, 1, "Password: ") == 0, "put conv_prompt");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_CONV_PROMPT, "conv_prompt header");
        ok(proto_get_conv_prompt(&p, &u8, &str) == 0 && u8 == 1, "get conv_prompt");
        is_str(str, "Password: ", "prompt text");
        free(str);
        str = NULL;
        proto_put_conv_prompt(&b, 4, "info");
        copy = payload_copy(&b, PROTO_MSG_CONV_PROMPT, &len);
        check_strict("conv_prompt", copy, len, dec_conv_prompt);
        free(copy);

        /* String messages. */
        {
                static const uint16_t types[] = {
                        PROTO_MSG_ORIGIN, PROTO_MSG_CONV_REPLY, PROTO_MSG_RUN, PROTO_MSG_TERMINATE,
                };
                for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                        ok(proto_put_str_msg(&b, types[i], "some text") == 0, "put %s",
                           proto_msg_to_string(types[i]));
                        ok(take_frame(&b, &type, &flags, &p) == 0 && type == types[i], "header");
                        ok(proto_get_str_msg(&p, PROTO_MAX_TEXT, &str) == 0, "get str msg");
                        is_str(str, "some text", "str msg round trip");
                        free(str);
                        str = NULL;
                }
        }
        proto_put_str_msg(&b, PROTO_MSG_RUN, "0123456789");
        take_frame(&b, &type, &flags, &p);
        is_int(proto_get_str_msg(&p, 9, &str), -E2BIG, "str msg over its max");
        ok(str == NULL, "nothing returned");
        proto_put_str_msg(&b, PROTO_MSG_RUN, "ls");
        copy = payload_copy(&b, PROTO_MSG_RUN, &len);
        check_strict("str msg", copy, len, dec_str);
        free(copy);

        /* u32 messages. */
        ok(proto_put_u32_msg(&b, PROTO_MSG_FORKED, UINT32_MAX - 1) == 0, "put FORKED");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_FORKED, "FORKED header");
        ok(proto_get_u32_msg(&p, &u32) == 0 && u32 == UINT32_MAX - 1, "u32 message round trip");
        {
                struct proto_ack ack = { .seq = 12, .offset = 4096, .intent_len = 7, .intent_size = 1u << 20 }, a2;
                struct proto_resume rs = { .dev = { 1, 0 }, .ino = { 2, 0 }, .size = { 3, 0 } }, rs2;

                ok(proto_put_ack(&b, &ack) == 0, "put ACK with an offset and an intent");
                ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_ACK, "ACK header");
                ok(proto_get_ack(&p, &a2) == 0 && memcmp(&ack, &a2, sizeof ack) == 0, "ACK round trip");
                ok(proto_put_resume(&b, &rs) == 0, "put RESUME");
                ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_RESUME, "RESUME header");
                ok(proto_get_resume(&p, &rs2) == 0 && memcmp(&rs, &rs2, sizeof rs) == 0, "RESUME round trip");
        }
        {
                struct proto_invoked iv = { .cmd_id = 3, .stdin_written = 10, .stdin_received = 300, .stdin_open = 1 }, i2;
                struct proto_invoked bad[] = {
                        { .cmd_id = 0, .stdin_open = 1 },                               /* no command */
                        { .cmd_id = 1, .stdin_written = 5, .stdin_received = 4 },       /* wrote more than it got */
                        { .cmd_id = 1, .stdin_open = 2 },
                };

                ok(proto_put_invoked(&b, &iv) == 0, "put INVOKED");
                ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_INVOKED, "INVOKED header");
                ok(proto_get_invoked(&p, &i2) == 0 && i2.cmd_id == 3 && i2.stdin_written == 10 &&
                   i2.stdin_received == 300 && i2.stdin_open == 1, "INVOKED round trip");
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        ok(proto_put_invoked(&b, bad + i) == 0 && take_frame(&b, &type, &flags, &p) == 0, "put bad INVOKED %zu", i);
                        ok(proto_get_invoked(&p, &i2) == -EBADMSG, "bad INVOKED %zu refused", i);
                }
                is_str(proto_msg_to_string(PROTO_MSG_INVOKED), "INVOKED", "INVOKED has a name");
        }
        proto_put_u32_msg(&b, PROTO_MSG_END, 3);
        copy = payload_copy(&b, PROTO_MSG_END, &len);
        check_strict("u32 msg", copy, len, dec_u32);
        free(copy);

        /* Empty messages. */
        {
                static const uint16_t types[] = {
                        PROTO_MSG_OK, PROTO_MSG_HEARTBEAT, PROTO_MSG_DETACH,
                };
                for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                        ok(proto_put_empty(&b, types[i]) == 0, "put %s", proto_msg_to_string(types[i]));
                        ok(take_frame(&b, &type, &flags, &p) == 0 && type == types[i] && flags == 0 &&
                           buf_len(&p) == 0 && proto_expect_end(&p) == 0, "empty frame");
                }
        }

        /* Several frames back to back in one buffer. */
        buf_reset(&b);
        proto_put_empty(&b, PROTO_MSG_OK);
        proto_put_u32_msg(&b, PROTO_MSG_END, 5);
        proto_put_str_msg(&b, PROTO_MSG_RUN, "x");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_OK, "1st of 3");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_END, "2nd of 3");
        ok(take_frame(&b, &type, &flags, &p) == 0 && type == PROTO_MSG_RUN, "3rd of 3");
        is_int(take_frame(&b, &type, &flags, &p), -EAGAIN, "nothing more");
        buf_done(&b);
}

/* ---------------------------------------------------------------- tables */

static void test_tables(void) {
        bool good = true;
        char buf[64];

        for (int i = 1; i < _PROTO_ERR_MAX; i++)
                good = good && proto_error_from_string(proto_error_to_string((uint16_t) i)) == i;
        ok(good, "ProtoError round-trips through its strings");
        is_str(proto_error_to_string(PROTO_ERR_NOT_FOUND), "not-found", "not-found");
        is_str(proto_error_to_string(PROTO_ERR_PERMISSION_DENIED), "permission-denied", "permission-denied");
        is_str(proto_error_to_string(PROTO_ERR_AUTH_FAILED), "auth-failed", "auth-failed");
        is_str(proto_error_to_string(PROTO_ERR_BUSY), "busy", "busy");
        is_str(proto_error_to_string(PROTO_ERR_INVALID_ARGUMENT), "invalid-argument", "invalid-argument");
        is_str(proto_error_to_string(PROTO_ERR_LIMIT_EXCEEDED), "limit-exceeded", "limit-exceeded");
        is_str(proto_error_to_string(PROTO_ERR_TIMEOUT), "timeout", "timeout");
        is_str(proto_error_to_string(PROTO_ERR_CONFIG_ERROR), "config-error", "config-error");
        is_str(proto_error_to_string(PROTO_ERR_UNAVAILABLE), "unavailable", "unavailable");
        is_str(proto_error_to_string(PROTO_ERR_AMBIGUOUS), "ambiguous", "ambiguous");
        is_int(PROTO_ERR_AMBIGUOUS, 10, "ambiguous is code 10, after the older codes");
        is_str(proto_error_to_string(0), "unavailable", "code 0 maps to unavailable");
        is_str(proto_error_to_string(9999), "unavailable", "unknown code maps to unavailable");
        is_int(proto_error_from_string("nope"), -EINVAL, "unknown error name");
        is_int(proto_error_from_string(NULL), -EINVAL, "NULL error name");

        good = true;
        for (int i = 1; i < _SESSION_STATE_MAX; i++)
                good = good && session_state_from_string(session_state_to_string((uint8_t) i)) == i;
        ok(good, "SessionState round-trips");
        is_str(session_state_to_string(SESSION_OPENED), "Opened", "Opened");
        is_str(session_state_to_string(SESSION_DISCONNECTED), "Disconnected", "Disconnected");
        is_str(session_state_to_string(SESSION_BROKEN), "Broken", "Broken");
        is_str(session_state_to_string(SESSION_CLOSED), "Closed", "Closed");
        is_str(session_state_to_string(0), "Unknown", "state 0");
        is_str(session_state_to_string(255), "Unknown", "state 255");
        is_int(session_state_from_string("opened"), -EINVAL, "state names are case sensitive");

        good = true;
        for (int i = 1; i < _AVAILABILITY_MAX; i++)
                good = good && strcmp(availability_to_string((uint8_t) i), "Unknown") != 0;
        ok(good, "every Availability has a name");
        is_str(availability_to_string(AVAILABILITY_AVAILABLE), "Available", "Available");
        is_str(availability_to_string(AVAILABILITY_BUSY), "Busy", "Busy");
        is_str(availability_to_string(AVAILABILITY_NONE), "None", "None");
        is_str(availability_to_string(0), "Unknown", "availability 0");

        good = true;
        for (int i = 1; i < _BUFFERING_MAX; i++)
                good = good && buffering_from_string(buffering_to_string((uint8_t) i)) == i;
        ok(good, "Buffering round-trips");
        is_str(buffering_to_string(BUFFERING_BLOCK), "block", "block");
        is_str(buffering_to_string(BUFFERING_DROP), "drop", "drop");
        is_str(buffering_to_string(BUFFERING_UNSET), "default", "unset shows as default");
        is_int(buffering_from_string("default"), -EINVAL, "\"default\" is not a mode");
        is_int(buffering_from_string(""), -EINVAL, "empty mode");

        /* Every message type has a unique name. */
        good = true;
        {
                static const uint16_t all[] = {
                        PROTO_REQ_NEW, PROTO_REQ_LIST, PROTO_REQ_INVOKE, PROTO_REQ_REMOVE,
                        PROTO_REQ_DISCONNECT, PROTO_REQ_CONNECT, PROTO_REQ_RECEIVE,
                        PROTO_REQ_CONFIG_LIST, PROTO_REQ_CONFIG_SHOW, PROTO_MSG_ORIGIN,
                        PROTO_MSG_CONV_REPLY, PROTO_MSG_ERROR, PROTO_MSG_OK, PROTO_MSG_SESSION,
                        PROTO_MSG_END, PROTO_MSG_CONV_PROMPT, PROTO_MSG_KV, PROTO_MSG_ATTACHED,
                        PROTO_MSG_RECORD, PROTO_MSG_SYNCED, PROTO_MSG_DETACHED, PROTO_MSG_HEARTBEAT,
                        PROTO_MSG_ACK, PROTO_MSG_RUN, PROTO_MSG_DETACH, PROTO_MSG_SPAWN,
                        PROTO_MSG_READY, PROTO_MSG_FAILED, PROTO_MSG_STATUS, PROTO_MSG_HANDOFF,
                        PROTO_MSG_TERMINATE, PROTO_MSG_SPAWNER, PROTO_MSG_FORK, PROTO_MSG_FORKED,
                };
                for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                        if (streq(proto_msg_to_string(all[i]), "UNKNOWN"))
                                good = false;
                        for (size_t j = 0; j < i; j++)
                                if (streq(proto_msg_to_string(all[i]), proto_msg_to_string(all[j])))
                                        good = false;
                }
        }
        ok(good, "every message type has its own name");
        is_str(proto_msg_to_string(0), "UNKNOWN", "type 0");
        is_str(proto_msg_to_string(_PROTO_REQ_LAST), "UNKNOWN", "_PROTO_REQ_LAST");

        is_int(proto_error_from_errno(-ENOENT), PROTO_ERR_NOT_FOUND, "ENOENT");
        is_int(proto_error_from_errno(ESRCH), PROTO_ERR_NOT_FOUND, "positive ESRCH");
        is_int(proto_error_from_errno(-EPERM), PROTO_ERR_PERMISSION_DENIED, "EPERM");
        is_int(proto_error_from_errno(-EACCES), PROTO_ERR_PERMISSION_DENIED, "EACCES");
        is_int(proto_error_from_errno(-EBUSY), PROTO_ERR_BUSY, "EBUSY");
        is_int(proto_error_from_errno(-EINVAL), PROTO_ERR_INVALID_ARGUMENT, "EINVAL");
        is_int(proto_error_from_errno(-ERANGE), PROTO_ERR_LIMIT_EXCEEDED, "ERANGE");
        is_int(proto_error_from_errno(-ETIMEDOUT), PROTO_ERR_TIMEOUT, "ETIMEDOUT");
        is_int(proto_error_from_errno(-EIO), PROTO_ERR_UNAVAILABLE, "EIO");
        is_int(proto_error_from_errno(-ENOTUNIQ), PROTO_ERR_AMBIGUOUS, "ENOTUNIQ");
        (void) buf;
}

/* ---------------------------------------------------------------- conn */

static bool make_pair(Conn *a, Conn *b, size_t max_in) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return false;
        conn_init(a, sv[0], max_in, 4 * PROTO_MAX_PAYLOAD);
        conn_init(b, sv[1], max_in, 4 * PROTO_MAX_PAYLOAD);
        return true;
}

/* Fills until a frame is there (the peer must have flushed). */
static int next_frame(Conn *c, Frame *f) {
        for (int i = 0; i < 10000; i++) {
                int r = conn_next(c, f);
                if (r != 0)
                        return r;
                r = conn_fill(c);
                if (r == 0)
                        return 0;
                if (r < 0 && r != -EAGAIN)
                        return r;
                if (r == -EAGAIN)
                        return -EAGAIN;
        }
        return -ELOOP;
}

static bool fd_is_pipe_to(int got, int write_end) {
        char c = 0;

        if (got < 0 || write(write_end, "!", 1) != 1)
                return false;
        return read(got, &c, 1) == 1 && c == '!';
}

static void test_conn_basic(void) {
        Conn a, b;
        Frame f;
        uint32_t u32 = 0;
        char *s = NULL;
        pid_t pid;
        uid_t uid;
        gid_t gid;

        if (!make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD)) {
                ok(false, "socketpair");
                return;
        }
        ok(peer_cred(b.fd, &pid, &uid, &gid) == 0 && pid == getpid() && uid == getuid() && gid == getgid(),
           "peer_cred of a socketpair is ourselves");

        is_int(conn_next(&b, &f), 0, "no frame yet");
        is_int(conn_fill(&b), -EAGAIN, "nothing to read: -EAGAIN");

        proto_put_empty(&a.out, PROTO_MSG_HEARTBEAT);
        proto_put_u32_msg(&a.out, PROTO_MSG_END, 77);
        proto_put_str_msg(&a.out, PROTO_MSG_RUN, "date");
        ok(conn_pending(&a) > 0, "output pending");
        is_int(conn_flush(&a), 1, "flush writes everything");
        is_int(conn_pending(&a), 0, "nothing pending");

        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_HEARTBEAT && f.fd < 0 && f.len == 0, "frame 1");
        conn_consume(&b, &f);
        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_END && proto_get_u32_msg(&f.payload, &u32) == 0 &&
           u32 == 77, "frame 2");
        conn_consume(&b, &f);
        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_RUN &&
           proto_get_str_msg(&f.payload, PROTO_MAX_COMMAND, &s) == 0 && streq(s, "date"), "frame 3");
        free(s);
        conn_consume(&b, &f);
        is_int(conn_next(&b, &f), 0, "no more frames");
        is_int(buf_len(&b.in), 0, "input consumed");

        /* Blocking helpers. */
        is_int(conn_wait_frame(&b, &f, 20), -ETIMEDOUT, "wait_frame times out");
        proto_put_empty(&a.out, PROTO_MSG_OK);
        is_int(conn_flush_all(&a, 1000), 0, "flush_all");
        ok(conn_wait_frame(&b, &f, 1000) == 1 && f.type == PROTO_MSG_OK, "wait_frame gets the frame");
        conn_consume(&b, &f);

        /* EOF */
        conn_done(&a);
        is_int(conn_fill(&b), 0, "EOF after the peer closed");
        is_int(conn_wait_frame(&b, &f, 100), 0, "wait_frame reports EOF as 0");
        conn_done(&b);
        ok(b.fd < 0, "conn_done closes");
}

static void test_conn_byte_by_byte(void) {
        Conn a, b;
        Frame f;
        Buf w;
        struct proto_session s = sample_session(), out;
        size_t frames = 0;
        bool early = false, good = true;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
                ok(false, "socketpair");
                return;
        }
        conn_init(&a, sv[0], 1024, 1024);
        conn_init(&b, sv[1], 64 * 1024, 1024);

        buf_init(&w, 64 * 1024);
        proto_put_session(&w, PROTO_MSG_SESSION, &s);
        proto_put_empty(&w, PROTO_MSG_OK);
        proto_put_session(&w, PROTO_MSG_SESSION, &s);

        for (size_t i = 0; i < buf_len(&w); i++) {
                int r;

                if (write(a.fd, buf_ptr(&w) + i, 1) != 1) {
                        good = false;
                        break;
                }
                if (conn_fill(&b) != 1)
                        good = false;
                while ((r = conn_next(&b, &f)) == 1) {
                        frames++;
                        if (f.type == PROTO_MSG_SESSION) {
                                if (proto_get_session(&f.payload, &out) < 0 || !session_eq(&s, &out))
                                        good = false;
                                proto_session_done(&out);
                        }
                        conn_consume(&b, &f);
                }
                if (r < 0)
                        good = false;
                if (frames == 3 && i + 1 < buf_len(&w))
                        early = true;
        }
        ok(good, "byte-by-byte delivery reassembles");
        ok(frames == 3 && !early, "each frame appears only when complete");
        buf_done(&w);
        conn_done(&a);
        conn_done(&b);
}

static void test_conn_fds(void) {
        Conn a, b;
        Frame f;
        struct proto_handoff h = { .verb = PROTO_REQ_RECEIVE, .caller = (char *) "dave", .caller_uid = 1 }, hout;
        int p1[2], p2[2];
        size_t start;

        if (!make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD) ||
            pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0) {
                ok(false, "setup");
                return;
        }

        proto_put_empty(&a.out, PROTO_MSG_OK);
        start = a.out.size;
        proto_put_handoff(&a.out, &h);
        ok(conn_attach_fd(&a, start, p1[0]) == 0, "attach fd 1");
        proto_put_str_msg(&a.out, PROTO_MSG_RUN, "between");
        start = a.out.size;
        proto_put_handoff(&a.out, &h);
        ok(conn_attach_fd(&a, start, p2[0]) == 0, "attach fd 2");
        proto_put_empty(&a.out, PROTO_MSG_OK);
        is_int(conn_flush(&a), 1, "flush");
        is_int(a.n_out_fds, 0, "sent fds are closed on our side");

        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_OK && f.fd < 0, "frame without fd");
        conn_consume(&b, &f);
        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_HANDOFF && f.fd >= 0, "handoff with an fd");
        ok(proto_get_handoff(&f.payload, &hout) == 0 && streq(hout.caller, "dave"), "handoff payload");
        proto_handoff_done(&hout);
        ok(fd_is_pipe_to(f.fd, p1[1]), "the first fd is the first pipe");
        ok(fcntl(f.fd, F_GETFD) & FD_CLOEXEC, "received fds are close-on-exec");
        conn_consume(&b, &f);
        ok(f.fd < 0, "consume closes an fd the caller did not take");
        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_RUN && f.fd < 0, "frame between, without fd");
        conn_consume(&b, &f);
        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_HANDOFF, "second handoff");
        ok(fd_is_pipe_to(f.fd, p2[1]), "the second fd is the second pipe");
        {
                int taken = TAKE_FD(f.fd);
                conn_consume(&b, &f);
                ok(fcntl(taken, F_GETFD) >= 0, "an fd the caller took stays open");
                safe_close(taken);
        }
        ok(next_frame(&b, &f) == 1 && f.type == PROTO_MSG_OK && f.fd < 0, "last frame");
        conn_consume(&b, &f);

        safe_close(p1[1]);
        safe_close(p2[1]);
        conn_done(&a);
        conn_done(&b);
}

/* Regression: a frame (and its fd) queued after a partial flush, with
 * enough data that the output Buf grows while the frame is built. */
static void test_conn_partial_flush(void) {
        Conn a, b;
        Frame f;
        struct proto_handoff h = { .verb = PROTO_REQ_CONNECT, .caller = (char *) "eve" }, hout;
        char *chunk = malloc(8000);
        int p[2], sndbuf = 4096, r;
        size_t start, frames = 0, handoffs = 0;
        bool good = true, fd_right = false;

        if (!make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD) || pipe2(p, O_CLOEXEC) < 0) {
                ok(false, "setup");
                return;
        }
        (void) setsockopt(a.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        memset(chunk, 'c', 7999);
        chunk[7999] = 0;

        for (int i = 0; i < 40; i++)
                proto_put_str_msg(&a.out, PROTO_MSG_RUN, chunk);
        is_int(conn_flush(&a), 0, "socket full: partial flush");
        ok(a.out.offset > 0, "the output buffer has a consumed prefix");
        for (int i = 0; i < 40; i++)
                if (proto_put_str_msg(&a.out, PROTO_MSG_RUN, chunk) < 0)
                        good = false;
        start = a.out.size;
        if (proto_put_handoff(&a.out, &h) < 0 || conn_attach_fd(&a, start, p[0]) < 0)
                good = false;
        for (int i = 0; i < 10; i++)
                if (proto_put_str_msg(&a.out, PROTO_MSG_RUN, chunk) < 0)
                        good = false;
        ok(good, "frames queued after a partial flush");

        for (int spins = 0; spins < 100000 && frames < 91; spins++) {
                char *s = NULL;

                r = conn_flush(&a);
                if (r < 0) {
                        good = false;
                        break;
                }
                r = conn_next(&b, &f);
                if (r < 0) {
                        diag("conn_next: %s", strerror(-r));
                        good = false;
                        break;
                }
                if (r == 0) {
                        r = conn_fill(&b);
                        if (r < 0 && r != -EAGAIN) {
                                good = false;
                                break;
                        }
                        continue;
                }
                frames++;
                if (f.type == PROTO_MSG_HANDOFF) {
                        handoffs++;
                        fd_right = frames == 81 && fd_is_pipe_to(f.fd, p[1]);
                        if (proto_get_handoff(&f.payload, &hout) < 0 || !streq(hout.caller, "eve"))
                                good = false;
                        proto_handoff_done(&hout);
                } else if (f.type != PROTO_MSG_RUN || f.fd >= 0 ||
                           proto_get_str_msg(&f.payload, PROTO_MAX_COMMAND, &s) < 0 || strlen(s) != 7999)
                        good = false;
                free(s);
                conn_consume(&b, &f);
        }
        ok(good && frames == 91 && handoffs == 1, "all 91 frames arrive intact (%zu)", frames);
        ok(fd_right, "the fd arrives with the handoff frame");

        safe_close(p[1]);
        conn_done(&a);
        conn_done(&b);
        free(chunk);
}

static void test_conn_bad_frames(void) {
        Conn a, b;
        Frame f;
        uint8_t h[PROTO_HEADER_SIZE];
        uint8_t big[200];
        int p[2];

        /* Oversized frame. */
        make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        le32_put(h, PROTO_MAX_PAYLOAD + 1);
        le16_put(h + 4, PROTO_MSG_RUN);
        h[6] = PROTO_VERSION;
        h[7] = 0;
        ok(write(a.fd, h, sizeof h) == sizeof h, "write oversize header");
        is_int(next_frame(&b, &f), -EMSGSIZE, "oversize frame is -EMSGSIZE");
        conn_done(&a);
        conn_done(&b);

        /* Wrong version. */
        make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        le32_put(h, 0);
        h[6] = PROTO_VERSION + 1;
        ok(write(a.fd, h, sizeof h) == sizeof h, "write header of another version");
        is_int(next_frame(&b, &f), -EPROTONOSUPPORT, "wrong version is -EPROTONOSUPPORT");
        conn_done(&a);
        conn_done(&b);

        /* Fd flag without an fd. */
        make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        h[6] = PROTO_VERSION;
        h[7] = PROTO_FLAG_FD;
        ok(write(a.fd, h, sizeof h) == sizeof h, "write header claiming an fd");
        is_int(next_frame(&b, &f), -EBADMSG, "fd flag without fd is -EBADMSG");
        conn_done(&a);
        conn_done(&b);

        /* Unknown flags. */
        make_pair(&a, &b, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD);
        h[7] = 0x80;
        ok(write(a.fd, h, sizeof h) == sizeof h, "write header with unknown flags");
        is_int(next_frame(&b, &f), -EBADMSG, "unknown flags are -EBADMSG");
        conn_done(&a);
        conn_done(&b);

        /* A frame larger than the receiver's input limit. */
        make_pair(&a, &b, 64);
        memset(big, 'x', sizeof big);
        big[sizeof big - 1] = 0;
        proto_put_str_msg(&a.out, PROTO_MSG_RUN, (char *) big);
        conn_flush(&a);
        is_int(conn_fill(&b), 64, "reads up to its limit");
        is_int(conn_next(&b, &f), 0, "frame incomplete");
        is_int(conn_fill(&b), -ENOBUFS, "input full without a frame: -ENOBUFS");
        conn_done(&a);
        conn_done(&b);

        /* Unsolicited fds are closed with the connection. */
        make_pair(&a, &b, 1024);
        if (pipe2(p, O_CLOEXEC) == 0) {
                for (int i = 0; i < CONN_MAX_FDS + 1; i++) {
                        size_t start = a.out.size;
                        proto_put_empty(&a.out, PROTO_MSG_OK);
                        conn_attach_fd(&a, start, dup(p[0]));
                }
                ok(a.n_out_fds == CONN_MAX_FDS, "at most CONN_MAX_FDS queued to send");
                conn_flush(&a);
                while (conn_fill(&b) > 0)
                        ;
                ok(b.n_in_fds <= CONN_MAX_FDS, "received fds are bounded");
                safe_close(p[0]);
                safe_close(p[1]);
        }
        conn_done(&a);
        conn_done(&b);
}

static void test_exit_info(void) {
        struct proto_exit_info in = {
                .started = UINT64_C(1796609257762097),
                .finished = UINT64_MAX,
                .dropped = 0x0102030405060708u,
        }, out = {};
        uint8_t data[PROTO_EXIT_INFO_SIZE];

        proto_exit_info_encode(&in, data);
        ok(data[16] == 0x08 && data[23] == 0x01, "exit info: little endian");
        ok(proto_exit_info_decode(data, sizeof data, &out) == 0 && out.started == in.started &&
           out.finished == in.finished && out.dropped == in.dropped, "exit info round trip");
        is_int(proto_exit_info_decode(data, sizeof data - 1, &out), -EBADMSG, "exit info: short data rejected");
        is_int(proto_exit_info_decode(NULL, 0, &out), -EBADMSG, "exit info: none (version 1) rejected");
}

int main(void) {
        plan(0);
        test_header();
        test_frame_limits();
        test_request();
        test_error();
        test_session();
        test_terminal();
        test_record();
        test_rec();
        test_exit_info();
        test_kv();
        test_handoff();
        test_small_messages();
        test_tables();
        test_conn_basic();
        test_conn_byte_by_byte();
        test_conn_fds();
        test_conn_partial_flush();
        test_conn_bad_frames();
        return done_testing();
}
