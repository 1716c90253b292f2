/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "detach-keys.h"
#include "proto.h"

_Static_assert(DETACH_KEYS_MAX == PROTO_DETACH_KEYS_MAX, "the detach keys travel in TERM_TTY");

bool detach_match(DetachMatch *m, const uint8_t *p, size_t n, uint8_t *out, size_t *ret_n) {
        size_t k = 0;

        if (m->n_keys == 0) {           /* none: everything goes on */
                memcpy(out, p, n);
                *ret_n = n;
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                if (p[i] == m->keys[m->matched]) {
                        if (++m->matched == m->n_keys) {
                                m->matched = 0;
                                *ret_n = k;
                                return true;
                        }
                        continue;
                }
                /* A partial match that fails: what it held goes on as typed. */
                if (m->matched > 0) {
                        memcpy(out + k, m->keys, m->matched);
                        k += m->matched;
                        m->matched = 0;
                        if (p[i] == m->keys[0]) {
                                if (m->n_keys == 1) {
                                        *ret_n = k;
                                        return true;
                                }
                                m->matched = 1;
                                continue;
                        }
                }
                out[k++] = p[i];
        }
        *ret_n = k;
        return false;
}
