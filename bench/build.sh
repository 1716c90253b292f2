#!/bin/bash
# SPDX-License-Identifier: ISC
#
# bench/build.sh [head|worktree] — builds dwell optimised for the benchmark,
# away from the developer's in-tree build:
#   - head (default): the committed tree (git archive HEAD), extracted into
#     bench/build/head again only when HEAD changes;
#   - worktree: the working tree (tracked and untracked-but-not-ignored
#     files) copied into bench/build/worktree, keeping modification times so
#     that make rebuilds only what changed;
#   - autogen.sh, configure CFLAGS="-O2 -g" --disable-sanitizers (-g only for
#     symbols in profiles; it does not change the code), make.
# A VPATH build is not possible here because the source tree is usually
# configured in place (automake refuses "source directory already
# configured"). Prints the build directory (the copy) on its last line.
set -eu

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
what=${1:-head}
case "$what" in head|worktree) ;; *) echo "usage: bench/build.sh [head|worktree]" >&2; exit 2;; esac
build=$top/bench/build
src=$build/$what
mkdir -p "$src"

cd "$top"
if ! git rev-parse --git-dir >/dev/null 2>&1; then
        # Not a git checkout (e.g. a release tarball): copy the tree as it is.
        what=worktree
        src=$build/$what
        mkdir -p "$src"
        tar --exclude=./bench/build --exclude='*.o' --exclude='*.a' --exclude=./config.status \
                --exclude=./Makefile --exclude=./config.h -c -f - . | tar -x -f - -C "$src"
elif [ "$what" = head ]; then
        rev=$(git rev-parse HEAD)
        if [ "$(cat "$src/.bench-rev" 2>/dev/null)" != "$rev" ]; then
                rm -rf "$src"
                mkdir -p "$src"
                git archive --format=tar HEAD | tar -x -m -C "$src"
                echo "$rev" > "$src/.bench-rev"
        fi
else
        # -m is not used: keep mtimes so that unchanged files are not rebuilt.
        git ls-files -z --cached --others --exclude-standard -- . ':!bench' |
                while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
                tar --null -T - -c -f - | tar -x -f - -C "$src"
fi

cd "$src"
flags="CFLAGS=-O2 -g --disable-sanitizers"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
        ./autogen.sh >"$build/autogen-$what.log" 2>&1 || { tail -n 30 "$build/autogen-$what.log" >&2; exit 1; }
fi
if [ ! -f config.status ] || [ "$(cat .bench-flags 2>/dev/null)" != "$flags" ] || [ configure -nt config.status ]; then
        ./configure CFLAGS="-O2 -g" --disable-sanitizers >"$build/configure-$what.log" 2>&1 ||
                { tail -n 30 "$build/configure-$what.log" >&2; exit 1; }
        echo "$flags" > .bench-flags
fi
make -j"${DWELL_MAKE_JOBS:-2}" >"$build/make-$what.log" 2>&1 || { tail -n 40 "$build/make-$what.log" >&2; exit 1; }
for p in src/dwelld/dwelld src/client/dwell src/host/dwell-host src/auth/dwell-auth; do
        [ -x "$p" ] || { echo "bench/build.sh: $p was not built" >&2; exit 1; }
done
echo "$src"
