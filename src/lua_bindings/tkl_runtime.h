/*
** tkl_runtime.h - the process-wide runtime of the Lua layer (live pools,
** the default pool, workers' states, the trace) as the embedding API in
** embed.c reaches it.
** See LICENSE for copyright and licence.
*/
#ifndef TKL_RUNTIME_H
#define TKL_RUNTIME_H

#include <stdio.h>

#include "pool.h"
#include "tkl_common.h"

/* pool.c, ldefault.c, lruntime.c */
TKL_INTERNAL tkl_pool *tkl_pool_wrap(tk_pool_t *core);
TKL_INTERNAL void tkl_set_default_pool(lua_State *L, tkl_pool *p);
TKL_INTERNAL void tkl_set_default_workers(int n);
TKL_INTERNAL size_t tkl_wait_live_pools(lua_State *L);
TKL_INTERNAL void tkl_cancel_live_pools(void);
TKL_INTERNAL void tkl_print_stats(FILE *f);
TKL_INTERNAL int tkl_settle_stop(lua_State *L, double timeout);
/* ldefault.c */
TKL_INTERNAL void tkl_forget_default_pool(lua_State *L);
/* ltask.c */
TKL_INTERNAL extern void (*tkl_worker_hook)(lua_State *L);
TKL_INTERNAL void tkl_interrupt_all(void);
TKL_INTERNAL void tkl_clear_interrupt(void);
/* ltrace.c */
TKL_INTERNAL int tkl_trace_start(const char *path);
TKL_INTERNAL long tkl_trace_stop(void);

#endif
