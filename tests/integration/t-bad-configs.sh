#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-bad-configs.sh — configuration errors name file, line, column and key,
# and never take the daemon or a running session down:
#   - a table of bad configuration files: for each, `dwelld --check-config
#     DIR` (DIR/configurations.d/bad.yaml) exits non-zero and prints the
#     expected "bad.yaml:LINE:COLUMN: KEY: ..." message; good files exit 0;
#   - reload: with a session of configuration x running, x.yaml is replaced
#     by a broken file and dwelld gets SIGHUP: the session keeps working,
#     `config show x` still shows the previous version, new sessions of x
#     still work, and dwelld's log names x.yaml:LINE:COLUMN; fixing the file
#     and another SIGHUP applies it to new sessions only (the running one
#     keeps its idle timeout).
#   - terminal: allow|deny|default and scrollback (terminal sessions).

. "$(dirname "$0")/lib.sh"

dwelld_bin=$top_builddir/src/dwelld/dwelld
checkdir=$DWELL_SANDBOX/check
n_bad=0

# check_config TEXT: writes TEXT as $checkdir/configurations.d/bad.yaml and
# runs dwelld --check-config on it; sets RC and OUT (stdout and stderr).
check_config() {
        rm -rf "$checkdir"
        install -d -m 0755 "$checkdir" "$checkdir/configurations.d"
        printf '%s' "$1" > "$checkdir/configurations.d/bad.yaml"
        chmod 0644 "$checkdir/configurations.d/bad.yaml"
        RC=0
        OUT=$(timeout 10 "$dwelld_bin" --check-config "$checkdir" 2>&1 </dev/null) || RC=$?
}

# bad TEXT MESSAGE: MESSAGE is "LINE:COLUMN: KEY: ..." (or a prefix of it).
bad() {
        local text=$1 want="bad.yaml:$2" shown
        n_bad=$((n_bad + 1))
        check_config "$text"
        shown=$(printf '%s' "$text" | head -c 60 | tr '\n\t' '|>')
        if [ "$RC" -ne 0 ] && printf '%s\n' "$OUT" | grep -qF -- "$want"; then
                pass "bad #$n_bad ($shown): $2"
        else
                fail "bad #$n_bad ($shown): $2" "exit status $RC (expected non-zero)" \
                        "expected a line containing: $want" "got: $OUT"
        fi
}

good() {
        local text=$1 shown
        check_config "$text"
        shown=$(printf '%s' "$text" | head -c 60 | tr '\n\t' '|>')
        if [ "$RC" -eq 0 ]; then
                pass "good ($shown): --check-config exits 0"
        else
                fail "good ($shown): --check-config exits 0" "exit status $RC" "output: $OUT"
        fi
}

[ -x "$dwelld_bin" ] || { fail "dwelld is built" "$dwelld_bin"; exit 1; }

