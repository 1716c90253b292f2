/* SPDX-License-Identifier: ISC */
/* NULL-terminated string vectors. */
#pragma once

void strv_free(char **v);
char **strv_copy(char *const *v);                  /* NULL for an empty or NULL vector */
char *strv_join(char *const *v, const char *sep);  /* "" for an empty vector */
char **strv_split(const char *s, char sep);        /* NULL for NULL or "" */
