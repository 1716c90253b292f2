# SPDX-License-Identifier: ISC
# shellcheck shell=bash
#
# nspawn-lib.sh — a real systemd booted in a throw-away systemd-nspawn
# container inside the test sandbox, for t-systemd.sh and
# ../package/t-package.sh.  Why each step is there: the recipe in
# ../shared/recipes/real-systemd.md.
#
# The container's root is an overlay (lower: the host's /, upper: a tmpfs),
# so nothing of the host changes; it boots basic.target with
# --private-network, DefaultTimeoutStopSec=5s, a fresh machine id and the
# test user alice (password alice-pw) in the upper layer.  nspawn runs in a
# private mount namespace (its scratch directories land in tmpfs) and in a
# cgroup of its own that is removed afterwards.  Commands run inside with
# `nsenter -t LEADER -a`.
#
#   nspawn_require         exits 77 (skip) without systemd-nspawn (package
#                          systemd-container), /usr/lib/systemd/systemd or a
#                          cgroup hierarchy nspawn can use; sets
#                          NSPAWN_HIERARCHIES ("systemd unified" on a hybrid
#                          host, "" on pure cgroup2)
#   nspawn_boot NAME PREPARE
#                          boots the container (machine name NAME, cgroup
#                          NAME-PID-RANDOM below each hierarchy) and waits
#                          (bounded) until its systemd is running or
#                          degraded: one check passes, or it fails and the
#                          test exits 1.  $P must be a scratch directory of
#                          the test (in $DWELL_SANDBOX): the overlay is
#                          mounted in $P/w, nspawn's output goes to
#                          $P/nspawn.log.  PREPARE is shell code run as root
#                          in nspawn's private mount namespace after the
#                          overlay is mounted and before alice is added and
#                          the container boots, with P and R (the
#                          container's root) set; it fails the boot if it
#                          fails (set -e).  Sets N (nspawn's pid), L (the
#                          container's init, its leader), E (the nsenter
#                          command, an array) and R=/proc/$L/root; sets the
#                          EXIT trap that runs nspawn_down, then lib.sh's
#                          own exit handling.
#   nspawn_down            the teardown (the trap runs it): SIGTERM to nspawn
#                          (orderly halt, waited for at most 10 s), SIGKILL
#                          of the container's init as fallback (everything
#                          inside dies), SIGKILL of nspawn, then the
#                          container's cgroup removed depth-first; by pid
#                          and path only; harmless twice
#   in_ct CMD...           CMD as root in the container, bounded by
#                          $CMD_TIMEOUT seconds
#   as_alice CMD...        CMD as alice in the container (setpriv, a login's
#                          environment, PATH $NSPAWN_PATH, default
#                          /usr/local/bin:/usr/bin:/bin), in her home,
#                          bounded by $CMD_TIMEOUT seconds
#   ct_capture CMD...      as capture, for as_alice: sets OUT, ERR and RC
#   show PROPERTY          dwelld.service's PROPERTY (systemctl show --value)
#   diag_journal           the last 40 lines of the journal of dwelld.socket
#                          and dwelld.service
#
# Needs lib.sh (pass, fail, _lib_exit, CMD_TIMEOUT).

nspawn_require() {
        command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn not installed (systemd-container)"; exit 77; }
        [ -x /usr/lib/systemd/systemd ] || { echo "no /usr/lib/systemd/systemd"; exit 77; }
        if [ -d /sys/fs/cgroup/systemd ] && [ -d /sys/fs/cgroup/unified ]; then
                NSPAWN_HIERARCHIES="systemd unified"    # hybrid host (as in CI)
        elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
                NSPAWN_HIERARCHIES=""                   # pure cgroup2
        else
                echo "no cgroup hierarchy for systemd-nspawn"; exit 77
        fi
}

# The cgroup directories of the container, one a line.
_nspawn_cgroups() {
        local h
        if [ -n "$NSPAWN_HIERARCHIES" ]; then
                for h in $NSPAWN_HIERARCHIES; do echo "/sys/fs/cgroup/$h/$_NSPAWN_CG"; done
        else
                echo "/sys/fs/cgroup/$_NSPAWN_CG"
        fi
}

