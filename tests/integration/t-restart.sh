#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-restart.sh — sessions outlive the supervisor and lose no output:
#   - 20 sessions, job1..job10 of alice and job1..job10 of bob (the same
#     names, different owners), configuration `small` (64 KiB buffer, block:
#     t-restart.d/configurations.d/small.yaml), each with a command started
#     by `invoke -d` that writes known data: alice's write 2 MiB at full
#     speed (suspended with buffer and pipe full), bob's 200 KiB slowly
#     (4 KiB every 0.1 s: still writing);
#   - `kill -9` of dwelld while they run, then a new dwelld started as
#     ns-run.sh starts it: the same 20 sessions (Id, InstanceId, name,
#     owner) are listed, each still Disconnected with its command;
#   - `receive` by each owner delivers every byte: sha256 of what it prints
#     = sha256 of the generator's output, exit status 0;
#   - a session whose host (monitor and worker, killed with SIGKILL) died
#     while dwelld was stopped (SIGTERM) is listed Broken after the restart,
#     with a reason (JSON "reason", the `list -l` line, the error of
#     `receive`); `remove` clears it and its files in /run/dwell/sessions.

. "$(dirname "$0")/lib.sh"

gen=/tmp/gen.py
data_writer "$gen"
big=$((2 * 1024 * 1024)) small=$((200 * 1024))
sum_big=$("$PYTHON" "$gen" "$big" | sha256sum | cut -d' ' -f1)
sum_small=$("$PYTHON" "$gen" "$small" | sha256sum | cut -d' ' -f1)

# "id instance_id name owner" of every session root sees, sorted.
table() {
        dwell_json root list --all-users
        json_eval "$OUT" '"\n".join(sorted("%d %s %s %s" % (s["id"], s["instance_id"], s["name"], s["owner"]) for s in d))'
}

# -------------------------------------------------------------- 20 sessions
ok=0
for i in $(seq 1 10); do
        for u in alice bob; do
                if [ "$u" = alice ]; then
                        cmd="python3 $gen $big /tmp/$u.job$i.progress"
                else
                        cmd="python3 $gen $small /tmp/$u.job$i.progress 0.1"
                fi
                capture "$u" dwell invoke -d -c small -n "job$i" -- "$cmd"
                if [ "$RC" -eq 0 ]; then
                        ok=$((ok + 1))
                else
                        fail "invoke -d -n job$i as $u" "$(_last)"
                fi
        done
done
expect_eq "$ok" 20 "20 sessions started with invoke -d (alice's job1..10, bob's job1..10)"

# Alice's writers stall (buffer + pipe full); wait until every progress file
# exists and alice's stop moving.
progress() { cat "/tmp/$1.job$2.progress" 2>/dev/null || echo 0; }
wait_for '[ "$(ls /tmp/*.progress 2>/dev/null | wc -l)" -eq 20 ]' 15 ||
        fail "every writer has started" "$(ls -l /tmp)"
prev=
for _ in $(seq 1 20); do
        now=$(for i in $(seq 1 10); do progress alice "$i"; done | tr '\n' ' ')
        [ "$now" = "$prev" ] && break
        prev=$now
        sleep 0.5
done
stalled=0 running=0
for i in $(seq 1 10); do
        a=$(progress alice "$i") b=$(progress bob "$i")
        [ "$a" -gt 0 ] && [ "$a" -lt "$big" ] && stalled=$((stalled + 1))
        [ "$b" -lt "$small" ] && running=$((running + 1))
done
expect_eq "$stalled" 10 "alice's 10 writers are suspended mid-output (block mode, buffer full)"
expect_eq "$running" 10 "bob's 10 writers are still writing"

dwell_json root list --all-users
busy=$(json_eval "$OUT" 'sum(1 for s in d if s["command"] and s["state"] == "Disconnected")')
expect_eq "$busy" 20 "root lists 20 Disconnected sessions, each with a command running"
before=$(table)

# -------------------------------------------------------------- kill -9
old_pid=$DWELLD_PID
if stop_dwelld KILL; then
        pass "dwelld (pid $old_pid) killed with SIGKILL"
else
        fail "dwelld (pid $old_pid) killed with SIGKILL"
fi
hosts=$(ps -e -o comm= | grep -c '^dwell-host$')
# 20 monitors + 20 workers
expect_eq "$hosts" 40 "the 20 session hosts (monitor + worker each) live on without dwelld"

if start_dwelld; then
        pass "a new dwelld (pid $DWELLD_PID) answers"
else
        fail "a new dwelld (pid $DWELLD_PID) answers"
        exit 1
fi

after=$(table)
if [ "$after" = "$before" ]; then
        pass "after the restart the same 20 sessions are listed (Id, InstanceId, name, owner)"
else
        fail "after the restart the same 20 sessions are listed (Id, InstanceId, name, owner)" \
                "before:" "$before" "after:" "$after"
fi
dwell_json root list --all-users
wait_for '[ "$(json_eval "$OUT" "sum(1 for s in d if s[\"state\"] == \"Disconnected\" and s[\"command\"])")" = 20 ] || { dwell_json root list --all-users; false; }' 10
states=$(json_eval "$OUT" '" ".join(sorted(set("%s/%s" % (s["state"], "cmd" if s["command"] else "idle") for s in d)))')
expect_eq "$states" "Disconnected/cmd" "  ... all Disconnected, each with its command"
for u in alice bob; do
        dwell_json "$u" list
        expect_eq "$(json_names "$OUT" | tr '\n' ' ')" "job1 job10 job2 job3 job4 job5 job6 job7 job8 job9 " \
                "  ... $u sees her/his job1..job10"
done

