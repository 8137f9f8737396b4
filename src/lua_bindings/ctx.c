/*
** ctx.c - a state's module context: what the hot paths (submit, encode,
** new job handles) need, reachable without registry lookups. See LICENSE
** for copyright and licence.
**
** One userdata per state. It is in the registry for every path, and
** upvalue 1 of the functions that submit, which reach it for the price of
** an index: a registry lookup by address hashes a pointer and costs about
** as much as the rest of a small encode.
*/
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "code.h"
#include "ctx.h"
#include "lopen.h"

static const char ctx_key = 0;

/* What other parts do when a state's context goes, by slot: each part
** registers its own when the module opens (always the same function). */
static _Atomic(tkl_ctx_closer) closers[TKL_CLOSE_SLOTS];

void tkl_ctx_on_close(int slot, tkl_ctx_closer fn) {
  atomic_store_explicit(&closers[slot], fn, memory_order_relaxed);
}

static void run_closer(lua_State *L, tkl_ctx *c, int slot) {
  tkl_ctx_closer fn = atomic_load_explicit(&closers[slot],
                                           memory_order_relaxed);
  if (fn != NULL) fn(L, c);
}

/* Collected with its state. The debug library can reach it (an upvalue)
** and call this on anything: only a context is touched, and it stays
** usable. */
static int ctx_gc(lua_State *L) {
  tkl_ctx *c = lua_touserdata(L, 1);
  if (c == NULL || lua_type(L, 1) != LUA_TUSERDATA ||
      lua_rawlen(L, 1) != sizeof *c || c->tag != &ctx_key)
    return 0;
  run_closer(L, c, TKL_CLOSE_CALLBACKS);
  run_closer(L, c, TKL_CLOSE_SCRATCH);
  /* The code its cache of sent functions holds may go. */
  for (int i = 0; i < TKL_FN_SLOTS; i++) {
    tkl_code_release(c->fn_code[i]);
    c->fn_code[i] = NULL;
    c->fn[i] = NULL;
  }
  run_closer(L, c, TKL_CLOSE_DEFAULT_POOL);
  run_closer(L, c, TKL_CLOSE_CYCLES);
  return 0;
}

void tkl_open_ctx(lua_State *L) {
  tkl_ctx *c = lua_newuserdatauv(L, sizeof *c, TKL_CTX_NUV);
  memset(c, 0, sizeof *c);
  c->tag = &ctx_key;
  for (int i = 0; i < TKL_FN_SLOTS; i++) {
    c->dec_id[i] = -1;  /* no id */
    c->dec_ref[i] = LUA_NOREF;
  }
  /* A second open of the module in the state (a loader that cleared
  ** package.loaded) makes a new context: the fired callbacks are the
  ** state's, and move to it. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key) == LUA_TUSERDATA) {
    tkl_ctx *old = lua_touserdata(L, -1);
    c->fired = old->fired;
    old->fired = NULL;
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);
}

tkl_ctx *tkl_ctx_push(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
  return lua_touserdata(L, -1);
}


/* Below this a worker's heap is left to the collector's own pace. */
#define TRIM_MIN_KB (8 * 1024)

void tkl_state_trim(lua_State *L, tkl_ctx *c) {
  int kb = lua_gc(L, LUA_GCCOUNT);
  int floor2 = c->trim_floor_kb > INT_MAX / 2 ? INT_MAX : 2 * c->trim_floor_kb;
  if (kb <= TRIM_MIN_KB || kb <= floor2) return;
  if (!lua_gc(L, LUA_GCISRUNNING)) return;  /* stopped by the script */
  lua_gc(L, LUA_GCCOLLECT);
  c->trim_floor_kb = lua_gc(L, LUA_GCCOUNT);
}
