#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-kill-receiver.sh — a receiver killed with SIGKILL mid-stream loses and
# repeats nothing:
#   - `invoke -d -n big` runs a writer of 6 MiB of known data (block mode,
#     the default 4 MiB buffer: the buffer fills, the writer waits);
#   - three times, `dwell receive big >> FILE` is killed with SIGKILL once
#     FILE has grown past 1, 2.5 and 4 MiB (the file size is polled every
#     0.5 ms, so the kill lands mid-stream), and each time the session is
#     Disconnected/None again right after;
#   - a last `receive big >> FILE` exits 0; FILE is then exactly the
#     writer's output (size and sha256): no byte missing, none repeated.

. "$(dirname "$0")/lib.sh"

total=$((6 * 1024 * 1024))
gen=/tmp/gen.py
data_writer "$gen"
expected=$("$PYTHON" "$gen" "$total" | sha256sum | cut -d' ' -f1)

capture alice dwell invoke -d -n big -- "python3 $gen $total"
expect_rc 0 "invoke -d -n big -- (6 MiB writer)"
# Let the buffer fill: the writer then waits for a receiver.
wait_for "[ \"\$(as_user alice dwell --json list big | grep -o '\"buffered\": [0-9]*' | grep -o '[0-9]*$')\" -ge $((3 * 1024 * 1024)) ]" 10 ||
        fail "the session's buffer holds at least 3 MiB within 10 s" "$(as_user alice dwell list -l big 2>&1)"

recv=$DWELL_SANDBOX/received
: >"$recv"
chmod 0666 "$recv"

# kill_at BYTES: runs `dwell receive big` as alice appending to $recv and
# sends it SIGKILL as soon as $recv holds at least BYTES bytes; prints
# "killed SIZE" (SIZE: the file's size once the receiver is dead), or
# "exited RC SIZE" if it ended first, or "timeout".
kill_at() {
        "$PYTHON" - "$recv" "$1" "$DWELL_BIN_DIR/dwell" <<'PY'
import os, signal, subprocess, sys, time
path, limit, dwell = sys.argv[1], int(sys.argv[2]), sys.argv[3]
env = {"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice",
       "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
with open(path, "ab") as out, open(path + ".err", "ab") as err:
    # setpriv and env exec: the child's pid ends up being dwell's.
    p = subprocess.Popen(["setpriv", "--reuid", "alice", "--regid", "alice", "--init-groups",
                          "--reset-env", "env"] + ["%s=%s" % kv for kv in env.items()] +
                         [dwell, "receive", "big"],
                         stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd="/home/alice")
    deadline = time.time() + 10
    while time.time() < deadline:
        rc = p.poll()
        if rc is not None:
            print("exited %d %d" % (rc, os.path.getsize(path)))
            sys.exit(0)
        if os.path.getsize(path) >= limit:
            p.send_signal(signal.SIGKILL)
            p.wait()
            print("killed %d" % os.path.getsize(path))
            sys.exit(0)
        time.sleep(0.0005)
    p.kill()
    p.wait()
    print("timeout")
PY
}

for limit in $((1024 * 1024)) $((5 * 512 * 1024)) $((4 * 1024 * 1024)); do
        res=$(kill_at "$limit")
        case "$res" in
        killed*)
                size=${res#killed }
                if [ "$size" -lt "$total" ]; then
                        pass "receive killed with SIGKILL mid-stream at $size bytes (past $limit)"
                else
                        fail "receive killed with SIGKILL mid-stream" "it had already written everything: $size"
                fi;;
        *)
                fail "receive killed with SIGKILL mid-stream (past $limit bytes)" "$res" \
                        "stderr: $(cat "$recv.err")";;
        esac
        capture alice dwell list big
        expect_match "$OUT" '^[0-9]+ +big +[^ ]+ +Disconnected +[^ ]+ +None$' "  ... big is Disconnected/None right after"
done

rc=0
as_user alice dwell receive big >>"$recv" 2>>"$recv.err" || rc=$?
expect_eq "$rc" 0 "the last receive exits 0"
expect_eq "$(stat -c %s "$recv")" "$total" "all receives together: exactly $total bytes"
expect_eq "$(sha256sum <"$recv" | cut -d' ' -f1)" "$expected" \
        "  ... the writer's output (sha256): no byte missing, none repeated"
if [ "$(sha256sum <"$recv" | cut -d' ' -f1)" != "$expected" ]; then
        cmp "$recv" <("$PYTHON" "$gen" "$total") 2>&1 | _diag
fi
expect_eq "$(cat "$recv.err")" "" "no receive printed anything on stderr"

capture alice dwell remove big
expect_rc 0 "remove big"
