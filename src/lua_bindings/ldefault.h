/*
** ldefault.h - the default pool behind tk.submit (ldefault.c).
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LDEFAULT_H
#define TKL_LDEFAULT_H

#include "pool.h"
#include "tkl_common.h"

struct tkl_ctx;

/* The pool behind tk.submit in this state: the running task's pool in a
** task, else the default pool (made on first use). */
TKL_INTERNAL tkl_pool *tkl_default_pool(lua_State *L);
/* The default pool, held by the state of context c (made on first use). */
TKL_INTERNAL tkl_pool *tkl_default_pool_ctx(lua_State *L, struct tkl_ctx *c);

#endif
