#!/bin/sh
# SPDX-License-Identifier: ISC
#
# Installs the Debian packages needed to build and test dwell, only those
# that are missing. Quiet and idempotent when everything is present; runs
# `apt-get update` only when something has to be installed. Needs root for
# the installation (and only then).
set -eu

PACKAGES="
build-essential
autoconf
automake
pkg-config
libsystemd-dev
libpam0g-dev
libcap-dev
libyaml-dev
libpam-modules
libpam-runtime
mandoc
groff-base
util-linux
procps
python3
openssl
clang
coreutils
passwd
login
systemd
systemd-container
openssh-server
openssh-client
hyperfine
tmux
jq
screen
dtach
gnuplot-nox
"

missing=
for p in $PACKAGES; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = installed ] || missing="$missing $p"
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

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get install -y -qq --no-install-recommends $missing >&2
