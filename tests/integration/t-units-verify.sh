#!/bin/bash
# SPDX-License-Identifier: ISC
#
# The systemd units pass `systemd-analyze verify` without a single message,
# and the tmpfiles.d snippet creates what it promises.
#
#   - units/dwelld.service.in is rendered as `make` renders it, but with
#     ExecStart= pointing at the build tree's dwelld (verify insists that the
#     binary exists), and verified together with units/dwelld.socket;
#   - Documentation= man pages are checked too: MANPATH points at a man/
#     tree made of the project's own pages, rendered from man/*.in (verify
#     runs `man` for each);
#   - verify writes /run/systemd/systemd-units-load, so it runs in a private
#     mount namespace with a tmpfs on /run/systemd;
#   - warnings ("Unknown key ..., ignoring") leave verify's exit status 0:
#     any output on stderr or stdout is a failure;
#   - units/dwell.conf.in, rendered, is applied by systemd-tmpfiles --root
#     to a scratch tree: the directories exist with their modes.
#
# Skipped (77) when systemd-analyze is not installed.

. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed"; exit 77; }

T=$(mktemp -d "$DWELL_SANDBOX/units.XXXXXX")
dwelld_bin=$top_builddir/src/dwelld/dwelld

if [ ! -x "$dwelld_bin" ]; then
        fail "dwelld is built" "$dwelld_bin missing"
        exit 1
fi

# Render as the Makefile's $(edit) does; ExecStart= is the build tree's dwelld.
render() {
        sed -e "s|@sbindir@|$top_builddir/src/dwelld|g" \
            -e 's|@bindir@|/usr/bin|g' \
            -e 's|@pkglibexecdir@|/usr/libexec/dwell|g' \
            -e 's|@sysconfdir@|/etc|g' \
            -e 's|@rundir@|/run/dwell|g' \
            -e 's|@logdir@|/var/log/dwell|g' "$1"
}

install -d "$T/units"
render "$top_srcdir/units/dwelld.service.in" > "$T/units/dwelld.service"
cp "$top_srcdir/units/dwelld.socket" "$T/units/dwelld.socket"
render "$top_srcdir/units/dwell.conf.in" > "$T/units/dwell.conf"

if grep -q '@[a-z]*@' "$T/units/dwelld.service" "$T/units/dwell.conf"; then
        fail "every @placeholder@ in the units is substituted" \
                "$(grep -n '@[a-z]*@' "$T/units/dwelld.service" "$T/units/dwell.conf")"
else
        pass "every @placeholder@ in the units is substituted"
fi

# man(1) wants man/manN/page.N; the pages are rendered from man/*.in.
for f in "$top_srcdir"/man/*.[0-9].in; do
        page=${f##*/}
        page=${page%.in}
        sec=${page##*.}
        install -d "$T/man/man$sec"
        render "$f" > "$T/man/man$sec/$page"
done

verify() {
        unshare --mount --propagation private /bin/sh -c '
                set -e
                # (the sandbox'"'"'s /run is its own tmpfs, without /run/systemd)
                [ -d /run/systemd ] || mkdir -m 0755 /run/systemd
                mount -t tmpfs -o mode=0755 tmpfs /run/systemd
                cd "$1"
                export MANPATH="$2" SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=
                shift 2
                exec systemd-analyze verify "$@"
        ' verify "$T/units" "$T/man" "${@/#/$T/units/}"
}

RC=0
OUT=$(verify dwelld.socket dwelld.service 2>&1) || RC=$?
if [ "$RC" -eq 0 ] && [ -z "$OUT" ]; then
        pass "systemd-analyze verify dwelld.socket dwelld.service: silent, status 0"
else
        fail "systemd-analyze verify dwelld.socket dwelld.service: silent, status 0" \
                "exit status $RC" "$OUT"
fi

# The check would catch a problem: an unknown key is only a warning to
# verify (status 0), but it prints, and that is what the test looks at.
sed 's/^KillMode=process$/KillMode=process\nKillModeTypo=process/' \
        "$T/units/dwelld.service" > "$T/units/dwelld-typo.service"
RC=0
OUT=$(verify dwelld.socket dwelld-typo.service 2>&1) || RC=$?
expect_match "$OUT" "Unknown key 'KillModeTypo'" "verify reports a bad key (the check is not vacuous)"

# Settings the sessions depend on are what the unit says.
unit=$T/units/dwelld.service
for kv in Type=notify KillMode=process "ExecStart=$dwelld_bin" 'ExecReload=/bin/kill -HUP $MAINPID' \
          Requires=dwelld.socket; do
        if grep -qxF -- "$kv" "$unit"; then
                pass "dwelld.service has $kv"
        else
                fail "dwelld.service has $kv" "$(grep -v '^#' "$unit")"
        fi
done
# Nothing that would leak into sessions (see the unit's comment).
leaky='^(NoNewPrivileges|ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateUsers|PrivateNetwork|CapabilityBoundingSet|AmbientCapabilities|SystemCallFilter|RestrictAddressFamilies|RestrictNamespaces|RestrictSUIDSGID|MemoryDenyWriteExecute|LockPersonality|ProtectKernel[A-Za-z]*|ProtectControlGroups|ProtectClock|ProtectHostname|ProtectProc|ProcSubset|ReadOnlyPaths|InaccessiblePaths|DynamicUser|User|Group|UMask|LimitNOFILE|LimitNPROC|TasksMax|MemoryMax|PAMName)='
# Except the two limits dwelld's caps need, at values that restrict no
# session: systemd's own default fd limit, and no task ceiling shared by
# all sessions (see the unit's comments and dwelld(8), "Limits").
for kv in LimitNOFILE=1024:524288 TasksMax=infinity; do
        if grep -qxF -- "$kv" "$unit"; then
                pass "dwelld.service has $kv"
        else
                fail "dwelld.service has $kv" "$(grep -v '^#' "$unit")"
        fi
done
expect_no_match "$(grep -v '^#' "$unit" | grep -vxF -e LimitNOFILE=1024:524288 -e TasksMax=infinity)" "$leaky" \
        "dwelld.service sets nothing that sessions would inherit"

for kv in ListenStream=/run/dwell/dwelld.sock SocketMode=0666; do
        if grep -qxF -- "$kv" "$T/units/dwelld.socket"; then
                pass "dwelld.socket has $kv"
        else
                fail "dwelld.socket has $kv" "$(grep -v '^#' "$T/units/dwelld.socket")"
        fi
done

# tmpfiles.d: create in a scratch root and look at the result.
if command -v systemd-tmpfiles >/dev/null; then
        install -d "$T/root"
        RC=0
        OUT=$(systemd-tmpfiles --create --root="$T/root" "$T/units/dwell.conf" 2>&1) || RC=$?
        if [ "$RC" -eq 0 ] && [ -z "$OUT" ]; then
                pass "systemd-tmpfiles --create dwell.conf: silent, status 0"
        else
                fail "systemd-tmpfiles --create dwell.conf: silent, status 0" "exit status $RC" "$OUT"
        fi
        for dm in /run/dwell:755 /run/dwell/sessions:700 /var/log/dwell:700; do
                d=${dm%:*} mode=${dm#*:}
                got=$(stat -c '%a %U:%G %F' "$T/root$d" 2>&1)
                expect_eq "$got" "$mode root:root directory" "tmpfiles creates $d $mode root:root"
        done
else
        pass "# SKIP systemd-tmpfiles not installed"
fi

rm -rf "$T"
