/* SPDX-License-Identifier: ISC */
/*
 * Talking to dwelld and to a session's worker.
 *
 * Every request opens its own connection and sends exactly one request
 * frame, then nothing until the first answer has arrived: dwelld may hand
 * the connection over to the session's worker, and bytes sent before that
 * would be lost.  The only exception is the PAM conversation, which is
 * answered frame by frame (CONV_PROMPT -> CONV_REPLY) before the answer.
 *
 * After ATTACHED the connection carries the record stream: stream.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdarg.h>
#include <termios.h>
#include <time.h>

#include "client.h"
#include "parse-util.h"

int64_t clock_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int session_lost_dwelld(int r) {
        if (arg_host)
                return remote_lost(r);
        return client_error(r < 0 ? r : -ECONNRESET, PROTO_ERR_UNAVAILABLE, "lost connection to dwelld");
}

int session_report_error(Frame *f) {
        _cleanup_free_ char *msg = NULL;
        uint16_t code;
        int r;

        r = proto_get_error(&f->payload, &code, &msg);
        if (r < 0)
                return session_lost_dwelld(r);
        if (code == 0 || code >= _PROTO_ERR_MAX)
                code = PROTO_ERR_UNAVAILABLE;
        if (!msg[0])
                return client_error(-EREMOTEIO, code, "request failed: %s", proto_error_to_string(code));
        return client_error(-EREMOTEIO, code, "%s", msg);
}

static int socket_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof sa.sun_path)
                return client_error(-ENAMETOOLONG, PROTO_ERR_INVALID_ARGUMENT, "socket path too long: %s", path);
        memcpy(sa.sun_path, path, strlen(path));

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "failed to create socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return client_error(-errno, PROTO_ERR_UNAVAILABLE, "cannot connect to dwelld at %s: %m", path);
        return TAKE_FD(fd);
}

/* Counts the requests this process sent (for the conversation cache). */
static unsigned request_serial = 0;

/* -H: the request frame as sent, in case it must be sent again through
 * the bridge run as a command (remote.c), and whether anything came back. */
static uint8_t *request_copy = NULL;
static size_t request_copy_size = 0;
static bool request_answered = false;

static int request_connect(void) {
        return arg_host ? remote_connect() : socket_connect(arg_socket);
}

int session_request(uint16_t type, const struct proto_request *req, Conn *ret) {
        int fd, r;

        request_serial++;
        request_answered = false;
        fd = request_connect();
        if (fd < 0)
                return fd;
        conn_init(ret, fd, CLIENT_MAX_IN, CLIENT_MAX_OUT);

        r = proto_put_request(&ret->out, type, req);
        if (r < 0)
                return client_error(r, PROTO_ERR_INVALID_ARGUMENT, "request too large");
        if (arg_host) {
                free(request_copy);
                request_copy_size = 0;
                request_copy = malloc(buf_len(&ret->out));
                if (request_copy) {
                        memcpy(request_copy, buf_ptr(&ret->out), buf_len(&ret->out));
                        request_copy_size = buf_len(&ret->out);
                }
        }
        r = conn_flush_all(ret, -1);
        if (r < 0 && !arg_host) {
                /* dwelld refuses a connection over its limits with one error
                 * frame and closes it, maybe before the request was sent. */
                Frame f;

                buf_reset(&ret->out);
                if (conn_wait_frame(ret, &f, 1000) > 0 && f.type == PROTO_MSG_ERROR) {
                        r = session_report_error(&f);
                        conn_consume(ret, &f);
                        return r;
                }
        }
        if (r < 0)
                return session_lost_dwelld(r);
        return 0;
}

/* --- PAM conversation -------------------------------------------------- */

static volatile sig_atomic_t conv_interrupted = 0;

static void conv_signal_cb(int sig) {
        conv_interrupted = sig;
}

/* Reads one line from fd byte by byte, so nothing after it is consumed
 * (connect reads its commands from the same stdin later). */
static int read_line_fd(int fd, char *buf, size_t size) {
        size_t n = 0;

        for (;;) {
                char ch;
                ssize_t k = read(fd, &ch, 1);

                if (k < 0) {
                        if (errno == EINTR && !conv_interrupted)
                                continue;
                        return -errno;
                }
                if (k == 0 && n == 0)
                        return -ENODATA;        /* end of input, not an empty answer */
                if (k == 0 || ch == '\n')
                        break;
                if (n + 1 >= size)
                        return -E2BIG;
                buf[n++] = ch;
        }
        buf[n] = 0;
        return 0;
}

