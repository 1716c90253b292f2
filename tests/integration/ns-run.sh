#!/bin/bash
# SPDX-License-Identifier: ISC
#
# ns-run.sh — runs one integration test (or a shell, or dwelld itself) inside
# a throw-away sandbox with real PAM, real users and a real dwelld, without
# changing anything on the host.
#
# Usage:
#   ns-run.sh [--no-daemon] TEST-SCRIPT [ARGS...]
#   ns-run.sh --shell USER          start dwelld in the background, then an
#                                   interactive login-like shell as USER
#   ns-run.sh --foreground          run dwelld in the foreground (stderr)
#
# The sandbox (everything below dies with the pid namespace):
#   - private mount, pid and UTS namespaces (hostname "dwell-test"); /proc is
#     the new pid namespace's;
#   - tmpfs on /run (with /run/dwell root 0755), /tmp, /var/log (with
#     /var/log/dwell), /home, and a private /dev (the host's device nodes
#     bound in, plus a /dev/log socket whose messages go to a file);
#   - bind mounts over /etc/passwd, /etc/group, /etc/shadow, /etc/gshadow,
#     /etc/nsswitch.conf (files only) and the /etc/pam.d directory (a copy
#     of the host's with a test `dwell` stack);
#   - test users, passwords "<name>-pw" (hashed at run time, openssl -6):
#       alice 2001, bob 2002, carol 2003 (member of admins),
#       dave 2004 (account expired: PAM account management refuses him),
#       group admins 2100;
#   - homes /home/NAME owned by their users.
#
# The `dwell` PAM service is the project's pam/dwell.in (through the copied
# common-* stacks, with pam_systemd/pam_loginuid/... commented out of every
# copied file), or with DWELL_TEST_PAM=minimal a bare pam_unix stack; both
# get two test hooks: pam_env (sets DWELL_TEST_PAM_ENV=from-pam-env) and
# pam_exec appending "open USER" / "close USER" to
# $DWELL_SANDBOX/log/pam-session.log; and, first in the auth stack, pam_exec
# appending "auth user=USER ruser=RUSER rhost=RHOST" to pam-auth.log (one
# line per pam_authenticate, whatever its outcome).
#
# Environment given to the test (all exported):
#   DWELL_SANDBOX        scratch directory (root-owned, world-readable)
#   DWELL_LOG_DIR        $DWELL_SANDBOX/log: dwelld.log, syslog.log, pam-session.log,
#                        pam-items.log (PAM_USER, RUSER, TTY, RHOST at each open/close),
#                        pam-auth.log (one line per pam_authenticate)
#   DWELLD_PID           pid of dwelld (unset with --no-daemon)
#   DWELL_SOCK           /run/dwell/dwelld.sock
#   DWELL_BIN_DIR        directory holding a copy of the `dwell` client
#   DWELL_TEST_CONFIG_DIR  the --config-dir given to dwelld (empty by default;
#                        for a test t-NAME.sh, the contents of a directory
#                        t-NAME.d/ beside it, if there is one, are copied in
#                        — root-owned, not group/world-writable — before
#                        dwelld starts: e.g. t-NAME.d/dwelld.yaml,
#                        t-NAME.d/configurations.d/small.yaml)
#   top_srcdir, top_builddir
#
# Exit status: the test's; 77 when the sandbox cannot be made (not root, no
# namespaces), as automake's test drivers expect.

set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
export top_srcdir top_builddir

SANDBOX_HOSTNAME=dwell-test
TEST_USERS="alice:2001 bob:2002 carol:2003 dave:2004"
ADMINS_GID=2100

skip() {
        echo "SKIP: $*" >&2
        exit 77
}

die() {
        echo "ns-run.sh: $*" >&2
        exit 99
}

