#!/bin/bash
# SPDX-License-Identifier: ISC
#
# tests/bench-smoke.sh — CI smoke test of the benchmark harness (issue 6):
# runs `scripts/bench.sh --quick` into a scratch directory (the committed
# bench/RESULTS.md is not touched) and checks that every case ran and
# produced numbers: every case of every group has a time in every round,
# every tool has memory and creation figures at every N, `dwell list` was
# timed, every goal but the remote one has a measured value, no errors were
# recorded, and the report, the JSON and the plot exist. It does not check
# how fast anything is. Prints TAP; exit 0 pass, 1 fail, 77 skip (not root,
# no namespaces). Environment: BENCH_SMOKE_INSTALL=1 lets bench.sh install
# missing packages (default: --no-install-check); BENCH_SMOKE_REMOTE=1 also
# runs bench/remote.sh.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then echo "1..0 # SKIP needs root"; exit 77; fi
if ! unshare --mount --pid --fork --uts true 2>/dev/null; then
        echo "1..0 # SKIP cannot create namespaces"; exit 77
fi
if [ "${BENCH_SMOKE_INSTALL:-0}" != 1 ]; then
        for c in tmux screen dtach gnuplot python3; do
                command -v "$c" >/dev/null || {
                        echo "1..0 # SKIP $c not installed (BENCH_SMOKE_INSTALL=1 installs the benchmark's packages)"
                        exit 77
                }
        done
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=(--quick --outdir "$out")
[ "${BENCH_SMOKE_INSTALL:-0}" = 1 ] || args+=(--no-install-check)
[ "${BENCH_SMOKE_REMOTE:-0}" = 1 ] || args+=(--no-remote)

rc=0
timeout -k 10 300 "$top/scripts/bench.sh" "${args[@]}" >"$out/bench.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
        echo "not ok 1 - scripts/bench.sh ${args[*]} exits 0 (exit $rc)"
        sed 's/^/# /' "$out/bench.log" | tail -n 40
        echo "1..1"
        exit 1
fi
echo "ok 1 - scripts/bench.sh ${args[*]} exits 0"

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
n = 1
failed = 0
def check(cond, what, diag=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))
    if not cond:
        failed += 1
        for line in str(diag).splitlines()[:20]:
            print("# " + line)
for f in ("RESULTS.md", "results.json", "scaling.png"):
    p = os.path.join(out, f)
    check(os.path.exists(p) and os.path.getsize(p) > 0, "%s written" % f)
R = json.load(open(os.path.join(out, "results.json")))
check(not R.get("errors"), "no errors recorded", "\n".join(R.get("errors") or []))
want = {
    "create": ["true", "dwell new", "dtach -n", "tmux new-session -d", "screen -dmS"],
    "invoke": ["true", "dwell invoke", "dtach -p", "screen -X stuff", "tmux send-keys + wait-for"],
    "throughput": ["pipe", "pipe to file", "dwell invoke > /dev/null", "dwell invoke > file",
                   "dwell drop, then receive", "dwell block, drained by receive"],
    "pty_throughput": ["pipe", "dwell invoke > /dev/null", "dtach -N (no client)",
                       "tmux (detached window)", "screen -D -m"],
    "replay": ["cat", "dwell receive", "tmux capture-pane -p -S -"],
}
rounds = {"create": "rounds_create", "invoke": "rounds_invoke", "throughput": "rounds_tput",
          "pty_throughput": "rounds_pty", "replay": "rounds_replay"}
for g, cases in want.items():
    got = R["cases"].get(g, {})
    for c in cases:
        t = (got.get(c) or {}).get("time")
        ok = bool(t) and t["n"] == R["params"][rounds[g]] and t["median"] > 0
        check(ok, "%s / %s: a time in every round" % (g, c), json.dumps(got.get(c)))
sc = R.get("scaling") or {}
for tool in ("dwell", "dtach", "tmux", "screen"):
    for N in R["params"]["scale_n"]:
        rec = [r for r in sc.get(tool, []) if r["n"] == N]
        ok = bool(rec) and rec[0]["create_s"] > 0 and rec[0]["pss_per_session_kib"] > 0
        check(ok, "scaling %s N=%d: creation time and PSS per session" % (tool, N), json.dumps(rec))
        if tool == "dwell" and rec:
            check(rec[0].get("list_rows") == N and len(rec[0].get("list_s", [])) > 0,
                  "  ... dwell list timed, %d rows" % N, json.dumps(rec[0].get("list_rows")))
            check(rec[0].get("workers") == N and rec[0].get("monitors") == N,
                  "  ... one worker and one monitor per session", json.dumps(rec[0]))
check((R.get("idle_bash_pss_kib") or 0) > 0, "idle bash PSS measured")
for gl in R["goals"]:
    if gl["metric"].startswith("remote"):
        continue
    check(gl["measured"] is not None and gl["met"] in (True, False), "goal evaluated: %s" % gl["metric"],
          json.dumps(gl))
print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
