/* SPDX-License-Identifier: ISC */
/*
 * Parsing and formatting of the values users type: durations ("90",
 * "90s", "5m", "2h", "1d", and sums such as "1h30m"), sizes ("4096",
 * "512KiB", "4MiB", "1GiB"), integers and session names.  Pure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USEC_PER_SEC UINT64_C(1000000)

/* -EINVAL on syntax, -ERANGE on overflow. */
int parse_duration(const char *s, uint64_t *ret_usec);
int parse_size(const char *s, uint64_t *ret_bytes);
int parse_uint32(const char *s, uint32_t *ret);
int parse_uint64(const char *s, uint64_t *ret);

/* Shortest exact form: "2h", "90s" -> "1m30s", "0s"; sizes "4MiB", "1536KiB", "100B". */
char *format_duration(char *buf, size_t n, uint64_t usec);
char *format_size(char *buf, size_t n, uint64_t bytes);

/* Session names: 1-64 of [A-Za-z0-9._-], starting with a letter or '_'
 * (so a name is never mistaken for an Id). */
bool session_name_valid(const char *s);

/* A signal for dwell stop: a name with or without "SIG" (any case: INT,
 * SIGTERM, kill) or a number 1..64.  Returns the signal or -EINVAL. */
int parse_signal(const char *s);
/* "TERM", "INT", ...; NULL for a signal without a name here. */
const char *signal_name(int sig);

/* Detach keys, in docker's syntax: a comma-separated sequence of 1 to
 * DETACH_KEYS_MAX keys, each "ctrl-X" (X one of a-z, @, [, \, ], ^, _;
 * case-insensitive) or a single printable character other than ','.
 * Returns the number of bytes in ret, or -EINVAL. */
#define DETACH_KEYS_MAX 8
#define DETACH_KEYS_DEFAULT "ctrl-\\"
int parse_detach_keys(const char *s, uint8_t ret[static DETACH_KEYS_MAX]);
