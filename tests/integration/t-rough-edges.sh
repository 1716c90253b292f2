#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-rough-edges.sh — what a new user runs into first (issue 14, item 7):
#   - `connect` to a Broken session (its shell killed) is refused like
#     `invoke`: exit 255, error unavailable, "session NAME is broken (...);
#     remove it" — it used to connect and exit 0;
#   - `list` rows (and `--json list`) are sorted by Id, whatever order the
#     sessions were made in; `list --all-users` has an Owner column, for
#     root and for carol (group admins); a plain `list` has none;
#   - the Busy error names the way out, `dwell disconnect NAME`;
#   - `dwelld --check-config PATH` fails, naming PATH, when PATH does not
#     exist; on a configuration with three errors it prints all three, each
#     as FILE:LINE:COLUMN, for the directory and for the file alone;
#   - a reload with that file logs all three errors and writes one
#     config-rejected event carrying them, and keeps the last good version;
#   - `invoke --help` says which options apply only to a new session;
#   - the generated dwelld(8) names the configured configuration directory
#     (the one `dwelld --help` gives), not a hard-coded /etc/dwell.

. "$(dirname "$0")/lib.sh"

dwelld_bin=$top_builddir/src/dwelld/dwelld

# ---------------------------------------------------------- connect to a Broken session
capture alice dwell new -n brk
expect_rc 0 "alice: new -n brk"
capture alice dwell invoke brk -- 'kill -9 $$'
wait_for '[ "$(json_eval "$(as_user alice dwell --json list brk)" "d[0][\"state\"]" 2>&1)" = Broken ]' 10
expect_eq "$(json_eval "$(as_user alice dwell --json list brk)" 'd[0]["state"]' 2>&1)" Broken \
        "after its shell was killed, brk is Broken"
capture alice dwell invoke brk -- true
invoke_err=$ERR
expect_eq "$RC" 255 "  ... invoke brk is refused (255)"
capture alice dwell connect brk
expect_eq "$RC" 255 "  ... connect brk is refused too (255)"
expect_eq "$ERR" "$invoke_err" "  ... with the same message as invoke"
expect_match "$ERR" '^dwell: session brk is broken \(.+\); remove it$' "  ... which says it is broken and why"
dwell_json alice connect brk
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" unavailable "  ... --json: error unavailable"
capture alice dwell remove brk
expect_rc 0 "  ... remove brk"

# ---------------------------------------------------------- list: sorted by Id, Owner with --all-users
for n in zeta alpha mid; do
        capture alice dwell new -n "$n"
        expect_rc 0 "alice: new -n $n"
done
capture bob dwell new -n bobs
expect_rc 0 "bob: new -n bobs"

ids_of() { printf '%s\n' "$1" | awk 'NR > 1 { print $1 }' | tr '\n' ' '; }
sorted_ids() { printf '%s\n' "$1" | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' '; }
capture alice dwell list
expect_rc 0 "alice: list"
expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1 { print $2 }' | tr '\n' ' ')" "zeta alpha mid " \
        "  ... rows in the order of creation, that is by Id"
expect_eq "$(ids_of "$OUT")" "$(sorted_ids "$OUT")" "  ... Ids ascending"
header=$(printf '%s\n' "$OUT" | head -n 1 | tr -s ' ' ' ' | sed 's/ $//')
expect_eq "$header" "Id Name Host State Configuration Availability" "  ... and no Owner column"
dwell_json alice list
expect_eq "$(json_eval "$OUT" '[s["name"] for s in d]' 2>&1)" '["zeta", "alpha", "mid"]' "  ... --json list by Id too"

for who in root carol; do
        capture "$who" dwell list --all-users
        expect_rc 0 "$who: list --all-users"
        header=$(printf '%s\n' "$OUT" | head -n 1 | tr -s ' ' ' ' | sed 's/ $//')
        expect_eq "$header" "Id Name Host State Configuration Availability Owner" "  ... has an Owner column"
        expect_eq "$(printf '%s\n' "$OUT" | awk 'NR > 1 { print $2 "=" $7 }' | tr '\n' ' ')" \
                "zeta=alice alpha=alice mid=alice bobs=bob " "  ... each row with its owner, by Id"
        expect_eq "$(ids_of "$OUT")" "$(sorted_ids "$OUT")" "  ... Ids ascending"
done

# ---------------------------------------------------------- the Busy error names the way out
out=$DWELL_SANDBOX/rough-connect.out
err=$DWELL_SANDBOX/rough-connect.err
connect_bg alice mid "$out" "$err"
connect_send 'echo attached-$((20 + 22))'
wait_for "grep -q attached-42 '$out'" 10
expect_match "$(cat "$out")" attached-42 "alice: connect mid (in the background) runs a command"
capture alice dwell invoke mid -- true
expect_eq "$RC" 255 "  ... a second client's invoke mid fails (255)"
expect_match "$ERR" 'connected to another client' "  ... because the session is busy"
expect_match "$ERR" 'dwell disconnect mid' "  ... and names the way out: dwell disconnect mid"
dwell_json alice invoke mid -- true
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" busy "  ... --json: error busy"
capture alice dwell disconnect mid
expect_rc 0 "  ... dwell disconnect mid"
connect_close
wait_for "! kill -0 $CONNECT_PID 2>/dev/null" 10
capture alice dwell invoke mid -- echo free
expect_eq "$OUT" free "  ... after which invoke mid works"

