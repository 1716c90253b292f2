/* SPDX-License-Identifier: ISC */
/*
 * dwell-auth: dwelld's PAM helper.  dwelld never calls PAM itself (PAM
 * modules block, and a blocked supervisor would freeze every session), so
 * it runs this small synchronous program per check, as root:
 *
 *   dwell-auth account USER                pam_acct_mgmt for USER
 *   dwell-auth authenticate USER CALLER    pam_authenticate + pam_acct_mgmt for
 *                                          USER, asked for by CALLER
 *                                          (PAM_RUSER), the conversation
 *                                          relayed over fd 3
 *
 * fd 3 is a framed connection to dwelld.  The result is one frame on it:
 * PROTO_MSG_OK, or PROTO_MSG_FAILED{-errno, message}; the exit status is 0
 * on success and 1 on refusal.  Service name: "dwell".
 *
 * authenticate must not tell a right password from a wrong one for an
 * account PAM then refuses (expired, locked): the caller sees the same
 * failure ("authentication as USER failed", -EACCES), after the same
 * time (the real reason goes to dwelld for its audit record only).  So
 * the failure delay the modules ask for (pam_unix's 2 s,
 * pam_faildelay) is not left to libpam, which applies it after a failed
 * pam_authenticate only: it is captured (PAM_FAIL_DELAY) and applied here
 * after any failure, of authentication or of the account; and what
 * pam_acct_mgmt says ("Your account has expired") is not relayed.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "macro.h"
#include "pam-conv.h"
#include "proto.h"

#define CONTROL_FD 3

static int report(Conn *c, int error, const char *message) {
        int r;

        if (error == 0)
                r = proto_put_empty(&c->out, PROTO_MSG_OK);
        else
                r = proto_put_failed(&c->out, error, message);
        if (r >= 0)
                r = conn_flush_all(c, 10 * 1000);
        return error == 0 && r >= 0 ? 0 : 1;
}

/* The largest failure delay a module asked for (usec), and libpam's own
 * sleeping disabled: see above. */
static unsigned fail_delay_usec;

static void fail_delay_cb(int retval, unsigned usec_delay, void *appdata_ptr) {
        (void) retval;
        (void) appdata_ptr;
        if (usec_delay > fail_delay_usec)
                fail_delay_usec = usec_delay;
}

static void sleep_usec(unsigned usec) {
        struct timespec ts = { .tv_sec = usec / 1000000, .tv_nsec = (long) (usec % 1000000) * 1000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* What pam_acct_mgmt says after a --credential authentication stays here. */
static int conv_silent(int num_msg, const struct pam_message **msg, struct pam_response **resp, void *appdata_ptr) {
        (void) num_msg;
        (void) msg;
        (void) resp;
        (void) appdata_ptr;
        return PAM_CONV_ERR;
}

static int authenticate(Conn *c, const char *user, const char *caller) {
        struct pam_conv conv = { .conv = pam_conv_relay, .appdata_ptr = c };
        static const struct pam_conv silent = { .conv = conv_silent };
        pam_handle_t *pamh = NULL;
        char msg[512];
        int pr;

        pr = pam_start("dwell", user, &conv, &pamh);
        if (pr != PAM_SUCCESS)
                return report(c, -EIO, "PAM could not be started");
        (void) pam_set_item(pamh, PAM_RUSER, caller);
        (void) pam_set_item(pamh, PAM_FAIL_DELAY, (const void *) fail_delay_cb);

        pr = pam_authenticate(pamh, 0);
        if (pr == PAM_SUCCESS) {
                (void) pam_set_item(pamh, PAM_CONV, &silent);
                pr = pam_acct_mgmt(pamh, PAM_SILENT);
                snprintf(msg, sizeof msg, "authentication as %s succeeded, but PAM refuses the account: %s", user,
                         pam_strerror(pamh, pr));
        } else
                snprintf(msg, sizeof msg, "authentication as %s failed: %s", user, pam_strerror(pamh, pr));
        pam_end(pamh, pr);
        if (pr == PAM_SUCCESS)
                return report(c, 0, NULL);

        /* The same wait for every failure.  The reason is for dwelld's
         * audit record; the caller only learns that it failed. */
        sleep_usec(fail_delay_usec);
        return report(c, -EACCES, msg);
}

static int account(Conn *c, const char *user) {
        struct pam_conv conv = { .conv = pam_conv_relay, .appdata_ptr = c };
        pam_handle_t *pamh = NULL;
        char msg[512];
        int pr, r;

        pr = pam_start("dwell", user, &conv, &pamh);
        if (pr != PAM_SUCCESS)
                return report(c, -EIO, "PAM could not be started");
        (void) pam_set_item(pamh, PAM_RUSER, user);

        pr = pam_acct_mgmt(pamh, 0);
        if (pr != PAM_SUCCESS) {
                snprintf(msg, sizeof msg, "account %s is not permitted by PAM: %s",
                         user, pam_strerror(pamh, pr));
                r = report(c, pam_result_to_errno(pr) ?: -EPERM, msg);
        } else
                r = report(c, 0, NULL);
        pam_end(pamh, pr);
        return r;
}

int main(int argc, char *argv[]) {
        Conn c;
        int r;

        if (!(argc == 3 && streq(argv[1], "account")) && !(argc == 4 && streq(argv[1], "authenticate"))) {
                fprintf(stderr, "usage: dwell-auth account USER | authenticate USER CALLER (run by dwelld)\n");
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "dwell-auth: must be run as root by dwelld\n");
                return 2;
        }
        if (fcntl(CONTROL_FD, F_GETFD) < 0) {
                fprintf(stderr, "dwell-auth: fd %d is not open (run by dwelld)\n", CONTROL_FD);
                return 2;
        }
        conn_init(&c, CONTROL_FD, PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD, 1024 * 1024);
        r = streq(argv[1], "account") ? account(&c, argv[2]) : authenticate(&c, argv[2], argv[3]);
        conn_done(&c);
        return r;
}
