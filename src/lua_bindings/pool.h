/*
** pool.h - the Lua side of a core pool, as an object (pool.c).
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_POOL_H
#define TKL_POOL_H

#include <stdatomic.h>

#include "buffer.h"
#include "tkl_common.h"

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
  atomic_int closed;             /* shut down (tkl_pool_close) */
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
** on the list of live pools; raises on failure. */
TKL_INTERNAL tkl_pool *tkl_pool_make(lua_State *L, int workers,
                                     const char *name, size_t capacity,
                                     int block);
/* Shuts an owned pool down and waits for its work (unless called from one
** of its own workers); cancel_pending cancels what has not started. */
TKL_INTERNAL void tkl_pool_close(tkl_pool *p, int cancel_pending);
/* The same, waiting only if `wait`: any thread may call it, at once with
** others (the core shutdown is idempotent; the first takes the pool off
** the live list). */
TKL_INTERNAL void tkl_pool_shut(tkl_pool *p, int cancel_pending, int wait);


/* A handle on a pool (a box but those in its own workers' states, a
** value in transit) holds a reference, and keeps it up: when the last
** handle goes the pool shuts down, waiting for its work if `wait` (a box
** collected) or not (a value dropped, maybe under a lock). */
TKL_INTERNAL void tkl_pool_retain_handle(void *p);
TKL_INTERNAL void tkl_pool_release_handle(tkl_pool *p, int wait);
TKL_INTERNAL void tkl_pool_drop_handle(void *p);  /* without waiting */
/* The handle of a box made in a state of one of p's own workers goes: a
** pool's tasks cannot keep it up after every other holder let go (the box
** keeps its reference). */
TKL_INTERNAL void tkl_pool_drop_own_handle(tkl_pool *p);

/* The live pools (made and not shut down), each retained, in a new array
** (NULL with *n = 0 when there are none or no memory); give them back
** with tkl_live_pools_free. Waits and cancellations work on such a copy:
** no lock is held across them, as a task or a callback may make, close or
** look at pools meanwhile. */
TKL_INTERNAL tkl_pool **tkl_live_pools(size_t *n);
TKL_INTERNAL void tkl_live_pools_free(tkl_pool **all, size_t n);
/* The last metrics of the pools shut down (the first TKL_MAX_CLOSED),
** copied into out; returns how many. */
#define TKL_MAX_CLOSED 64
typedef struct tkl_closed_pool {
  char name[32];
  tk_pool_metrics_t m;
} tkl_closed_pool;
TKL_INTERNAL size_t tkl_closed_pools(tkl_closed_pool out[TKL_MAX_CLOSED]);

#endif
