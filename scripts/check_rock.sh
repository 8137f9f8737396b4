#!/bin/sh
# check_rock.sh BUILD - LuaRocks builds the module from this checkout
# (`luarocks make --tree` a temporary tree, threadkit-scm-1.rockspec), and
# the busted specs pass against the module it installed (under lua5.4; the
# CLI specs use BUILD/tklua, so make test first). Appends its line to
# BUILD/results (run_lua_tests.sh's line, renamed "rock-busted").
build=$(cd "$1" && pwd) || exit 1
root=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d) || exit 1
trap 'rm -rf "$tree"' EXIT
command -v luarocks > /dev/null || { echo "luarocks not found"; exit 1; }
(cd "$root" && luarocks --lua-version 5.4 make --tree "$tree" \
   threadkit-scm-1.rockspec) > "$build/rock.log" 2>&1 ||
  { cat "$build/rock.log"; echo "rock: luarocks make failed"; echo "rock 0 1" >> "$build/results"; exit 1; }
module="$tree/lib/lua/5.4/threadkit.so"
[ -f "$module" ] || { echo "rock: no $module"; echo "rock 0 1" >> "$build/results"; exit 1; }
echo "rock: luarocks built $module"
TK_MODULE_DIR="$tree/lib/lua/5.4" sh "$root/scripts/run_lua_tests.sh" "$build" lua5.4
rc=$?
# run_lua_tests.sh appended its "busted p f" line: it is the rock's.
sed -i '$ s/^busted /rock-busted /' "$build/results"
exit $rc
