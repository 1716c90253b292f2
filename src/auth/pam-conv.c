/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pam-conv.h"
#include "proto.h"

#define CONV_TIMEOUT_MS (120 * 1000)

static void free_responses(struct pam_response *r, int n) {
        if (!r)
                return;
        for (int i = 0; i < n; i++)
                if (r[i].resp) {
                        explicit_bzero(r[i].resp, strlen(r[i].resp));
                        free(r[i].resp);
                }
        free(r);
}

static int relay_one(Conn *c, const struct pam_message *m, char **ret) {
        Frame f;
        int r;

        r = proto_put_conv_prompt(&c->out, (uint8_t) m->msg_style, m->msg);
        if (r < 0)
                return r;
        if (m->msg_style == PAM_ERROR_MSG || m->msg_style == PAM_TEXT_INFO)
                return conn_flush_all(c, CONV_TIMEOUT_MS);

        r = conn_wait_frame(c, &f, CONV_TIMEOUT_MS);
        if (r <= 0)
                return r == 0 ? -ECONNRESET : r;
        if (f.type != PROTO_MSG_CONV_REPLY)
                r = -EBADMSG;
        else
                r = proto_get_str_msg(&f.payload, PAM_MAX_RESP_SIZE - 1, ret);
        conn_consume(c, &f);
        return r;
}

int pam_conv_relay(int num_msg, const struct pam_message **msg, struct pam_response **resp, void *appdata_ptr) {
        Conn *c = appdata_ptr;
        struct pam_response *r;

        if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || !c)
                return PAM_CONV_ERR;
        r = calloc((size_t) num_msg, sizeof *r);
        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < num_msg; i++) {
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                case PAM_PROMPT_ECHO_ON:
                case PAM_ERROR_MSG:
                case PAM_TEXT_INFO:
                        if (relay_one(c, msg[i], &r[i].resp) < 0)
                                goto fail;
                        break;
                default:
                        goto fail;
                }
        }
        *resp = r;
        return PAM_SUCCESS;
fail:
        free_responses(r, num_msg);
        return PAM_CONV_ERR;
}

int pam_result_to_errno(int pam_result) {
        switch (pam_result) {
        case PAM_SUCCESS:
                return 0;
        case PAM_USER_UNKNOWN:
        case PAM_AUTH_ERR:
        case PAM_CRED_INSUFFICIENT:
        case PAM_AUTHINFO_UNAVAIL:
        case PAM_MAXTRIES:
                return -EACCES;
        case PAM_ACCT_EXPIRED:
        case PAM_NEW_AUTHTOK_REQD:
        case PAM_AUTHTOK_EXPIRED:
        case PAM_PERM_DENIED:
                return -EPERM;
        case PAM_BUF_ERR:
                return -ENOMEM;
        default:
                return -EIO;
        }
}
