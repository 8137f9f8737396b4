/*
** lscript.c - the parts of the module written in Lua, on top of submit,
** result and sleep: pool:map and the retry runner. Loaded into every
** state with the module. See LICENSE for copyright and licence.
*/
#include <stdlib.h>
#include <string.h>

#include "tkl.h"

/* The chunk receives the module table and the pool method table. A batch
** task carries its slice of the list and the offset of its first item, so
** an error names the item's index in the whole list. */
static const char map_lua[] =
    "local tk, methods = ...\n"
    "-- The functions below travel to workers: they take nothing from here\n"
    "-- (no upvalues but _ENV) and find threadkit in the worker's state.\n"
    "-- Runs fn with retries (submit's {retry = ...}); the wait between two\n"
    "-- attempts is a tk.sleep, so it holds no worker.\n"
    "local function retry_runner(fn, policy, ...)\n"
    "  local tk = require 'threadkit'\n"
    "  local delay = policy.delay\n"
    "  for attempt = 1, policy.attempts do\n"
    "    local r = table.pack(pcall(fn, ...))\n"
    "    tk._note_attempt(not r[1] and tostring(r[2]) or nil)\n"
    "    if r[1] then return table.unpack(r, 2, r.n) end\n"
    "    local err = r[2]\n"
    "    if tk.cancelled() or attempt == policy.attempts or\n"
    "       (policy.on and not policy.on(err)) then\n"
    "      tk.checkpoint()  -- a cancellation is never retried\n"
    "      error(err, 0)\n"
    "    end\n"
    "    if not tk.sleep(delay) then tk.checkpoint() end\n"
    "    delay = math.min(delay * policy.backoff, policy.max_delay)\n"
    "  end\n"
    "end\n"
    "local function run_batch(fn, items, first)\n"
    "  local tk = require 'threadkit'\n"
    "  local out, at = {}, 0\n"
    "  -- One pcall per batch; `at` says which item failed.\n"
    "  local ok, err = pcall(function()\n"
    "    for i = 1, #items do\n"
    "      at = i\n"
    "      if i % 1024 == 0 then tk.checkpoint() end\n"
    "      out[i] = fn(items[i])\n"
    "    end\n"
    "  end)\n"
    "  if not ok then\n"
    "    tk.checkpoint()  -- a cancellation stays one\n"
    "    error(('map: item #%d: %s'):format(first + at - 1, tostring(err)), 0)\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "function methods.map(pool, fn, list, opts)\n"
    "  if type(fn) ~= 'function' then\n"
    "    error(\"bad argument #1 to 'map' (function expected, got \" .. type(fn) .. ')', 2)\n"
    "  end\n"
    "  if type(list) ~= 'table' then\n"
    "    error(\"bad argument #2 to 'map' (table expected, got \" .. type(list) .. ')', 2)\n"
    "  end\n"
    "  local n, bad = tk._list_length(list)\n"
    "  if not n then\n"
    "    error(\"bad argument #2 to 'map' (a list expected: key \" .. tostring(bad) .. ')', 2)\n"
    "  end\n"
    "  if opts ~= nil and type(opts) ~= 'table' then\n"
    "    error(\"bad argument #3 to 'map' (table expected, got \" .. type(opts) .. ')', 2)\n"
    "  end\n"
    "  opts = opts or {}\n"
    "  for k in pairs(opts) do\n"
    "    if k ~= 'batch' and k ~= 'priority' and k ~= 'name' then\n"
    "      error(\"bad argument #3 to 'map' (unknown option '\" .. tostring(k) .. \"')\", 2)\n"
    "    end\n"
    "  end\n"
    "  local size = opts.batch or math.max(1, math.ceil(n / (pool.workers * 4)))\n"
    "  if math.type(size) == 'float' then size = math.tointeger(size) or size end\n"
    "  if math.type(size) ~= 'integer' or size < 1 then\n"
    "    error(\"bad argument #3 to 'map' (batch must be a positive integer)\", 2)\n"
    "  end\n"
    "  local sub = {priority = opts.priority, name = opts.name}\n"
    "  local jobs, firsts = {}, {}\n"
    "  for first = 1, n, size do\n"
    "    local last = math.min(n, first + size - 1)\n"
    "    jobs[#jobs + 1] = pool:submit(sub, run_batch, fn,\n"
    "                                  table.move(list, first, last, 1, {}), first)\n"
    "    firsts[#firsts + 1] = first\n"
    "  end\n"
    "  local out = {}\n"
    "  for b = 1, #jobs do\n"
    "    local ok, part = pcall(jobs[b].result, jobs[b])\n"
    "    if not ok then\n"
    "      for c = b + 1, #jobs do jobs[c]:cancel() end\n"
    "      error(part, 0)\n"
    "    end\n"
    "    table.move(part, 1, #part, firsts[b], out)\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "return retry_runner\n";

/* The retry runner calls this after each attempt with the error (or nil):
** the job keeps the count and the errors (job.attempts). */
static int note_attempt(lua_State *L) {
  tkl_task *t = tkl_current_task();
  tkl_task_extra *x = t != NULL ? tkl_task_extra_get(t) : NULL;
  if (x == NULL) return 0;
  atomic_fetch_add_explicit(&x->attempts, 1, memory_order_relaxed);
  if (!lua_isnil(L, 1)) {
    char **e = realloc(x->attempt_errors,
                       (size_t)(x->nerrors + 1) * sizeof *e);
    if (e != NULL) {
      x->attempt_errors = e;
      e[x->nerrors] = strdup(lua_tostring(L, 1));
      if (e[x->nerrors] != NULL) x->nerrors++;
    }
  }
  return 0;
}

/* tk._list_length(t) --> #t if t's keys are exactly 1..#t, else nil and
** an offending key. In C: map checks a million-item list in milliseconds. */
static int list_length(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Unsigned n = lua_rawlen(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    lua_pop(L, 1);
    int isnum;
    lua_Integer k = lua_tointegerx(L, -1, &isnum);
    if (!isnum || !lua_isinteger(L, -1) || k < 1 || (lua_Unsigned)k > n) {
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;  /* nil, the key */
    }
  }
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

const char tkl_key_retry = 0;

/* Adds pool:map to the pool methods (the table on top of the stack), with
** the module at index `module`; keeps the retry runner in the registry. */
void tkl_open_map(lua_State *L, int module);
void tkl_open_map(lua_State *L, int module) {
  int methods = lua_gettop(L);
  if (luaL_loadbuffer(L, map_lua, sizeof map_lua - 1, "=threadkit") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, module);
  lua_pushvalue(L, methods);
  lua_call(L, 2, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tkl_key_retry);
  lua_pushcfunction(L, note_attempt);
  lua_setfield(L, module, "_note_attempt");
  lua_pushcfunction(L, list_length);
  lua_setfield(L, module, "_list_length");
}
