#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-remove-readopt.sh — a removed session stays removed: its files in
# /run/dwell/sessions are gone whatever its state, and a dwelld restarted
# after `kill -9` never re-adopts it; names stay unique per owner.
#   - alice: `keep` (live, shell state set), `live` (live), `victim` (Broken:
#     its worker killed with SIGKILL, as t-broken.sh does), `quitter`
#     (Broken: its shell killed with SIGKILL); bob: `bobkeep` (live, shell state set);
#   - alice removes victim, quitter and live: each `remove` succeeds and
#     leaves no file of the session's InstanceId;
#   - `kill -9` of dwelld, restart: root's `list --all-users` shows exactly
#     keep and bobkeep, once each; both still have their shell state; alice
#     may create victim and quitter again; after another `kill -9` and
#     restart each of her names is listed once;
#   - kill -9 during a removal: `racer1` and `racer2` run commands that
#     ignore SIGTERM, so a removal takes a few seconds; while
#     both are being removed dwelld is killed with SIGKILL, and racer2's
#     worker too (so its monitor records it as broken); the restarted
#     dwelld lists neither, their hosts end, their files are gone;
#   - a leftover info file of an old Broken session named like a live one
#     (as the old dwelld left them) is re-adopted under a distinct name:
#     the live `twin` keeps its name, the Broken one becomes twin-ID;
#   - a leftover info file of an old Broken session whose Id was given to a
#     new session meanwhile: the live session keeps the Id, the leftover
#     gets a new one, and both stay so after another restart.

. "$(dirname "$0")/lib.sh"

sessdir=/run/dwell/sessions
files_of() { ls "$sessdir" 2>/dev/null | grep -F -- "$1" | tr '\n' ' '; }
# "owner/name" of every session root sees, sorted, one line.
table() {
        dwell_json root list --all-users
        json_eval "$OUT" '" ".join(sorted("%s/%s" % (s["owner"], s["name"]) for s in d))'
}
field_of() {   # USER NAME KEY
        dwell_json "$1" list "$2"
        json_eval "$OUT" "d[0]['$3'] if len(d) == 1 else 'count=%d' % len(d)" 2>/dev/null
}
ppid_of() { sed 's/^.*) . \([0-9]*\) .*/\1/' "/proc/$1/stat" 2>/dev/null; }
pid_of_cmdline() {     # exact argv, words joined by spaces
        local p
        for p in /proc/[0-9]*; do
                if [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "$1 " ]; then
                        echo "${p#/proc/}"
                        return 0
                fi
        done
        return 1
}
# worker_of CMDLINE: the worker of the session whose command runs CMDLINE
# (command -> shell -> worker).
worker_of() {
        local c
        c=$(pid_of_cmdline "$1") || return 1
        ppid_of "$(ppid_of "$c")"
}
restart_kill9() {
        local old=$DWELLD_PID
        if restart_dwelld KILL; then
                pass "$1: dwelld (pid $old) killed with SIGKILL, a new one (pid $DWELLD_PID) answers"
        else
                fail "$1: dwelld killed with SIGKILL and restarted"
                exit 1
        fi
}

# ------------------------------------------------------------- sessions
capture alice dwell new -n keep
expect_rc 0 "alice: new -n keep"
capture alice dwell invoke keep -- 'k=alice-kept; cd /tmp'
capture bob dwell new -n bobkeep
expect_rc 0 "bob: new -n bobkeep"
capture bob dwell invoke bobkeep -- 'k=bob-kept'
capture alice dwell new -n live
expect_rc 0 "alice: new -n live"

capture alice dwell invoke -d -n victim -- 'sleep 331'
expect_rc 0 "alice: invoke -d -n victim -- sleep 331"
wait_for 'pid_of_cmdline "sleep 331" >/dev/null' 5
w=$(worker_of "sleep 331")
if [ -n "$w" ] && [[ $(tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null) == *dwell-host* ]]; then
        kill -KILL "$w"
        pass "victim's worker ($w) killed with SIGKILL"
else
        fail "found victim's worker" "pid '$w'"
fi
wait_for '[ "$(field_of alice victim state)" = Broken ]' 10
expect_eq "$(field_of alice victim state)" Broken "  ... victim is Broken"
kill -KILL "$(pid_of_cmdline "sleep 331")" 2>/dev/null

capture alice dwell new -n quitter
expect_rc 0 "alice: new -n quitter"
capture alice dwell invoke quitter -- 'kill -KILL $$'
wait_for '[ "$(field_of alice quitter state)" = Broken ]' 10
expect_eq "$(field_of alice quitter state)" Broken "quitter is Broken (its shell was killed)"

declare -A iid
for n in keep live victim quitter; do
        iid[$n]=$(field_of alice $n instance_id)
done
iid[bobkeep]=$(field_of bob bobkeep instance_id)
echo "# instance ids: $(for n in "${!iid[@]}"; do printf '%s=%s ' "$n" "${iid[$n]}"; done)"

