/* SPDX-License-Identifier: ISC */
/* NULL-terminated string vectors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

void strv_free(char **v);
char **strv_copy(char *const *v);                  /* NULL for an empty or NULL vector */
char *strv_join(char *const *v, const char *sep);  /* "" for an empty vector */
char **strv_split(const char *s, char sep);        /* NULL for NULL or "" */
size_t strv_length(char *const *v);                /* 0 for NULL */
int strv_consume(char ***v, char *s);              /* appends s, owned (also on failure); -ENOMEM */
bool strv_equal(char *const *a, char *const *b);   /* NULL equals an empty vector */
static inline void strv_freep(char ***v) {
        strv_free(*v);
}
