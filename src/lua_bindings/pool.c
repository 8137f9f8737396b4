/*
** pool.c - the Lua side of a pool as an object: its references and
** handles, its making and shutdown, and the list of live pools. See
** LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "pool.h"
#include "tkl_atomic.h"
#include "tkl_runtime.h"

/* Pools that tklua waits for at the end of a script. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static tkl_pool *live;

/* The last metrics of pools already closed, for --stats. */
static tkl_closed_pool closed_pools[TKL_MAX_CLOSED];
static int nclosed;              /* live_mu */

static void live_add(tkl_pool *p) {
  pthread_mutex_lock(&live_mu);
  p->next_live = live;
  live = p;
  pthread_mutex_unlock(&live_mu);
}

static void live_remove(tkl_pool *p) {
  pthread_mutex_lock(&live_mu);
  for (tkl_pool **pp = &live; *pp != NULL; pp = &(*pp)->next_live) {
    if (*pp == p) {
      *pp = p->next_live;
      break;
    }
  }
  pthread_mutex_unlock(&live_mu);
}

/* The live pools, each retained (tkl_pool_release each, then free the
** array); NULL with *n = 0 when there are none or no memory. Waits and
** cancellations run on a snapshot: live_mu is never held across them, as
** a task or a callback may make, close or look at pools meanwhile. */
tkl_pool **tkl_live_pools(size_t *n) {
  *n = 0;
  pthread_mutex_lock(&live_mu);
  size_t count = 0;
  for (tkl_pool *p = live; p != NULL; p = p->next_live) count++;
  tkl_pool **all = count ? malloc(count * sizeof *all) : NULL;
  if (all != NULL) {
    for (tkl_pool *p = live; p != NULL; p = p->next_live) {
      tkl_pool_retain(p);
      all[(*n)++] = p;
    }
  }
  pthread_mutex_unlock(&live_mu);
  return all;
}

void tkl_live_pools_free(tkl_pool **all, size_t n) {
  for (size_t i = 0; i < n; i++) tkl_pool_release(all[i]);
  free(all);
}

/* The pool comes off the live list, leaving its last metrics. */
static void live_closed(tkl_pool *p) {
  live_remove(p);
  tk_pool_metrics_t m;
  tk_pool_metrics(p->pool, &m);
  pthread_mutex_lock(&live_mu);
  if (nclosed < TKL_MAX_CLOSED) {
    snprintf(closed_pools[nclosed].name, sizeof closed_pools[nclosed].name,
             "%s", p->name);
    closed_pools[nclosed].m = m;
    nclosed++;
  }
  pthread_mutex_unlock(&live_mu);
}

size_t tkl_closed_pools(tkl_closed_pool out[TKL_MAX_CLOSED]) {
  pthread_mutex_lock(&live_mu);
  size_t n = (size_t)nclosed;
  memcpy(out, closed_pools, n * sizeof *out);
  pthread_mutex_unlock(&live_mu);
  return n;
}

void tkl_pool_retain(tkl_pool *p) { atomic_fetch_add(&p->refs, 1); }

static void *free_core_later(void *core) {
  tk_pool_free(core);
  return NULL;
}

/* The core pool lives as long as its tkl_pool, shut down or not: a state
** that still holds the pool may submit (and fail cleanly) at any time. */
void tkl_pool_release(tkl_pool *p) {
  if (p == NULL || !tkl_ref_drop(&p->refs)) return;
  if (p->owned && tk_pool_free(p->pool) == TK_EBUSY) {
    /* The last reference went on one of the pool's own workers (its
    ** state closing as the pool shuts down): a worker cannot join itself,
    ** so another thread frees the pool. */
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, free_core_later, p->pool) != 0)
      fprintf(stderr, "threadkit: cannot free pool '%s' (pthread_create)\n",
              p->name);
    pthread_attr_destroy(&attr);
  }
  tkl_buf_free(&p->init);
  free(p->path);
  free(p->cpath);
  free(p);
}


/* Shuts the pool down, waiting for its work if `wait` (unless called from
** one of its own workers, which cannot wait for themselves). Any thread
** may call it, at once with others: the core shutdown is idempotent, the
** first close takes the pool off the live list. The core pool is freed
** with the last reference (tkl_pool_release). */
void tkl_pool_shut(tkl_pool *p, int cancel_pending, int wait) {
  if (!p->owned) return;
  /* Still on the live list while it waits for its work: Ctrl-C may have
  ** to cancel that work (tkl_cancel_live_pools). */
  tk_pool_shutdown(p->pool, wait, cancel_pending);
  if (atomic_exchange(&p->closed, 1)) return;
  live_closed(p);
}

void tkl_pool_close(tkl_pool *p, int cancel_pending) {
  tkl_pool_shut(p, cancel_pending, 1);
}

/* A handle on p (a box but those in p's own workers' states, a value in
** transit) holds a reference, and keeps p up: when the last handle goes
** the pool shuts down, waiting for its work if `wait` (a box collected)
** or not (a value dropped, maybe under a lock). */
void tkl_pool_retain_handle(void *p) {
  atomic_fetch_add(&((tkl_pool *)p)->handles, 1);
  tkl_pool_retain(p);
}

void tkl_pool_release_handle(tkl_pool *p, int wait) {
  if (atomic_fetch_sub(&p->handles, 1) == 1) tkl_pool_shut(p, 0, wait);
  tkl_pool_release(p);
}

void tkl_pool_drop_handle(void *p) { tkl_pool_release_handle(p, 0); }

void tkl_pool_drop_own_handle(tkl_pool *p) {
  if (atomic_fetch_sub(&p->handles, 1) == 1) tkl_pool_shut(p, 0, 0);
}

tkl_pool *tkl_pool_make(lua_State *L, int workers, const char *name,
                           size_t capacity, int block) {
  tkl_pool *p = calloc(1, sizeof *p);
  if (p == NULL) luaL_error(L, "not enough memory");
  atomic_init(&p->refs, 1);
  atomic_init(&p->handles, 1);  /* the owner box's (a default pool: its
                                   sentinel's, which never lets it go) */
  atomic_init(&p->closed, 0);
  p->owned = 1;
  snprintf(p->name, sizeof p->name, "%s", name ? name : "tk");
  lua_getglobal(L, "package");
  if (lua_istable(L, -1)) {
    if (lua_getfield(L, -1, "path") == LUA_TSTRING)
      p->path = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "cpath") == LUA_TSTRING)
      p->cpath = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  tkl_buf_init(&p->init);
  tk_pool_opts_t o = {0};
  o.workers = workers;
  o.name = p->name;
  o.capacity = capacity;
  p->capacity = capacity;
  o.block_on_full = block;
  int rc = tk_pool_new(&o, &p->pool);
  if (rc != 0) {
    tkl_pool_release(p);
    luaL_error(L, "cannot create pool: %s",
               rc == TK_ESYS && tk_system_error() ? tk_system_error()
                                                  : tk_strerror(rc));
  }
  live_add(p);
  return p;
}

/* For the embedding API: a pool made by the host, not owned. */
tkl_pool *tkl_pool_wrap(tk_pool_t *core) {
  tkl_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  atomic_init(&p->refs, 1);
  atomic_init(&p->closed, 0);
  p->pool = core;
  p->owned = 0;
  snprintf(p->name, sizeof p->name, "host");
  tkl_buf_init(&p->init);
  return p;
}