# ------------------------------------------------------------- remove
for n in victim quitter live; do
        capture alice dwell remove "$n"
        expect_rc 0 "alice: remove $n"
        expect_eq "$(files_of "${iid[$n]}")" "" "  ... no file of $n (${iid[$n]}) is left in $sessdir"
done
expect_eq "$(table)" "alice/keep bob/bobkeep" "root lists keep and bobkeep"

# ------------------------------------------------------------- kill -9
restart_kill9 "after the removals"
expect_eq "$(table)" "alice/keep bob/bobkeep" "  ... root lists exactly keep and bobkeep: no removed session is back"
capture alice dwell invoke keep -- 'echo $k $PWD'
expect_eq "$RC:$OUT" "0:alice-kept /tmp" "  ... keep is usable, its shell state intact"
capture bob dwell invoke bobkeep -- 'echo $k'
expect_eq "$RC:$OUT" "0:bob-kept" "  ... bobkeep is usable, its shell state intact"
capture alice dwell new -n victim
expect_rc 0 "  ... alice may create victim again"
capture alice dwell new -n quitter
expect_rc 0 "  ... and quitter"
restart_kill9 "again"
expect_eq "$(table)" "alice/keep alice/quitter alice/victim bob/bobkeep" "  ... each name listed once"
capture alice dwell remove victim quitter
expect_rc 0 "alice: remove victim quitter"

# ------------------------------------------------- kill -9 during removal
# racer1's shell itself ignores the signals (the trap persists in the
# session's shell), so its worker waits out its grace period, reachable:
# the new dwelld finds it still ending and ends it.  racer2's command
# ignores them in a child shell.
capture alice dwell invoke -d -n racer1 -- 'trap "" TERM HUP INT; sleep 341'
expect_rc 0 "alice: racer1 runs a command that ignores SIGTERM, in a shell that ignores it"
capture alice dwell invoke -d -n racer2 -- "sh -c 'trap \"\" TERM HUP INT; sleep 342; true'"
expect_rc 0 "alice: racer2 too"
wait_for 'pid_of_cmdline "sleep 342" >/dev/null' 5
r2_worker=$(ppid_of "$(ppid_of "$(ppid_of "$(pid_of_cmdline "sleep 342")")")")
for n in racer1 racer2; do
        iid[$n]=$(field_of alice $n instance_id)
done
as_user alice dwell remove racer1 >/dev/null 2>&1 &
track_pid $!
as_user alice dwell remove racer2 >/dev/null 2>&1 &
track_pid $!
if wait_for '[ "$(grep -c "(racer[12]) of alice removed by alice" "$DWELL_LOG_DIR/dwelld.log")" -ge 2 ]' 5; then
        pass "both removals are under way (dwelld logged them)"
else
        fail "both removals are under way (dwelld logged them)" "$(grep racer "$DWELL_LOG_DIR/dwelld.log")"
fi
stop_dwelld KILL
kill -KILL "$r2_worker" 2>/dev/null
echo "# killed dwelld and racer2's worker ($r2_worker); files: $(ls "$sessdir")"
wait_for "! _pid_alive $r2_worker" 5
if start_dwelld; then
        pass "kill -9 during the removals: a new dwelld (pid $DWELLD_PID) answers"
else
        fail "kill -9 during the removals: a new dwelld answers"
        exit 1
fi
expect_eq "$(table)" "alice/keep bob/bobkeep" "  ... neither racer is listed"
if wait_for '! pid_of_cmdline "sleep 341" >/dev/null && ! pid_of_cmdline "sleep 342" >/dev/null' 15; then
        pass "  ... their commands have ended"
else
        fail "  ... their commands have ended" "$(ps -e -o pid,ppid,user,args | grep -E 'sleep 34|dwell-host')"
fi
if wait_for '[ -z "$(files_of "${iid[racer1]}")$(files_of "${iid[racer2]}")" ]' 10; then
        pass "  ... their files are gone"
else
        fail "  ... their files are gone" "$(ls -l "$sessdir")"
fi
grep -E '\((racer[12])\)|was being removed|racer[12]\[' "$DWELL_LOG_DIR/dwelld.log" | grep -v AUDIT | sed 's/^/# /'
restart_kill9 "once more"
expect_eq "$(table)" "alice/keep bob/bobkeep" "  ... still neither racer is listed"

