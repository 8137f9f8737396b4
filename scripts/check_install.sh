#!/bin/sh
# check_install.sh BUILD - `make install` into a temporary DESTDIR (with
# its own BINDIR, LIBDIR, INCLUDEDIR, LUA_CMODDIR) puts the expected files
# there and `make uninstall` leaves no file behind; installed under a
# temporary PREFIX, a C host built with `pkg-config --cflags --libs
# threadkit-lua`, a core program built with threadkit.pc and the Lua
# module (from lua5.4, no library path set) run.
build=$1
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest"
dirs="PREFIX=/opt/tk BINDIR=/opt/tk/b LIBDIR=/opt/tk/l INCLUDEDIR=/opt/tk/i LUA_CMODDIR=/opt/tk/lua"
# shellcheck disable=SC2086
make -s -C "$root" BUILD="$build" DESTDIR="$dest" $dirs install > "$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; echo "make install failed"; exit 1; }
expected="b/tklua i/threadkit.h i/threadkit_lua.h l/libthreadkit.a
l/libthreadkit_lua.a l/libthreadkit.so l/libthreadkit.so.0
l/pkgconfig/threadkit-lua.pc l/pkgconfig/threadkit.pc lua/threadkit.so"
status=0
for f in $expected; do
  [ -e "$dest/opt/tk/$f" ] || { echo "not installed: $f"; status=1; }
done
ls "$dest"/opt/tk/l/libthreadkit.so.0.* > /dev/null 2>&1 ||
  { echo "not installed: libthreadkit.so.0.x.y"; status=1; }
[ -L "$dest/opt/tk/l/libthreadkit.so.0" ] || { echo "libthreadkit.so.0 is not a link"; status=1; }

# shellcheck disable=SC2086
make -s -C "$root" BUILD="$build" DESTDIR="$dest" $dirs uninstall > "$tmp/uninstall.log" 2>&1 ||
  { cat "$tmp/uninstall.log"; echo "make uninstall failed"; exit 1; }
left=$(find "$dest" ! -type d)
[ -z "$left" ] || { echo "left after uninstall:"; echo "$left"; status=1; }

prefix="$tmp/prefix"
make -s -C "$root" BUILD="$build" PREFIX="$prefix" install > "$tmp/install2.log" 2>&1 ||
  { cat "$tmp/install2.log"; echo "make install PREFIX=... failed"; exit 1; }
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs threadkit-lua) || { echo "pkg-config threadkit-lua failed"; exit 1; }
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -o "$tmp/host" "$root/scripts/examples/host.c" $flags -lm -ldl ||
  { echo "the example host does not build with: $flags"; status=1; }
if [ -x "$tmp/host" ]; then
  "$tmp/host" > "$tmp/host.out" 2>&1 && grep -q "checksum in the host state too" "$tmp/host.out" ||
    { cat "$tmp/host.out"; echo "the example host built through pkg-config failed"; status=1; }
fi
flags=$(pkg-config --cflags --libs threadkit) || { echo "pkg-config threadkit failed"; exit 1; }
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -o "$tmp/demo_c" \
  "$root/scripts/examples/demo.c" $flags -lpthread ||
  { echo "demo.c does not build with: $flags"; status=1; }
if [ -x "$tmp/demo_c" ]; then
  export LD_LIBRARY_PATH="$prefix/lib"
  "$tmp/demo_c" > "$tmp/demo.out" 2>&1 ||
    { cat "$tmp/demo.out"; echo "demo.c against the installed libthreadkit.so failed"; status=1; }
  LD_LIBRARY_PATH="$prefix/lib" ldd "$tmp/demo_c" | grep -q "libthreadkit.so.0 => $prefix/lib/" ||
    { echo "demo_c does not load the installed libthreadkit.so.0"; status=1; }
fi

# The module installed under the PREFIX finds its libthreadkit.so.0 there
# by itself (its runpath), whatever PREFIX the build was made for.
out=$(cd / && env -u LD_LIBRARY_PATH LUA_CPATH="$prefix/lib/lua/5.4/?.so" \
      ${LUA:-lua5.4} -e 'print(require("threadkit").submit(function() return 6 * 7 end):result())' 2>&1)
[ "$out" = 42 ] || { echo "the installed module does not load: $out"; status=1; }

[ "$status" -eq 0 ] && echo "install, pkg-config (threadkit, threadkit-lua) and uninstall work"
exit $status
