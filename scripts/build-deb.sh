#!/bin/sh
# SPDX-License-Identifier: ISC
#
# Builds the Debian packages dwell and dwell-client:
#
#   scripts/build-deb.sh                # -> build-deb/dwell_VERSION_ARCH.deb,
#                                       #    build-deb/dwell-client_VERSION_ARCH.deb
#   DWELL_DEB_VERSION=0.1-2 scripts/build-deb.sh   # the same, as another version
#
# Installs what it needs first (`scripts/deps.sh deb`: the build
# dependencies and debhelper, dpkg-dev, fakeroot, lintian).  The
# packages are built by `dpkg-buildpackage -us -uc -b` in a copy of the files
# git knows (tracked, and untracked but not ignored: uncommitted work is
# included) in build-deb/src, so the in-tree autotools build is left as it
# is.  DWELL_DEB_VERSION replaces the version of debian/changelog's top
# entry in the copy only (with a changelog entry of its own); the tests use
# it to build an upgrade.  Output: the .deb, .buildinfo and .changes files in
# build-deb/ (DWELL_DEB_OUT for another directory), also the -dbgsym
# packages; the names of the two packages on stdout.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${DWELL_DEB_OUT:-$top/build-deb}
"$top/scripts/deps.sh" deb >&2

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/src
rm -rf "$work"
mkdir -p "$work/dwell"
cd "$top"
git ls-files -z --cached --others --exclude-standard |
        tar --null -T - -cf - | tar -xf - -C "$work/dwell"

cd "$work/dwell"
# debian/changelog carries configure.ac's version (AC_INIT) as its upstream
# part: 0.1 -> 0.1-N.
upstream=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' configure.ac)
debian=$(dpkg-parsechangelog -S Version)
if [ "${debian%-*}" != "$upstream" ]; then
        echo "build-deb.sh: debian/changelog has $debian, configure.ac's AC_INIT $upstream: add a changelog entry" >&2
        exit 1
fi
if [ -n "${DWELL_DEB_VERSION:-}" ]; then
        old=$(dpkg-parsechangelog -S Version)
        {
                printf 'dwell (%s) unstable; urgency=medium\n\n' "$DWELL_DEB_VERSION"
                printf '  * Rebuilt from %s by scripts/build-deb.sh.\n\n' "$old"
                printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
                cat debian/changelog
        } > debian/changelog.new
        mv debian/changelog.new debian/changelog
fi
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
echo "build-deb.sh: building dwell $version ($arch) in $work/dwell" >&2

DEB_BUILD_OPTIONS="parallel=${DWELL_MAKE_JOBS:-2} ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b >"$out/build-$version.log" 2>&1 || {
        tail -n 60 "$out/build-$version.log" >&2
        echo "build-deb.sh: dpkg-buildpackage failed; log: $out/build-$version.log" >&2
        exit 1
}
# dpkg-buildpackage writes next to the source directory: the two
# packages, their -dbgsym packages, .buildinfo and .changes.
for f in "$work"/*_"${version}"_*; do
        mv "$f" "$out/"
done
rm -rf "$work"
echo "$out/dwell_${version}_$arch.deb"
echo "$out/dwell-client_${version}_$arch.deb"
