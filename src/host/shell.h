/* SPDX-License-Identifier: ISC */
/*
 * The session's persistent shell, fed through pipes (not a pty).  For each
 * command the worker writes one bootstrap line to the shell's stdin; that
 * line reads the command text (NUL-terminated) from a private pipe, evals it
 * with stdin from /dev/null and the private pipes closed, and writes "$?"
 * to a status pipe.  So variables, working directory and functions persist,
 * stdout and stderr stay separate, and a command's text is never parsed by
 * anything but the shell's eval.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* The fds the shell sees for the private pipes; high so that user
 * commands such as "exec 3>file" do not clobber them. */
#define SHELL_TEXT_FD 61
#define SHELL_STATUS_FD 62

typedef struct Shell {
        pid_t pid;
        int in_fd;              /* write: bootstrap lines */
        int text_fd;            /* write: command texts */
        int status_fd;          /* read: exit statuses, one per line */
        int out_fd;             /* read: stdout */
        int err_fd;             /* read: stderr */
        Buf pending;            /* command text not yet written to text_fd */
} Shell;

/* Starts shell as the current (unprivileged) user in home with env. */
int shell_start(Shell *sh, const char *shell, const char *home, char **env);
/* Queues one command; the caller writes sh->pending when text_fd is writable. */
int shell_send(Shell *sh, const char *text);
/* Writes what it can of the pending text: 1 done, 0 more pending, <0 error. */
int shell_flush_text(Shell *sh);
/* Parses complete "N\n" lines from the status pipe: >0 one status in *ret,
 * 0 none yet, -EPIPE when the pipe closed. */
int shell_read_status(Shell *sh, Buf *acc, int *ret);
void shell_close(Shell *sh);
