/* SPDX-License-Identifier: ISC */
/*
 * Request: one client connection to dwelld.  It carries exactly one request
 * (optionally preceded by ORIGIN).  dwelld identifies the caller
 * (SO_PEERCRED), checks the account through PAM (acct.c), authorizes the
 * verb, and then either answers itself (list, new, remove, errors) or hands
 * the connection to the session's worker (invoke, connect, receive,
 * disconnect) and forgets it.
 */
#pragma once

#include "manager.h"
#include "policy.h"

typedef enum RequestState {
        REQUEST_READING,        /* waiting for the request frame */
        REQUEST_AUTHORIZING,    /* PAM account check in flight */
        REQUEST_AUTHENTICATING, /* --credential: waiting for its turn (auth NULL), or PAM conversation relayed */
        REQUEST_WAITING,        /* waiting for a session to be ready or to end */
        REQUEST_REPLYING,       /* answer queued; close once written */
} RequestState;

struct Request {
        Manager *manager;
        LIST_LINK(Request);

        Conn conn;
        sd_event_source *io_src;
        sd_event_source *timer_src;
        RequestState state;

        pid_t pid;              /* the peer (SO_PEERCRED) */
        uid_t uid;
        gid_t gid;
        char *user;
        char *origin;
        Caller as;              /* whom the request acts for: the peer, or --credential's user */
        char *as_user;
        AuthConv *auth;

        uint16_t verb;
        struct proto_request req;
        Session *session;       /* the session it waits on */
};

int request_new(Manager *m, int fd);
Request *request_free(Request *r);

/* Called by acct.c with the account check's result, and with the result
 * of --credential authentication. */
void request_authorized(Request *r, int error, const char *message);
void request_authenticated(Request *r, int error);
/* Relays a PAM prompt of the authentication to the client. */
void request_conv_prompt(Request *r, uint8_t style, const char *text);
/* Called by session.c when the session r waits on became ready, failed or ended. */
void request_session_ready(Request *r);
void request_session_failed(Request *r, uint16_t code, const char *message);
void request_session_ended(Request *r);

/* Queues an error / OK answer and closes the connection once written. */
void request_reply_error(Request *r, uint16_t code, const char *fmt, ...) _printf_(3, 4);
