#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/profile.sh — where dwell's time and memory go, for the goals the
# benchmark reports as not met. Root, after scripts/bench.sh has built
# bench/build/head (or set top_builddir):
#
#   bench/profile.sh > bench/build/profile.txt
#
# Runs itself in the integration tests' sandbox (like bench/inside.sh) and
# prints, as plain text:
#   1. memory: per-mapping PSS of one session's monitor and worker
#      (/proc/PID/smaps), largest first, and the number of mapped files;
#   2. `dwell new`: a timeline of one request (perf tracepoints: forks,
#      execs, exits, connects, sendmsg, setresuid, close_range of the client,
#      dwelld and the host), and a system-wide perf profile (cpu-clock) of 40
#      sessions created one after another, by process and DSO;
#   3. output: perf profile of `dwell invoke S -- 'head -c 512M /dev/zero'`
#      by process and symbol, the callers of the copies (DWARF call graphs),
#      and the syscall counts and sizes of the worker and the client for
#      64 MiB (strace -c / -e);
#   4. replay: perf profile of 20 `receive` of 4 MiB.
# perf needs only software events (cpu-clock), which VMs provide; strace
# must be installed. Nothing is left running: the sandbox's pid namespace
# ends with the script.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
if [ -z "${DWELL_SANDBOX:-}" ]; then
        [ "$(id -u)" -eq 0 ] || { echo "bench/profile.sh: run as root" >&2; exit 1; }
        command -v perf >/dev/null && command -v strace >/dev/null ||
                { echo "bench/profile.sh: needs perf and strace" >&2; exit 1; }
        b=${top_builddir:-$top/bench/build/head}
        top_srcdir=$b top_builddir=$b exec "$top/tests/integration/ns-run.sh" "$here/profile.sh" "$@"
fi

# ------------------------------------------------------------------ inside
if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts 2>/dev/null; then
        mount --bind /dev/pts/ptmx /dev/ptmx
fi
P=/tmp/prof
mkdir -p "$P"
# As bench/inside.sh: the project's PAM stack, without the sandbox's test hooks.
sed -i '/^# dwell test sandbox hooks/,$d' "$DWELL_SANDBOX/etc/pam.d/dwell"
chmod 0777 "$P"
as_alice() {
        (cd /home/alice && setpriv --reuid alice --regid alice --init-groups --reset-env \
                env HOME=/home/alice USER=alice LOGNAME=alice LANG=C.UTF-8 \
                PATH="$DWELL_BIN_DIR:/usr/local/bin:/usr/bin:/bin" "$@")
}
perf_top() {        # perf_top DATA SORT N
        perf report -i "$1" --stdio --no-children --sort "$2" 2>/dev/null |
                grep -E '^ +[0-9.]+%' | head -n "$3"
}
section() { printf '\n==== %s ====\n' "$*"; }

# -- 1. memory --------------------------------------------------------------
section "1. memory of one idle session (20 sessions exist)"
for i in $(seq 1 20); do as_alice dwell new -n m$i >/dev/null; done
sleep 1
shell=$(pgrep -u alice -x bash | head -n 1)
worker=$(ps -o ppid= -p "$shell" | tr -d ' ')
monitor=$(ps -o ppid= -p "$worker" | tr -d ' ')
for who in monitor:$monitor worker:$worker shell:$shell dwelld:$DWELLD_PID; do
        name=${who%%:*} pid=${who#*:}
        printf -- '-- %s (pid %s): ' "$name" "$pid"
        grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Private_Clean|Private_Dirty|Shared_Clean):' \
                "/proc/$pid/smaps_rollup" | awk '{printf "%s %s kB  ", $1, $2}'
        echo
        printf '   mapped files: %s\n' "$(awk '$6 ~ /^\// {print $6}' "/proc/$pid/maps" | sort -u | wc -l)"
        awk '
                /^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6); next }
                /^Pss:/ { pss[name] += $2 }
                /^Private_Dirty:/ { pd[name] += $2 }
                END { for (n in pss) printf "   %6d kB PSS %6d kB private dirty  %s\n", pss[n], pd[n], n }
        ' "/proc/$pid/smaps" | sort -rn | head -n 14
done
as_alice dwell remove --all >/dev/null
sleep 1

# -- 2. dwell new -----------------------------------------------------------
section "2a. dwell new, three times: timeline from the client's exec (perf tracepoints, no strace overhead)"
for k in 1 2 3; do
        perf record -q -a -o "$P/new-tl.data" \
                -e sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit \
                -e syscalls:sys_enter_sendmsg,syscalls:sys_enter_close_range,syscalls:sys_enter_connect \
                -e syscalls:sys_enter_setresuid,syscalls:sys_enter_execve \
                -- setpriv --reuid alice --regid alice --init-groups --reset-env \
                env PATH="$DWELL_BIN_DIR:/usr/bin:/bin" HOME=/home/alice dwell new -n tl$k >/dev/null 2>&1
        echo "-- run $k"
        perf script -i "$P/new-tl.data" -F comm,pid,time,event,trace 2>/dev/null |
                awk '/sched_process_exec.*dwell pid/ && !t0 { split($3, a, ":"); t0 = a[1] }
                     t0 { split($3, a, ":"); $3 = sprintf("+%7.3fms", (a[1] - t0) * 1000); print }' |
                grep -v '^perf' | sed -E 's/(uservaddr|msg|argv|envp): 0x[0-9a-f]+,? ?//g' | cut -c1-150 | head -n 45
