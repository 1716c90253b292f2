#!/bin/bash
# SPDX-License-Identifier: ISC
# dwell-test: alone
# (it loads the machine and runs hundreds of alice's processes)
#
# t-soak.sh — many sessions streaming while clients are killed, disconnected
# and reconnected, locally and over ssh; afterwards every byte of every
# command was received exactly once, and dwelld and the session hosts are back
# at their baseline.
#
#   DWELL_SOAK=full bash tests/integration/run.sh t-soak     (200 sessions,
#       5,000 events, at most 5 minutes; run.sh then allows 10 minutes)
#   default (CI): 20 sessions, 300 events, at most 60 s
#   SOAK_SESSIONS, SOAK_EVENTS, SOAK_SECONDS, SOAK_PARALLEL override;
#   SOAK_PACE: the events start no faster than SOAK_EVENTS in SOAK_PACE s
#   (full: 180, CI: 36) - a floor, not a budget: SOAK_SECONDS is checked
#   on the whole run's wall time; SOAK_VMSTAT=1 adds vmstat's summary,
#   SOAK_KEEP=DIR keeps the run's files.  The log has a time profile (per
#   event kind; the driver's own spawning) and the CPU each part used.
#
# Every session runs a deterministic generator (writer.py: numbered 16-byte
# lines, session i writes 64 KiB + i * 4 KiB, spread over 80% of the pace),
# so its sha256 is known.  Events, at random (fixed seed), each on a session
# no other event holds: a `receive SESSION >> FILE` (local or `-H` over a real
# sshd, half each; DWELL_SSH_SHARE=0: one ssh per client, as each is
# killed on its own and an ssh master left by a SIGKILLed client would
# outlive the run by ControlPersist's 60 s) ended by
#   kill     — SIGKILL to the client after 0.05-1 s;
#   disconnect — `dwell disconnect SESSION` from another client;
#   reconnect — (over ssh, once output flows) SIGKILL to its ssh: the client
#              reconnects by itself (every one that noticed, within 10 s),
#              and is then killed or disconnected;
#   finish   — receive --no-wait, which ends by itself.
# Then one `receive` per session collects the rest: sha256(FILE) must be the
# generator's.  Baseline (sessions created, idle) and end (all commands done
# and received, no client): dwelld's open fds and RSS, the number of
# session hosts (monitors and workers) and their fds, the sandbox's process
# count, and the open PAM sessions (pam-session.log opens minus closes) must
# match, RSS within a margin; finally every session is removed and every PAM
# session closed.

. "$(dirname "$0")/ssh-lib.sh"
ssh_private_net "$0" "$@"
. "$(dirname "$0")/lib.sh"

if [ "${DWELL_SOAK:-}" = full ]; then
        : "${SOAK_SESSIONS:=200}" "${SOAK_EVENTS:=5000}" "${SOAK_SECONDS:=300}" "${SOAK_PARALLEL:=48}"
        : "${SOAK_PACE:=180}"
else
        : "${SOAK_SESSIONS:=20}" "${SOAK_EVENTS:=300}" "${SOAK_SECONDS:=60}" "${SOAK_PARALLEL:=12}"
        : "${SOAK_PACE:=36}"
fi
: "${CMD_TIMEOUT:=120}"
t_start=$(date +%s)

SSHD_EXTRA="MaxStartups 400" sshd_start soak 127.0.0.1 2222 || exit 1
ssh_user_key alice soak
ssh_client_config alice /home/alice/.ssh/cfg soak
# Every remote event is a fresh ssh connection (some 3,500 in the full run).
# OpenSSH 9's default key exchange, sntrup761x25519, costs its client some
# 75 ms of CPU per connection on a 2-core test machine, 10 times what the
# rest of the connection does: 4 to 5 minutes of CPU, most of what the full
# run has.  The soak tests dwell, not ssh's post-quantum key exchange: its
# connections use curve25519-sha256 (still a real handshake, key
# authentication and all, with the real sshd).
echo "  KexAlgorithms curve25519-sha256" >>/home/alice/.ssh/cfg
W=$DWELL_SANDBOX/writer.py
data_writer "$W"
install -d -m 0777 "$DWELL_SANDBOX/soak"

