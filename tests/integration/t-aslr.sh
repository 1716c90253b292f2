#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-aslr.sh — the process that parses client bytes (the session's worker)
# does not share its address-space layout or stack-protector canary with
# the root processes (issue 13, item 9):
#   - two sessions of alice: each worker's dwell-host text base (PIE), libc
#     base, stack and AT_RANDOM bytes (glibc derives the stack canary from
#     them) differ from its monitor's, from the spawner's and from the other
#     worker's — a clone or fork would share all of them;
#   - the worker runs the same file as its monitor (/proc/PID/exe) in worker
#     mode (command line "dwell-host --worker", process name dwell-host);
#   - it runs as alice with every capability set empty, is non-dumpable
#     (its /proc files belong to root; alice cannot read its maps), and
#     holds none of the descriptors its monitor had (no memfd, no file of
#     the session's state or transcript directory);
#   - dwell-host is built with stack canaries and full RELRO, as a PIE;
#   - the worker mode refuses to run for a user, and for root without the
#     descriptors a monitor passes.

. "$(dirname "$0")/lib.sh"

stat_field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }  # 2=ppid
spawner_pid() {
        local p
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [ "$(stat_field "$p" 2)" = "$DWELLD_PID" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = dwell-spawner ] &&
                        { echo "$p"; return 0; }
        done
        return 1
}
# Start of the first mapping of the program itself (its inode), of libc,
# and of the stack.
text_base() { awk -v ino="$(stat -L -c %i "/proc/$1/exe")" '$5 == ino { print $1; exit }' "/proc/$1/maps" | cut -d- -f1; }
libc_base() { awk '$6 ~ /\/libc[.-][^\/]*so/ { print $1; exit }' "/proc/$1/maps" | cut -d- -f1; }
stack_of() { awk '$6 == "[stack]" { print $1; exit }' "/proc/$1/maps" | cut -d- -f1; }
# The 16 bytes AT_RANDOM points to, in hex (root reads /proc/PID/mem).
at_random() {
        "$PYTHON" - "$1" <<'PY'
import struct, sys
pid = sys.argv[1]
aux = open("/proc/%s/auxv" % pid, "rb").read()
for i in range(0, len(aux) - 15, 16):
    t, v = struct.unpack("<QQ", aux[i:i + 16])
    if t == 25:                         # AT_RANDOM
        with open("/proc/%s/mem" % pid, "rb") as m:
            m.seek(v)
            print(m.read(16).hex())
        break
PY
}
layout() { echo "text=$(text_base "$1") libc=$(libc_base "$1") stack=$(stack_of "$1") random=$(at_random "$1")"; }

aslr=$(cat /proc/sys/kernel/randomize_va_space)
if [ "$aslr" = 0 ]; then
        fail "ASLR is enabled on this machine (kernel.randomize_va_space=$aslr)"
        exit 1
fi

wait_for 'spawner_pid >/dev/null' 10
spawner=$(spawner_pid)
declare -A worker monitor
for s in one two; do
        capture alice dwell new -n "$s"
        expect_rc 0 "alice: new -n $s"
        capture alice dwell invoke "$s" -- 'echo $$'
        shell=$OUT
        worker[$s]=$(stat_field "$shell" 2)
        monitor[$s]=$(stat_field "${worker[$s]}" 2)
done
w1=${worker[one]} w2=${worker[two]} m1=${monitor[one]} m2=${monitor[two]}
if [ -n "$spawner" ] && [ -n "$w1" ] && [ -n "$w2" ] && [ -n "$m1" ] && [ -n "$m2" ]; then
        pass "spawner $spawner; session one: monitor $m1, worker $w1; session two: monitor $m2, worker $w2"
else
        fail "found the spawner, monitors and workers" "spawner=$spawner one=$m1/$w1 two=$m2/$w2"
        exit 1
fi

declare -A lay
for p in "$spawner" "$m1" "$m2" "$w1" "$w2"; do
        lay[$p]=$(layout "$p")
done
echo "# spawner   $spawner: ${lay[$spawner]}"
echo "# monitor 1 $m1: ${lay[$m1]}"
echo "# worker 1  $w1: ${lay[$w1]}"
echo "# monitor 2 $m2: ${lay[$m2]}"
echo "# worker 2  $w2: ${lay[$w2]}"