# ------------------------------------------------------------------ outside
if [ "${1-}" != --inside ]; then
        [ "$(id -u)" -eq 0 ] || skip "integration tests need root (user, mount and pid namespaces)"
        command -v unshare >/dev/null || skip "unshare(1) not found"
        unshare --mount --pid --fork --uts true 2>/dev/null ||
                skip "cannot create mount/pid/uts namespaces here"
        [ $# -ge 1 ] || die "usage: ns-run.sh [--no-daemon] TEST | --shell USER | --foreground"

        # The sandbox hides /tmp, /run, /home and /var/log: the build tree must
        # not live there.
        for d in "$top_srcdir" "$top_builddir"; do
                case "$d/" in
                /tmp/*|/run/*|/home/*|/var/log/*|/dev/*)
                        die "the tree $d is under a directory the sandbox replaces; build elsewhere";;
                esac
        done

        # The inside runs in the scratch directory: make the test's path absolute.
        args=("$@")
        for i in "${!args[@]}"; do
                case "${args[$i]}" in
                --*) ;;
                *) if [ -f "${args[$i]}" ]; then
                        args[$i]=$(cd "$(dirname "${args[$i]}")" && pwd)/$(basename "${args[$i]}")
                        case "${args[$i]}" in
                        /tmp/*|/run/*|/home/*|/var/log/*|/dev/*)
                                die "the test ${args[$i]} is under a directory the sandbox replaces";;
                        esac
                   fi
                   break;;
                esac
        done

        # --kill-child: if unshare dies (e.g. killed by timeout(1)), the
        # namespace's init gets SIGKILL and with it every process inside.
        # /proc is mounted inside (like --mount-proc) after init learns its
        # host pid, for the nsenter hint printed by --shell/--foreground.
        exec unshare --mount --propagation private --pid --fork --uts \
                --kill-child -- /bin/bash "$here/$(basename "${BASH_SOURCE[0]}")" --inside "${args[@]}"
fi
shift

# ------------------------------------------------------------------ inside
# We are pid 1 of a new pid namespace, in a private mount namespace.
read -r HOST_PID _ < /proc/self/stat
mount -t proc -o nosuid,nodev,noexec proc /proc

mode="test"
with_daemon=1
# DWELL_TEST_NO_DAEMON=1: as --no-daemon (to check the harness alone).
[ "${DWELL_TEST_NO_DAEMON:-0}" = 1 ] && with_daemon=0
shell_user=
case "${1-}" in
--no-daemon) with_daemon=0; shift;;
--shell) mode=shell; shell_user=${2:?--shell needs a user}; shift 2;;
--foreground) mode=foreground; shift;;
esac

# As pid 1, we get no default signal actions: make TERM/INT/HUP end the run
# (and so the namespace).
trap 'exit 130' INT
trap 'exit 143' TERM HUP

hostname "$SANDBOX_HOSTNAME"

# -- /run and the scratch directory ---------------------------------------
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
install -d -m 0755 -o root -g root /run/dwell
# Sanitizer reports of the programs (a build with --enable-sanitize-programs,
# see scripts/build-sanitized.sh) go to files here (asan.PID, ubsan.PID),
# from every process whatever its identity (log_exe_name cannot be used:
# a worker that dropped privileges cannot read its /proc/self/exe); the run
# fails if any appears.  The variables are
# inherited by dwelld and its helpers, and ignored by programs built without
# sanitizers.
SANITIZER_DIR=/run/dwell-sanitizer
install -d -m 1777 -o root -g root "$SANITIZER_DIR"
export ASAN_OPTIONS="log_path=$SANITIZER_DIR/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$SANITIZER_DIR/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
S=/run/dwell-sandbox
install -d -m 0755 "$S" "$S/etc" "$S/log" "$S/bin" "$S/libexec" "$S/etc-dwell" \
        "$S/etc-dwell/configurations.d"
chmod 0700 "$S/etc"

# -- a private /dev, with /dev/log captured --------------------------------
install -d -m 0700 "$S/hostdev"
mount --rbind /dev "$S/hostdev"
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs /dev
for n in null zero full random urandom tty ptmx console kvm fuse; do
        [ -e "$S/hostdev/$n" ] || continue
        touch "/dev/$n"
        mount --bind "$S/hostdev/$n" "/dev/$n"
done
mkdir -m 0755 /dev/pts /dev/shm
mount --bind "$S/hostdev/pts" /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
umount -l "$S/hostdev"
rmdir "$S/hostdev"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
: > "$S/log/syslog.log"
chmod 0644 "$S/log/syslog.log"
"$PY" - "$S/log/syslog.log" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        data = s.recv(65536)
        f.write(data.rstrip(b"\n\0") + b"\n")
EOF
SYSLOG_PID=$!
for _ in $(seq 1 100); do [ -S /dev/log ] && break; sleep 0.05; done
[ -S /dev/log ] || die "syslog catcher did not start"

# -- /tmp, /var/log, /home --------------------------------------------------
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /var/log
install -d -m 0750 -o root -g root /var/log/dwell
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /home

# -- users, groups, shadow --------------------------------------------------
hash_pw() { openssl passwd -6 "$1"; }
names_re='^(alice|bob|carol|dave|admins):'
uids_re=':(2001|2002|2003|2004|2100):'
today=$(( $(date +%s) / 86400 ))

{
        grep -Ev "$names_re" /etc/passwd | grep -Ev "^[^:]*:[^:]*$uids_re" || true
        for e in $TEST_USERS; do
                u=${e%%:*} id=${e#*:}
                echo "$u:x:$id:$id:dwell test user $u:/home/$u:/bin/bash"
        done
} > "$S/etc/passwd"
{
        grep -Ev "$names_re" /etc/group | grep -Ev "^[^:]*:[^:]*$uids_re" || true
        for e in $TEST_USERS; do
                u=${e%%:*} id=${e#*:}
                echo "$u:x:$id:"
        done
        echo "admins:x:$ADMINS_GID:carol"
} > "$S/etc/group"
{
        grep -Ev "$names_re" /etc/shadow || true
        for e in $TEST_USERS; do
                u=${e%%:*}
                expire=
                [ "$u" = dave ] && expire=1     # expired on 1970-01-02
                echo "$u:$(hash_pw "$u-pw"):$today:0:99999:7::$expire:"
        done
} > "$S/etc/shadow"
{
        if [ -f /etc/gshadow ]; then grep -Ev "$names_re" /etc/gshadow || true; fi
        for e in $TEST_USERS; do echo "${e%%:*}:!::"; done
        echo "admins:!::carol"
} > "$S/etc/gshadow"
shadow_group=root
getent group shadow >/dev/null 2>&1 && shadow_group=shadow
chown root:root "$S/etc/passwd" "$S/etc/group"
chmod 0644 "$S/etc/passwd" "$S/etc/group"
chown "root:$shadow_group" "$S/etc/shadow" "$S/etc/gshadow"
chmod 0640 "$S/etc/shadow" "$S/etc/gshadow"

cat > "$S/etc/nsswitch.conf" <<'EOF'
# dwell test sandbox: local files only
passwd:         files
group:          files
shadow:         files
gshadow:        files
hosts:          files
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
netgroup:       files
EOF
chmod 0644 "$S/etc/nsswitch.conf"

for f in passwd group shadow gshadow nsswitch.conf; do
        [ -e "/etc/$f" ] || die "/etc/$f does not exist on the host; not creating it"
        mount --bind "$S/etc/$f" "/etc/$f"
done

# -- PAM ---------------------------------------------------------------------
cp -a /etc/pam.d "$S/etc/pam.d"
# No pam_systemd / pam_loginuid / lastlog in any copied stack (su, login, ...).
for f in "$S"/etc/pam.d/*; do
        [ -f "$f" ] && sed -i -E '/pam_(systemd|loginuid|lastlog|motd|mail|keyinit)\.so/s/^/# sandbox: /' "$f"
done

cat > "$S/record-session.sh" <<EOF
#!/bin/sh
# pam_exec hook: records PAM session open/close for the tests, and the
# PAM items the session was opened with.
echo "\${PAM_TYPE%_session} \$PAM_USER" >> "$S/log/pam-session.log"
echo "\${PAM_TYPE%_session} user=\$PAM_USER ruser=\$PAM_RUSER tty=\$PAM_TTY rhost=\$PAM_RHOST" >> "$S/log/pam-items.log"
exit 0
EOF
chmod 0755 "$S/record-session.sh"
cat > "$S/record-auth.sh" <<EOF
#!/bin/sh
# pam_exec hook, first in the auth stack: one line per pam_authenticate.
echo "auth user=\$PAM_USER ruser=\$PAM_RUSER rhost=\$PAM_RHOST" >> "$S/log/pam-auth.log"
exit 0
EOF
chmod 0755 "$S/record-auth.sh"
: > "$S/log/pam-session.log"
: > "$S/log/pam-items.log"
: > "$S/log/pam-auth.log"
chmod 0644 "$S/log/pam-session.log" "$S/log/pam-items.log" "$S/log/pam-auth.log"

printf 'DWELL_TEST_PAM_ENV\tDEFAULT=from-pam-env\n' > "$S/pam_env.conf"
: > "$S/environment"
chmod 0644 "$S/pam_env.conf" "$S/environment"

# The `dwell` service: the project's own pam/dwell.in, rendered (its
# @include common-* use the copies above, without pam_systemd), plus the test
# hooks; DWELL_TEST_PAM=minimal uses a bare pam_unix stack instead.
auth_hook="# dwell test sandbox hook: counts pam_authenticate calls
auth     optional pam_exec.so quiet $S/record-auth.sh"
test_hooks="# dwell test sandbox hooks
session  optional pam_exec.so quiet $S/record-session.sh
session  required pam_env.so conffile=$S/pam_env.conf envfile=$S/environment"
if [ "${DWELL_TEST_PAM:-project}" = project ] && [ -f "$top_srcdir/pam/dwell.in" ]; then
        {
                echo "$auth_hook"
                sed -e 's|@sbindir@|/usr/sbin|g; s|@bindir@|/usr/bin|g' \
                    -e "s|@pkglibexecdir@|$S/libexec|g; s|@sysconfdir@|/etc|g" \
                    -e 's|@rundir@|/run/dwell|g; s|@logdir@|/var/log/dwell|g' \
                    "$top_srcdir/pam/dwell.in"
                echo "$test_hooks"
        } > "$S/etc/pam.d/dwell"
else
        cat > "$S/etc/pam.d/dwell" <<EOF
# dwell test sandbox PAM stack (no pam_systemd, pam_loginuid)
$auth_hook
auth     required pam_unix.so
account  required pam_unix.so
password required pam_deny.so
session  required pam_unix.so
$test_hooks
EOF
fi
chmod 0644 "$S/etc/pam.d/dwell"
mount --bind "$S/etc/pam.d" /etc/pam.d

# -- homes -------------------------------------------------------------------
for e in $TEST_USERS; do
        u=${e%%:*} id=${e#*:}
        install -d -m 0700 -o "$id" -g "$id" "/home/$u"
done

# -- binaries ----------------------------------------------------------------
# dwelld finds its helpers through DWELL_LIBEXECDIR; in the build tree they
# live in different directories, so gather symlinks here.
for p in host/dwell-host auth/dwell-auth bridge/dwell-bridge; do
        if [ -x "$top_builddir/src/$p" ]; then
                ln -s "$top_builddir/src/$p" "$S/libexec/${p#*/}"
        fi
