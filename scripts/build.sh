#!/bin/sh
# SPDX-License-Identifier: ISC
#
# Installs missing build dependencies (scripts/deps.sh build), then builds
# dwell in the source tree:
# ./autogen.sh && ./configure && make. An existing configured tree is reused
# (make re-runs autoconf/configure by itself when their inputs changed).
# Extra arguments are passed to configure on a first configuration.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"

cd "$top"
if [ ! -x configure ]; then
        ./autogen.sh
fi
if [ ! -f config.status ] || [ ! -f Makefile ]; then
        ./configure "$@"
fi
make -j"${DWELL_MAKE_JOBS:-2}"