done
as_alice dwell remove tl1 tl2 tl3 >/dev/null

section "2b. dwell new x40: where the CPU goes (perf, all processes), by command and DSO"
perf record -a -g -e cpu-clock -o "$P/new.data" -- \
        setpriv --reuid alice --regid alice --init-groups --reset-env \
        env PATH="$DWELL_BIN_DIR:/usr/bin:/bin" HOME=/home/alice \
        sh -c 'for i in $(seq 1 40); do dwell new -n p$i >/dev/null; done' 2>/dev/null
perf_top "$P/new.data" comm 12
echo "-- by command, DSO:"
perf_top "$P/new.data" comm,dso 25
echo "-- by symbol (top 25):"
perf_top "$P/new.data" comm,dso,sym 25
as_alice dwell remove --all >/dev/null
sleep 1

# -- 3. output path ---------------------------------------------------------
section "3a. dwell invoke S -- 'head -c 512M /dev/zero' > /dev/null: perf by command, symbol"
as_alice dwell new -n tp >/dev/null
perf record -a -g -e cpu-clock -o "$P/out.data" -- \
        setpriv --reuid alice --regid alice --init-groups --reset-env \
        env PATH="$DWELL_BIN_DIR:/usr/bin:/bin" HOME=/home/alice \
        dwell invoke tp -- 'head -c 536870912 /dev/zero' >/dev/null 2>&1
perf_top "$P/out.data" comm 8
echo "-- by command, DSO, symbol (top 30):"
perf_top "$P/out.data" comm,dso,sym 30

section "3c. who copies in the worker: callers of memmove/memcpy (perf --call-graph dwarf, 128 MiB)"
perf record -a --call-graph dwarf,16384 -e cpu-clock -F 2000 -o "$P/out2.data" -- \
        setpriv --reuid alice --regid alice --init-groups --reset-env \
        env PATH="$DWELL_BIN_DIR:/usr/bin:/bin" HOME=/home/alice \
        dwell invoke tp -- 'head -c 134217728 /dev/zero' >/dev/null 2>&1
perf report -i "$P/out2.data" --stdio --no-children --comm dwell-host --sort sym \
        -g caller,0.5,callee,function,percent --percent-limit 3 2>/dev/null |
        grep -vE '^$|^#' | cut -c1-140 | head -n 70
echo "-- the client (dwell):"
perf report -i "$P/out2.data" --stdio --no-children --comm dwell --sort sym \
        -g caller,0.5,callee,function,percent --percent-limit 3 2>/dev/null |
        grep -vE '^$|^#' | cut -c1-140 | head -n 40

section "3b. syscalls for 64 MiB: the worker (strace -c -p) and the client (strace -c)"
shell=$(pgrep -u alice -x bash | head -n 1)
worker=$(ps -o ppid= -p "$shell" | tr -d ' ')
strace -f -c -p "$worker" -o "$P/worker.c" &
st=$!
sleep 0.5
as_alice strace -c -o "$P/client.c" dwell invoke tp -- 'head -c 67108864 /dev/zero' >/dev/null
sleep 0.3
kill -INT "$st"; wait "$st" 2>/dev/null || true
echo "-- worker (and the shell, head):"; head -n 16 "$P/worker.c"
echo "-- client:"; head -n 14 "$P/client.c"
echo "-- read/write sizes of the worker for 8 MiB:"
strace -p "$worker" -e trace=read,write,sendmsg,recvmsg,writev,readv,splice -o "$P/worker.io" &
st=$!
sleep 0.5
as_alice dwell invoke tp -- 'head -c 8388608 /dev/zero' >/dev/null
sleep 0.3
kill "$st"; wait "$st" 2>/dev/null || true
awk '{ split($1, a, "("); call = a[1]; n = $NF; if (n ~ /^[0-9]+$/) { c[call]++; s[call] += n } }
     END { for (k in c) printf "   %-8s %6d calls, %10d bytes, %8.0f bytes/call\n", k, c[k], s[k], s[k] / c[k] }' \
        "$P/worker.io"
as_alice dwell remove tp >/dev/null

# -- 4. replay --------------------------------------------------------------
section "4. replay: receive of 4 MiB (x20), perf by command, symbol"
head -c 4194304 /dev/zero | tr '\0' x | fold -w 63 > "$P/replay.txt"
chmod 0644 "$P/replay.txt"
as_alice dwell new -n rp >/dev/null
: > "$P/recv.sh"
for i in $(seq 1 20); do
        echo "dwell invoke -d rp -- 'cat $P/replay.txt' >/dev/null; sleep 0.2; dwell receive rp >/dev/null" >> "$P/recv.sh"
done
perf record -a -g -e cpu-clock -o "$P/rp.data" -- \
        setpriv --reuid alice --regid alice --init-groups --reset-env \
        env PATH="$DWELL_BIN_DIR:/usr/bin:/bin" HOME=/home/alice sh "$P/recv.sh" 2>/dev/null
perf_top "$P/rp.data" comm 8
perf_top "$P/rp.data" comm,dso,sym 20
as_alice dwell remove rp >/dev/null