N= L=
_NSPAWN_CG=
nspawn_down() {
        local cg i
        if [ -n "$N" ] && kill -0 "$N" 2>/dev/null; then
                kill -TERM "$N"                 # nspawn: orderly halt of the container
                for ((i = 0; i < 100; i++)); do kill -0 "$N" 2>/dev/null || break; sleep 0.1; done
        fi
        if [ -n "$L" ] && kill -0 "$L" 2>/dev/null; then
                kill -KILL "$L"                 # the container's init: everything inside dies
                for ((i = 0; i < 50; i++)); do kill -0 "$N" 2>/dev/null || break; sleep 0.1; done
        fi
        [ -n "$N" ] && kill -KILL "$N" 2>/dev/null
        if [ -n "$_NSPAWN_CG" ]; then
                while read -r cg; do
                        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
                done < <(_nspawn_cgroups)
        fi
        N= L=
}

nspawn_boot() {
        local name=$1 prepare=$2 cg state _
        _NSPAWN_CG=$name-$$-$RANDOM
        trap 'rc=$?; nspawn_down; (exit $rc); _lib_exit' EXIT
        while read -r cg; do mkdir -p "$cg"; done < <(_nspawn_cgroups)
        (
                while read -r cg; do echo "$BASHPID" > "$cg/cgroup.procs"; done < <(_nspawn_cgroups)
                exec unshare --mount --propagation private /bin/bash -c '
                        set -e
                        P=$1 name=$2
                        W=$P/w
                        mkdir -p "$W"
                        mount -t tmpfs -o mode=0755 tmpfs "$W"
                        mkdir "$W/upper" "$W/work" "$W/root"
                        mount -t overlay overlay -o lowerdir=/,upperdir="$W/upper",workdir="$W/work" "$W/root"
                        R=$W/root
                        systemd-id128 new > "$R/etc/machine-id"
                        # Halt quickly even if a process ignores SIGTERM.
                        mkdir -p "$R/etc/systemd/system.conf.d"
                        printf "[Manager]\nDefaultTimeoutStopSec=5s\n" > "$R/etc/systemd/system.conf.d/nspawn-test.conf"
                        eval "$3"
                        # The test user, in the upper layer only.
                        chroot "$R" useradd -m -s /bin/bash -c "dwell test user" alice
                        echo "alice:alice-pw" | chroot "$R" chpasswd
                        exec systemd-nspawn -q -D "$R" --boot --register=no --keep-unit -M "$name" \
                                --private-network --console=read-only -- systemd.unit=basic.target
                ' ci-up "$P" "$name" "$prepare"
        ) >"$P/nspawn.log" 2>&1 &
        N=$!
        for _ in $(seq 1 100); do
                L=$(ps -o pid= --ppid "$N" 2>/dev/null | head -n 1 | tr -d ' ') || true
                [ -n "$L" ] && [ "$(readlink "/proc/$L/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ] && break
                L=
                kill -0 "$N" 2>/dev/null || break
                sleep 0.1
        done
        if [ -z "$L" ]; then
                fail "the container boots" "$(cat "$P/nspawn.log")"
                exit 1
        fi
        E=(nsenter -t "$L" -a)
        state=
        for _ in $(seq 1 150); do
                # "offline" (or nothing) while systemd's private socket is not there yet
                state=$(timeout 10 "${E[@]}" systemctl is-system-running --wait 2>/dev/null)
                case $state in running|degraded|maintenance|stopping) break;; esac
                kill -0 "$L" 2>/dev/null || break
                sleep 0.2
        done
        case $state in
        running|degraded) pass "a systemd container booted (leader pid $L, state $state)";;
        *) fail "a systemd container booted" "state: '$state'" "$(cat "$P/nspawn.log")"; exit 1;;
        esac
        R=/proc/$L/root
}

in_ct() { timeout -k 5 "$CMD_TIMEOUT" "${E[@]}" "$@"; }
as_alice() {
        timeout -k 5 "$CMD_TIMEOUT" "${E[@]}" setpriv --reuid alice --regid alice --init-groups \
                --reset-env env HOME=/home/alice USER=alice LOGNAME=alice \
                PATH="${NSPAWN_PATH:-/usr/local/bin:/usr/bin:/bin}" LANG=C.UTF-8 \
                /bin/sh -c 'cd && exec "$@"' sh "$@"
}
ct_capture() {
        local f
        f=$(mktemp -d "$P/capture.XXXXXX")
        RC=0
        as_alice "$@" >"$f/out" 2>"$f/err" </dev/null || RC=$?
        OUT=$(cat "$f/out") ERR=$(cat "$f/err")
        rm -rf "$f"
}
show() { in_ct systemctl show -p "$1" --value dwelld.service; }
diag_journal() { in_ct journalctl --no-pager -o short-monotonic -u dwelld.socket -u dwelld.service | tail -n 40; }