done
# A copy of the client that every test user can run wherever the tree is.
if [ -x "$top_builddir/src/client/dwell" ]; then
        install -m 0755 "$top_builddir/src/client/dwell" "$S/bin/dwell"
fi

DWELL_SANDBOX=$S
DWELL_LOG_DIR=$S/log
DWELL_SOCK=/run/dwell/dwelld.sock
DWELL_BIN_DIR=$S/bin
DWELL_TEST_CONFIG_DIR=$S/etc-dwell
DWELL_LIBEXECDIR=$S/libexec
export DWELL_SANDBOX DWELL_LOG_DIR DWELL_SOCK DWELL_BIN_DIR DWELL_TEST_CONFIG_DIR DWELL_LIBEXECDIR
unset NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES WATCHDOG_USEC WATCHDOG_PID \
        INVOCATION_ID JOURNAL_STREAM DWELL_SOCKET

# A test's own configuration files: t-NAME.d/ beside t-NAME.sh.
if [ "$mode" = test ] && [ -n "${1-}" ] && [ -d "${1%.sh}.d" ]; then
        cp -RL -- "${1%.sh}.d/." "$DWELL_TEST_CONFIG_DIR/"
        chown -R root:root "$DWELL_TEST_CONFIG_DIR"
        chmod -R go-w "$DWELL_TEST_CONFIG_DIR"
