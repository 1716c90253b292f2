/* SPDX-License-Identifier: ISC */
/*
 * The session's persistent shell, fed through pipes (not a pty): the Runner
 * of normal sessions (command.h).  For each command the runner writes one
 * bootstrap line to the shell's stdin; that line reads the command text
 * (NUL-terminated) from a private pipe, evals it with stdin from /dev/null
 * and the private pipes closed, and writes "$?" to a status pipe.  So
 * variables, working directory and functions persist, stdout and stderr
 * stay separate, and a command's text is never parsed by anything but the
 * shell's eval.
 *
 * runner_new_shell() is declared in command.h.
 */
#pragma once

/* The fds the shell sees for the private pipes; high so that user
 * commands such as "exec 3>file" do not clobber them. */
#define SHELL_TEXT_FD 61
#define SHELL_STATUS_FD 62
#define SHELL_STDIN_FD 60      /* the commands' standard input (a pipe) */
#define SHELL_STATE_FD 63      /* write: the state the shell leaves when it ends */

