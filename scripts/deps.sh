#!/bin/sh
# SPDX-License-Identifier: ISC
#
# scripts/deps.sh [--list] [GROUP...] — installs the Debian packages of the
# named groups that are missing, and nothing else. Quiet and idempotent
# when everything is present; runs `apt-get update` only when something has
# to be installed; needs root for the installation (and only then).
#
# Groups (default: build):
#   build  building dwell and running it, including the try.sh sandbox
#          (scripts/try.sh, scripts/build.sh)
#   test   build, plus what the test suite needs: mandoc and groff (man page
#          lint), clang (fuzzing), systemd and systemd-container (unit checks,
#          nspawn tests), openssh-server/-client and iproute2 (remote tests),
#          tmux, vim, whiptail (terminal sessions driven through tmux),
#          screen, dtach, gnuplot-nox (the benchmark smoke test),
#          asciinema (reads terminal sessions' recordings in t-terminal-record),
#          strace (the order of the worker's system calls in t-terminal-echo)
#          (scripts/test.sh)
#   bench  build, plus what the benchmarks need: tmux, screen, dtach,
#          hyperfine, gnuplot-nox, openssh-server/-client and iproute2 (the
#          remote rows) (scripts/bench.sh)
#   deb    build, plus the Debian packaging tools: debhelper, dpkg-dev,
#          fakeroot, lintian (scripts/build-deb.sh)
#   all    every group
# --list prints the packages of the groups instead, one per line.
#
# Nothing else on the host changes:
#   - a held apt/dpkg lock (another apt run, unattended-upgrades) is waited
#     for, with a message, for at most DEPS_LOCK_TIMEOUT seconds (default
#     600), instead of failing;
#   - while packages are installed, a policy-rc.d that denies every start
#     is in place (unless the host already has one), so that no service is
#     started: installing openssh-server would otherwise start sshd — by its
#     init script where PID 1 is not systemd, or by deb-systemd-invoke;
#   - openssh-server, when this script installed it, is disabled again
#     afterwards (deb-systemd-helper for systemd, update-rc.d for the init
#     script): its postinst enables ssh at boot whatever policy-rc.d says.
#     The tests run their own sshd in a private network namespace.
set -eu

BUILD="
build-essential
autoconf
automake
pkg-config
libsystemd-dev
libpam0g-dev
libcap-dev
libyaml-dev
libvterm-dev
libpam-modules
libpam-runtime
util-linux
procps
python3
openssl
coreutils
passwd
login
"
TEST="
mandoc
groff-base
clang
systemd
systemd-container
openssh-server
openssh-client
iproute2
tmux
vim
whiptail
jq
screen
dtach
gnuplot-nox
asciinema
strace
"
# The Debian packaging tools (debian/control's Build-Depends are in BUILD).
DEB="
debhelper
dpkg-dev
fakeroot
lintian
"
BENCH="
tmux
screen
dtach
hyperfine
gnuplot-nox
openssh-server
openssh-client
iproute2
"

list=0
packages=
groups=
for a in "$@"; do
        case "$a" in
        --list) list=1;;
        -h|--help) sed -n '3,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
        build|test|bench|deb|all) groups="$groups $a";;
        *) echo "deps.sh: unknown group '$a' (expected build, test, bench, deb or all)" >&2; exit 2;;
        esac
done
[ -n "$groups" ] || groups=build
for g in $groups; do
        case "$g" in
        build) packages="$packages $BUILD";;
        test) packages="$packages $BUILD $TEST";;
        bench) packages="$packages $BUILD $BENCH";;
        deb) packages="$packages $BUILD $DEB";;
        all) packages="$packages $BUILD $TEST $BENCH $DEB";;
        esac
done
# shellcheck disable=SC2086 # one word per package
packages=$(printf '%s\n' $packages | awk '!seen[$0]++')

if [ "$list" = 1 ]; then
        printf '%s\n' "$packages"
        exit 0
fi

installed() {
        [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=
for p in $packages; do
        installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
        echo "deps.sh: missing packages:$missing; no apt-get here, install them by hand" >&2
        exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages:$missing; run as root to install them" >&2
        exit 1
fi

lock_timeout=${DEPS_LOCK_TIMEOUT:-600}
case "$lock_timeout" in ''|*[!0-9]*) lock_timeout=600;; esac

# True if some process holds a lock on one of apt's or dpkg's lock files
# (they are fcntl locks, listed in /proc/locks by device and inode).
apt_locked() {
        for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock \
                 /var/cache/apt/archives/lock; do
                [ -e "$f" ] || continue
                dev=$(stat -L -c %d "$f" 2>/dev/null) || continue
                ino=$(stat -L -c %i "$f" 2>/dev/null) || continue
                # As /proc/locks writes it: MAJOR:MINOR:INODE, in hex, hex, decimal.
                key=$(printf '%02x:%02x:%s' $(((dev >> 8) & 0xfff)) $(((dev & 0xff) | ((dev >> 12) & 0xfff00))) "$ino")
                if awk -v key="$key" '$(NF - 2) == key { found = 1 } END { exit !found }' /proc/locks 2>/dev/null; then
                        holder=$f
                        return 0
                fi
        done
        return 1
}

# Waits (with one message) until no apt or dpkg run holds a lock.
wait_apt_lock() {
        waited=0
        while apt_locked; do
                if [ "$waited" -eq 0 ]; then
                        echo "deps.sh: another apt or dpkg run holds $holder; waiting for it" \
                                "(at most $lock_timeout s, DEPS_LOCK_TIMEOUT)..." >&2
                fi
                if [ "$waited" -ge "$lock_timeout" ]; then
                        echo "deps.sh: $holder is still locked after $lock_timeout s; giving up" >&2
                        exit 1
                fi
                sleep 2
                waited=$((waited + 2))
        done
        if [ "$waited" -gt 0 ]; then
                echo "deps.sh: the lock is free after ${waited} s" >&2
        fi
        return 0
}

# A policy-rc.d that denies starting any service, for the duration of the
# installation, unless the host already has its own.
policy=/usr/sbin/policy-rc.d
our_policy=0
cleanup() {
        if [ "$our_policy" = 1 ]; then
                rm -f "$policy"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/deps.sh (dwell): no service starts while it installs packages.\nexit 101\n' \
                > "$policy"
        chmod 0755 "$policy"
        our_policy=1
fi

new_sshd=0
case " $missing " in
*" openssh-server "*) new_sshd=1;;
esac

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# DPkg::Lock::Timeout: apt itself also waits, for a lock taken between our
# check and its start.
wait_apt_lock
apt-get -o DPkg::Lock::Timeout="$lock_timeout" update -qq >&2
wait_apt_lock
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get -o DPkg::Lock::Timeout="$lock_timeout" install -y -qq --no-install-recommends $missing >&2

if [ "$new_sshd" = 1 ]; then
        # The package enabled ssh at boot; the tests never use it.
        if command -v deb-systemd-helper >/dev/null 2>&1; then
                deb-systemd-helper disable ssh.service ssh.socket >/dev/null 2>&1 || true
        fi
        if [ -x /etc/init.d/ssh ] && command -v update-rc.d >/dev/null 2>&1; then
                update-rc.d ssh disable >/dev/null 2>&1 || true
        fi
        echo "deps.sh: openssh-server installed, not started, and disabled (the tests run their own sshd)" >&2
fi
