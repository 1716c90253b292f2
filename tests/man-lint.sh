#!/bin/sh
# SPDX-License-Identifier: ISC
# Lints every manual page with mandoc (when configure found it) and groff;
# any diagnostic fails the page.  The pages are generated from man/*.in
# (configured paths substituted), so the generated ones in $top_builddir/man
# are linted, and a placeholder left unsubstituted fails too.  Output is TAP.
# Environment (set by make check): top_srcdir, top_builddir, MANDOC, GROFF.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-$top_srcdir}
MANDOC=${MANDOC:-}
GROFF=${GROFF:-groff}

pages=
for f in "$top_builddir"/man/*.1 "$top_builddir"/man/*.5 "$top_builddir"/man/*.8; do
    [ -f "$f" ] && pages="$pages $f"
done

if [ -z "$pages" ]; then
    echo "1..0 # SKIP no manual pages in $top_builddir/man (make them first)"
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
    if grep -q '@[a-z]*@' "$f"; then
        out="${out:+$out
}$(grep -n '@[a-z]*@' "$f" | sed 's/^/unsubstituted placeholder: /')"
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
