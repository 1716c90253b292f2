#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-config-verbs.sh — `dwell config list|show` and selecting configurations
# with -c (configurations in t-config-verbs.d/):
#   default  idle_timeout 7m, max_idle_timeout 1h (everyone)
#   admin    access: group admins (carol); drop, 8MiB
#   ops      run_as carol, access users alice and bob, share_with_access
#   limited  max_sessions_per_user: 2, max_sessions: 3
#   diag     commands: [/usr/bin/id, /usr/bin/uptime] (restricted)
# Checks:
#   - config list shows each caller only the configurations it may use
#     (alice: not admin; carol: admin but not ops), as a table with the
#     documented columns and as JSON of the documented shape;
#   - config show prints the YAML; not-found both for a configuration the
#     caller may not use and for a nonexistent one, with the same message;
#   - new -c NAME selects NAME (list -l / --json); -c nosuch: not-found;
#     a configuration outside one's access: permission-denied;
#   - max_sessions_per_user: 2 refuses the third session (limit-exceeded),
#     per user; max_sessions: 3 refuses a fourth in all (carol's);
#   - the configuration's idle_timeout applies when neither the command line
#     nor the options file give one; the options file and the command line
#     win over it; above max_idle_timeout: limit-exceeded naming both.

. "$(dirname "$0")/lib.sh"

# field JSON EXPR: json_eval, errors as text.
field() {
        json_eval "$1" "$2" 2>&1
}

# -- config list ----------------------------------------------------------------
dwell_json alice config list
expect_rc 0 "alice: config list --json"
expect_eq "$(field "$OUT" '" ".join(sorted(c["name"] for c in d))')" "default diag limited ops" \
        "  ... shows only the configurations alice may use (not admin)"

dwell_json carol config list
expect_rc 0 "carol (admins): config list --json"
expect_eq "$(field "$OUT" '" ".join(sorted(c["name"] for c in d))')" "admin default diag limited" \
        "  ... shows admin too, and not ops (its access list names alice and bob only)"