# -- the file as a whole, syntax -------------------------------------------------
bad ''                                  '1:1: empty file: expected a mapping of settings'
bad $'# only a comment\n\n'             '1:1: empty file: expected a mapping of settings'
bad $'- a\n- b\n'                       '1:1: expected a mapping of settings at the top level, got a list'
bad $'description: a\n---\ndescription: b\n' '2:1: only one YAML document is allowed'
bad $'shell: /bin/sh\naccess: [\n'      '3:1: syntax error: did not find expected node content'
bad $'\tshell: /bin/sh\n'               '1:1: syntax error: found character that cannot start any token'
bad $'shell: /bin/sh\n  transcript: true\n' '2:13: syntax error: mapping values are not allowed in this context'
# -- keys ---------------------------------------------------------------------
bad $'shel: /bin/sh\n'                  '1:1: shel: unknown key (did you mean "shell"?)'
bad $'description: x\nfrobnicate: 1\n'  '2:1: frobnicate: unknown key'
bad $'shell: /bin/sh\ntranscript: true\nshell: /bin/zsh\n' '3:1: shell: duplicate key (already given at line 1)'
bad $'shell: &sh /bin/sh\n'             '1:8: shell: anchors and aliases are not supported'
bad $'shell: !!str /bin/sh\n'           '1:8: shell: tags are not supported'
# -- types ----------------------------------------------------------------------
bad $'description: [a, b]\n'            '1:14: description: expected a value, got a list'
bad $'description:\n'                   '1:13: description: missing value'
bad $'transcript: yes\n'                '1:13: transcript: expected true or false, got "yes"'
bad $'max_sessions: ten\n'              '1:15: max_sessions: expected an integer, got "ten"'
bad $'max_sessions: 0\n'                '1:15: max_sessions: must be at least 1 (omit the key for no limit)'
# -- terminal sessions -------------------------------------------------------------
bad $'terminal: maybe\n'                 '1:11: terminal: must be allow, deny or default'
bad $'terminal: true\n'                  '1:11: terminal: must be allow, deny or default'
bad $'commands: [/bin/echo]\nterminal: allow\n' '2:11: terminal: cannot be allow with commands'
bad $'scrollback: 1000001\n'             '1:13: scrollback: at most 1000000 lines'
bad $'scrollback: 0\n'                   '1:13: scrollback: must be at least 1'
good $'terminal: deny\n'
good $'terminal: allow\nscrollback: 500\n'
good $'commands: [/bin/echo]\nterminal: deny\n'
# -- durations and sizes -----------------------------------------------------------
bad $'idle_timeout: 2 hours\n'          '1:15: idle_timeout: invalid duration "2 hours"'
bad $'idle_timeout: 0\n'                '1:15: idle_timeout: must be greater than 0'
bad $'max_idle_timeout: 400d\n'         '1:19: max_idle_timeout: "400d" is too long (at most 365d)'
bad $'idle_timeout: 13h\n'              '1:15: idle_timeout: 13h exceeds max_idle_timeout 12h'
bad $'max_idle_timeout: 1h\nidle_timeout: 1h30m\n' '2:15: idle_timeout: 1h30m exceeds max_idle_timeout 1h'
bad $'output_buffer_size: 4MB\n'        '1:21: output_buffer_size: invalid size "4MB" (use bytes or 512KiB, 4MiB, 1GiB)'
bad $'output_buffer_size: 1KiB\n'       '1:21: output_buffer_size: "1KiB" is out of range (4KiB to 1GiB)'
bad $'output_buffering: fast\n'         '1:19: output_buffering: expected block or drop, got "fast"'
# -- capabilities, umask, paths -------------------------------------------------
bad $'run_as: root\ncapabilities: [CAP_NET_ADMIN, CAP_FLY]\n' '2:31: capabilities: unknown capability "CAP_FLY"'
bad $'capabilities: [CAP_NET_ADMIN]\n'  '1:1: capabilities: requires run_as (sessions running as the caller get no capabilities)'
bad $'umask: 0999\n'                    '1:8: umask: expected an octal mode such as "0077", got "0999"'
bad $'shell: bash\n'                    '1:8: shell: "bash" is not an absolute path'
bad $'commands: []\n'                   '1:11: commands: must list at least one program (omit the key for a shell)'
bad $'shell: /bin/sh\ncommands: [/bin/ls]\n' '2:1: commands: shell and commands cannot both be set'
bad $'working_directory: tmp\n'         '1:20: working_directory: "tmp" is not an absolute path, "~" or "~/..."'
# -- users, groups, sharing (the sandbox's real user and group databases) ------------
bad $'run_as: nosuchuser\n'             '1:9: run_as: unknown user "nosuchuser"'
bad $'access:\n  users: [alice, mallory]\n' '2:18: access.users: unknown user "mallory"'
bad $'access:\n  groups: [nosuchgroup]\n' '2:12: access.groups: unknown group "nosuchgroup"'
bad $'access: {}\n'                     '1:9: access: must list at least one user or group (omit the key to allow everyone)'
bad $'share_with_access: true\n'        '1:20: share_with_access: requires run_as'
bad $'run_as: root\nshare_with_access: true\n' '2:20: share_with_access: requires an access list (it would share sessions with everyone)'
# -- environment, limits ------------------------------------------------------------
bad $'environment:\n  1BAD: x\n'        '2:3: environment.1BAD: invalid variable name "1BAD"'
bad $'limits:\n  nofiles: 10\n'         '2:3: limits.nofiles: unknown key (did you mean "nofile"?)'
bad $'limits:\n  nice: 50\n'            '2:9: limits.nice: "50" is out of range (at most 40)'
bad $'limits: [nofile]\n'               '1:9: limits: expected a mapping, got a list'
[ "$n_bad" -ge 30 ] && pass "at least 30 bad files ($n_bad)" || fail "at least 30 bad files ($n_bad)"

