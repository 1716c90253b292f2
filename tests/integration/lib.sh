# SPDX-License-Identifier: ISC
# shellcheck shell=bash
#
# lib.sh — helpers for the integration tests (sourced by tests/integration/t-*.sh,
# which ns-run.sh runs as root inside the sandbox).
#
# Output is TAP: every check prints "ok N - what" or "not ok N - what" (with
# "# " diagnostics), and the plan "1..N" at the end. The script exits 1 if any
# check failed; on failure the tail of dwelld's log is shown.
#
#   as_user USER CMD...       run CMD as USER (setpriv, no PAM of its own),
#                             with HOME/USER/LOGNAME/PATH and
#                             DWELL_PROTO_VERSION (the wire protocol's
#                             version, from src/shared/proto.h) set and
#                             `dwell` on PATH; bounded by $CMD_TIMEOUT seconds
#   capture USER CMD...       as as_user, sets OUT, ERR (stdout, stderr) and RC
#   dwell_json USER ARGS...   capture USER dwell --json ARGS...
#   json_len JSON             number of elements of a JSON array (or "invalid")
#   pass DESC / fail DESC [DIAG...]
#   expect_eq ACTUAL EXPECTED DESC
#   expect_rc EXPECTED DESC   checks $RC of the last capture (shows its output if not)
#   expect_match TEXT ERE DESC    (ERE matched against any line of TEXT)
#   expect_no_match TEXT ERE DESC
#   expect_fail DESC CMD...   CMD must exit non-zero (its status in $RC)
#   wait_for 'COND' TIMEOUT   evaluates the shell condition every 0.1 s for at
#                             most TIMEOUT seconds; non-zero on timeout
#   track_pid PID             killed (TERM, then KILL) when the test exits
#   json_eval JSON EXPR       prints the Python expression EXPR evaluated with
#                             d = the parsed JSON (non-zero if not JSON)
#   daemon_log [N]            the last N lines of dwelld's log, as diagnostics
#   pam_log                   the PAM session log ("open alice", "close alice")
#   data_writer PATH          installs (world-readable) a python3 script at PATH:
#                             `python3 PATH BYTES [PROGRESS-FILE [DELAY]]` writes
#                             BYTES bytes of known data to stdout (16-byte lines
#                             "%015d\n" numbering them, the last one possibly
#                             cut short) in 4 KiB writes, each followed by the
#                             byte count so far written to PROGRESS-FILE and a
#                             sleep of DELAY seconds (default 0)
#   connect_bg USER SESSION OUT ERR
#                             starts `dwell connect SESSION` as USER in the
#                             background, its stdin a fifo the test holds
#                             open (fd $CONNECT_FD), stdout/stderr in
#                             OUT/ERR; sets CONNECT_PID (tracked). Opening
#                             the fifo waits for the client, bounded by its
#                             own time limit ($CMD_TIMEOUT s)
#   connect_send LINE         a line to that client's stdin (harmless if the
#                             client is gone)
#   connect_close             closes the test's end: the client reads EOF
#   stop_dwelld [SIGNAL]      sends SIGNAL (default TERM) to $DWELLD_PID and
#                             waits (at most 10 s) until it is gone
#   start_dwelld              starts a new dwelld the way ns-run.sh does (log
#                             appended to dwelld.log), sets and exports
#                             DWELLD_PID (and writes it to
#                             $DWELL_SANDBOX/dwelld.pid, where ns-run.sh
#                             finds the dwelld to stop at the end), and waits
#                             (at most 10 s) until it answers on $DWELL_SOCK;
#                             non-zero if it does not
#   restart_dwelld [SIGNAL]   stop_dwelld SIGNAL, then start_dwelld

set -u

: "${DWELL_SANDBOX:?lib.sh: run this test through tests/integration/ns-run.sh}"
# The wire protocol's version, for tests that write frames themselves
# (given to as_user's commands too): from the sources, never a copy.
DWELL_PROTO_VERSION=$(sed -n 's/^#define PROTO_VERSION \([0-9]*\).*/\1/p' "$top_srcdir/src/shared/proto.h")
: "${DWELL_PROTO_VERSION:?lib.sh: no PROTO_VERSION in src/shared/proto.h}"
export DWELL_PROTO_VERSION
: "${DWELL_LOG_DIR:=$DWELL_SANDBOX/log}"
: "${DWELL_BIN_DIR:=$DWELL_SANDBOX/bin}"
: "${CMD_TIMEOUT:=30}"
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