# -- sessions ---------------------------------------------------------------------
"$PYTHON" - "$SOAK_SESSIONS" <<'PY' >"$DWELL_SANDBOX/soak/names"
import sys
for i in range(int(sys.argv[1])):
    print("soak%d" % i)
PY
n_ok=0
while read -r name; do
        if as_user alice dwell invoke -d -n "$name" -- true >/dev/null 2>&1; then
                n_ok=$((n_ok + 1))
        fi
done <"$DWELL_SANDBOX/soak/names"
expect_eq "$n_ok" "$SOAK_SESSIONS" "$SOAK_SESSIONS sessions created"
# One ssh round trip first (known_hosts), and every command's `true` done.
as_user alice env "DWELL_SSH=ssh -F /home/alice/.ssh/cfg" DWELL_SSH_SHARE=0 dwell -H alice@127.0.0.1:2222 list >/dev/null 2>&1
wait_for "[ \$(as_user alice dwell list --state Opened 2>/dev/null | wc -l) -le 1 ]" 30 || true
sleep 1

# Measurements: key=value lines.
measure() {
        local hosts fds=0 rss=0 p opened closed
        hosts=$(pgrep -x dwell-host | sort -n)
        for p in $hosts; do
                fds=$((fds + $(ls /proc/"$p"/fd 2>/dev/null | wc -l)))
                rss=$((rss + $(awk '/^VmRSS/ { print $2 }' /proc/"$p"/status 2>/dev/null || echo 0)))
        done
        opened=$(grep -c '^open ' "$DWELL_LOG_DIR/pam-session.log" 2>/dev/null || true)
        closed=$(grep -c '^close ' "$DWELL_LOG_DIR/pam-session.log" 2>/dev/null || true)
        echo "dwelld_fds=$(ls /proc/"$DWELLD_PID"/fd | wc -l)"
        echo "dwelld_rss_kb=$(awk '/^VmRSS/ { print $2 }' /proc/"$DWELLD_PID"/status)"
        echo "hosts=$(printf '%s\n' $hosts | grep -c .)"
        echo "monitors=$(pgrep -x -u root dwell-host | wc -l)"
        echo "hosts_fds=$fds"
        echo "hosts_rss_kb=$rss"
        echo "processes=$(ps -e --no-headers | wc -l)"
        echo "pam_open=$((opened - closed))"
        echo "clients=$(pgrep -x dwell | wc -l)"
        echo "bridges=$(pgrep -x dwell-bridge | wc -l)"
}
measure >"$DWELL_SANDBOX/soak/base"

# -- the generators and the events --------------------------------------------------
# CPU seconds (user+system, its reaped children included) of the processes
# given, for the profile.
cpu_of() {
        local p t=0
        for p in "$@"; do
                t=$((t + $(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || echo 0)))
        done
        echo "$t"
}
cpu_all() {
        echo "sshd=$(cpu_of "${SSHD_PID[soak]}") dwelld=$(cpu_of "$DWELLD_PID") hosts=$(cpu_of $(pgrep -x dwell-host))" \
                "machine=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)"
}
cpu_before=$(cpu_all)
t_events=$(date +%s)
echo "# setup took $((t_events - t_start)) s"
vmstat_pid=
if [ -n "${SOAK_VMSTAT:-}" ]; then
        vmstat 1 >"$DWELL_SANDBOX/soak/vmstat" 2>&1 &
        vmstat_pid=$!
        track_pid "$vmstat_pid"
fi
"$PYTHON" - "$DWELL_SANDBOX/soak" "$W" "$DWELL_BIN_DIR/dwell" "$SOAK_SESSIONS" "$SOAK_EVENTS" "$SOAK_PACE" \
        "$SOAK_PARALLEL" <<'PY' >"$DWELL_SANDBOX/soak/driver.out" 2>"$DWELL_SANDBOX/soak/driver.err"