dwell_json alice config list
shape=$(field "$OUT" '
all(set(c.keys()) == {"name", "description", "run_as", "idle_timeout", "max_idle_timeout",
                       "output_buffering", "output_buffer_size", "share_with_access", "restricted",
                       "terminal"}
    and isinstance(c["name"], str)
    and (c["run_as"] is None or isinstance(c["run_as"], str))
    and all(isinstance(c[k], int) and not isinstance(c[k], bool)
            for k in ("idle_timeout", "max_idle_timeout", "output_buffer_size"))
    and c["output_buffering"] in ("block", "drop")
    and isinstance(c["share_with_access"], bool) and isinstance(c["restricted"], bool)
    and c["terminal"] == (not c["restricted"])
    for c in d)')
expect_eq "$shape" true "  ... every object has exactly the documented keys and types"
byname='{c["name"]: c for c in d}'
expect_eq "$(field "$OUT" "[($byname)['default'][k] for k in ('run_as', 'idle_timeout', 'max_idle_timeout', 'output_buffering', 'output_buffer_size', 'share_with_access', 'restricted')]")" \
        '[null, 420, 3600, "block", 4194304, false, false]' "  ... default: run_as null, 420 s, 3600 s, block, 4 MiB, not shared, not restricted"
expect_eq "$(field "$OUT" "[($byname)['ops'][k] for k in ('run_as', 'idle_timeout', 'share_with_access', 'restricted')]")" \
        '["carol", 1800, true, false]' "  ... ops: run_as carol, 1800 s, shared"
expect_eq "$(field "$OUT" "($byname)['diag']['restricted']")" true "  ... diag: restricted"
expect_eq "$(field "$OUT" "($byname)['ops']['description']")" "shared operations as carol" "  ... ops: description"

capture alice dwell config list
expect_rc 0 "alice: config list (table)"
expect_match "$(printf '%s\n' "$OUT" | head -n 1)" '^Name +RunAs +IdleTimeout +MaxIdleTimeout +Buffering +BufferSize$' \
        "  ... header: Name RunAs IdleTimeout MaxIdleTimeout Buffering BufferSize"
expect_match "$OUT" '^default +- +7m +1h +block +4MiB$' "  ... default row: - 7m 1h block 4MiB"
expect_match "$OUT" '^ops +carol +30m +12h +block +4MiB$' "  ... ops row: carol 30m 12h block 4MiB"
expect_no_match "$OUT" '^admin ' "  ... no admin row"
expect_eq "$(printf '%s\n' "$OUT" | wc -l)" 5 "  ... header and four rows"

capture carol dwell config list
expect_match "$OUT" '^admin +- +2h +12h +drop +8MiB$' "carol: config list has the admin row: - 2h 12h drop 8MiB"

# -- config show ----------------------------------------------------------------
capture alice dwell config show ops
expect_rc 0 "alice: config show ops"
expect_match "$OUT" '^run_as: "?carol"?$' "  ... prints the YAML (run_as: carol)"
expect_match "$OUT" '^share_with_access: true$' "  ... (share_with_access: true)"
expect_match "$OUT" '^idle_timeout: "?30m"?$' "  ... (idle_timeout: 30m)"
expect_match "$OUT" '^max_idle_timeout: "?12h"?$' "  ... with the defaults filled in (max_idle_timeout: 12h)"
expect_match "$OUT" 'alice' "  ... and the access list"

dwell_json alice config show default
expect_rc 0 "alice: --json config show default"
expect_eq "$(field "$OUT" 'sorted(d.keys())')" \
        '["description", "idle_timeout", "max_idle_timeout", "name", "output_buffer_size", "output_buffering", "restricted", "run_as", "share_with_access", "terminal", "yaml"]' \
        "  ... an object with the keys of list plus yaml"
expect_eq "$(field "$OUT" '[d["name"], d["idle_timeout"], d["max_idle_timeout"]]')" '["default", 420, 3600]' \
        "  ... name default, 420, 3600"
expect_match "$(field "$OUT" 'd["yaml"]')" '^idle_timeout: "?7m"?$' "  ... yaml holds idle_timeout: 7m"

dwell_json alice config show admin
expect_rc 255 "alice: config show admin (not in its access list) fails"
expect_eq "$(field "$OUT" 'd["error"]')" not-found "  ... with not-found"
msg_hidden=$(field "$OUT" 'd["message"]' | sed 's/admin/NAME/g')
dwell_json alice config show nosuch
expect_rc 255 "alice: config show nosuch fails"
expect_eq "$(field "$OUT" 'd["error"]')" not-found "  ... with not-found"
msg_none=$(field "$OUT" 'd["message"]' | sed 's/nosuch/NAME/g')
expect_eq "$msg_hidden" "$msg_none" "  ... the same message for a hidden and a nonexistent configuration"

capture carol dwell config show admin
expect_rc 0 "carol: config show admin"
expect_match "$OUT" '^output_buffering: "?drop"?$' "  ... output_buffering: drop"
dwell_json carol config show ops
expect_eq "$(field "$OUT" 'd["error"]')" not-found "carol: config show ops: not-found (not in its access list)"

capture alice dwell config show
expect_rc 255 "config show without NAME: usage error"
capture alice dwell config frobnicate
expect_rc 255 "config frobnicate: usage error"

# -- new -c -------------------------------------------------------------------------
capture alice dwell new -n o1 -c ops
expect_rc 0 "alice: new -n o1 -c ops"
dwell_json alice list o1
expect_eq "$(field "$OUT" '[d[0]["configuration"], d[0]["run_as"], d[0]["owner"], d[0]["idle_timeout"]]')" \
        '["ops", "carol", "alice", 1800]' "  ... list --json: configuration ops, run_as carol, owner alice, idle_timeout 1800"
capture alice dwell list -l o1
expect_match "$OUT" '^[0-9]+ +o1 +[^ ]+ +Disconnected +ops +None +alice +carol +30m ' \
        "  ... list -l: configuration ops, RunAs carol, IdleTimeout 30m"
capture alice dwell invoke o1 -- id -un
expect_eq "$OUT" carol "  ... its shell runs as carol"
capture alice dwell list -c ops
expect_match "$OUT" ' o1 ' "  ... list -c ops shows it"
capture alice dwell list -c default
expect_no_match "$OUT" ' o1 ' "  ... list -c default does not"

dwell_json alice new -n n1 -c nosuch
expect_rc 255 "alice: new -c nosuch fails"
expect_eq "$(field "$OUT" 'd["error"]')" not-found "  ... with not-found"

dwell_json alice new -n a1 -c admin
expect_rc 255 "alice: new -c admin (outside her access) fails"
expect_eq "$(field "$OUT" 'd["error"]')" permission-denied "  ... with permission-denied"
[ "$(json_len "$(as_user alice dwell --json list a1)")" = 0 ] && pass "  ... and creates nothing" ||
        fail "  ... and creates nothing"

capture carol dwell new -n a1 -c admin
expect_rc 0 "carol: new -c admin"
dwell_json carol list a1
expect_eq "$(field "$OUT" '[d[0]["configuration"], d[0]["output_buffering"]]')" '["admin", "drop"]' \
        "  ... configuration admin, buffering drop (from the configuration)"

dwell_json carol new -n o2 -c ops
expect_eq "$(field "$OUT" 'd["error"]')" permission-denied "carol: new -c ops (outside its access): permission-denied"

dwell_json alice invoke -c admin -- true
expect_eq "$(field "$OUT" 'd["error"]')" permission-denied "alice: invoke -c admin -- true: permission-denied"

capture alice dwell invoke -c diag -- /usr/bin/id -un
expect_rc 0 "alice: invoke -c diag -- /usr/bin/id -un (restricted configuration, allowed program)"
expect_eq "$OUT" alice "  ... runs as alice"

# -- limits -------------------------------------------------------------------------
capture alice dwell new -n l1 -c limited
expect_rc 0 "alice: first session of limited"
capture alice dwell new -n l2 -c limited
expect_rc 0 "alice: second session of limited"
dwell_json alice new -n l3 -c limited
expect_rc 255 "alice: a third session of limited (max_sessions_per_user: 2) is refused"
expect_eq "$(field "$OUT" 'd["error"]')" limit-exceeded "  ... with limit-exceeded"
[ "$(json_len "$(as_user alice dwell --json list l3)")" = 0 ] && pass "  ... and creates nothing" ||
        fail "  ... and creates nothing"
capture bob dwell new -n l1 -c limited
expect_rc 0 "bob may still create one (the limit is per user)"
dwell_json carol new -n l1 -c limited
expect_rc 255 "carol: a fourth session of limited (max_sessions: 3) is refused"
expect_eq "$(field "$OUT" 'd["error"]') $(field "$OUT" 'd["message"]')" \
        "limit-exceeded configuration limited allows at most 3 sessions" "  ... with limit-exceeded, naming the limit"
capture alice dwell new -n d9
expect_rc 0 "alice may still create sessions of another configuration"
capture alice dwell remove l2 d9
capture alice dwell new -n l3 -c limited
expect_rc 0 "after removing one, alice may create another session of limited"
capture alice dwell remove l1 l3
capture bob dwell remove l1

# -- idle timeout precedence ----------------------------------------------------
capture alice dwell new -n t1
expect_rc 0 "alice: new -n t1 (no options file, no --idle-timeout)"
expect_eq "$(field "$(as_user alice dwell --json list t1)" 'd[0]["idle_timeout"]')" 420 \
        "  ... gets the configuration's idle_timeout 7m (420)"

printf 'idle_timeout: 5m\n' | as_user alice sh -c 'mkdir -p ~/.config/dwell && cat > ~/.config/dwell/options.yaml'
capture alice dwell new -n t2
expect_eq "$(field "$(as_user alice dwell --json list t2)" 'd[0]["idle_timeout"]')" 300 \
        "with options.yaml idle_timeout 5m: new gets 300 (the file wins over the configuration)"
capture alice dwell new -n t3 --idle-timeout 20m
expect_eq "$(field "$(as_user alice dwell --json list t3)" 'd[0]["idle_timeout"]')" 1200 \
        "  ... --idle-timeout 20m wins over the file (1200)"
capture alice dwell new -n t4 -c ops
expect_eq "$(field "$(as_user alice dwell --json list t4)" 'd[0]["idle_timeout"]')" 300 \
        "  ... and over another configuration's idle_timeout (ops: 30m) too"
as_user alice rm -f /home/alice/.config/dwell/options.yaml

dwell_json alice new -n t5 --idle-timeout 2h
expect_rc 255 "alice: new --idle-timeout 2h above default's max_idle_timeout 1h fails"
expect_eq "$(field "$OUT" 'd["error"]')" limit-exceeded "  ... with limit-exceeded"
msg=$(field "$OUT" 'd["message"]')
expect_match "$msg" '2h' "  ... naming the value asked for (2h)"
expect_match "$msg" '1h' "  ... and the maximum (1h)"
dwell_json alice new -n t5 -c ops --idle-timeout 2h
expect_rc 0 "  ... while ops (max 12h) accepts 2h"
dwell_json alice disconnect t1 --idle-timeout 90m
expect_eq "$(field "$OUT" 'd["error"]')" limit-exceeded "disconnect --idle-timeout 90m above the session's maximum (1h): limit-exceeded"

capture alice dwell remove o1 t1 t2 t3 t4 t5
expect_rc 0 "clean up"
capture carol dwell remove a1
