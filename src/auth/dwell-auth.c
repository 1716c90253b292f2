/* SPDX-License-Identifier: ISC */
/*
 * dwell-auth: dwelld's PAM helper.  dwelld never calls PAM itself (PAM
 * modules block, and a blocked supervisor would freeze every session), so
 * it runs this small synchronous program per check, as root:
 *
 *   dwell-auth account USER        pam_acct_mgmt for USER
 *   dwell-auth authenticate USER   pam_authenticate + pam_acct_mgmt, with the
 *                                  conversation relayed over fd 3
 *
 * fd 3 is a framed connection to dwelld.  The result is one frame on it:
 * PROTO_MSG_OK, or PROTO_MSG_FAILED{-errno, message}; the exit status is 0
 * on success and 1 on refusal.  Service name: "dwell".
 */
#include <errno.h>
#include <fcntl.h>
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

static int run(Conn *c, const char *mode, const char *user) {
        struct pam_conv conv = { .conv = pam_conv_relay, .appdata_ptr = c };
        pam_handle_t *pamh = NULL;
        char msg[512];
        int pr, r;

        pr = pam_start("dwell", user, &conv, &pamh);
        if (pr != PAM_SUCCESS)
                return report(c, -EIO, "PAM could not be started");
        (void) pam_set_item(pamh, PAM_RUSER, user);

        if (streq(mode, "authenticate")) {
                pr = pam_authenticate(pamh, 0);
                if (pr != PAM_SUCCESS) {
                        snprintf(msg, sizeof msg, "authentication as %s failed", user);
                        r = report(c, -EACCES, msg);
                        pam_end(pamh, pr);
                        return r;
                }
        }

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

        if (argc != 3 || (!streq(argv[1], "account") && !streq(argv[1], "authenticate"))) {
                fprintf(stderr, "usage: dwell-auth account|authenticate USER (run by dwelld)\n");
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
        r = run(&c, argv[1], argv[2]);
        conn_done(&c);
        return r;
}