fi

dwelld_bin=$top_builddir/src/dwelld/dwelld
dwelld_args=(--socket "$DWELL_SOCK")
if [ -x "$dwelld_bin" ] && "$dwelld_bin" --help 2>&1 | grep -q -- --config-dir; then
        dwelld_args+=(--config-dir "$DWELL_TEST_CONFIG_DIR")
fi

hint() {
        cat >&2 <<EOF
-------------------------------------------------------------------------------
dwell sandbox (hostname $SANDBOX_HOSTNAME); test users and passwords:
  alice/alice-pw (2001)  bob/bob-pw (2002)  carol/carol-pw (2003, admins)
  dave/dave-pw (2004, account expired)
dwelld socket: $DWELL_SOCK
logs: $(if [ "$mode" = foreground ]; then echo "dwelld: this terminal; "; else echo "$DWELL_LOG_DIR/dwelld.log, "; fi)$DWELL_LOG_DIR/{syslog,pam-session}.log
From another terminal on the host, as root:
  nsenter -t $HOST_PID -a setpriv --reuid alice --regid alice --init-groups \\
      --reset-env $DWELL_BIN_DIR/dwell new -n work
  nsenter -t $HOST_PID -a setpriv --reuid alice --regid alice --init-groups \\
      --reset-env $DWELL_BIN_DIR/dwell invoke work -- 'id; pwd'
  nsenter -t $HOST_PID -a            # a root shell inside the sandbox
$(if [ "$mode" = foreground ]; then echo "Ctrl-C ends dwelld and the sandbox."; fi)
-------------------------------------------------------------------------------
EOF
}

