/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <string.h>

#include "escape.h"
#include "utf8.h"

static const char hex[] = "0123456789abcdef";

/* Code points that move the cursor, end a line or reorder text on display. */
static bool invisible_control(uint32_t cp) {
        return (cp >= 0x80 && cp <= 0x9f) ||
               cp == 0x200e || cp == 0x200f ||
               (cp >= 0x2028 && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069) ||
               cp == 0xfeff;
}

static size_t put_hex(char *o, uint8_t c) {
        o[0] = '\\';
        o[1] = 'x';
        o[2] = hex[c >> 4];
        o[3] = hex[c & 0xf];
        return 4;
}

size_t escape_unit(const char *s, size_t n, EscapeFlags flags, char out[static ESCAPE_UNIT_MAX], size_t *ret_len) {
        const uint8_t *u = (const uint8_t *) s;
        uint32_t cp;
        size_t len;

        if (u[0] == '\\' || (u[0] == '"' && (flags & ESCAPE_QUOTE))) {
                out[0] = '\\';
                out[1] = (char) u[0];
                *ret_len = 2;
                return 1;
        }
        if (u[0] == '\t' && (flags & ESCAPE_KEEP_TAB)) {
                out[0] = '\t';
                *ret_len = 1;
                return 1;
        }
        if (u[0] < 0x20 || u[0] == 0x7f) {
                *ret_len = put_hex(out, u[0]);
                return 1;
        }
        len = utf8_decode(u, n, &cp);
        if (len == 0) {
                *ret_len = put_hex(out, u[0]);
                return 1;
        }
        if (invisible_control(cp)) {
                size_t o = 0;

                /* At most 3 bytes: U+FEFF is the highest of them. */
                for (size_t i = 0; i < len; i++)
                        o += put_hex(out + o, u[i]);
                *ret_len = o;
                return len;
        }
        memcpy(out, s, len);
        *ret_len = len;
        return len;
}

size_t escape_buf(char *dst, size_t size, const char *s, size_t n, EscapeFlags flags, size_t *ret_consumed) {
        size_t i = 0, o = 0;

        while (i < n) {
                char unit[ESCAPE_UNIT_MAX];
                size_t len, k = escape_unit(s + i, n - i, flags, unit, &len);

                if (len > size - 1 - o)
                        break;
                memcpy(dst + o, unit, len);
                o += len;
                i += k;
        }
        dst[o] = 0;
        if (ret_consumed)
                *ret_consumed = i;
        return o;
}

size_t escape_len(const char *s, size_t n, EscapeFlags flags) {
        size_t i = 0, total = 0;

        while (i < n) {
                char unit[ESCAPE_UNIT_MAX];
                size_t len;

                i += escape_unit(s + i, n - i, flags, unit, &len);
                total += len;
        }
        return total;
}

/* Printable ASCII that stays as it is. */
static bool plain_byte(uint8_t c, EscapeFlags flags) {
        return c >= 0x20 && c < 0x7f && c != '\\' && !(c == '"' && (flags & ESCAPE_QUOTE));
}

void escape_fwrite(FILE *f, const char *s, size_t n, EscapeFlags flags) {
        size_t i = 0;

        while (i < n) {
                char unit[ESCAPE_UNIT_MAX];
                size_t run = 0, len;

                while (i + run < n && plain_byte((uint8_t) s[i + run], flags))
                        run++;
                if (run > 0) {
                        fwrite(s + i, 1, run, f);
                        i += run;
                        continue;
                }
                i += escape_unit(s + i, n - i, flags, unit, &len);
                fwrite(unit, 1, len, f);
        }
}

bool printable_ascii(const char *s, size_t max) {
        size_t n = 0;

        for (; s[n]; n++)
                if (n >= max || (unsigned char) s[n] < 0x20 || (unsigned char) s[n] > 0x7e)
                        return false;
        return n > 0;
}