static int conv_read_tty(int tty, const char *prompt, bool echo, char *buf, size_t size) {
        struct sigaction sa = { .sa_handler = conv_signal_cb }, old[3];
        static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
        struct termios saved, t;
        bool restore = false;
        int r;

        (void) loop_write(tty, prompt, strlen(prompt));
        if (!echo && tcgetattr(tty, &saved) >= 0) {
                t = saved;
                t.c_lflag &= ~(tcflag_t) ECHO;
                t.c_lflag |= ECHONL;
                /* No SA_RESTART: a signal ends the read and the terminal is restored. */
                conv_interrupted = 0;
                for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                        (void) sigaction(sigs[i], &sa, &old[i]);
                restore = tcsetattr(tty, TCSAFLUSH, &t) >= 0;
        }
        r = read_line_fd(tty, buf, size);
        if (!echo && restore) {
                (void) tcsetattr(tty, TCSAFLUSH, &saved);
                for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                        (void) sigaction(sigs[i], &old[i], NULL);
                if (conv_interrupted)
                        (void) raise(conv_interrupted);
        }
        return r;
}

/* Asks the user; the answer is returned in buf (PROTO_MAX_TEXT bytes). */
static int conv_read_one(const char *prompt, bool echo, char *buf, size_t size) {
        _cleanup_close_ int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);

        if (tty >= 0)
                return conv_read_tty(tty, prompt, echo, buf, size);
        /* No terminal: the prompt on stderr, the answer from stdin (tests,
         * scripts feeding a password). */
        fputs(prompt, stderr);
        fflush(stderr);
        return read_line_fd(STDIN_FILENO, buf, size);
}

/* With several hosts (-H a,b), each host's client asks in turn, naming
 * its host. */
static int conv_read(const char *prompt, bool echo, char *buf, size_t size) {
        _cleanup_free_ char *labelled = NULL;
        int r;

        if (!multi_label)
                return conv_read_one(prompt, echo, buf, size);
        if (asprintf(&labelled, "%s: %s", multi_label, prompt) < 0)
                return -ENOMEM;
        multi_conv_lock(true);
        r = conv_read_one(labelled, echo, buf, size);
        multi_conv_lock(false);
        return r;
}

/* One dwell command may send several requests with --credential (remove
 * A B, remove --all, disconnect A B): the secret asked for by the first is
 * given again, unasked, to the same prompt of the following ones — once
 * per connection, so that a PAM module that asks again after a wrong
 * answer gets a fresh one.  Wiped at exit. */
static struct {
        bool valid;
        unsigned used_on;       /* request_serial of the request it was last given to */
        char prompt[PROTO_MAX_TEXT + 1];
        char answer[PROTO_MAX_TEXT + 1];
} conv_cache;

static void conv_cache_wipe(void) {
        explicit_bzero(&conv_cache, sizeof conv_cache);
}

static bool conv_cache_get(const char *text, char *buf, size_t size) {
        if (!conv_cache.valid || conv_cache.used_on == request_serial || !streq(conv_cache.prompt, text) ||
            strlen(conv_cache.answer) >= size)
                return false;
        conv_cache.used_on = request_serial;
        strcpy(buf, conv_cache.answer);
        return true;
}

static void conv_cache_put(const char *text, const char *answer) {
        static bool registered = false;

        if (strlen(text) >= sizeof conv_cache.prompt || strlen(answer) >= sizeof conv_cache.answer)
                return;
        if (!registered)
                registered = atexit(conv_cache_wipe) == 0;
        strcpy(conv_cache.prompt, text);
        strcpy(conv_cache.answer, answer);
        conv_cache.used_on = request_serial;
        conv_cache.valid = true;
}

static int conv_reply(Conn *c, uint8_t style, const char *text) {
        char answer[PROTO_MAX_TEXT + 1];
        bool secret = style == 1;
        int r = 0;

        if (!secret || !conv_cache_get(text, answer, sizeof answer)) {
                r = conv_read(text, !secret, answer, sizeof answer);
                if (r >= 0 && secret)
                        conv_cache_put(text, answer);
        }
        if (r < 0) {
                explicit_bzero(answer, sizeof answer);
                return client_error(r, PROTO_ERR_AUTH_FAILED, "failed to read the answer to \"%s\": %s", text,
                                    r == -ENODATA ? "end of input" : strerror(-r));
        }
        r = proto_put_str_msg(&c->out, PROTO_MSG_CONV_REPLY, answer);
        explicit_bzero(answer, sizeof answer);
        if (r >= 0)
                r = conn_flush_all(c, -1);
        /* The frame held the secret: wipe the whole output buffer. */
        if (c->out.data && c->out.alloc)
                explicit_bzero(c->out.data, c->out.alloc);
        return r < 0 ? session_lost_dwelld(r) : 0;
}

static int conv_answer(Conn *c, Frame *f) {
        _cleanup_free_ char *text = NULL;
        uint8_t style;
        int r;

        r = proto_get_conv_prompt(&f->payload, &style, &text);
        if (r < 0)
                return session_lost_dwelld(r);
        switch (style) {
        case 1: /* PAM_PROMPT_ECHO_OFF */
        case 2: /* PAM_PROMPT_ECHO_ON */
                return conv_reply(c, style, text);
        case 3: /* PAM_ERROR_MSG */
        case 4: /* PAM_TEXT_INFO */
                fprintf(stderr, "%s\n", text);
                return 0;
        default:
                return session_lost_dwelld(-EBADMSG);
        }
}

