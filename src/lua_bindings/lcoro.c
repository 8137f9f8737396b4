/*
** lcoro.c - coroutine.resume, wrap and close for worker states.
** See LICENSE for copyright and licence.
**
** A task's code may run in coroutines of its own making. A hard stop
** (job:cancel(true), a timeout, tklua's Ctrl-C or failing script) sets a
** hook on the coroutine that runs Lua code, and Lua keeps hooks per
** coroutine: these versions of the library's functions tell the worker
** which coroutine runs (tkl_coro_enter, tkl_coro_leave), so that the stop
** reaches it, and the coroutine that resumed it when the error comes back.
** They behave as the standard ones otherwise (results, messages, wrap's
** closing of a dead coroutine); the cost is a few atomic operations per
** resume, none per instruction.
*/
#include "tkl.h"

/* Resumes co with the narg values on top of L. Returns how many values
** it yielded or returned, now on top of L, or -1 with an error message on
** top instead. */
static int resume_child(lua_State *L, lua_State *co, int narg) {
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  lua_xmove(L, co, narg);
  tkl_coro_mark m;
  tkl_coro_enter(co, &m);
  int nres;
  int st = lua_resume(co, L, narg, &nres);
  tkl_coro_leave(L, &m);
  if (st != LUA_OK && st != LUA_YIELD) {
    lua_xmove(co, L, 1);  /* the error */
    return -1;
  }
  if (!lua_checkstack(L, nres + 1)) {
    lua_pop(co, nres);
    lua_pushliteral(L, "too many results to resume");
    return -1;
  }
  lua_xmove(co, L, nres);
  return nres;
}

/* coroutine.resume(co, ...) --> true, values | false, error */
static int co_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co != NULL, 1, "coroutine");
  int n = resume_child(L, co, lua_gettop(L) - 1);
  lua_pushboolean(L, n >= 0);
  if (n < 0) n = 1;  /* the error */
  lua_insert(L, -(n + 1));
  return n + 1;
}

/* The function coroutine.wrap returns: upvalue 1 is its coroutine. */
static int wrapped_call(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int n = resume_child(L, co, lua_gettop(L));
  if (n >= 0) return n;
  int st = lua_status(co);
  if (st != LUA_OK && st != LUA_YIELD) {
    /* It died: its pending to-be-closed variables close now, in it (code
    ** that a stop must reach too); their error, if any, replaces its. */
    tkl_coro_mark m;
    tkl_coro_enter(co, &m);
#if LUA_VERSION_RELEASE_NUM >= 50406
    st = lua_closethread(co, L);
#else
    st = lua_resetthread(co);
#endif
    tkl_coro_leave(L, &m);
    lua_xmove(co, L, 1);
  }
  /* As the standard wrap: a message gets where the call was made. */
  if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* coroutine.wrap(f) --> a function that resumes a new coroutine running f */
static int co_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, wrapped_call, 1);
  return 1;
}

/* coroutine.close(co): the library's (upvalue 1), with co known to run
** Lua code meanwhile: its to-be-closed variables close in it. */
static int co_close(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co != NULL, 1, "coroutine");
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  tkl_coro_mark m;
  tkl_coro_enter(co, &m);
  int st = lua_pcall(L, 1, LUA_MULTRET, 0);
  tkl_coro_leave(L, &m);
  if (st != LUA_OK) return lua_error(L);  /* "cannot close a running ..." */
  return lua_gettop(L);
}

void tkl_open_coroutines(lua_State *L) {
  lua_pushcfunction(L, co_resume);
  lua_setfield(L, -2, "resume");
  lua_pushcfunction(L, co_wrap);
  lua_setfield(L, -2, "wrap");
  lua_getfield(L, -1, "close");
  lua_pushcclosure(L, co_close, 1);
  lua_setfield(L, -2, "close");
}
