#!/bin/sh
# deps.sh [PKG...] - installs the Debian packages threadkit needs (or the
# ones named), only when missing.
set -e
PKGS="liblua5.4-dev lua5.4 lua-busted libcmocka-dev libglib2.0-dev libuv1-dev
pkg-config valgrind lua-luv graphviz"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