good $'description: ok\n'
good $'description: netops\naccess:\n  users: [alice]\n  groups: [admins]\nrun_as: root\nshare_with_access: true\ncapabilities: [CAP_NET_ADMIN]\n'
good $'commands: [/usr/bin/id, /usr/bin/uptime]\numask: "0077"\nlimits: {nofile: 4096, nproc: 512}\n'
good $'idle_timeout: 30m\nmax_idle_timeout: 1d\noutput_buffering: drop\noutput_buffer_size: 8MiB\nmax_sessions: 5\n'

# -- reload ---------------------------------------------------------------------------
cfg=$DWELL_TEST_CONFIG_DIR/configurations.d
[ -f "$cfg/x.yaml" ] || fail "x.yaml is in dwelld's configuration directory" "$cfg"

# hup: SIGHUP to dwelld, then wait until the log grows (or 3 s).
# shellcheck disable=SC2034 # before: used in wait_for's condition
hup() {
        local before
        before=$(wc -l < "$DWELL_LOG_DIR/dwelld.log")
        kill -HUP "$DWELLD_PID"
        wait_for '[ "$(wc -l < "$DWELL_LOG_DIR/dwelld.log")" -gt "$before" ]' 3 || true
        sleep 0.5
}

capture alice dwell new -n s1 -c x
expect_rc 0 "alice: new -n s1 -c x (version one: idle_timeout 1h)"
capture alice dwell invoke s1 -- 'V=kept; echo ready'
expect_eq "$OUT" ready "  ... runs a command"
dwell_json alice list s1
expect_eq "$(json_eval "$OUT" 'd[0]["idle_timeout"]' 2>&1)" 3600 "  ... idle_timeout 3600"

log_lines=$(wc -l < "$DWELL_LOG_DIR/dwelld.log")
printf 'description: version two\nidle_timeout: [1h\n' > "$cfg/x.yaml"
hup
capture alice dwell invoke s1 -- 'echo $V'
expect_rc 0 "after a reload with a broken x.yaml: the running session works"
expect_eq "$OUT" kept "  ... with its shell state"
capture alice dwell config show x
expect_rc 0 "  ... config show x works"
expect_match "$OUT" 'version one' "  ... and shows the previous version"
expect_no_match "$OUT" 'version two' "  ... not the broken one"
capture alice dwell new -n s2 -c x
expect_rc 0 "  ... new -c x still works (the last good version)"
expect_eq "$(json_eval "$(as_user alice dwell --json list s2)" 'd[0]["idle_timeout"]' 2>&1)" 3600 \
        "  ... with its settings (idle_timeout 3600)"
capture alice dwell config list
expect_match "$OUT" '^other ' "  ... the other configuration is still there"
newlog=$(tail -n +"$((log_lines + 1))" "$DWELL_LOG_DIR/dwelld.log")
expect_match "$newlog" 'x\.yaml:[0-9]+:[0-9]+: ' "  ... dwelld's log names x.yaml:LINE:COLUMN"
kill -0 "$DWELLD_PID" && pass "  ... dwelld is running" || fail "  ... dwelld is running"

printf 'description: version three\nidle_timeout: 30m\n' > "$cfg/x.yaml"
hup
capture alice dwell config show x
expect_match "$OUT" 'version three' "after fixing x.yaml and another reload: config show x shows it"
capture alice dwell new -n s3 -c x
expect_rc 0 "  ... new -c x works"
expect_eq "$(json_eval "$(as_user alice dwell --json list s3)" 'd[0]["idle_timeout"]' 2>&1)" 1800 \
        "  ... and the new session gets the new idle_timeout (1800)"
expect_eq "$(json_eval "$(as_user alice dwell --json list s1)" 'd[0]["idle_timeout"]' 2>&1)" 3600 \
        "  ... while the running session keeps the one it was created with (3600)"
capture alice dwell invoke s1 -- 'echo $V'
expect_eq "$OUT" kept "  ... and still works"

# A file that disappears: its configuration is gone for new sessions only.
rm -f "$cfg/x.yaml"
hup
dwell_json alice new -n s4 -c x
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" not-found "after removing x.yaml and a reload: new -c x is not-found"
capture alice dwell invoke s1 -- 'echo $V'
expect_eq "$OUT" kept "  ... while the running session of x still works"

capture alice dwell remove s1 s2 s3
expect_rc 0 "clean up"