# ------------------------------------ a leftover Broken session named twin
capture alice dwell invoke -d -n twin -- 'sleep 351'
expect_rc 0 "alice: invoke -d -n twin -- sleep 351"
wait_for 'pid_of_cmdline "sleep 351" >/dev/null' 5
old_iid=$(field_of alice twin instance_id)
old_id=$(field_of alice twin id)
kill -KILL "$(worker_of "sleep 351")"
wait_for '[ "$(field_of alice twin state)" = Broken ]' 10
kill -KILL "$(pid_of_cmdline "sleep 351")" 2>/dev/null
cp -p "$sessdir/$old_iid.info" "$DWELL_SANDBOX/twin.info"
capture alice dwell remove twin
expect_rc 0 "alice: remove twin (Broken)"
capture alice dwell new -n twin
expect_rc 0 "alice: new -n twin"
capture alice dwell invoke twin -- 't=new-twin'
stop_dwelld KILL
cp -p "$DWELL_SANDBOX/twin.info" "$sessdir/$old_iid.info"
echo "# put back the old twin's info file $old_iid.info (Id $old_id), as an older dwelld left it"
if start_dwelld; then
        pass "dwelld restarted with the leftover"
else
        fail "dwelld restarted with the leftover"
        exit 1
fi
expect_eq "$(table)" "alice/keep alice/twin alice/twin-$old_id bob/bobkeep" \
        "  ... the live twin keeps its name, the leftover Broken one is twin-$old_id"
expect_eq "$(field_of alice "twin-$old_id" state)" Broken "  ... twin-$old_id is Broken"
capture alice dwell invoke twin -- 'echo $t'
expect_eq "$RC:$OUT" "0:new-twin" "  ... twin is the live one"
restart_kill9 "with twin-$old_id"
expect_eq "$(table)" "alice/keep alice/twin alice/twin-$old_id bob/bobkeep" "  ... the names are stable across restarts"
capture alice dwell remove "twin-$old_id"
expect_rc 0 "alice: remove twin-$old_id"
expect_eq "$(files_of "$old_iid")" "" "  ... its files are gone"

# ------------------------------ a leftover whose Id was given out again
# ghost gets the highest Id; once it is removed and dwelld restarted, the
# next session gets that Id again; then ghost's old info file reappears.
capture alice dwell invoke -d -n ghost -- 'sleep 361'
expect_rc 0 "alice: invoke -d -n ghost -- sleep 361"
wait_for 'pid_of_cmdline "sleep 361" >/dev/null' 5
ghost_iid=$(field_of alice ghost instance_id)
ghost_id=$(field_of alice ghost id)
kill -KILL "$(worker_of "sleep 361")"
wait_for '[ "$(field_of alice ghost state)" = Broken ]' 10
kill -KILL "$(pid_of_cmdline "sleep 361")" 2>/dev/null
cp -p "$sessdir/$ghost_iid.info" "$DWELL_SANDBOX/ghost.info"
capture alice dwell remove ghost
expect_rc 0 "alice: remove ghost (Broken, Id $ghost_id)"
restart_kill9 "after removing ghost"
capture alice dwell new -n fresh
expect_eq "$RC:$(field_of alice fresh id)" "0:$ghost_id" "alice: new -n fresh gets ghost's Id $ghost_id again"
stop_dwelld KILL
cp -p "$DWELL_SANDBOX/ghost.info" "$sessdir/$ghost_iid.info"
if start_dwelld; then
        pass "dwelld restarted with ghost's leftover info file"
else
        fail "dwelld restarted with ghost's leftover info file"
        exit 1
fi
ids() {
        dwell_json root list --all-users
        json_eval "$OUT" '" ".join("%s=%d" % (s["name"], s["id"]) for s in sorted(d, key=lambda s: s["id"]))'
}
now=$(ids)
echo "# sessions: $now"
expect_eq "$(field_of alice fresh id)" "$ghost_id" "  ... the live fresh keeps Id $ghost_id"
new_ghost=$(field_of alice ghost id)
if [ -n "$new_ghost" ] && [ "$new_ghost" != "$ghost_id" ] && [ "$(field_of alice ghost state)" = Broken ]; then
        pass "  ... the leftover ghost is Broken, with a new Id ($new_ghost)"
else
        fail "  ... the leftover ghost is Broken, with a new Id" "ghost: id '$new_ghost'" "$now"
fi
dwell_json root list --all-users
expect_eq "$(json_eval "$OUT" 'len(d) == len(set(s["id"] for s in d))')" true "  ... every Id is listed once"
restart_kill9 "with the renumbered ghost"
expect_eq "$(ids)" "$now" "  ... Ids and names are the same after another restart"
capture alice dwell remove "$new_ghost"
expect_rc 0 "alice: remove $new_ghost (ghost)"
expect_eq "$(files_of "$ghost_iid")" "" "  ... its files are gone"
capture alice dwell invoke fresh -- 'echo fresh'
expect_eq "$RC:$OUT" "0:fresh" "  ... fresh is intact"

capture alice dwell remove --all
capture bob dwell remove --all
wait_for '[ "$(ls "$sessdir" | wc -l)" -eq 0 ]' 10
expect_eq "$(ls "$sessdir" | tr '\n' ' ')" "" "in the end $sessdir is empty"
