#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-shell-state.sh — one persistent shell per session: variables, the working
# directory, functions and exported variables persist from one `dwell invoke`
# to the next; the words after `--` are joined with spaces, as ssh does;
# `declare` and `local`-free assignments made by a command stay global (the
# command is eval'ed at the shell's top level, not in a function), and $?
# in a command is the status of the session's previous command.

. "$(dirname "$0")/lib.sh"

capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"

capture alice dwell invoke work -- 'cd /tmp; X=42'
expect_rc 0 "invoke: cd /tmp; X=42"
expect_eq "$OUT" "" "  ... prints nothing"

capture alice dwell invoke work -- 'echo $X $PWD'
expect_rc 0 "invoke: echo \$X \$PWD"
expect_eq "$OUT" "42 /tmp" "  ... variable and working directory persist"

capture alice dwell invoke work -- 'greet() { echo "hello, $1"; }'
expect_rc 0 "invoke: define a function"
capture alice dwell invoke work -- 'greet world'
expect_eq "$OUT" "hello, world" "functions persist"

capture alice dwell invoke work -- 'export Y=exported; alias ll="echo aliased"'
expect_rc 0 "invoke: export a variable"
capture alice dwell invoke work -- 'sh -c "echo \$Y"'
expect_eq "$OUT" "exported" "exported variables reach child processes of later commands"

capture alice dwell invoke work -- echo a   b "c d"
expect_eq "$OUT" "a b c d" "the words after -- are joined with spaces and run by the shell"

capture alice dwell invoke work -- 'X=$((X + 1)); echo $X'
capture alice dwell invoke work -- 'echo $X'
expect_eq "$OUT" "43" "state keeps changing across commands"

capture alice dwell invoke work -- 'declare -i D=7; declare -a A=(x y)'
capture alice dwell invoke work -- 'echo $D ${A[1]}'
expect_eq "$OUT" "7 y" "variables made with declare persist (top level, not function-local)"

capture alice dwell invoke work -- 'exit_with() { return $1; }; exit_with 5'
expect_rc 5 "invoke: a command ending with status 5"
capture alice dwell invoke work -- 'echo $?'
expect_eq "$OUT" "5" "  ... and \$? in the next command is 5"

capture alice dwell remove work
expect_rc 0 "alice: dwell remove work"
