/* SPDX-License-Identifier: ISC */
/*
 * Replay driver for the fuzz targets when they are not linked with
 * libFuzzer: runs every file named on the command line, and every regular
 * file in every directory named, through LLVMFuzzerTestOneInput().  Each
 * input is read into a heap block of exactly its size so that the
 * sanitizers catch reads past its end.  A crash is the failure signal;
 * otherwise the exit status is 0, or 1 if an input could not be read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "fuzz.h"

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        uint8_t *p;
        size_t have = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        p = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
        if (!p)
                return -ENOMEM;
        while (have < (size_t) st.st_size) {
                ssize_t n = read(fd, p + have, (size_t) st.st_size - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        free(p);
                        return n < 0 ? -errno : -EIO;
                }
                have += (size_t) n;
        }
        *ret = p;
        *ret_size = have;
        return 0;
}

static int run_file(const char *path) {
        uint8_t *data = NULL;
        size_t size = 0;
        int r;

        r = read_file(path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "fuzz-main: %s: %s\n", path, strerror(-r));
                return r;
        }
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        return 0;
}

static int run_dir(const char *path, unsigned *count) {
        struct dirent **names = NULL;
        int n, r = 0;

        n = scandir(path, &names, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "fuzz-main: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                char *p = NULL;

                if (names[i]->d_name[0] != '.' &&
                    asprintf(&p, "%s/%s", path, names[i]->d_name) >= 0) {
                        struct stat st;

                        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                                if (run_file(p) < 0)
                                        r = -EIO;
                                else
                                        (*count)++;
                        }
                        free(p);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char *argv[]) {
        unsigned count = 0;
        int failed = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "fuzz-main: %s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                } else if (S_ISDIR(st.st_mode)) {
                        if (run_dir(argv[i], &count) < 0)
                                failed = 1;
                } else if (run_file(argv[i]) < 0)
                        failed = 1;
                else
                        count++;
        }
        fprintf(stderr, "fuzz-main: %u input(s) ran\n", count);
        return failed;
}