# -------------------------------------------------------------- receive
bad=()
for i in $(seq 1 10); do
        for u in alice bob; do
                f=$DWELL_SANDBOX/recv.$u.$i
                rc=0
                as_user "$u" dwell receive "job$i" >"$f" 2>"$f.err" </dev/null || rc=$?
                want=$sum_small
                [ "$u" = alice ] && want=$sum_big
                got=$(sha256sum <"$f" | cut -d' ' -f1)
                if [ "$rc" -ne 0 ] || [ "$got" != "$want" ]; then
                        bad+=("$u job$i: rc=$rc, $(wc -c <"$f") bytes, sha256 $got (want $want); stderr: $(head -c 300 "$f.err")")
                fi
        done
done
if [ "${#bad[@]}" -eq 0 ]; then
        pass "receive of each of the 20 delivers every byte (sha256 matches), exit 0"
else
        fail "receive of each of the 20 delivers every byte (sha256 matches), exit 0" "${bad[@]}"
fi
dwell_json root list --all-users
idle=$(json_eval "$OUT" 'sum(1 for s in d if not s["command"] and s["buffered"] == 0)')
expect_eq "$idle" 20 "  ... afterwards no command runs and every buffer is empty"

# ------------------------------------------- a host that dies while dwelld is down
capture alice dwell invoke -d -n doomed -- 'sleep 313'
expect_rc 0 "invoke -d -n doomed -- sleep 313"
dwell_json alice list doomed
iid=$(json_eval "$OUT" 'd[0]["instance_id"]')
did=$(json_eval "$OUT" 'd[0]["id"]')

# sleep 313 -> its shell -> worker -> monitor
sleep_pid=
for p in /proc/[0-9]*; do
        [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "sleep 313 " ] && sleep_pid=${p#/proc/}
done
# The stat line's command may contain spaces: take the field after ')'.
ppid_of() { sed 's/^.*) . \([0-9]*\) .*/\1/' "/proc/$1/stat"; }
shell_pid=$(ppid_of "$sleep_pid")
worker_pid=$(ppid_of "$shell_pid")
monitor_pid=$(ppid_of "$worker_pid")
w=$(stat -c '%U %n' "/proc/$worker_pid" 2>/dev/null; tr '\0' ' ' <"/proc/$worker_pid/cmdline")
m=$(stat -c '%U %n' "/proc/$monitor_pid" 2>/dev/null; tr '\0' ' ' <"/proc/$monitor_pid/cmdline")
if [[ $w == "alice "*dwell-host* ]] && [[ $m == "root "*dwell-host* ]]; then
        pass "found doomed's worker ($worker_pid, alice) and monitor ($monitor_pid, root)"
else
        fail "found doomed's worker and monitor" "sleep $sleep_pid shell $shell_pid" "worker: $w" "monitor: $m"
fi

if stop_dwelld TERM; then
        pass "dwelld stopped with SIGTERM"
else
        fail "dwelld stopped with SIGTERM"
fi
kill -KILL "$monitor_pid" "$worker_pid"
wait_for "! _pid_alive $monitor_pid && ! _pid_alive $worker_pid" 5 &&
        pass "doomed's monitor and worker killed (SIGKILL) while dwelld is down" ||
        fail "doomed's monitor and worker killed (SIGKILL) while dwelld is down"
kill -KILL "$shell_pid" "$sleep_pid" 2>/dev/null
hosts=$(ps -e -o comm= | grep -c '^dwell-host$')
expect_eq "$hosts" 40 "  ... the other 20 session hosts live on"

if start_dwelld; then
        pass "a new dwelld (pid $DWELLD_PID) answers"
else
        fail "a new dwelld (pid $DWELLD_PID) answers"
        exit 1
fi
dwell_json alice list doomed
expect_eq "$(json_eval "$OUT" '"%s %s %s" % (d[0]["id"], d[0]["instance_id"], d[0]["state"])')" \
        "$did $iid Broken" "doomed is listed Broken, with its Id and InstanceId"
reason=$(json_eval "$OUT" 'd[0].get("reason") or ""')
capture alice dwell receive doomed
if [ "$RC" = 255 ] && printf '%s' "$ERR" | grep -q 'is broken: .*died'; then
        pass "  ... receive fails (255) saying why: $ERR"
else
        fail "  ... receive fails (255) saying why" "$(_last)"
fi
why=$(printf '%s\n' "$ERR" | sed -n 's/^dwell: session doomed is broken: //p')
expect_eq "$reason" "$why" "  ... --json list gives the same reason (\"reason\")"
capture alice dwell list -l doomed
if [ -n "$why" ] && printf '%s\n' "$OUT" | grep -E "^[0-9]+ +doomed .*Broken" | grep -qF -- "$why"; then
        pass "  ... list -l shows the reason on doomed's line"
else
        fail "  ... list -l shows the reason on doomed's line" "reason: $why" "$OUT"
fi
after=$(table | grep -v " doomed alice$")
expect_eq "$after" "$before" "the 20 other sessions are all still listed"

capture alice dwell remove doomed
expect_rc 0 "remove doomed"
dwell_json alice list
expect_eq "$(json_names "$OUT" | grep -c doomed)" 0 "  ... it is no longer listed"
left=$(ls /run/dwell/sessions/ | grep -c "$iid")
expect_eq "$left" 0 "  ... its files in /run/dwell/sessions are gone"

capture alice dwell remove --all
capture bob dwell remove --all
wait_for '[ "$(ps -e -o comm= | grep -c "^dwell-host$")" -eq 0 ]' 10 &&
        pass "remove --all ends every session host" ||
        fail "remove --all ends every session host" "$(ps -e -o pid,user,args | grep dwell-host)"
