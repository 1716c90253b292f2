/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

char **strv_copy(char *const *v) {
        size_t n = 0;
        char **r;

        for (char *const *p = v; p && *p; p++)
                n++;
        if (n == 0)
                return NULL;
        r = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; r && i < n; i++)
                if (!(r[i] = strdup(v[i]))) {
                        strv_free(r);
                        return NULL;
                }
        return r;
}

char *strv_join(char *const *v, const char *sep) {
        size_t l = 1;
        char *r, *p;

        for (char *const *q = v; q && *q; q++)
                l += strlen(*q) + strlen(sep);
        r = p = malloc(l);
        if (!r)
                return NULL;
        *p = 0;
        for (char *const *q = v; q && *q; q++) {
                if (q != v)
                        p = stpcpy(p, sep);
                p = stpcpy(p, *q);
        }
        return r;
}

char **strv_split(const char *s, char sep) {
        size_t n = 1, i = 0;
        char **v;

        if (!s || !*s)
                return NULL;
        for (const char *p = s; *p; p++)
                n += *p == sep;
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return NULL;
        for (const char *p = s;; i++) {
                const char *e = strchr(p, sep);
                v[i] = e ? strndup(p, (size_t) (e - p)) : strdup(p);
                if (!v[i]) {
                        strv_free(v);
                        return NULL;
                }
                if (!e)
                        break;
                p = e + 1;
        }
        return v;
}

size_t strv_length(char *const *v) {
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int strv_consume(char ***v, char *s) {
        size_t n = strv_length(*v);
        char **t;

        if (!s)
                return -ENOMEM;
        t = reallocarray(*v, n + 2, sizeof(char *));
        if (!t) {
                free(s);
                return -ENOMEM;
        }
        t[n] = s;
        t[n + 1] = NULL;
        *v = t;
        return 0;
}

bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return true;
}