_tap_n=0
_tap_failed=0
_tracked_pids=()
OUT='' ERR='' RC=0

_diag() {
        # Prefix every line with "# ".
        sed 's/^/# /'
}

pass() {
        _tap_n=$((_tap_n + 1))
        echo "ok $_tap_n - $1"
}

fail() {
        _tap_n=$((_tap_n + 1))
        _tap_failed=$((_tap_failed + 1))
        echo "not ok $_tap_n - $1"
        shift
        if [ $# -gt 0 ]; then
                printf '%s\n' "$@" | _diag
        fi
        return 0
}

# Prints the context of the last capture, for diagnostics.
_last() {
        printf 'rc=%s\nstdout: %s\nstderr: %s\n' "$RC" "$OUT" "$ERR"
}

expect_eq() {
        if [ "$1" = "$2" ]; then
                pass "$3"
        else
                fail "$3" "expected: '$2'" "got:      '$1'"
        fi
}

expect_rc() {
        if [ "$RC" = "$1" ]; then
                pass "$2"
        else
                fail "$2" "expected exit status $1" "$(_last)"
        fi
}

expect_match() {
        if printf '%s\n' "$1" | grep -Eq -- "$2"; then
                pass "$3"
        else
                fail "$3" "expected a line matching: $2" "in: $1"
        fi
}

expect_no_match() {
        if printf '%s\n' "$1" | grep -Eq -- "$2"; then
                fail "$3" "unexpected line matching: $2" "in: $1"
        else
                pass "$3"
        fi
}

expect_fail() {
        local desc=$1
        shift
        RC=0
        "$@" >/dev/null 2>&1 || RC=$?
        if [ "$RC" -ne 0 ]; then
                pass "$desc"
        else
                fail "$desc" "command succeeded: $*"
        fi
}

wait_for() {
        local cond=$1 timeout=${2:-10} i n
        n=$(( ${timeout%.*} * 10 ))
        [ "$n" -gt 0 ] || n=1
        for ((i = 0; i < n; i++)); do
                if eval "$cond"; then
                        return 0
                fi
                sleep 0.1
        done
        eval "$cond"
}

as_user() {
        local user=$1 home
        shift
        home=$(getent passwd "$user" | cut -d: -f6) || {
                echo "as_user: no such user $user" >&2
                return 127
        }
        (cd "$home" 2>/dev/null || cd /
         exec timeout -k 5 "$CMD_TIMEOUT" \
                setpriv --reuid "$user" --regid "$user" --init-groups --reset-env \
                env HOME="$home" USER="$user" LOGNAME="$user" \
                PATH="$DWELL_BIN_DIR:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 \
                DWELL_PROTO_VERSION="$DWELL_PROTO_VERSION" \
                "$@")
}

capture() {
        local f
        f=$(mktemp -d "$DWELL_SANDBOX/capture.XXXXXX")
        RC=0
        as_user "$@" >"$f/out" 2>"$f/err" </dev/null || RC=$?
        OUT=$(cat "$f/out")
        ERR=$(cat "$f/err")
        rm -rf "$f"
        return 0
}

track_pid() {
        _tracked_pids+=("$1")
}

connect_bg() {
        local fifo
        fifo=$(mktemp -u "$DWELL_SANDBOX/connect.XXXXXX")
        mkfifo -m 0644 "$fifo"
        : >"$3"
        as_user "$1" dwell connect "$2" <"$fifo" >"$3" 2>"$4" &
        CONNECT_PID=$!
        track_pid "$CONNECT_PID"
        exec {CONNECT_FD}>"$fifo"
}
connect_send() {
        ( trap '' PIPE; printf '%s\n' "$1" >&"$CONNECT_FD" ) 2>/dev/null || true
}
connect_close() {
        [ -n "${CONNECT_FD:-}" ] && exec {CONNECT_FD}>&-
        CONNECT_FD=
}

json_eval() {
        printf '%s' "$1" | "$PYTHON" -c '
import json, sys
try:
    d = json.load(sys.stdin)
    r = eval(sys.argv[1])
except Exception as e:
    print("(%s: %s)" % (type(e).__name__, e))
    sys.exit(1)
print(json.dumps(r) if not isinstance(r, str) else r)
' "$2"
}

dwell_json() {
        local user=$1
        shift
        capture "$user" dwell --json "$@"
}

json_len() {
        json_eval "$1" 'len(d) if isinstance(d, list) else "not-a-list"' 2>/dev/null || echo invalid
}

# The names of the sessions in a `dwell --json list` output, one per line.
json_names() {
        json_eval "$1" '"\n".join(sorted(s["name"] for s in d))' 2>/dev/null || echo "(invalid JSON: $1)"
}

daemon_log() {
        local n=${1:-40}
        echo "--- last $n lines of dwelld's log ---"
        tail -n "$n" "$DWELL_LOG_DIR/dwelld.log" 2>/dev/null || echo "(no log)"
}

pam_log() {
        cat "$DWELL_LOG_DIR/pam-session.log" 2>/dev/null
}

data_writer() {
        cat >"$1" <<'PY'
import os, sys, time
total = int(sys.argv[1])
progress = open(sys.argv[2], "w") if len(sys.argv) > 2 else None
delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0
out = sys.stdout.buffer
done = 0
while done < total:
    n = min(4096, total - done)
    first = done // 16
    data = b"".join(b"%015d\n" % (first + i) for i in range(256))[done % 16:done % 16 + n]
    out.write(data)
    out.flush()
    done += n
    if progress:
        progress.seek(0)
        progress.write("%d\n" % done)
        progress.truncate()
        progress.flush()
    if delay:
        time.sleep(delay)
PY
        chmod 0644 "$1"
}

# True while PID exists and is not a zombie.
_pid_alive() {
        local state
        kill -0 "$1" 2>/dev/null || return 1
        state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
        [ "$state" != Z ]
}

stop_dwelld() {
        local sig=${1:-TERM} i
        [ -n "${DWELLD_PID:-}" ] || return 0
        kill -"$sig" "$DWELLD_PID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
                _pid_alive "$DWELLD_PID" || return 0
                sleep 0.1
        done
        echo "stop_dwelld: dwelld (pid $DWELLD_PID) still runs 10 s after SIG$sig" >&2
        return 1
}

start_dwelld() {
        local bin=$top_builddir/src/dwelld/dwelld i
        # The same command line as ns-run.sh's.
        "$bin" --socket "${DWELL_SOCK:-/run/dwell/dwelld.sock}" \
                --config-dir "$DWELL_TEST_CONFIG_DIR" \
                2>>"$DWELL_LOG_DIR/dwelld.log" </dev/null >&2 &
        DWELLD_PID=$!
        export DWELLD_PID
        echo "$DWELLD_PID" >"$DWELL_SANDBOX/dwelld.pid"
        # A stale socket file may still be there: wait until it answers.
        for ((i = 0; i < 100; i++)); do
                if timeout 5 "$DWELL_BIN_DIR/dwell" list >/dev/null 2>&1; then
                        return 0
                fi
                _pid_alive "$DWELLD_PID" || break
                sleep 0.1
        done
        echo "start_dwelld: dwelld (pid $DWELLD_PID) does not answer on ${DWELL_SOCK:-/run/dwell/dwelld.sock}" >&2
        return 1
}

restart_dwelld() {
        stop_dwelld "${1:-TERM}" && start_dwelld
}

_lib_exit() {
        local rc=$? pid i
        set +e
        for pid in "${_tracked_pids[@]}"; do
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in "${_tracked_pids[@]}"; do
                for ((i = 0; i < 30; i++)); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null
        done
        if [ -n "${DWELLD_PID:-}" ]; then
                if kill -0 "$DWELLD_PID" 2>/dev/null; then
                        pass "dwelld is still running at the end"
                else
                        fail "dwelld is still running at the end" "dwelld (pid $DWELLD_PID) is gone"
                fi
        fi
        if [ "$rc" -ne 0 ] && [ "$_tap_failed" -eq 0 ]; then
                fail "test script ended normally" "exit status $rc"
        fi
        echo "1..$_tap_n"
        if [ "$_tap_failed" -gt 0 ]; then
                daemon_log 40 | _diag
                echo "# $_tap_failed of $_tap_n checks failed"
                exit 1
        fi
        exit 0
}
trap _lib_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
