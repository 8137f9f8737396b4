/*
** embed.c - the API of threadkit_lua.h: a host's state and pool, and the
** runtime calls an interpreter around the module makes.
** See LICENSE for copyright and licence.
*/
#include "threadkit_lua.h"
#include "handles.h"
#include "tkl_runtime.h"

int tk_lua_open(lua_State *L, tk_pool_t *pool) {
  if (L == NULL) return TK_EINVAL;
  if (pool != NULL) {
    tkl_pool *p = tkl_pool_wrap(pool);
    if (p == NULL) return TK_ENOMEM;
    tkl_set_default_pool(L, p);
  }
  luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
  return 0;
}

void tk_lua_set_worker_hook(void (*hook)(lua_State *L)) {
  tkl_worker_hook = hook;
}

void tk_lua_close(lua_State *L) {
  if (L == NULL) return;
  tkl_set_closing(1);
  lua_close(L);
  tkl_set_closing(0);
}

int tk_lua_set_default_workers(int workers) {
  if (workers < 0 || workers > TK_MAX_WORKERS) return TK_EINVAL;
  tkl_set_default_workers(workers);
  return 0;
}

size_t tk_lua_wait_all(lua_State *L) {
  return L != NULL ? tkl_wait_live_pools(L) : 0;
}

/* Running tasks first: a cancelled job's on_cancel callbacks may submit,
** and the interrupt makes what they submit stop too. */
void tk_lua_stop_all(void) {
  tkl_interrupt_all();
  tkl_cancel_live_pools();
}

int tk_lua_stop_settle(lua_State *L, double timeout) {
  return L != NULL ? tkl_settle_stop(L, timeout) : 1;
}

void tk_lua_stop_end(void) { tkl_clear_interrupt(); }

void tk_lua_print_stats(FILE *f) {
  if (f != NULL) tkl_print_stats(f);
}

int tk_lua_trace_start(const char *path) {
  return path != NULL ? tkl_trace_start(path) : TK_EINVAL;
}

long tk_lua_trace_stop(void) { return tkl_trace_stop(); }
