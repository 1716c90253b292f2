/* SPDX-License-Identifier: ISC */
/*
 * What every fuzz target shares: the libFuzzer entry point (also called by
 * fuzz-main.c's replay driver) and CHECK(), an invariant that aborts with
 * its place and text, so that libFuzzer and the replay both report it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                \
        do {                                                                    \
                if (!(x)) {                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n",            \
                                __FILE__, __LINE__, #x);                        \
                        abort();                                                \
                }                                                               \
        } while (0)