/* -H HOST where sshd has no dwell subsystem: the same request again,
 * through the bridge run as a command. */
static int request_resend(Conn *c) {
        int fd, r;

        conn_done(c);
        fd = remote_connect();
        if (fd < 0)
                return fd;
        conn_init(c, fd, CLIENT_MAX_IN, CLIENT_MAX_OUT);
        r = buf_put(&c->out, request_copy, request_copy_size);
        if (r >= 0)
                r = conn_flush_all(c, -1);
        return r < 0 ? session_lost_dwelld(r) : 0;
}

static int answer_timeout_ms = -1;

void session_set_answer_timeout(int timeout_ms) {
        answer_timeout_ms = timeout_ms;
}

int session_wait_answer(Conn *c, Frame *ret) {
        int r;

        for (;;) {
                r = conn_wait_frame(c, ret, answer_timeout_ms);
                if (r <= 0 && arg_host && !request_answered && request_copy && remote_retry_as_command()) {
                        r = request_resend(c);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r <= 0)
                        return session_lost_dwelld(r);
                request_answered = true;
                if (ret->type == PROTO_MSG_ERROR) {
                        r = session_report_error(ret);
                        conn_consume(c, ret);
                        return r;
                }
                if (ret->type != PROTO_MSG_CONV_PROMPT)
                        return 0;
                r = conv_answer(c, ret);
                conn_consume(c, ret);
                if (r < 0)
                        return r;
        }
}

int session_attach_one(const char *verb, uint16_t type, int argc, char *argv[], struct proto_request *req,
                       Conn *c, Frame *ret) {
        int r;

        if (argc - optind != 1)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "%s: expected exactly one SESSION (name or Id)", verb);
        r = session_arg_check(argv[optind]);
        if (r < 0)
                return r;
        req->session = argv[optind];
        r = session_request(type, req, c);
        if (r < 0)
                return r;
        r = session_wait_answer(c, ret);
        if (r < 0)
                return r;
        if (ret->type != PROTO_MSG_ATTACHED)
                return session_lost_dwelld(-EBADMSG);
        return 0;
}

int session_next_frame(Conn *c, Frame *ret) {
        int r;

        r = conn_wait_frame(c, ret, -1);
        if (r <= 0)
                return session_lost_dwelld(r);
        if (ret->type == PROTO_MSG_ERROR) {
                r = session_report_error(ret);
                conn_consume(c, ret);
                return r;
        }
        return 0;
}

int session_request_ok(uint16_t type, const struct proto_request *req) {
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        Frame f;
        int r;

        r = session_request(type, req, &c);
        if (r < 0)
                return r;
        r = session_wait_answer(&c, &f);
        if (r < 0)
                return r;
        if (f.type != PROTO_MSG_OK || proto_expect_end(&f.payload) < 0)
                return session_lost_dwelld(-EBADMSG);
        conn_consume(&c, &f);
        return 0;
}

/* --- listings ---------------------------------------------------------- */

void session_array_free(struct proto_session *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                proto_session_done(s + i);
        free(s);
}

static int session_array_add(struct proto_session **array, size_t *n, Frame *f) {
        struct proto_session *a;
        int r;

        a = realloc(*array, (*n + 1) * sizeof(struct proto_session));
        if (!a)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        *array = a;
        r = proto_get_session(&f->payload, a + *n);
        if (r < 0)
                return session_lost_dwelld(r);
        (*n)++;
        return 0;
}

int session_read_list(Conn *c, uint16_t item_type, int (*add)(Frame *f, void *userdata), void *userdata) {
        size_t n = 0;
        Frame f;
        int r;

        for (r = session_wait_answer(c, &f); r >= 0; r = session_next_frame(c, &f)) {
                uint32_t count;

                if (f.type == item_type) {
                        r = add(&f, userdata);
                        n += r >= 0;
                } else if (f.type == PROTO_MSG_END) {
                        if (proto_get_u32_msg(&f.payload, &count) < 0 || count != n)
                                r = session_lost_dwelld(-EBADMSG);
                        conn_consume(c, &f);
                        return r;
                } else
                        r = session_lost_dwelld(-EBADMSG);
                conn_consume(c, &f);
                if (r < 0)
                        break;
        }
        return r;
}

typedef struct SessionArray {
        struct proto_session *v;
        size_t n;
} SessionArray;

static int session_array_add_cb(Frame *f, void *userdata) {
        SessionArray *a = userdata;
        return session_array_add(&a->v, &a->n, f);
}

int session_list(uint32_t flags, const char *credential, struct proto_session **ret, size_t *ret_n) {
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = { .flags = flags, .credential = (char *) credential };
        SessionArray a = {};
        int r;

        r = session_request(PROTO_REQ_LIST, &req, &c);
        if (r >= 0)
                r = session_read_list(&c, PROTO_MSG_SESSION, session_array_add_cb, &a);
        if (r < 0) {
                session_array_free(a.v, a.n);
                return r;
        }
        *ret = a.v;
        *ret_n = a.n;
        return 0;
}