import os, pwd, random, signal, subprocess, sys, time
d, writer, dwell = sys.argv[1:4]
n, events, pace, parallel = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
random.seed(16)
HOST = "alice@127.0.0.1:2222"
# The clients run as alice, straight from here (no setpriv and env
# processes per client: the driver spawns some 6,000 of them).
pw = pwd.getpwnam("alice")
GROUPS = os.getgrouplist("alice", pw.pw_gid)
ENV = {"HOME": pw.pw_dir, "USER": "alice", "LOGNAME": "alice", "SHELL": pw.pw_shell, "PATH": "/usr/bin:/bin",
       "LANG": "C.UTF-8", "DWELL_SSH": "ssh -F /home/alice/.ssh/cfg", "DWELL_SSH_SHARE": "0"}
def as_alice(args, **kw):
    return subprocess.Popen(args, user=pw.pw_uid, group=pw.pw_gid, extra_groups=GROUPS, env=ENV,
                            cwd=pw.pw_dir, **kw)
log = open(os.path.join(d, "clients.err"), "ab")
def size(i): return 64 * 1024 + i * 4096
stream_time = max(pace * 0.8, 5)
# Start every generator (invoke -d), each spread over 80% of the pace.
for i in range(n):
    writes = (size(i) + 4095) // 4096
    prog = os.path.join(d, "p%d" % i)
    open(prog, "w").close(); os.chmod(prog, 0o666)
    cmd = "python3 %s %d %s %.4f" % (writer, size(i), prog, stream_time / writes)
    p = as_alice([dwell, "invoke", "-d", "soak%d" % i, "--", cmd], stdout=subprocess.DEVNULL, stderr=log)
    if p.wait(30) != 0:
        print("start-failed soak%d" % i)
outs = [open(os.path.join(d, "out%d" % i), "ab") for i in range(n)]
counts = {"kill": 0, "disconnect": 0, "reconnect": 0, "finish": 0, "refused": 0, "stuck": 0, "redisconnect": 0}
prof = {"spawn": 0.0, "loop": 0.0, "loops": 0}
recs = []
busy = set()
active = []
t0 = time.time()
deadline = t0 + pace
done = 0

def ssh_children(pid):
    """The ssh processes the client started (its children named ssh)."""
    out = []
    try:
        kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
    except OSError:
        return out
    for k in kids:
        try:
            if open("/proc/%s/comm" % k).read().strip() == "ssh":
                out.append(int(k))
        except OSError:
            pass
    return out

def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass

class Event:
    def __init__(self, i, kind, remote, now):
        self.i, self.kind, self.remote = i, kind, remote
        self.phase = 0                  # 0: before the action; 1: reconnect: ssh killed; 2: ended by us
        self.t_next = now + random.uniform(0.05, 1.0)
        self.size0 = os.fstat(outs[i].fileno()).st_size
        self.grow_by = now + 3
        self.helper = None              # a `dwell disconnect` under way
        self.t_stuck = now + 30         # a client that does not end by then hangs
        self.rec = {"kind": kind, "remote": remote, "start": now}
        args = [dwell] + (["-H", HOST] if remote else []) + ["receive", "soak%d" % i]
        if kind == "finish":
            args.append("--no-wait")
        self.err = open(os.path.join(d, "err%d" % i), "w+b")
        ts = time.time()
        self.p = as_alice(args, stdout=outs[i], stderr=self.err)
        prof["spawn"] += time.time() - ts

    def disconnect(self, now):
        """`dwell disconnect SESSION`, from another client, not waited for here."""
        if self.helper is None:
            self.helper = as_alice([dwell, "disconnect", "soak%d" % self.i], stdout=subprocess.DEVNULL,
                                   stderr=log)
            self.t_helper = now

    def end(self, now, how):
        """What ends the client: kill or disconnect; it must be gone within 15 s."""
        self.rec.setdefault("act", now)
        self.rec["final"] = how
        self.phase = 2
        self.how = how
        self.t_stuck = now + 15
        if how == "kill":
            kill(self.p.pid)
        else:
            self.disconnect(now)

    def step(self, now):
        """True once the event is over."""
        if self.helper is not None and self.helper.poll() is not None:
            self.helper = None
            self.t_again = now + 1
        if self.p.poll() is not None:
            if self.helper is not None:
                return False            # the session stays ours until the disconnect is done
            if self.rec.get("end") is None:
                self.rec["end"] = now
            self.err.seek(0); log.write(self.err.read()); self.err.close()
            if self.p.returncode != 0 and self.phase == 0 and self.kind != "finish":
                counts["refused"] += 1  # ended before we acted (busy, or its output was all there)
            counts[self.kind] += 1
            self.rec["rc"] = self.p.returncode
            recs.append(self.rec)
            return True
        if now > self.t_stuck:
            kill(self.p.pid); counts["stuck"] += 1
            self.t_stuck = float("inf")
            return False
        if self.phase == 0:
            if now < self.t_next or self.kind == "finish":
                return False
            if self.kind == "reconnect":
                # Only a client that is attached (its output grew) reconnects:
                # the first request is not retried.  Waits at most 3 s for that.
                if os.fstat(outs[self.i].fileno()).st_size > self.size0:
                    self.rec["grown"] = now
                    for s in ssh_children(self.p.pid):
                        kill(s)
                    self.rec["act"] = now
                    self.phase = 1
                    self.t_next = now + 10
                elif now >= self.grow_by:
                    self.kind = "kill"
                    self.end(now, "kill")
                return False
            self.end(now, self.kind)
        elif self.phase == 1:
            # Once it says it is back (or after 10 s): killed or disconnected.
            self.err.seek(0)
            seen = b"reconnected to" in self.err.read()
            if not seen and now < self.t_next:
                return False
            self.rec["back" if seen else "noback"] = now
            self.end(now, "kill" if random.random() < 0.5 else "disconnect")
        elif self.how == "disconnect" and self.helper is None and now >= self.t_again:
            # Still attached a second after its disconnect: that one came
            # before the client held the session (ssh still connecting).
            counts["redisconnect"] += 1
            self.disconnect(now)
        return False

while done < events or active:
    now = time.time()
    # Start events at the pace that ends them in time.
    while done + len(active) < events and len(active) < parallel and \
            (done + len(active)) <= events * min(1.0, (now - t0) / max(deadline - t0, 1)) + parallel:
        free = [i for i in range(n) if i not in busy]
        if not free:
            break
        i = random.choice(free)
        kind = random.choice(["kill", "disconnect", "reconnect", "finish"])
        remote = kind == "reconnect" or random.random() < 0.5
        busy.add(i)
        active.append(Event(i, kind, remote, now))
    for ev in list(active):
        if ev.step(now):
            active.remove(ev); busy.discard(ev.i); done += 1
    prof["loops"] += 1
    prof["loop"] += time.time() - now
    time.sleep(0.01)
