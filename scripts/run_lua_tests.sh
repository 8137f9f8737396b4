#!/bin/sh
# run_lua_tests.sh BUILD INTERP... - runs the busted specs in tests/lua with
# the given interpreter (lua5.4 with build/threadkit.so on LUA_CPATH, or a
# tklua), appends "busted passed failed" to BUILD/results. TK_SPECS picks
# spec files (default: all); TK_TKLUA_WRAPPER prefixes every tklua the
# specs run (valgrind). TK_CLOCK_SHIFT names the clock shim when the build
# has one.
build=$(cd "$1" && pwd); shift
mult=${TK_TEST_TIMEOUT_MULTIPLIER:-1}
busted=$(command -v busted)
[ -n "$busted" ] || { echo "busted not found (make deps)"; exit 1; }
log="$build/busted.log"
cd "$(dirname "$0")/../tests/lua" || exit 1
shim="$build/clock_shift.so"
[ -f "$shim" ] && export TK_CLOCK_SHIFT="$shim"
LUA_CPATH="$build/?.so;;" TKLUA="${TK_TKLUA_WRAPPER:+$TK_TKLUA_WRAPPER }$build/tklua" \
  timeout --kill-after=10 $((300 * mult)) "$@" "$busted" -o utfTerminal \
  ${TK_SPECS:-.} >"$log" 2>&1
rc=$?
line=$(grep -a -E '[0-9]+ success' "$log" | tail -n 1)
passed=$(echo "$line" | sed -n 's/.*\([^0-9]\|^\)\([0-9][0-9]*\) success.*/\2/p')
failures=$(echo "$line" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) failure.*/\1/p')
errors=$(echo "$line" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) error.*/\1/p')
passed=${passed:-0}
failed=$(( ${failures:-0} + ${errors:-0} ))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
cat "$log" | tail -n 40
echo "busted $passed $failed" >> "$build/results"
[ "$rc" -eq 0 ]
