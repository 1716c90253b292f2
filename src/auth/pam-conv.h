/* SPDX-License-Identifier: ISC */
/*
 * A PAM conversation that relays each prompt over a framed connection as
 * PROTO_MSG_CONV_PROMPT and waits for PROTO_MSG_CONV_REPLY (OpenSSH relays
 * its PAM conversation over a socketpair in the same way).  Used by the
 * synchronous helpers only: it blocks.
 */
#pragma once

#include <security/pam_appl.h>

#include "conn.h"

/* appdata_ptr must be a Conn*, or NULL to refuse every prompt. */
int pam_conv_relay(int num_msg, const struct pam_message **msg, struct pam_response **resp, void *appdata_ptr);

/* Maps a PAM result to -errno: auth/account refusals to -EPERM/-EACCES. */
int pam_result_to_errno(int pam_result);