import resource
ru = resource.getrusage(resource.RUSAGE_SELF); rc = resource.getrusage(resource.RUSAGE_CHILDREN)
print("profile cpu: driver %.1f s, its clients (and their ssh) %.1f s" % (ru.ru_utime + ru.ru_stime, rc.ru_utime + rc.ru_stime))
print("events %d in %.1f s: %s" % (done, time.time() - t0, " ".join("%s=%d" % kv for kv in sorted(counts.items()))))
import json
json.dump(recs, open(os.path.join(d, "events.json"), "w"))
print("profile driver: spawning %.1f s, loop work %.1f s in %d iterations" % (prof["spawn"], prof["loop"], prof["loops"]))
def stat(xs):
    xs = sorted(xs)
    if not xs: return "-"
    return "n=%d mean=%.2f p50=%.2f p90=%.2f max=%.2f" % (len(xs), sum(xs) / len(xs), xs[len(xs) // 2], xs[len(xs) * 9 // 10], xs[-1])
for kind in ["kill", "disconnect", "reconnect", "finish"]:
    for remote in [False, True]:
        rs = [r for r in recs if r["kind"] == kind and r["remote"] == remote]
        if not rs: continue
        w = "ssh" if remote else "local"
        print("profile %s/%s start->end: %s" % (kind, w, stat([r["end"] - r["start"] for r in rs])))
        if kind != "finish":
            print("profile %s/%s act->end: %s" % (kind, w, stat([r["end"] - r["act"] for r in rs if "act" in r])))
        if kind == "reconnect":
            print("profile %s/%s start->output: %s" % (kind, w, stat([r["grown"] - r["start"] for r in rs if "grown" in r])))
            print("profile %s/%s ssh-killed->reconnected: %s" % (kind, w, stat([r["back"] - r["act"] for r in rs if "back" in r])))
            print("profile %s/%s ssh-killed->not-reconnected-in-10s: %s" % (kind, w, stat([r["noback"] - r["act"] for r in rs if "noback" in r])))
PY
sed -n 's/^profile /# profile: /p' "$DWELL_SANDBOX/soak/driver.out"
cpu_after=$(cpu_all)
hz=$(getconf CLK_TCK)
for k in sshd dwelld hosts machine; do
        b=$(tr ' ' '\n' <<<"$cpu_before" | sed -n "s/^$k=//p") e=$(tr ' ' '\n' <<<"$cpu_after" | sed -n "s/^$k=//p")
        echo "# profile: cpu: $k $(( (e - b) / hz )).$(( (e - b) * 10 / hz % 10 )) s"
done
if [ -n "$vmstat_pid" ]; then
        kill "$vmstat_pid" 2>/dev/null
        awk 'NR > 2 { n++; us += $13; sy += $14; id += $15; r += $1 } END { if (n) printf "# vmstat: %d s, us %.0f%% sy %.0f%% id %.0f%%, run queue %.1f\n", n, us / n, sy / n, id / n, r / n }' "$DWELL_SANDBOX/soak/vmstat"
fi
t_collect=$(date +%s)
echo "# event phase took $((t_collect - t_events)) s"
expect_eq "$(grep -c start-failed "$DWELL_SANDBOX/soak/driver.out")" 0 "every generator started"
ev_line=$(grep '^events ' "$DWELL_SANDBOX/soak/driver.out")
if [ -n "$ev_line" ]; then
        pass "$ev_line"
else
        fail "the event driver ran" "$(tail -n 20 "$DWELL_SANDBOX/soak/driver.err")"
fi
expect_match "$ev_line" ' stuck=0( |$)' "  ... no client had to be killed for hanging"
n_rec=$(sed -n 's/.* reconnect=\([0-9]*\).*/\1/p' <<<"$ev_line")
n_back=$(grep -c '^dwell: reconnected to ' "$DWELL_SANDBOX/soak/clients.err" || true)
n_lost=$(grep -c '^dwell: connection to .* lost; reconnecting (attempt 1,' "$DWELL_SANDBOX/soak/clients.err" || true)
# A client whose command had ended may have left before it noticed its ssh go.
# (Late in the run, after the generators ended, most receives finish before
# their ssh is killed: only some notice.)
if [ "${n_rec:-0}" -gt 0 ] && [ "$n_lost" -ge 1 ] && [ "$n_back" -eq "$n_lost" ]; then
        pass "  ... every client that lost its ssh reconnected by itself ($n_back of $n_lost; $n_rec ssh kills)"
else
        fail "  ... every client that lost its ssh reconnected by itself ($n_back of $n_lost; ${n_rec:-0} ssh kills)" \
                "$(sed "s/(attempt [0-9]*, [0-9]* s left)//" "$DWELL_SANDBOX/soak/clients.err" | sort | uniq -c | sort -rn | head -n 10)"
fi

# -- collect the rest, check every byte -------------------------------------------
# The generators' sha256s, from writer.py's own code, in one python.
"$PYTHON" - "$W" "$SOAK_SESSIONS" <<'PY' >"$DWELL_SANDBOX/soak/want"
import hashlib, runpy, sys
w, n = sys.argv[1], int(sys.argv[2])
class Out:
    def __init__(self):
        self.buffer = self
        self.h = hashlib.sha256()
    def write(self, b):
        self.h.update(b)
        return len(b)
    def flush(self):
        pass
real = sys.stdout
for i in range(n):
    out = Out()
    sys.argv, sys.stdout = [w, str(64 * 1024 + i * 4096)], out
    try:
        runpy.run_path(w)
    finally:
        sys.stdout = real
    print(out.h.hexdigest())
PY
bad=0 i=0
while read -r name; do
        as_user alice dwell receive "$name" >>"$DWELL_SANDBOX/soak/out$i" 2>>"$DWELL_SANDBOX/soak/final.err" ||
                echo "final receive $name: $?" >>"$DWELL_SANDBOX/soak/final.err"
        want=$(sed -n "$((i + 1))p" "$DWELL_SANDBOX/soak/want")
        got=$(sha256sum <"$DWELL_SANDBOX/soak/out$i" | cut -d' ' -f1)
        if [ "$want" != "$got" ]; then
                bad=$((bad + 1))
                echo "$name: $(stat -c %s "$DWELL_SANDBOX/soak/out$i") bytes, want $((64 * 1024 + i * 4096))" >>"$DWELL_SANDBOX/soak/final.err"
        fi
        i=$((i + 1))
done <"$DWELL_SANDBOX/soak/names"
if [ "$bad" -eq 0 ]; then
        pass "every byte of all $SOAK_SESSIONS commands received exactly once (sha256)"
else
        fail "every byte of every command received exactly once: $bad sessions differ" "$(tail -n 20 "$DWELL_SANDBOX/soak/final.err")"
fi

# -- back at the baseline ------------------------------------------------------------
wait_for "[ \$(pgrep -x dwell | wc -l) -eq 0 ] && [ \$(pgrep -x dwell-bridge | wc -l) -eq 0 ]" 20 || true
sleep 1
measure >"$DWELL_SANDBOX/soak/end"
val() { sed -n "s/^$2=//p" "$DWELL_SANDBOX/soak/$1"; }
for k in dwelld_fds hosts monitors hosts_fds pam_open clients bridges processes; do
        expect_eq "$(val end $k)" "$(val base $k)" "$k back at its baseline ($(val base $k))"
done
# Under AddressSanitizer (scripts/build-sanitized.sh) freed memory sits in
# its quarantine: RSS says nothing about leaks there (LeakSanitizer does).
asan=0
grep -q 'libasan' "/proc/$DWELLD_PID/maps" 2>/dev/null && asan=1
for k in dwelld_rss_kb hosts_rss_kb; do
        if [ "$asan" = 1 ]; then
                echo "# $k: $(val base $k) -> $(val end $k) KiB (not compared: AddressSanitizer's quarantine)"
                continue
        fi
        b=$(val base $k) e=$(val end $k)
        margin=$((b / 4 + 8192))
        if [ "$e" -le $((b + margin)) ]; then
                pass "$k within its baseline + 25% + 8 MiB ($b -> $e)"
        else
                fail "$k within its baseline + 25% + 8 MiB ($b -> $e)"
        fi
done

capture alice dwell remove --all
expect_rc 0 "every session removed"
wait_for "[ \$(pgrep -x dwell-host | wc -l) -le 1 ]" 30 || true
opened=$(grep -c '^open ' "$DWELL_LOG_DIR/pam-session.log" || true)
closed=$(grep -c '^close ' "$DWELL_LOG_DIR/pam-session.log" || true)
expect_eq "$closed" "$opened" "every PAM session opened was closed ($opened)"
took=$(( $(date +%s) - t_start ))
[ -n "${SOAK_KEEP:-}" ] && { rm -rf "$SOAK_KEEP"; cp -r "$DWELL_SANDBOX/soak" "$SOAK_KEEP"; cp "$DWELL_LOG_DIR"/*.log "$SOAK_KEEP/"; }
echo "# collecting and checks took $(( $(date +%s) - t_collect )) s"
[ "$took" -le "$SOAK_SECONDS" ] && pass "within $SOAK_SECONDS s ($took s)" || fail "within $SOAK_SECONDS s ($took s)"