# ---------------------------------------------------------- dwelld --check-config
capture alice "$dwelld_bin" --check-config /nonexistent/dwell-config
expect_eq "$RC" 1 "--check-config on a missing path fails (1)"
expect_match "$ERR" '/nonexistent/dwell-config: No such file or directory' "  ... naming the path"

chk=$(mktemp -d "$DWELL_SANDBOX/check.XXXXXX")
chmod 0755 "$chk"
mkdir -m 0755 "$chk/configurations.d"
three=$'description: three mistakes\nshel: /bin/sh\ntranscript: yes\nlimits:\n  nofile: lots\n'
printf '%s' "$three" > "$chk/configurations.d/three.yaml"
chmod 0644 "$chk/configurations.d/three.yaml"
want="$chk/configurations.d/three.yaml:2:1: shel: unknown key (did you mean \"shell\"?)
$chk/configurations.d/three.yaml:3:13: transcript: expected true or false, got \"yes\"
$chk/configurations.d/three.yaml:5:11: limits.nofile: expected a number or infinity, got \"lots\""
capture alice "$dwelld_bin" --check-config "$chk"
expect_eq "$RC" 1 "--check-config on a directory with a three-error file fails (1)"
expect_eq "$ERR" "$want" "  ... printing all three errors, each with file:line:column"
capture alice "$dwelld_bin" --check-config "$chk/configurations.d/three.yaml"
expect_eq "$RC" 1 "--check-config on the file itself fails (1)"
expect_eq "$ERR" "$want" "  ... with the same three errors"
printf 'description: fixed\n' > "$chk/configurations.d/three.yaml"
capture alice "$dwelld_bin" --check-config "$chk/configurations.d/three.yaml"
expect_rc 0 "  ... and passes (0) once the file is fixed"
expect_eq "$OUT" "$chk/configurations.d/three.yaml: ok" "  ... printing FILE: ok"

# ---------------------------------------------------------- reload: every error logged and audited
cfg=$DWELL_TEST_CONFIG_DIR/configurations.d
log_lines=$(wc -l < "$DWELL_LOG_DIR/dwelld.log")
printf '%s' "$three" > "$cfg/fine.yaml"
kill -HUP "$DWELLD_PID"
wait_for "tail -n +$((log_lines + 1)) '$DWELL_LOG_DIR/dwelld.log' | grep -q config-rejected" 10
newlog=$(tail -n +"$((log_lines + 1))" "$DWELL_LOG_DIR/dwelld.log")
n=0
for pos in '2:1: shel: unknown key' '3:13: transcript: expected true or false' '5:11: limits.nofile: expected a number'; do
        if printf '%s\n' "$newlog" | grep -v 'AUDIT' | grep -qF "fine.yaml:$pos"; then
                n=$((n + 1))
        fi
done
expect_eq "$n" 3 "a reload with the three-error file logs each error on its own line"
event=$(printf '%s\n' "$newlog" | grep 'AUDIT config-rejected' | grep 'fine\.yaml')
expect_eq "$(printf '%s\n' "$event" | grep -c .)" 1 "  ... and writes one config-rejected event"
expect_match "$event" 'DWELL_REASON=".*fine\.yaml:2:1: shel: .*\\x0a.*fine\.yaml:3:13: transcript: .*\\x0a.*fine\.yaml:5:11: limits\.nofile: .*"' \
        "  ... whose DWELL_REASON carries all three, one per line"
capture alice dwell config show fine
expect_match "$OUT" 'a good configuration' "  ... the last good version stays in force"

# ---------------------------------------------------------- invoke --help
capture alice dwell invoke --help
expect_rc 0 "invoke --help"
sect=$(printf '%s\n' "$OUT" | sed -n '/^Only when a new session is created/,$p')
for opt in '-n, --name' '-c, --config' '--idle-timeout'; do
        expect_match "$sect" "$opt" "  ... lists $opt under \"Only when a new session is created\""
done

# ---------------------------------------------------------- dwelld(8) names the configured paths
confdir=$("$dwelld_bin" --help | sed -n 's/.*--config-dir DIR.*(default \(.*\))$/\1/p')
page=$top_builddir/man/dwelld.8
if [ -n "$confdir" ] && [ -f "$page" ]; then
        expect_match "$(sed -n '/^\.BI \\-\\-config\\-dir/,/^\.TP/p' "$page")" "^\\.IR ${confdir//./\\.} \\.\$" \
                "dwelld(8) gives --config-dir's default as $confdir, as dwelld --help does"
        expect_no_match "$(cat "$page")" '@[a-z]+@' "  ... and no placeholder is left in it"
else
        fail "dwelld(8) gives --config-dir's default" "confdir '$confdir', page $page"
fi

for n in zeta alpha mid; do
        capture alice dwell remove "$n"
done
capture bob dwell remove bobs
expect_rc 0 "clean up"
