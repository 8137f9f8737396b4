/*
** lcoro.c - coroutine.resume, wrap and close for worker states.
** See LICENSE for copyright and licence.
**
** A task's code may run in coroutines of its own making, and Lua keeps
** hooks per coroutine and yields to the nearest resumer. These versions of
** the library's functions tell the worker which coroutine runs
** (tkl_coro_enter, tkl_coro_leave), for two things:
**
** - a hard stop (job:cancel(true), a timeout, tklua's Ctrl-C or failing
**   script) sets its hook on the coroutine that runs Lua code, and on the
**   one that resumed it when the error comes back;
** - a threadkit wait in such a coroutine suspends the task, as it does in
**   the task's own coroutine, when every coroutine from the task's down to
**   it resumed the next where it could yield: the wait yields to resume,
**   which yields too, up to the task runner, which frees the worker. When
**   the task is resumed, each resume, in its continuation, resumes the
**   coroutine below, down to the wait's continuation. Meanwhile the
**   coroutines in the chain carry a tag (tkl_waiting) and no other task
**   may resume or close them.
**
** They behave as the standard ones otherwise (results, messages, wrap's
** closing of a dead coroutine); the cost is a few atomic operations per
** resume, none per instruction.
*/
#include "lcoro.h"
#include "ltask.h"

/* How a resume ends: values (>= 0 of them on top of L), an error (its
** message on top), or a suspension (the caller yields). */
enum { RESUME_FAILED = -1, RESUME_SUSPENDS = -2 };

/* Resumes co with the narg values on top of L. `again`: the task is back
** from a wait that suspended it while co was in the chain. */
static int resume_child(lua_State *L, lua_State *co, int narg, int again) {
  if (again) {
    if (tkl_waiting(co)) lua_pop(co, 1);  /* the tag it yielded, waiting */
  } else if (tkl_waiting(co)) {
    lua_pushliteral(L, "cannot resume a coroutine that waits in threadkit "
                       "for another task");
    return RESUME_FAILED;
  }
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return RESUME_FAILED;
  }
  lua_xmove(L, co, narg);
  tkl_coro_mark m;
  tkl_coro_enter(L, co, 1, &m);
  int nres;
  int st = lua_resume(co, L, narg, &nres);
  if (tkl_coro_leave(L, &m, st)) return RESUME_SUSPENDS;  /* co: tagged */
  if (st != LUA_OK && st != LUA_YIELD) {
    lua_xmove(co, L, 1);  /* the error */
    return RESUME_FAILED;
  }
  if (!lua_checkstack(L, nres + 1)) {
    lua_pop(co, nres);
    lua_pushliteral(L, "too many results to resume");
    return RESUME_FAILED;
  }
  lua_xmove(co, L, nres);
  return nres;
}

/* coroutine.resume, from the start (status LUA_OK) or in its continuation
** (the coroutine at index 1 then had a wait suspend the task). */
static int resume_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lua_State *co = lua_tothread(L, 1);
  int again = status == LUA_YIELD;
  int n = resume_child(L, co, again ? 0 : lua_gettop(L) - 1, again);
  if (n == RESUME_SUSPENDS) return tkl_wait_suspend(L, resume_k, 0);
  lua_pushboolean(L, n >= 0);
  if (n < 0) n = 1;  /* the error */
  lua_insert(L, -(n + 1));
  return n + 1;
}

/* coroutine.resume(co, ...) --> true, values | false, error */
static int co_resume(lua_State *L) {
  luaL_argexpected(L, lua_tothread(L, 1) != NULL, 1, "coroutine");
  return resume_k(L, LUA_OK, 0);
}

/* The function coroutine.wrap returns (upvalue 1 is its coroutine), from
** the start or in its continuation, as resume_k. */
static int wrapped_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int again = status == LUA_YIELD;
  int n = resume_child(L, co, again ? 0 : lua_gettop(L), again);
  if (n == RESUME_SUSPENDS) return tkl_wait_suspend(L, wrapped_k, 0);
  if (n >= 0) return n;
  int st = lua_status(co);
  if (st != LUA_OK && st != LUA_YIELD) {
    /* It died: its pending to-be-closed variables close now, in it (code
    ** that a stop must reach too); their error, if any, replaces its. */
    tkl_coro_mark m;
    tkl_coro_enter(L, co, 0, &m);
#if LUA_VERSION_RELEASE_NUM >= 50406
    st = lua_closethread(co, L);
#else
    st = lua_resetthread(co);
#endif
    tkl_coro_leave(L, &m, st);
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

static int wrapped_call(lua_State *L) { return wrapped_k(L, LUA_OK, 0); }

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
  if (tkl_waiting(co))
    return luaL_error(L, "cannot close a coroutine that waits in threadkit "
                         "for another task");
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  tkl_coro_mark m;
  tkl_coro_enter(L, co, 0, &m);
  int st = lua_pcall(L, 1, LUA_MULTRET, 0);
  tkl_coro_leave(L, &m, st);
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
