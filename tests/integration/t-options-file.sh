#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-options-file.sh — the user's defaults file ~/.config/dwell/options.yaml
# (lower precedence than the command line, higher than the configuration):
#   - with `idle_timeout: 3s` and `output_buffering: drop`, `dwell new`
#     without options and `invoke -d -n` get both (list --json: idle_timeout
#     3, output_buffering drop);
#   - `--idle-timeout 1h` / `--output-buffering block` on the command line
#     win over the file (each for its own setting only);
#   - a file value above the maximum (idle_timeout: 13h) is refused with
#     limit-exceeded naming 13h and 12h, and creates nothing;
#   - a broken file (a bad value, an unknown key, a YAML syntax error) gives
#     a clear "dwell: FILE:LINE:COLUMN: ..." error, exit 255, and creates
#     nothing.

. "$(dirname "$0")/lib.sh"

opts=/home/alice/.config/dwell/options.yaml

# put_options TEXT: writes alice's options file (as alice).
put_options() {
        printf '%s' "$1" | as_user alice sh -c 'mkdir -p ~/.config/dwell && cat > ~/.config/dwell/options.yaml'
}

# settings NAME: "IDLE BUFFERING" of alice's session NAME from list --json.
settings() {
        json_eval "$(as_user alice dwell --json list "$1")" \
                '"%s %s" % (d[0]["idle_timeout"], d[0]["output_buffering"]) if d else "(no session)"' 2>&1
}

absent() {
        [ "$(json_len "$(as_user alice dwell --json list "$1")")" = 0 ]
}

put_options $'# alice\'s dwell defaults\nidle_timeout: 3s\noutput_buffering: drop\n'

capture alice dwell new -n plain
expect_rc 0 "options file (3s, drop): new -n plain"
expect_eq "$(settings plain)" "3 drop" "  ... gets idle_timeout 3 and output_buffering drop from the file"

capture alice dwell invoke -d -n inv -- true
expect_rc 0 "invoke -d -n inv -- true"
expect_eq "$(settings inv)" "3 drop" "  ... gets idle_timeout 3 and output_buffering drop from the file"

capture alice dwell new -n long --idle-timeout 1h
expect_rc 0 "new -n long --idle-timeout 1h"
expect_eq "$(settings long)" "3600 drop" "  ... the command line wins for the idle timeout; buffering from the file"

capture alice dwell new -n blk --output-buffering block
expect_rc 0 "new -n blk --output-buffering block"
expect_eq "$(settings blk)" "3 block" "  ... the command line wins for buffering; idle timeout from the file"

capture alice dwell remove plain inv long blk

# -- a value above the maximum ----------------------------------------------
put_options $'idle_timeout: 13h\n'
dwell_json alice new -n over
expect_rc 255 "options file idle_timeout 13h: new is refused"
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" limit-exceeded "  ... with limit-exceeded"
msg=$(json_eval "$OUT" 'd["message"]' 2>&1)
expect_match "$msg" '13h' "  ... naming 13h"
expect_match "$msg" '12h' "  ... and the maximum 12h"
absent over && pass "  ... and creates nothing" || fail "  ... and creates nothing"
absent over || as_user alice dwell remove over >/dev/null 2>&1
capture alice dwell new -n over --idle-timeout 1h
expect_rc 0 "  ... while --idle-timeout 1h on the command line overrides it"
expect_eq "$(settings over)" "3600 block" "  ... (idle_timeout 3600, buffering the default block)"
capture alice dwell remove over

# -- broken files -------------------------------------------------------------
broken() {
        local desc=$1 text=$2 line=$3
        put_options "$text"
        capture alice dwell new -n broken
        expect_rc 255 "options file with $desc: new fails"
        expect_match "$ERR" "^dwell: $(printf '%s' "$opts" | sed 's/\./\\./g'):$line:[0-9]+: [^ ]" \
                "  ... with 'dwell: $opts:$line:COLUMN: ...'"
        absent broken && pass "  ... and creates nothing" || fail "  ... and creates nothing"
        capture alice dwell remove broken
}
broken "a bad duration" $'output_buffering: drop\nidle_timeout: banana\n' 2
broken "a bad buffering mode" $'idle_timeout: 3s\noutput_buffering: sometimes\n' 2
broken "an unknown key" $'# typo\nidle_timout: 3s\n' 2
broken "a YAML syntax error" $'idle_timeout: [3s\noutput_buffering: drop\n' '[23]'
