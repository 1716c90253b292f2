#!/bin/sh
# SPDX-License-Identifier: ISC
# Lints every manual page in man/ with mandoc (when configure found it) and
# groff; any diagnostic fails the page.  Output is TAP.
# Environment (set by make check): top_srcdir, MANDOC, GROFF.

top_srcdir=${top_srcdir:-.}
MANDOC=${MANDOC:-}
GROFF=${GROFF:-groff}

pages=
for f in "$top_srcdir"/man/*.1 "$top_srcdir"/man/*.5 "$top_srcdir"/man/*.8; do
    [ -f "$f" ] && pages="$pages $f"
done

if [ -z "$pages" ]; then
    echo "1..0 # SKIP no manual pages in $top_srcdir/man"
    exit 0
fi

use_mandoc=false
if [ -n "$MANDOC" ] && [ -x "$MANDOC" ]; then
    use_mandoc=true
fi
use_groff=false
if command -v "$GROFF" >/dev/null 2>&1; then
    use_groff=true
fi

n=0
for f in $pages; do
    n=$((n + 1))
done
echo "1..$n"

i=0
status=0
for f in $pages; do
    i=$((i + 1))
    name=${f##*/}
    if ! $use_mandoc && ! $use_groff; then
        echo "ok $i - $name # SKIP neither mandoc nor groff found"
        continue
    fi
    out=
    if $use_mandoc; then
        out=$("$MANDOC" -Tlint -Wwarning "$f" 2>&1)
    fi
    if $use_groff; then
        # -ww: every warning; -z: format, but print nothing.
        gout=$("$GROFF" -man -ww -z "$f" 2>&1)
        if [ -n "$gout" ]; then
            out="${out:+$out
}$gout"
        fi
    fi
    if [ -n "$out" ]; then
        echo "not ok $i - $name"
        printf '%s\n' "$out" | sed 's/^/# /'
        status=1
    else
        echo "ok $i - $name"
    fi
done
exit $status
