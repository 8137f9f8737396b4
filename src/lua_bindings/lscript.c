/*
** lscript.c - the parts of the module written in Lua, on top of submit,
** result and sleep: pool:map and the retry runner. Loaded into every
** state with the module. See LICENSE for copyright and licence.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "handles.h"
#include "lopen.h"
#include "lopts.h"
#include "lsubmit.h"
#include "ltask.h"
#include "lwait.h"

/* The chunk (lscript.lua) runs once per state, when the module opens (in
** a worker, before any task), and receives the module table, the pool
** methods and its private C helpers, never on the module table:
** nothing private is reachable from Lua. Every library function it uses is bound to a
** local right then: a script or a task that later sets `table = nil`,
** `pcall = nil`... must not break threadkit. Its functions never travel:
** a task carries a C entry (retry_entry, batch_entry) that finds the
** receiving state's own copy of them. A batch task carries its slice of
** the list, the index of its first item in the whole list (for error
** messages) and its length (the slice may have holes, so # cannot tell). */
#include "lscript_lua.h"  /* script_lua: lscript.lua, made at build time */

/* note_attempt(err): the retry runner calls it after each attempt with the
** error as a string (nil after a success): the job keeps the count and the
** errors (job.attempts, job.attempt_errors). */
static int note_attempt(lua_State *L) {
  const char *err = luaL_optstring(L, 1, NULL);
  tkl_task *t = tkl_current_task();
  tkl_task_extra *x = t != NULL ? tkl_task_extra_get(t) : NULL;
  if (x == NULL) return 0;
  atomic_fetch_add_explicit(&x->attempts, 1, memory_order_relaxed);
  if (err != NULL) {
    char **e = realloc(x->attempt_errors,
                       (size_t)(x->nerrors + 1) * sizeof *e);
    if (e != NULL) {
      x->attempt_errors = e;
      e[x->nerrors] = strdup(err);
      if (e[x->nerrors] != NULL) x->nerrors++;
    }
  }
  return 0;
}

/* list_length(t) --> its length if t is a list (lopts.c: its keys are
** exactly 1..n, read raw), else nil and a description of an offending key.
** In C: map checks a million-item list in milliseconds. */
static int list_length(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = tkl_list_length(L, 1);
  if (n >= 0) {
    lua_pushinteger(L, n);
    return 1;
  }
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;  /* nil, the key */
}

/* list_slice(t, first, count) --> {t[first], ..., t[first + count - 1]},
** read raw as list_length counted them: an __index metamethod does not
** fill the list's holes. */
static int list_slice(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer first = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
  luaL_argcheck(L, first >= 1, 2, "out of range");
  luaL_argcheck(L, count >= 0 && count <= INT_MAX &&
                       first - 1 <= LUA_MAXINTEGER - count,
                3, "out of range");
  lua_createtable(L, (int)count, 0);
  for (lua_Integer i = 0; i < count; i++) {
    lua_rawgeti(L, 1, first + i);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* Registry keys: what submit sends for a retry (the C entry), and this
** state's own Lua functions behind the entries. */
const char tkl_key_retry = 0;
static const char key_retry_runner = 0, key_run_batch = 0, key_map = 0;

static int entry_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L);  /* everything the Lua function returned */
}

/* Calls this state's Lua function under `key` with the arguments of the
** call, and returns its results; yieldable, so a task may wait inside. */
static int call_own(lua_State *L, const void *key) {
  int n = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TFUNCTION)
    return luaL_error(L, "threadkit is not open in this state");
  lua_insert(L, 1);
  lua_callk(L, n, LUA_MULTRET, 0, entry_done);
  return entry_done(L, LUA_OK, 0);
}

/* The functions a task carries (they travel by name, see tkl_private_cfuncs):
** runner(fn, policy, args...) and batch(fn, items, first, count). */
static int retry_entry(lua_State *L) { return call_own(L, &key_retry_runner); }
static int batch_entry(lua_State *L) { return call_own(L, &key_run_batch); }

const luaL_Reg tkl_private_cfuncs[] = {{"threadkit:retry", retry_entry},
                                       {"threadkit:batch", batch_entry},
                                       {NULL, NULL}};

/* Adds pool:map to the pool methods, and keeps the retry runner and the
** batch runner in the registry. Called once every other part of the
** module is open (the chunk binds the module's functions when it runs). A
** second open in the same state (a require after package.loaded forgot
** the module) reuses what the first one bound instead of binding again
** from globals a script may have changed since. */
void tkl_open_script(lua_State *L, int module) {
  luaL_getmetatable(L, TK_POOL_MT);
  lua_getfield(L, -1, "__index");  /* the pool methods */
  int methods = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_map) == LUA_TFUNCTION) {
    lua_setfield(L, methods, "map");
    lua_pop(L, 2);
    return;
  }
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, script_lua, sizeof script_lua - 1, "=threadkit") !=
      LUA_OK)
    lua_error(L);
  lua_pushvalue(L, module);
  lua_pushvalue(L, methods);
  lua_pushcfunction(L, batch_entry);
  lua_pushcfunction(L, note_attempt);
  lua_pushcfunction(L, list_length);
  lua_pushcfunction(L, list_slice);
  lua_call(L, 6, 2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_run_batch);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_retry_runner);
  lua_getfield(L, methods, "map");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_map);
  lua_pushcfunction(L, retry_entry);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tkl_key_retry);
  lua_pop(L, 2);
}
