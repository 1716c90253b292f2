#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-spawner.sh — session hosts are clones of the session spawner:
#   - dwelld has one child named dwell-spawner, running as root, in its own
#     session, with nothing open but fds 0-3;
#   - the monitor of alice's new session is dwelld's child (CLONE_PARENT),
#     named dwell-host, leader of its own session; the spawner has no
#     children; the session works;
#   - the spawner killed with SIGKILL: dwelld says so, the next `dwell new`
#     works through a new spawner;
#   - the spawner stopped (SIGSTOP): one `dwell new` fails within the
#     spawner timeout (5 s) with a one-line error, the stopped spawner is
#     killed and replaced, and the next `dwell new` works;
#   - SIGHUP (reload) replaces the spawner and the old one exits;
#   - after all that the first session still works, and once every session
#     is removed dwelld has no children left but the spawner (no zombies);
#   - the PAM configuration edited under a running spawner (which has the
#     service's modules loaded): a `session required pam_deny.so` appended
#     to the dwell service makes the next `dwell new` fail at once;
#     restored, it works;
#   - an upgrade: dwelld restarted on a libexec directory with its own copy
#     of dwell-host; that copy replaced by another file (new inode): the
#     next `dwell new` works, through a new spawner, and dwelld says why.

. "$(dirname "$0")/lib.sh"

stat_field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }  # 1=state 2=ppid 4=sid
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }
children_of() {     # PID -> "pid:comm:state" of each child, sorted
        local p
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [ "$(stat_field "$p" 2)" = "$1" ] && echo "$p:$(comm_of "$p"):$(stat_field "$p" 1)"
        done | sort -n
}
spawner_pid() {
        local c
        for c in $(children_of "$DWELLD_PID"); do
                [ "${c#*:}" = "dwell-spawner:S" ] || [ "${c#*:}" = "dwell-spawner:R" ] && { echo "${c%%:*}"; return 0; }
        done
        return 1
}
wait_for 'spawner_pid >/dev/null' 10
sp1=$(spawner_pid)
if [ -n "$sp1" ]; then
        pass "dwelld (pid $DWELLD_PID) has a child dwell-spawner (pid $sp1)"
else
        fail "dwelld has a child dwell-spawner" "$(children_of "$DWELLD_PID")"
        exit 1
fi
expect_eq "$(stat -c %U "/proc/$sp1") $(stat_field "$sp1" 4)" "root $sp1" "  ... running as root, leader of its own session"
expect_eq "$(ls "/proc/$sp1/fd" | sort -n | tr '\n' ' ')" "0 1 2 3 " "  ... with only fds 0-3 open"
expect_eq "$(tr '\0' ' ' <"/proc/$sp1/cmdline")" "dwell-host " "  ... its command line is dwell-host"

capture alice dwell new -n first
expect_rc 0 "alice: new -n first"
capture alice dwell invoke first -- 'cd /tmp; marker=kept; echo $$'
expect_rc 0 "alice: invoke first -- cd /tmp; marker=kept"
shell=$OUT
worker=$(stat_field "$shell" 2)
monitor=$(stat_field "$worker" 2)
expect_eq "$(comm_of "$monitor") $(stat -c %U "/proc/$monitor")" "dwell-host root" "first's monitor (pid $monitor) is dwell-host, root"
expect_eq "$(stat_field "$monitor" 2)" "$DWELLD_PID" "  ... and dwelld's child, not the spawner's"
expect_eq "$(stat_field "$monitor" 4)" "$monitor" "  ... leader of its own session"
expect_eq "$(comm_of "$worker") $(stat -c %U "/proc/$worker")" "dwell-host alice" "  ... its worker (pid $worker) runs as alice"
expect_eq "$(children_of "$sp1")" "" "the spawner has no children"

# ---------------------------------------------------------- killed
kill -KILL "$sp1"
if wait_for 'grep -q "session spawner (pid $sp1) was killed by signal 9" "$DWELL_LOG_DIR/dwelld.log"' 10; then
        pass "dwelld logs the spawner's death"
else
        fail "dwelld logs the spawner's death" "$(daemon_log 10)"
fi
capture alice dwell new -n second
expect_rc 0 "after SIGKILL of the spawner, new -n second works"
sp2=$(spawner_pid)
if [ -n "$sp2" ] && [ "$sp2" != "$sp1" ]; then
        pass "  ... through a new spawner (pid $sp2)"
else
        fail "  ... through a new spawner" "$(children_of "$DWELLD_PID")"
fi

# ---------------------------------------------------------- stopped
kill -STOP "$sp2"
t0=$(date +%s)
capture alice dwell new -n third
t1=$(date +%s)
if [ "$RC" -ne 0 ] && [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] && [[ $ERR == dwell:* ]] && [ $((t1 - t0)) -le 8 ]; then
        pass "with the spawner stopped, new fails after $((t1 - t0)) s: $ERR"
