/*
** lpool.h - pools in Lua: the Lua side of a core pool.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LPOOL_H
#define TKL_LPOOL_H

#include <stdatomic.h>

#include "buffer.h"
#include "tkl_common.h"

struct tkl_ctx;

/* The Lua side of a pool: what a worker needs to build its state. Boxes,
** tasks and states using it as their default pool hold references. The
** owning box shuts the pool down when collected, closed or told to; the
** core pool is freed with the last reference, so a shut-down pool stays
** safe to use (its submits fail) from every state that still holds it. */
typedef struct tkl_pool {
  atomic_int refs;
  atomic_int handles;            /* Lua's handles on it: boxes (but those in
                                    its own workers' states) and values in
                                    transit; it shuts down when the last
                                    goes, whichever state made it */
  atomic_int closed;             /* shut down by its owner (lpool.c) */
  tk_pool_t *pool;               /* for the tkl_pool's whole life */
  int owned;                     /* ours to shut down and free */
  char *path, *cpath;            /* package.path/cpath of the creator */
  tkl_buf init;                  /* encoded init function (len 0: none) */
  char name[32];
  size_t capacity;               /* bounded pools: max pending, else 0 */
  size_t memory_limit;           /* bytes per worker state; 0: none */
  struct tkl_pool *next_live;    /* on the list tklua waits for */
} tkl_pool;

TKL_INTERNAL void tkl_pool_retain(tkl_pool *p);
TKL_INTERNAL void tkl_pool_release(tkl_pool *p);
/* A new pool, owned (shut down by its owner box or as the default pool),
** on the live list; raises on failure. */
TKL_INTERNAL tkl_pool *tkl_pool_make(lua_State *L, int workers,
                                     const char *name, size_t capacity,
                                     int block);
/* Shuts an owned pool down and waits for its work (unless called from one
** of its own workers); cancel_pending cancels what has not started. */
TKL_INTERNAL void tkl_pool_close(tkl_pool *p, int cancel_pending);

/* The live list (lruntime.c): a pool made goes on it, and comes off when
** it is shut down, leaving its last metrics for --stats. */
TKL_INTERNAL void tkl_live_add(tkl_pool *p);
TKL_INTERNAL void tkl_live_closed(tkl_pool *p);

/* The pool behind tk.submit in this state: the running task's pool in a
** task, else the default pool (made on first use). */
TKL_INTERNAL tkl_pool *tkl_default_pool(lua_State *L);
/* The default pool, held by the state of context c (made on first use). */
TKL_INTERNAL tkl_pool *tkl_default_pool_ctx(lua_State *L, struct tkl_ctx *c);

#endif
