#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-shell-state.sh — one persistent shell per session: variables, the working
# directory, functions and exported variables persist from one `dwell invoke`
# to the next; the words after `--` are joined with spaces, as ssh does.

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

capture alice dwell remove work
expect_rc 0 "alice: dwell remove work"
