#!/bin/bash
# SPDX-License-Identifier: ISC
#
# Builds a second copy of dwell whose programs (dwelld, dwell-host,
# dwell-auth, dwell-bridge, dwell) run under AddressSanitizer and
# UndefinedBehaviorSanitizer, for the integration suite:
#
#   scripts/build-sanitized.sh          # -> build-asan/src/ (a configured tree)
#   top_builddir=build-asan/src tests/integration/run.sh
#
# The copy is made from the files git knows (tracked, and untracked but not
# ignored), so uncommitted work is included; only files whose content
# differs from the copy's are replaced (with the time of the copy), so a
# second run rebuilds exactly what changed, whatever the files' own times.  An automake VPATH build is not
# possible while the source tree itself is configured, hence the copy.
# Never install these programs.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dest=$top/build-asan/src
"$top/scripts/deps.sh"

mkdir -p "$dest"
cd "$top"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [ -f "$f" ] || continue
        if ! cmp -s "$f" "$dest/$f"; then
                mkdir -p "$dest/$(dirname "$f")"
                cp "$f" "$dest/$f"
        fi
done
cd "$dest"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
        ./autogen.sh
fi
if [ ! -f config.status ] || [ configure -nt config.status ]; then
        ./configure --enable-sanitize-programs "$@"
        make clean >/dev/null      # flags may have changed: nothing links with stale objects
fi
make -j"${DWELL_MAKE_JOBS:-2}" all
