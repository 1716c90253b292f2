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
#   SOAK_SESSIONS, SOAK_EVENTS, SOAK_SECONDS, SOAK_PARALLEL override.
#
# Every session runs a deterministic generator (writer.py: numbered 16-byte
# lines, session i writes 64 KiB + i * 4 KiB, spread over 60% of the time),
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
else
        : "${SOAK_SESSIONS:=20}" "${SOAK_EVENTS:=300}" "${SOAK_SECONDS:=60}" "${SOAK_PARALLEL:=12}"
fi
: "${CMD_TIMEOUT:=120}"
t_start=$(date +%s)

SSHD_EXTRA="MaxStartups 400" sshd_start soak 127.0.0.1 2222 || exit 1
ssh_user_key alice soak
ssh_client_config alice /home/alice/.ssh/cfg soak
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
budget=$((SOAK_SECONDS - ($(date +%s) - t_start) - 5))
"$PYTHON" - "$DWELL_SANDBOX/soak" "$W" "$DWELL_BIN_DIR/dwell" "$SOAK_SESSIONS" "$SOAK_EVENTS" "$budget" \
        "$SOAK_PARALLEL" <<'PY' >"$DWELL_SANDBOX/soak/driver.out" 2>"$DWELL_SANDBOX/soak/driver.err"
import os, random, signal, subprocess, sys, time
d, writer, dwell = sys.argv[1:4]
n, events, budget, parallel = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
random.seed(16)
HOST = "alice@127.0.0.1:2222"
ENV = ["HOME=/home/alice", "USER=alice", "LOGNAME=alice", "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
       "DWELL_SSH=ssh -F /home/alice/.ssh/cfg", "DWELL_SSH_SHARE=0"]
def as_alice(args, **kw):
    return subprocess.Popen(["setpriv", "--reuid", "alice", "--regid", "alice", "--init-groups", "--reset-env",
                             "env"] + ENV + args, cwd="/home/alice", **kw)
log = open(os.path.join(d, "clients.err"), "ab")
def size(i): return 64 * 1024 + i * 4096
stream_time = max(budget * 0.6, 5)
# Start every generator (invoke -d), spread over 60% of the budget.
for i in range(n):
    writes = (size(i) + 4095) // 4096
    prog = os.path.join(d, "p%d" % i)
    open(prog, "w").close(); os.chmod(prog, 0o666)
    cmd = "python3 %s %d %s %.4f" % (writer, size(i), prog, stream_time / writes)
    p = as_alice([dwell, "invoke", "-d", "soak%d" % i, "--", cmd], stdout=subprocess.DEVNULL, stderr=log)
    if p.wait(30) != 0:
        print("start-failed soak%d" % i)
outs = [open(os.path.join(d, "out%d" % i), "ab") for i in range(n)]
counts = {"kill": 0, "disconnect": 0, "reconnect": 0, "finish": 0, "refused": 0, "stuck": 0}
busy = set()
active = []           # [session, kind, proc, phase, t_next]
t0 = time.time()
deadline = t0 + budget * 0.75
done = 0
def children(pid, name):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid), "-x", name], capture_output=True, text=True).stdout.split()
        return [int(x) for x in out]
    except Exception:
        return []
def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
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
        args = [dwell] + (["-H", HOST] if remote else []) + ["receive", "soak%d" % i]
        if kind == "finish":
            args.append("--no-wait")
        err = open(os.path.join(d, "err%d" % i), "w+b")
        p = as_alice(args, stdout=outs[i], stderr=err)
        p.err = err
        busy.add(i)
        active.append([i, kind, p, 0, now + random.uniform(0.05, 1.0), os.fstat(outs[i].fileno()).st_size, now + 3])
    for ev in list(active):
        i, kind, p, phase, t_next = ev[:5]
        if p.poll() is not None:
            p.err.seek(0); log.write(p.err.read()); p.err.close()
            if p.returncode != 0 and phase == 0 and kind != "finish":
                counts["refused"] += 1      # ended before we acted (busy, or its output was all there)
            counts[kind] += 1
            active.remove(ev); busy.discard(i); done += 1
            continue
        if now < t_next and not (phase == 1 and kind == "reconnect"):
            continue
        if phase == 0 and kind == "kill":
            kill(p.pid)
        elif phase == 0 and kind == "disconnect":
            as_alice([dwell, "disconnect", "soak%d" % i], stdout=subprocess.DEVNULL, stderr=log).wait(30)
        elif phase == 0 and kind == "reconnect":
            # Only a client that is attached (its output grew) reconnects:
            # the first request is not retried.  Waits at most 3 s for that.
            grown = os.fstat(outs[i].fileno()).st_size > ev[5]
            if not grown and now < ev[6]:
                continue
            if not grown:
                kill(p.pid); ev[1] = "kill"; ev[3] = 1; ev[4] = now + 15
                continue
            for s in children(p.pid, "ssh"):
                kill(s)
            ev[4] = now + 10; ev[3] = 1
            continue
        elif phase == 1 and kind == "reconnect":
            # Once it says it is back (or after 10 s): killed or disconnected.
            p.err.seek(0)
            if b"reconnected to" not in p.err.read() and now < t_next:
                continue
            if random.random() < 0.5:
                kill(p.pid)
            else:
                as_alice([dwell, "disconnect", "soak%d" % i], stdout=subprocess.DEVNULL, stderr=log).wait(30)
        elif phase >= 1 and now > t_next + 15:
            kill(p.pid); counts["stuck"] += 1
        ev[3] = phase + 1
        ev[4] = now + (15 if phase >= 1 else 0.5)
    time.sleep(0.01)
print("events %d in %.1f s: %s" % (done, time.time() - t0, " ".join("%s=%d" % kv for kv in sorted(counts.items()))))
PY
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
bad=0 i=0
while read -r name; do
        as_user alice dwell receive "$name" >>"$DWELL_SANDBOX/soak/out$i" 2>>"$DWELL_SANDBOX/soak/final.err" ||
                echo "final receive $name: $?" >>"$DWELL_SANDBOX/soak/final.err"
        want=$("$PYTHON" "$W" $((64 * 1024 + i * 4096)) | sha256sum | cut -d' ' -f1)
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
[ "$took" -le "$SOAK_SECONDS" ] && pass "within $SOAK_SECONDS s ($took s)" || fail "within $SOAK_SECONDS s ($took s)"