if [ "$mode" = foreground ]; then
        [ -x "$dwelld_bin" ] || die "$dwelld_bin not built"
        hint
        # Not exec: pid 1 must stay a process that dies on SIGINT/SIGTERM.
        "$dwelld_bin" "${dwelld_args[@]}" &
        wait $! || exit $?
        exit 0
fi

DWELLD_PID=
if [ "$with_daemon" = 1 ]; then
        [ -x "$dwelld_bin" ] || die "$dwelld_bin not built"
        "$dwelld_bin" "${dwelld_args[@]}" 2>>"$S/log/dwelld.log" </dev/null >&2 &
        DWELLD_PID=$!
        export DWELLD_PID
        for _ in $(seq 1 100); do
                [ -S "$DWELL_SOCK" ] && break
                kill -0 "$DWELLD_PID" 2>/dev/null || break
                sleep 0.1
        done
        if [ ! -S "$DWELL_SOCK" ]; then
                echo "ns-run.sh: dwelld did not create $DWELL_SOCK within 10 s; its log:" >&2
                tail -n 50 "$S/log/dwelld.log" >&2 || true
                exit 99
        fi
fi

if [ "$mode" = shell ]; then
        id "$shell_user" >/dev/null 2>&1 || die "no such user $shell_user"
        hint
        echo "dwelld log: $S/log/dwelld.log; you are $shell_user; exit the shell to end the sandbox" >&2
        home=$(getent passwd "$shell_user" | cut -d: -f6)
        rc=0
        (cd "$home" && exec setpriv --reuid "$shell_user" --regid "$shell_user" --init-groups \
                --reset-env env PATH="$DWELL_BIN_DIR:/usr/local/bin:/usr/bin:/bin" \
                PS1="\\u@\\h(dwell-sandbox):\\w\\$ " TERM="${TERM:-dumb}" \
                /bin/bash --norc -i) || rc=$?
        exit "$rc"
fi

# Test mode: the test runs as root and uses lib.sh's as_user for the CLI.
# One block, parsed whole before it runs: bash reads a script as it goes,
# so a change to this file during a run (a checkout, a merge, an edit)
# would otherwise be read from the middle of a line once the test ends and
# fail the run with every check ok (a syntax error, or a stray command's
# status under set -e).
{
test_script=${1:?no test script}
shift
cd "$S"
rc=0
# In the background and waited for, so that pid 1's signal traps act at once.
/bin/bash "$test_script" "$@" <&0 &
wait $! || rc=$?
# A dwelld the test started again (lib.sh's start_dwelld) is the one to stop:
# otherwise it would be killed with the namespace, its leak check unrun.
if [ -n "$DWELLD_PID" ] && [ -s "$S/dwelld.pid" ]; then
        DWELLD_PID=$(cat "$S/dwelld.pid")
fi
if [ -n "$DWELLD_PID" ]; then
        # dwelld's own shutdown (and, sanitized, its leak check) is part of the run.
        kill -TERM "$DWELLD_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
                kill -0 "$DWELLD_PID" 2>/dev/null || break
                sleep 0.1
        done
fi
kill "$SYSLOG_PID" 2>/dev/null || true
reports=$(find "$SANITIZER_DIR" -type f 2>/dev/null | sort)
if [ -n "$reports" ]; then
        echo "not ok - sanitizer reports from the programs:"
        for f in $reports; do
                echo "# --- $f"
                sed 's/^/# /' "$f"
        done
        [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
}
