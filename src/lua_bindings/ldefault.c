/*
** ldefault.c - the default pool behind tk.submit: made on first use (or
** given by an embedding host), held by every state that uses it. See
** LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdatomic.h>

#include "ctx.h"
#include "ldefault.h"
#include "lopen.h"
#include "ltask.h"
#include "lwait.h"
#include "pool.h"
#include "tkl_runtime.h"

/* Written under default_mu; read bare only to compare with a pool the
** reader holds (tkl_default_pool_ctx). */
static pthread_mutex_t default_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(tkl_pool *) default_pool;
static int default_workers;      /* 0: one per CPU */

/* tklua -j N */
void tkl_set_default_workers(int n) { default_workers = n; }

/* The default pool: made on first use (or given by an embedding host),
** ended when the state that made it closes: a sentinel in that state's
** registry holds the pool and, when collected, ends it if it is still the
** default. */
static int default_gc(lua_State *L) {
  tkl_pool **slot = lua_touserdata(L, 1);
  pthread_mutex_lock(&default_mu);
  tkl_pool *p = *slot == default_pool ? default_pool : NULL;
  if (p != NULL) default_pool = NULL;
  pthread_mutex_unlock(&default_mu);
  if (p != NULL) {
    tkl_pool_close(p, 0);  /* a no-op for a host's pool: the host ends it */
    tkl_pool_release(p);
  }
  return 0;
}

/* Makes p (retained) the default pool the state of context c holds: every
** state that uses the default pool holds it, so it outlives each of them
** however the state that made it ends. */
static tkl_pool *hold_default(tkl_ctx *c, tkl_pool *p) {
  tkl_pool_release(c->default_pool);
  c->default_pool = p;
  return p;
}

static void set_sentinel(lua_State *L, tkl_pool *p) {
  tkl_pool **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = p;
  lua_newtable(L);
  lua_pushcfunction(L, default_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "threadkit.default_sentinel");
}

/* The default pool, held by this state (c: its context). */
tkl_pool *tkl_default_pool_ctx(lua_State *L, tkl_ctx *c) {
  tkl_pool *p = atomic_load(&default_pool);
  if (p != NULL && p == c->default_pool) return p;
  pthread_mutex_lock(&default_mu);
  p = default_pool;
  if (p != NULL) tkl_pool_retain(p);
  pthread_mutex_unlock(&default_mu);
  if (p != NULL) return hold_default(c, p);
  lua_getfield(L, LUA_REGISTRYINDEX, "threadkit.worker");
  int in_worker = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (in_worker)
    luaL_error(L, "the default pool is not running (a task cannot start it)");
  p = tkl_pool_make(L, default_workers, "tk", 0, 0);
  pthread_mutex_lock(&default_mu);
  if (default_pool == NULL) {
    default_pool = p;
    p = NULL;
  }
  tkl_pool *winner = default_pool;
  if (winner != NULL) tkl_pool_retain(winner);  /* this state's hold */
  pthread_mutex_unlock(&default_mu);
  if (p != NULL) {  /* lost a race: keep the other */
    tkl_pool_close(p, 0);
    tkl_pool_release(p);
  } else {
    set_sentinel(L, winner);
  }
  return hold_default(c, winner);
}

static tkl_pool *get_default_here(lua_State *L) {
  tkl_ctx *c = tkl_ctx_push(L);
  lua_pop(L, 1);  /* the registry keeps it */
  return tkl_default_pool_ctx(L, c);
}

tkl_pool *tkl_default_pool(lua_State *L) {
  tkl_task *t = tkl_current_task();
  if (t != NULL && t->pool != NULL) return t->pool;
  return get_default_here(L);
}

/* For the embedding API: the host's pool becomes the default until L
** closes. */
void tkl_set_default_pool(lua_State *L, tkl_pool *p) {
  pthread_mutex_lock(&default_mu);
  tkl_pool *old = default_pool;
  default_pool = p;
  pthread_mutex_unlock(&default_mu);
  if (old != NULL) {
    tkl_pool_close(old, 0);
    tkl_pool_release(old);
  }
  set_sentinel(L, p);
}

/* After Ctrl-C stopped everything in the REPL (tk_lua_stop_settle): the
** default pool, shut down, stops being the default, so that the next
** submit makes a new one. L's sentinel stops naming the old pool, whose
** memory a new pool may reuse. A host's pool (tk_lua_open) stays the
** default: the host owns it, and the stop did not shut it down. */
void tkl_forget_default_pool(lua_State *L) {
  pthread_mutex_lock(&default_mu);
  tkl_pool *old = default_pool;
  if (old != NULL && old->owned) default_pool = NULL;
  else old = NULL;
  pthread_mutex_unlock(&default_mu);
  if (old == NULL) return;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "threadkit.default_sentinel") ==
      LUA_TUSERDATA)
    *(tkl_pool **)lua_touserdata(L, -1) = NULL;
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "threadkit.default_sentinel");
  tkl_pool_release(old);
}

/* The state's hold on the default pool goes with its context. */
static void let_default_go(lua_State *L, tkl_ctx *c) {
  (void)L;
  tkl_pool_release(c->default_pool);
  c->default_pool = NULL;
}

void tkl_open_default(lua_State *L) {
  (void)L;
  tkl_ctx_on_close(TKL_CLOSE_DEFAULT_POOL, let_default_go);
}
