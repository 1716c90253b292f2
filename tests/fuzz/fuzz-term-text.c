/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target for the text of terminal streams (term-text.c) and the
 * parsing of OSC 133 marks (osc133.c).
 *
 * Input: byte 0 is the size of the pieces the rest is fed in (0 = whole).
 * The text must be the same whatever the split (pieces, one byte at a
 * time, whole), never longer than the input plus one byte, and hold no
 * control byte but TAB and LF, nor an ESC.  The rest is also parsed as the
 * arguments of a mark of each kind, with and without the right nonce: a
 * mark is only accepted with the nonce, a status is 0..255 or -1, and a
 * command line holds no control byte but TAB and LF.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "osc133.h"
#include "term-text.h"

#define NONCE "0123456789abcdef0123456789abcdef"

static size_t text(const uint8_t *p, size_t n, size_t step, uint8_t *out) {
        TermText t = TERM_TEXT_INIT;
        size_t o = 0;

        if (step == 0)
                step = n ? n : 1;
        for (size_t i = 0; i < n; i += step) {
                size_t k = MIN(step, n - i), w = term_text_feed(&t, p + i, k, out + o);

                CHECK(w <= k + 1);
                o += w;
        }
        o += term_text_finish(&t, out + o);
        return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *a, *b, *c;
        size_t na, nb, nc;

        if (size < 1)
                return 0;
        a = malloc(size + 2);
        b = malloc(2 * size + 2);
        c = malloc(2 * size + 2);
        CHECK(a && b && c);
        na = text(data + 1, size - 1, data[0], a);
        nb = text(data + 1, size - 1, 1, b);
        nc = text(data + 1, size - 1, 0, c);
        CHECK(na <= size);
        CHECK(na == nb && na == nc);
        CHECK(memcmp(a, b, na) == 0 && memcmp(a, c, na) == 0);
        for (size_t i = 0; i < na; i++)
                CHECK(a[i] == '\t' || a[i] == '\n' || (a[i] >= 0x20 && a[i] != 0x7f));
        free(a);
        free(b);
        free(c);

        for (const char *k = "ABCDE"; *k; k++) {
                Osc133Mark m;
                int r;

                r = osc133_parse(*k, (const char *) data + 1, size - 1, NONCE, &m);
                CHECK(r == 0 || r == 1);
                if (r == 1) {
                        CHECK(*k != 'E');
                        CHECK(memmem(data + 1, size - 1, "nonce=" NONCE, strlen("nonce=" NONCE)));
                        CHECK(m.status >= -1 && m.status <= 255);
                        CHECK((m.cmdline != NULL) == (*k == 'C'));
                        for (const char *s = m.cmdline; s && *s; s++)
                                CHECK(*s == '\t' || *s == '\n' || (unsigned char) *s >= 0x20);
                        CHECK(!m.cmdline || strlen(m.cmdline) <= OSC133_CMDLINE_MAX);
                }
                osc133_mark_done(&m);
                r = osc133_parse(*k, (const char *) data + 1, size - 1, "ffffffffffffffffffffffffffffffff", &m);
                CHECK(r == 0 || memmem(data + 1, size - 1, "ffffffffffffffffffffffffffffffff", 32));
                osc133_mark_done(&m);
        }
        return 0;
}
