#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-lockout.sh — no user can lock everyone out of dwelld.
#
# dwelld runs with systemd's default soft fd limit (1024; the hard limit
# stays).  bob then holds 400 `dwell list --credential alice` clients
# sitting at their password prompt and 2000 raw connections to dwelld's
# socket (a python script, as bob, reopening any that dwelld closes, for
# as long as the test needs).  Meanwhile alice's `dwell list`, `new`,
# `invoke` and `remove` succeed, and so does root's `list`; bob's excess
# connections get a clear limit-exceeded error, and dwelld logs the
# refusals a few times, not once per connection.  When bob lets go,
# dwelld's open fds and child processes are back at their baseline, with
# no zombie among them.

. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=30}"
DLOG=$DWELL_LOG_DIR/dwelld.log

# A realistic fd limit for dwelld: what systemd gives a service.
stop_dwelld
( ulimit -S -n 1024; start_dwelld ) || fail "dwelld restarted with a soft fd limit of 1024"
DWELLD_PID=$(pgrep -x -P 1 dwelld | head -1)
[ -n "$DWELLD_PID" ] && pass "dwelld runs (pid $DWELLD_PID)" || fail "dwelld runs"
export DWELLD_PID

nfds() { ls "/proc/$DWELLD_PID/fd" 2>/dev/null | wc -l; }
children() { ps -o pid= --ppid "$DWELLD_PID" 2>/dev/null | wc -l; }
zombies() { ps -o stat= --ppid "$DWELLD_PID" 2>/dev/null | grep -c '^Z'; }

capture alice dwell list
expect_rc 0 "alice: dwell list (before)"
sleep 0.5
base_fds=$(nfds) base_children=$(children)
echo "# baseline: $base_fds fds, $base_children children"

# ------------------------------------------------------------ bob's load
attack=$DWELL_SANDBOX/attack
install -d -m 0777 "$attack"
cat > "$attack/attack.py" <<'PY'
import os, resource, selectors, socket, struct, subprocess, sys, time
sock_path, dwell, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
N_PROMPTS, N_CONNS, LIMIT_S = 400, 2000, 90
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
deadline = time.monotonic() + LIMIT_S
stop = os.path.join(outdir, "stop")

# 400 clients at their password prompt: stdin a pipe never written to.
procs = []
for i in range(N_PROMPTS):
    err = open(os.path.join(outdir, "prompt.err"), "ab")
    procs.append(subprocess.Popen([dwell, "list", "--credential", "alice"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=err, start_new_session=True))
    err.close()

sel = selectors.DefaultSelector()
socks = set()
stats = {"opened": 0, "closed_by_dwelld": 0, "limit_errors": 0, "connect_failed": 0}

def open_one():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(sock_path)
    except OSError:
        stats["connect_failed"] += 1
        s.close()
        return
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.add(s)
    stats["opened"] += 1

for i in range(N_CONNS):
    open_one()
open(os.path.join(outdir, "ready"), "w").write("%d\n" % len(socks))

# Hold them: whatever dwelld closes is opened again.
while not os.path.exists(stop) and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        # ERROR (type 200) with code 6, limit-exceeded (src/shared/proto.h)
        if len(data) >= 10 and struct.unpack_from("<IHBBH", data)[1] == 200 and \
                struct.unpack_from("<IHBBH", data)[4] == 6:
            stats["limit_errors"] += 1
        sel.unregister(s)
        socks.discard(s)
        s.close()
        stats["closed_by_dwelld"] += 1
    while len(socks) < N_CONNS and time.monotonic() < deadline and not os.path.exists(stop):
        before = stats["connect_failed"]
        open_one()
        if stats["connect_failed"] > before:
            break

for s in list(socks):
    s.close()
alive = sum(1 for p in procs if p.poll() is None)
for p in procs:
    if p.poll() is None:
        p.kill()
for p in procs:
    p.wait()
stats["prompts_still_waiting_at_end"] = alive
with open(os.path.join(outdir, "stats"), "w") as f:
    for k, v in stats.items():
        f.write("%s=%d\n" % (k, v))
PY
chmod 0644 "$attack/attack.py"
CMD_TIMEOUT=120 as_user bob setsid "$PYTHON" "$attack/attack.py" "$DWELL_SOCK" "$DWELL_BIN_DIR/dwell" "$attack" \
        >"$attack/out" 2>&1 &
track_pid $!
attack_pid=$!
if wait_for "[ -f '$attack/ready' ]" 60; then
        pass "bob holds $(cat "$attack/ready") connections and 400 credential prompts"
else
        fail "bob's load is in place" "$(cat "$attack/out")"
fi

# ------------------------------------------------------------ others get through
capture alice dwell list
expect_rc 0 "alice: dwell list while bob's load runs"
capture alice dwell new -n work
expect_rc 0 "alice: dwell new -n work"
capture alice dwell invoke work -- 'echo still-here'
expect_rc 0 "alice: dwell invoke work"
expect_eq "$OUT" still-here "  ... with its output"
capture alice dwell remove work
expect_rc 0 "alice: dwell remove work"
RC=0
OUT=$(timeout 20 "$DWELL_BIN_DIR/dwell" list --all-users 2>&1) || RC=$?
expect_rc 0 "root: dwell list --all-users"
capture bob dwell list
expect_rc 255 "bob's own excess request is refused"
expect_match "$ERR" 'dwell: dwelld serves at most [0-9]+ (connections|requests) per user' "  ... with a clear message"
dwell_json bob list
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" limit-exceeded "  ... limit-exceeded in --json"

touch "$attack/stop"
wait_for "[ -f '$attack/stats' ]" 30 || fail "bob's script ends" "$(cat "$attack/out")"
echo "# bob's script: $(tr '\n' ' ' < "$attack/stats" 2>/dev/null)"
limit_errors=$(sed -n 's/^limit_errors=//p' "$attack/stats")
[ "${limit_errors:-0}" -gt 0 ] && pass "bob's refused connections got limit-exceeded ($limit_errors)" ||
        fail "bob's refused connections got limit-exceeded" "$(cat "$attack/stats")"
refusals=$(grep -c 'Refused a connection of uid 2002' "$DLOG")
if [ "$refusals" -ge 1 ] && [ "$refusals" -le 12 ]; then
        pass "refusals are logged, rate-limited ($refusals messages)"
else
        fail "refusals are logged, rate-limited" "$refusals messages"
fi

# ------------------------------------------------------------ back to baseline
# bob's prompts' helpers end when their clients are gone; all reaped.
if wait_for "[ \$(nfds) -le $base_fds ] && [ \$(children) -le $base_children ] && [ \$(zombies) -eq 0 ]" 45; then
        pass "dwelld is back at its baseline: $(nfds) fds, $(children) children, no zombie"
else
        fail "dwelld is back at its baseline" "fds $(nfds) (baseline $base_fds)" \
                "children $(children) (baseline $base_children), zombies $(zombies)" \
                "$(ps -o pid,stat,args --ppid "$DWELLD_PID")"
fi
capture alice dwell list
expect_rc 0 "alice: dwell list (after)"
