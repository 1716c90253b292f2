#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-list-json.sh — `dwell list` prints the table with the header
# "Id Name Host State Configuration Availability" and a row per session;
# `dwell --json list` is an array of objects with exactly the documented keys
# and sensible values; `dwell --json new` prints the one session object.

. "$(dirname "$0")/lib.sh"

keys='["availability", "buffered", "command", "configuration", "dropped", "host", "id", "idle_timeout", "instance_id", "last_command", "name", "origin", "output_buffering", "owner", "reason", "run_as", "state", "terminal", "watchers"]'

dwell_json alice new -n work
expect_rc 0 "alice: dwell --json new -n work"
expect_eq "$(json_eval "$OUT" 'sorted(d.keys())' 2>&1)" "$keys" "new --json prints one session object with the documented keys"
expect_eq "$(json_eval "$OUT" 'd["name"]' 2>&1)" work "  ... named work"

capture alice dwell list
expect_rc 0 "alice: dwell list"
header=$(printf '%s\n' "$OUT" | head -n 1 | tr -s ' \t' ' ' | sed 's/^ //; s/ $//')
expect_eq "$header" "Id Name Host State Configuration Availability" "the table's header"
row=$(printf '%s\n' "$OUT" | grep -E '(^|[[:space:]])work([[:space:]]|$)' | tr -s ' \t' ' ' | sed 's/^ //; s/ $//')
expect_match "$row" "^[0-9]+ work dwell-test [A-Z][a-z]+ default (None|Available|Busy)\$" "alice's row: Id, name, host, state, configuration, availability"
expect_eq "$(printf '%s\n' "$OUT" | wc -l)" 2 "header and one row"

dwell_json alice list
expect_rc 0 "alice: dwell --json list"
expect_eq "$(json_eval "$OUT" 'type(d).__name__' 2>&1)" list "--json list is a JSON array"
expect_eq "$(json_len "$OUT")" 1 "  ... with one element"
if [ "$(json_len "$OUT")" != 1 ]; then
        fail "the session object's fields (skipped: no one-element array)" "$(_last)"
        capture alice dwell remove work
        exit 1
fi
expect_eq "$(json_eval "$OUT" 'sorted(d[0].keys())' 2>&1)" "$keys" "  ... whose object has exactly the documented keys"
check() { expect_eq "$(json_eval "$OUT" "$1" 2>&1)" "$2" "  ... $3"; }
check 'd[0]["name"]' work "name is work"
check 'd[0]["owner"]' alice "owner is alice"
check 'd[0]["host"]' dwell-test "host is the host name"
check 'd[0]["configuration"]' default "configuration is default"
check 'type(d[0]["id"]).__name__' int "id is an integer"
check 'type(d[0]["idle_timeout"]).__name__ in ("int", "float")' true "idle_timeout is a number (seconds)"
check 'type(d[0]["buffered"]).__name__ == "int" and type(d[0]["dropped"]).__name__ == "int"' true "buffered and dropped are byte counts"
check 'd[0]["state"] in ("Opened", "Disconnected", "Broken", "Closed")' true "state is one of the documented states"
check 'd[0]["availability"] in ("Available", "Busy", "None")' true "availability is one of the documented values"
check 'd[0]["output_buffering"]' block "output_buffering is block (the default)"
check 'd[0]["command"]' null "command is null (nothing runs)"
check '__import__("re").fullmatch("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", d[0]["instance_id"]) is not None' true "instance_id is a UUID"
check 'd[0]["run_as"] in (None, "alice")' true "run_as is alice or null"

capture alice dwell new
expect_rc 0 "alice: dwell new without a name"
dwell_json alice list
expect_match "$(json_names "$OUT")" '^Session[0-9]+$' "an unnamed session is called SessionN"
check 'len(set(s["id"] for s in d)) == len(d) and len(set(s["instance_id"] for s in d)) == len(d)' true "ids and instance ids are unique"

capture alice dwell new -n work
expect_rc 255 "a second session named work fails with 255"