# Every field of a worker's layout differs from the same field of another process.
differs() {     # PID-A PID-B
        local a b f
        for f in text libc stack random; do
                a=$(tr ' ' '\n' <<<"${lay[$1]}" | sed -n "s/^$f=//p")
                b=$(tr ' ' '\n' <<<"${lay[$2]}" | sed -n "s/^$f=//p")
                if [ -z "$a" ] || [ -z "$b" ]; then
                        echo "$f: not found"
                        return 1
                fi
                if [ "$a" = "$b" ]; then
                        echo "$f: both $a"
                        return 1
                fi
        done
        return 0
}
check_differs() {       # PID-A NAME-A PID-B NAME-B
        local why
        if why=$(differs "$1" "$3"); then
                pass "$2 and $4 have different layouts (program, libc, stack, AT_RANDOM)"
        else
                fail "$2 and $4 have different layouts (program, libc, stack, AT_RANDOM)" "$why" \
                        "$2: ${lay[$1]}" "$4: ${lay[$3]}"
        fi
}
check_differs "$w1" "worker 1" "$m1" "its monitor"
check_differs "$w1" "worker 1" "$spawner" "the spawner"
check_differs "$w1" "worker 1" "$m2" "monitor 2"
check_differs "$w2" "worker 2" "$m2" "its monitor"
check_differs "$w2" "worker 2" "$spawner" "the spawner"
check_differs "$w1" "worker 1" "$w2" "worker 2"

# ---------------------------------------------------------- what the worker is
for s in one two; do
        w=${worker[$s]} m=${monitor[$s]}
        expect_eq "$(readlink "/proc/$w/exe")" "$(readlink "/proc/$m/exe")" \
                "worker $w runs the same file as its monitor ($(readlink "/proc/$m/exe"))"
        expect_eq "$(tr '\0' ' ' <"/proc/$w/cmdline")|$(cat "/proc/$w/comm")" "dwell-host --worker |dwell-host" \
                "  ... in worker mode: command line 'dwell-host --worker', name dwell-host"
        expect_eq "$(tr '\0' ' ' <"/proc/$m/cmdline")" "dwell-host " "  ... its monitor's command line is dwell-host"
        st=$(cat "/proc/$w/status")
        expect_match "$st" '^Uid:[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001$' "  ... runs as alice (every uid)"
        expect_match "$st" '^Gid:[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001[[:space:]]+2001$' "  ... with alice's gid"
        for c in CapInh CapPrm CapEff CapAmb; do
                expect_match "$st" "^$c:[[:space:]]+0+\$" "  ... $c is empty"
        done
        expect_eq "$(stat -c %u "/proc/$w/maps") $(stat -c %u "/proc/$w/environ")" "0 0" \
                "  ... non-dumpable (its /proc files belong to root)"
        expect_fail "  ... alice cannot read its memory map" as_user alice cat "/proc/$w/maps"
        fds=$(for f in /proc/"$w"/fd/*; do echo "${f##*/} $(readlink "$f")"; done)
        echo "# worker $w descriptors:"
        sed "s|^|# |" <<<"$fds"
        expect_no_match "$fds" 'memfd:|/sessions/|\.info$|/var/log/|/transcripts?/|/etc/|pam' \
                "  ... holds no descriptor of its monitor's (no memfd, session or transcript file, PAM file)"
done

# The sessions work.
capture alice dwell invoke one -- 'echo hello from one'
expect_eq "$OUT" "hello from one" "session one runs commands"
capture alice dwell invoke two -- 'echo hello from two'
expect_eq "$OUT" "hello from two" "session two runs commands"

# ---------------------------------------------------------- the program is built to use them
# A canary of its own is worth something only if the program checks one;
# configure adds -fstack-protector-strong and full RELRO (-z relro -z now).
exe=$(readlink -f "/proc/$w1/exe")
if command -v readelf >/dev/null; then
        expect_match "$(readelf --dyn-syms -W "$exe")" '__stack_chk_fail' "dwell-host is built with stack canaries"
        expect_match "$(readelf -d "$exe")" 'BIND_NOW|FLAGS_1.*NOW' "dwell-host is linked with full RELRO (bind now)"
        expect_match "$(readelf -h "$exe")" 'Type:[[:space:]]+DYN' "dwell-host is position-independent (its text base is randomised)"
else
        echo "# readelf not installed: the build flags of dwell-host are not checked"
fi

# ---------------------------------------------------------- the worker mode, started by hand
host=$DWELL_LIBEXECDIR/dwell-host
capture alice "$host" --worker
if [ "$RC" = 2 ] && [[ $ERR == *"started by"* ]]; then
        pass "alice running dwell-host --worker is refused: $ERR"
else
        fail "alice running dwell-host --worker is refused (exit 2)" "rc=$RC out=$OUT err=$ERR"
fi
RC=0
err=$(timeout 10 "$host" --worker 3</dev/null 2>&1 </dev/null) || RC=$?
if [ "$RC" = 2 ] && [ -n "$err" ]; then
        pass "root running dwell-host --worker without a monitor's descriptors is refused: $err"
else
        fail "root running dwell-host --worker without a monitor's descriptors is refused (exit 2)" "rc=$RC: $err"
fi

capture alice dwell remove --all
expect_rc 0 "alice: remove --all"
