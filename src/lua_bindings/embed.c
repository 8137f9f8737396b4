/*
** embed.c - the embedding API of threadkit.h: a host's state and pool.
** See LICENSE for copyright and licence.
*/
#include "tkl.h"

int luaopen_threadkit(lua_State *L);
tkl_pool *tkl_pool_wrap(tk_pool_t *core);
void tkl_set_default_pool(lua_State *L, tkl_pool *p);
extern void (*tkl_worker_hook)(lua_State *L);

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
