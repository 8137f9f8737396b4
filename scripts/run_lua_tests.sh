#!/bin/sh
# run_lua_tests.sh BUILD INTERP... - runs the busted specs in tests/lua with
# the given interpreter (lua5.4 with build/threadkit.so on LUA_CPATH, or a
# tklua) and busted's TAP output, appends "busted passed failed" to
# BUILD/results. TK_SPECS picks
# spec files (default: all); TK_TKLUA_WRAPPER prefixes every tklua the
# specs run (valgrind); TK_MODULE_DIR is where threadkit.so is found
# (default BUILD; a LuaRocks tree's, scripts/check_rock.sh). TK_CLOCK_SHIFT names the clock shim when the build
# has one.
build=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
mult=${TK_TEST_TIMEOUT_MULTIPLIER:-1}
busted=$(command -v busted)
[ -n "$busted" ] || { echo "busted not found (make deps)"; exit 1; }
log="$build/busted.log"
cd "$(dirname "$0")/../tests/lua" || exit 1
shim="$build/clock_shift.so"
[ -f "$shim" ] && export TK_CLOCK_SHIFT="$shim"
LUA_CPATH="${TK_MODULE_DIR:-$build}/?.so;;" TKLUA="${TK_TKLUA_WRAPPER:+$TK_TKLUA_WRAPPER }$build/tklua" \
  timeout --kill-after=10 $((300 * mult)) "$@" "$busted" -o TAP \
  ${TK_SPECS:-.} >"$log" 2>&1
rc=$?
counts=$(sh "$here/tap_count.sh" "$log")
passed=${counts% *} failed=${counts#* }
[ "$failed" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
if [ "$rc" -ne 0 ]; then
  # What failed, with busted's diagnostics (TAP comments), then the end.
  grep -a -A 12 '^not ok' "$log" | head -n 200
  echo "busted: exit $rc; log: $log"
  tail -n 5 "$log"
else
  echo "ok   busted ($passed specs)"
fi
echo "busted $passed $failed" >> "$build/results"
[ "$rc" -eq 0 ]
