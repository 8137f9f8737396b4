#!/bin/sh
# check_one_core.sh BUILD LUA - one threadkit core per process, for each
# supported way in:
#   lua5.4 + require     the module alone; it exports luaopen_threadkit only
#   tklua + require      the built-in module, never BUILD/threadkit.so
#   a host + libthreadkit.so + require
#                        the module uses the host's core (with MODULE_CORE=own,
#                        for a module installed alone, the host would see
#                        two cores: the check expects that there)
# A host embedding through libthreadkit_lua.a is tklua's case (the Lua
# layer and the core linked in, the module opened with luaL_requiref).
build=$(cd "$1" && pwd) || exit 1
lua=$2
mode=${MODULE_CORE:-shared}
status=0
fail() { echo "one core: $*"; status=1; }

# The module's dynamic symbols: luaopen_threadkit is the only one defined.
exported=$(nm -D --defined-only "$build/threadkit.so" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" {print $3}')
[ "$exported" = "luaopen_threadkit" ] ||
  fail "threadkit.so exports more than luaopen_threadkit: $(echo $exported | head -c 300)"
if [ "$mode" = shared ]; then
  nm -D --defined-only "$build/threadkit.so" | grep -q ' tk_pool_new$' &&
    fail "threadkit.so defines tk_pool_new: it carries a core"
  readelf -d "$build/threadkit.so" | grep -q 'NEEDED.*libthreadkit\.so\.' ||
    fail "threadkit.so does not link libthreadkit.so"
fi
# libthreadkit.so: a SONAME, and only public (tk_) names.
readelf -d "$build/libthreadkit.so" | grep -q 'SONAME.*\[libthreadkit\.so\.[0-9]*\]' ||
  fail "libthreadkit.so has no SONAME libthreadkit.so.N"
others=$(nm -D --defined-only "$build/libthreadkit.so" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" && $3 !~ /^tk_/ {print $3}')
[ -z "$others" ] || fail "libthreadkit.so exports non-API names: $others"
internal=$(nm -D --defined-only "$build/libthreadkit.so" | awk '$3 ~ /^tk__/ {print $3}')
[ -z "$internal" ] || fail "libthreadkit.so exports internal names: $internal"
# The core calls nothing of the layers above it (Lua, the bindings).
upward=$(nm -D --undefined-only "$build/libthreadkit.so" | awk '$2 ~ /^(lua|luaL|tkl|tk_lua)_/ {print $2}')
[ -z "$upward" ] || fail "libthreadkit.so calls the layers above it: $upward"

# Stock lua5.4 loads the module and runs work through it.
out=$(cd "$build" && LUA_CPATH="$build/?.so" "$lua" -e '
  local tk = require "threadkit"
  assert(tk.submit(function() return 42 end):result() == 42)
  print("module ok")' 2>&1)
[ "$out" = "module ok" ] || fail "lua5.4 + require: $out"

# tklua: require finds the built-in module, before and after package.loaded
# forgets it; BUILD/threadkit.so, first on the path, is never loaded.
out=$(LUA_CPATH="$build/?.so" "$build/tklua" -e '
  local first = require "threadkit"
  package.loaded.threadkit = nil
  local again = require "threadkit"
  local f = io.open("/proc/self/maps")
  local maps = f and f:read("a") or ""
  if f then f:close() end
  assert(not maps:find("threadkit.so", 1, true), "threadkit.so was loaded")
  assert(type(again.submit) == "function" and again ~= nil)
  assert(again.submit(function() return 1 end):result() == 1)
  print("tklua ok")' 2>&1)
[ "$out" = "tklua ok" ] || fail "tklua + require: $out"

# A host that links libthreadkit.so and requires the module.
out=$(cd "$build" && LUA_CPATH="$build/?.so" "$build/one_core_host" 2>&1)
rc=$?
if [ "$mode" = shared ]; then
  [ "$rc" -eq 0 ] || fail "host + libthreadkit.so + require: $out (exit $rc)"
else
  # The module carries its own core: the host must see two, or this
  # check could not tell them apart.
  [ "$rc" -eq 2 ] || fail "host + libthreadkit.so + own-core module: expected two cores, got: $out (exit $rc)"
  echo "known: the module carries its own core (MODULE_CORE=own): a host linking libthreadkit.so that requires it has two"
fi
[ "$status" -eq 0 ] && echo "one core in each supported combination (module: $mode core)"
exit $status
