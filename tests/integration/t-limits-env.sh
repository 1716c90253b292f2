#!/bin/bash
# SPDX-License-Identifier: ISC
# dwell-test: alone
# (RLIMIT_NPROC 77 counts alice's processes in every sandbox)
#
# t-limits-env.sh — what a configuration sets for the session's shell and
# its commands (t-limits-env.d): resource limits (soft and hard), umask,
# environment (overriding PAM's), working directory ("~", "~/sub", an
# absolute path; a missing one fails the session with a clear message).
# The worker itself is not bound by the limits.

. "$(dirname "$0")/lib.sh"

capture alice dwell new -n t -c tuned
expect_rc 0 "alice: dwell new -n t -c tuned"

capture alice dwell invoke t -- 'ulimit -n; ulimit -Hn'
expect_eq "$OUT" "$(printf '123\n123')" "nofile: 123 sets the soft and hard limit (ulimit -n)"
capture alice dwell invoke t -- 'ulimit -u; ulimit -t; ulimit -c; ulimit -Hc'
expect_eq "$OUT" "$(printf '77\n3600\nunlimited\nunlimited')" "nproc, cpu (1h) and core (infinity) are set"
capture alice dwell invoke t -- '/bin/sh -c "ulimit -n"'
expect_eq "$OUT" 123 "the limits are inherited by programs the shell runs"
capture alice dwell invoke t -- 'umask'
expect_eq "$OUT" 0027 "umask: 0027 applies to the shell"
capture alice dwell invoke t -- 'rm -f f; touch f; stat -c %a f; rm -f f'
expect_eq "$OUT" 640 "a file the shell creates gets mode 640"
capture alice dwell invoke t -- 'echo "$FOO $DWELL_TEST_PAM_ENV $LANG $HOME"'
expect_eq "$OUT" "bar from-config C /home/alice" "environment: set, and overriding PAM's environment"
capture alice dwell invoke t -- 'pwd'
expect_eq "$OUT" /tmp "working_directory: /tmp"

capture alice dwell invoke t -- 'echo $PPID'
worker=$OUT
if [[ "$worker" =~ ^[0-9]+$ ]] && [ -r "/proc/$worker/limits" ]; then
        expect_no_match "$(grep 'open files' "/proc/$worker/limits")" '[[:space:]]123[[:space:]]' \
                "the worker's own nofile limit is not the session's"
        expect_no_match "$(grep 'cpu time' "/proc/$worker/limits")" '[[:space:]]3600[[:space:]]' \
                "the worker's own cpu limit is not the session's"
else
        fail "the shell's parent is the worker" "$(_last)"
fi

# ~/sub
install -d -o alice -g alice /home/alice/sub
capture alice dwell new -n s -c sub
expect_rc 0 "alice: dwell new -n s -c sub"
capture alice dwell invoke s -- 'pwd'
expect_eq "$OUT" /home/alice/sub "working_directory: ~/sub is under alice's home"
capture alice dwell invoke s -- 'umask; ulimit -n'
expect_no_match "$OUT" '^(0027|123)$' "another configuration's umask and limits do not leak"

# A working directory that does not exist: the session does not start.
capture alice dwell new -n n -c nodir
if [ "$RC" -ne 0 ]; then pass "a missing working directory fails dwell new"; else fail "a missing working directory fails dwell new" "$(_last)"; fi
expect_match "$ERR" 'working directory /nonexistent' "the error names the directory"
dwell_json alice list n
expect_no_match "$OUT" '"name": *"n"' "no session n is left running"

# The same settings in a restricted session (no shell).
capture alice dwell new -n c -c tunedcmds
expect_rc 0 "alice: dwell new -n c -c tunedcmds"
capture alice dwell invoke c -- 'env'
expect_match "$OUT" '^FOO=baz$' "restricted: the environment is set"
expect_match "$OUT" '^DWELL_TEST_PAM_ENV=from-pam-env$' "restricted: PAM's environment is there too"
capture alice dwell invoke c -- 'pwd'
expect_eq "$OUT" /tmp "restricted: working_directory: /tmp"
capture alice dwell invoke c -- 'prlimit --nofile --output SOFT,HARD --noheadings'
expect_match "$OUT" '^ *99 +99$' "restricted: nofile 99 applies to the program"

capture alice dwell remove --all
expect_rc 0 "alice removes her sessions"
