/* SPDX-License-Identifier: ISC */
/*
 * The host list of -H and --hosts-file.
 *
 *   -H a,b,c            hosts separated by commas
 *   -H @FILE            the hosts of FILE (the whole argument is the path)
 *   --hosts-file FILE   the same
 *
 * Several of them add up; a host named again is dropped (the first stays,
 * in its place).  A hosts file has one [USER@]HOST[:PORT] per line
 * ([ADDR]:PORT for IPv6); blank lines and everything from a '#' on are
 * ignored.  Every entry is checked with remote_parse_host(): it can never
 * start with '-' (it could not become an ssh option anyway: ssh gets it
 * after "--"), nor contain blanks, control characters or commas.
 *
 * The file is the user's own input, read with the user's rights; still it
 * is bounded (lines of at most HOSTS_LINE_MAX bytes, at most
 * HOSTS_FILE_LINES_MAX lines, at most HOSTS_MAX hosts in all), and an
 * error names FILE:LINE and what is wrong, never the line's text: a file
 * that is not a hosts file (a symbolic link to something else) is not
 * echoed.  Hosts given with -H a,b are shown (made safe for a terminal).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define HOSTS_ECHO_MAX 64

void host_list_done(HostList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->hosts[i]);
        free(l->hosts);
        *l = (HostList) {};
}

static int host_list_add(HostList *l, const char *spec, const char *file, unsigned line) {
        RemoteHost parsed;
        char **a;
        int r;

        r = remote_parse_host_at(spec, file, line, &parsed);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->hosts[i], spec))
                        return 0;
        if (l->n >= HOSTS_MAX) {
                if (file)
                        return client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT, "%s:%u: too many hosts (at most %u)",
                                            file, line, HOSTS_MAX);
                return client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT, "too many hosts (at most %u)", HOSTS_MAX);
        }
        a = realloc(l->hosts, (l->n + 2) * sizeof(char *));
        if (!a)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        l->hosts = a;
        l->hosts[l->n] = strdup(spec);
        if (!l->hosts[l->n])
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        l->hosts[++l->n] = NULL;
        return 0;
}

/* Reads one line into buf (without its newline); 0 at the end of the file,
 * 1 with a line, -E2BIG for a line longer than size - 1 (read to its end,
 * not kept), <0 on a read error.  A NUL byte becomes \x01, which no host
 * may contain. */
static int read_line(FILE *f, char *buf, size_t size) {
        size_t n = 0;
        bool any = false, too_long = false;
        int c;

        while ((c = getc(f)) != EOF) {
                any = true;
                if (c == '\n')
                        break;
                if (n + 1 < size)
                        buf[n++] = c == 0 ? 1 : (char) c;
                else
                        too_long = true;
        }
        buf[n] = 0;
        if (ferror(f))
                return -EIO;
        if (!any)
                return 0;
        return too_long ? -E2BIG : 1;
}

int host_list_add_file(HostList *l, const char *path) {
        _cleanup_free_ char *safe_path = terminal_sanitize(path, 256);
        const char *name = safe_path ? safe_path : "?";
        FILE *f;
        char buf[HOSTS_LINE_MAX + 1];
        unsigned line = 0;
        int r = 0;

        if (!path[0])
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "empty hosts file name");
        l->from_file = true;
        f = fopen(path, "re");
        if (!f)
                return client_error(-errno, PROTO_ERR_INVALID_ARGUMENT, "cannot open hosts file %s: %m", name);
        for (;;) {
                char *p, *end, *hash;

                r = read_line(f, buf, sizeof buf);
                if (r == 0)
                        break;
                line++;
                if (r == -E2BIG) {
                        r = client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT, "%s:%u: line too long (at most %u bytes)",
                                         name, line, HOSTS_LINE_MAX);
                        break;
                }
                if (r < 0) {
                        r = client_error(r, PROTO_ERR_INVALID_ARGUMENT, "cannot read hosts file %s: %s", name,
                                         strerror(-r));
                        break;
                }
                if (line > HOSTS_FILE_LINES_MAX) {
                        r = client_error(-E2BIG, PROTO_ERR_INVALID_ARGUMENT, "%s:%u: too many lines (at most %u)",
                                         name, line, HOSTS_FILE_LINES_MAX);
                        break;
                }
                hash = strchr(buf, '#');
                if (hash)
                        *hash = 0;
                p = buf + strspn(buf, " \t\r");
                end = p + strlen(p);
                while (end > p && strchr(" \t\r", end[-1]))
                        *--end = 0;
                if (!p[0])
                        continue;
                if (p[strcspn(p, " \t")]) {
                        r = client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "%s:%u: more than one word (one host per line)",
                                         name, line);
                        break;
                }
                r = host_list_add(l, p, name, line);
                if (r < 0)
                        break;
                r = 0;
        }
        fclose(f);
        return r;
}

int host_list_add_arg(HostList *l, const char *arg) {
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;
        size_t before = l->n;
        bool any = false;
        int r;

        if (arg[0] == '@')
                return host_list_add_file(l, arg + 1);
        copy = strdup(arg);
        if (!copy)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        for (char *h = strtok_r(copy, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
                r = host_list_add(l, h, NULL, 0);
                if (r < 0)
                        return r;
                any = true;
        }
        if (!any && l->n == before) {
                _cleanup_free_ char *safe = terminal_sanitize(arg, HOSTS_ECHO_MAX);
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT, "empty host list '%s'", strempty(safe));
        }
        return 0;
}