else
        fail "with the spawner stopped, new fails within the spawner timeout, one line" "rc=$RC after $((t1 - t0)) s: $ERR"
fi
if wait_for '! _pid_alive "$sp2"' 5; then
        pass "  ... the stopped spawner is killed"
else
        fail "  ... the stopped spawner is killed" "$(children_of "$DWELLD_PID")"
        kill -KILL "$sp2"
fi
capture alice dwell new -n third
expect_rc 0 "  ... and the next new -n third works"
sp3=$(spawner_pid)

# ---------------------------------------------------------- reload
kill -HUP "$DWELLD_PID"
if wait_for '[ -n "$(spawner_pid)" ] && [ "$(spawner_pid)" != "$sp3" ] && ! _pid_alive "$sp3"' 10; then
        pass "SIGHUP replaces the spawner ($sp3 exits, $(spawner_pid) runs)"
else
        fail "SIGHUP replaces the spawner" "before: $sp3; children: $(children_of "$DWELLD_PID")"
fi
capture alice dwell new -n fourth
expect_rc 0 "  ... and new -n fourth works"

capture alice dwell invoke first -- 'echo $marker $PWD'
expect_eq "$OUT" "kept /tmp" "the first session kept its shell state throughout"
dwell_json alice list
expect_eq "$(echo $(json_names "$OUT"))" "first fourth second third" "alice has first, second, third, fourth"

capture alice dwell remove --all
expect_rc 0 "alice: remove --all"
sp=$(spawner_pid)
if wait_for '[ "$(children_of "$DWELLD_PID" | grep -v "^$sp:")" = "" ]' 10; then
        pass "  ... then dwelld's only child is the spawner (every host reaped)"
else
        fail "  ... then dwelld's only child is the spawner" "$(children_of "$DWELLD_PID")"
fi

# ---------------------------------------------------------- PAM configuration edited
pamf=$DWELL_SANDBOX/etc/pam.d/dwell
cp -p "$pamf" "$DWELL_SANDBOX/pam-dwell.orig"
capture alice dwell new -n pam-before
expect_rc 0 "new -n pam-before"
echo "session required pam_deny.so" >>"$pamf"
capture alice dwell new -n pam-denied
if [ "$RC" = 255 ] && printf '%s' "$ERR" | grep -q "PAM refused"; then
        pass "with pam_deny.so appended to the session stack, new fails: $ERR"
else
        fail "with pam_deny.so appended to the session stack, new fails (PAM refused)" "$(_last)"
fi
cp -p "$DWELL_SANDBOX/pam-dwell.orig" "$pamf"
touch "$pamf"
capture alice dwell new -n pam-after
expect_rc 0 "  ... restored, new -n pam-after works"
capture alice dwell remove --all

# ---------------------------------------------------------- an upgrade
lib=$DWELL_SANDBOX/libexec-upgrade
mkdir -p "$lib"
cp -P "$DWELL_LIBEXECDIR"/* "$lib/"
cp --remove-destination "$(readlink -f "$DWELL_LIBEXECDIR/dwell-host")" "$lib/dwell-host"
DWELL_LIBEXECDIR=$lib
export DWELL_LIBEXECDIR
if restart_dwelld; then
        pass "dwelld restarted with its own copy of dwell-host"
else
        fail "dwelld restarted with its own copy of dwell-host" "$(daemon_log 10)"
        exit 1
fi
wait_for 'spawner_pid >/dev/null' 10
sp5=$(spawner_pid)
capture alice dwell new -n before-upgrade
expect_rc 0 "new -n before-upgrade (spawner $sp5)"
cp "$lib/dwell-host" "$lib/dwell-host.new" && mv -f "$lib/dwell-host.new" "$lib/dwell-host"
capture alice dwell new -n after-upgrade
expect_rc 0 "after dwell-host was replaced on disk, new -n after-upgrade works"
sp6=$(spawner_pid)
if [ -n "$sp6" ] && [ "$sp6" != "$sp5" ] && wait_for '! _pid_alive "$sp5"' 5; then
        pass "  ... through a new spawner ($sp5 exited, $sp6 runs)"
else
        fail "  ... through a new spawner" "before: $sp5; children: $(children_of "$DWELLD_PID")"
fi
if grep -q "dwell-host changed on disk" "$DWELL_LOG_DIR/dwelld.log" &&
   grep -q "replaced on disk; starting a new one" "$DWELL_LOG_DIR/dwelld.log"; then
        pass "  ... and the logs say why"
else
        fail "  ... and the logs say why" "$(daemon_log 10)"
fi
capture alice dwell remove --all
expect_rc 0 "alice: remove --all"
