/* SPDX-License-Identifier: ISC */
#include "utf8.h"

size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *ret) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80) {
                cp = s[0];
                len = 1;
        } else {
                if (s[0] >= 0xc2 && s[0] <= 0xdf)
                        len = 2, cp = s[0] & 0x1f;
                else if (s[0] >= 0xe0 && s[0] <= 0xef)
                        len = 3, cp = s[0] & 0x0f;
                else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                        len = 4, cp = s[0] & 0x07;
                else
                        return 0;
                if (len > n)
                        return 0;
                for (size_t i = 1; i < len; i++) {
                        if ((s[i] & 0xc0) != 0x80)
                                return 0;
                        cp = cp << 6 | (s[i] & 0x3f);
                }
                /* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
                if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return 0;
        }
        if (ret)
                *ret = cp;
        return len;
}
