/*
** lpool.c - pools in Lua: tk.pool, submit, wait_all, metrics, shutdown,
** and the default pool behind tk.submit. See LICENSE for copyright and
** licence.
*/
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkl.h"

/* A pool's box: the one tk.pool made (owner: it shuts the pool down when
** collected or closed), or a reference that crossed from another state. */
typedef tkl_box pool_box;
#define P(b) ((tkl_pool *)(b)->ptr)

/* Pools that tklua waits for at the end of a script. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static tkl_pool *live;

/* The last metrics of pools already closed, for --stats. */
#define MAX_CLOSED 64
static struct {
  char name[32];
  tk_pool_metrics_t m;
} closed_pools[MAX_CLOSED];
static int nclosed;              /* live_mu */

/* Written under live_mu; read bare only to compare with a pool the reader
** holds (get_default). */
static _Atomic(tkl_pool *) default_pool;
static int default_workers;      /* 0: one per CPU */

/* tklua -j N */
void tkl_set_default_workers(int n);
void tkl_set_default_workers(int n) { default_workers = n; }

int tkl_handle_eq(lua_State *L);
void tkl_register_mt(lua_State *L, int kind);
void tkl_open_schedule(lua_State *L, int pool_methods);
void tkl_open_work(lua_State *L, int module, int pool_methods);

void tkl_pool_retain(tkl_pool *p) { atomic_fetch_add(&p->refs, 1); }

static void *free_core_later(void *core) {
  tk_pool_free(core);
  return NULL;
}

/* The core pool lives as long as its tkl_pool, shut down or not: a state
** that still holds the pool may submit (and fail cleanly) at any time. */
void tkl_pool_release(tkl_pool *p) {
  if (p == NULL || !tk__ref_drop(&p->refs)) return;
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
static tkl_pool **live_snapshot(size_t *n) {
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

static void snapshot_free(tkl_pool **all, size_t n) {
  for (size_t i = 0; i < n; i++) tkl_pool_release(all[i]);
  free(all);
}

/* Waits until the live pools hold no work but daemon groups' (tklua, at the
** end of a script), running L's fired on_cancel callbacks meanwhile;
** returns how many daemon tasks are left. Daemon work
** never ends on its own, so it is counted, not waited for: a round sums
** every pool's unfinished jobs, waits a slice on a pool with more than
** daemon work, and the wait ends after two rounds that saw nothing but
** daemon work and no new submit anywhere. Ends early on Ctrl-C. */
size_t tkl_wait_live_pools(lua_State *L);
size_t tkl_wait_live_pools(lua_State *L) {
  uint64_t last_submitted = UINT64_MAX;
  size_t daemon = 0;
  while (!tkl_interrupted()) {
    tkl_run_callbacks(L, NULL);  /* the main state's, fired meanwhile */
    size_t n;
    tkl_pool **all = live_snapshot(&n);
    daemon = tk_group_daemon_unfinished();
    uint64_t unfinished = 0, submitted = 0;
    tkl_pool *busy = NULL;
    for (size_t i = 0; i < n; i++) {
      tk_pool_metrics_t m;
      tk_pool_metrics(all[i]->pool, &m);
      unfinished += m.pending + m.running;
      submitted += m.submitted;
      if (busy == NULL && m.pending + m.running > 0) busy = all[i];
    }
    int calm = unfinished <= daemon;
    if (!calm && busy != NULL) tk_pool_wait_all(busy->pool, 0.05);
    snapshot_free(all, n);
    if (calm && submitted == last_submitted) break;
    last_submitted = calm ? submitted : UINT64_MAX;
  }
  return daemon;
}

/* {====================================================== --stats */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Mean, p50 and p99 (ms) of n values, sorted in place. */
static void summary(double *v, size_t n, double out[3]) {
  out[0] = out[1] = out[2] = 0;
  if (n == 0) return;
  qsort(v, n, sizeof *v, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i];
  out[0] = sum / (double)n * 1e3;
  /* Nearest rank: the smallest value with at least q of them at or below. */
  size_t r50 = (n + 1) / 2, r99 = (size_t)((double)n * 0.99 + 0.999999);
  out[1] = v[(r50 ? r50 : 1) - 1] * 1e3;
  out[2] = v[(r99 ? r99 : 1) - 1] * 1e3;
}

static void print_group(FILE *f, tk_group_t *g, int depth) {
  size_t n = tk_group_job_count(g);
  tk_job_t **jobs = malloc((n ? n : 1) * sizeof *jobs);
  double *run = malloc((n ? n : 1) * sizeof *run);
  double *wait = malloc((n ? n : 1) * sizeof *wait);
  if (jobs == NULL || run == NULL || wait == NULL) {
    free(jobs);
    free(run);
    free(wait);
    return;
  }
  size_t got = tk_group_jobs(g, jobs, n);  /* <= n */
  size_t c[5] = {0, 0, 0, 0, 0}, nr = 0, nw = 0;
  for (size_t i = 0; i < got; i++) {
    c[tk_job_state(jobs[i])]++;
    double e = tk_job_execution_time(jobs[i]), q = tk_job_queue_wait(jobs[i]);
    if (e >= 0) run[nr++] = e;
    if (q >= 0) wait[nw++] = q;
    tk_job_release(jobs[i]);
  }
  /* Finished tasks over the group's life (its joins forget old ones);
  ** the times are those of the tasks it still lists. */
  tk_group_totals(g, NULL, &c[2], &c[3], &c[4]);
  double rs[3], ws[3];
  summary(run, nr, rs);
  summary(wait, nw, ws);
  fprintf(f, "  %*s%-*s %7zu %7zu %9zu %6zu %9zu  %7.2f %7.2f %7.2f  %7.2f %7.2f %7.2f\n",
          depth * 2, "", 20 - depth * 2, tk_group_name(g), c[0], c[1], c[2],
          c[3], c[4], ws[0], ws[1], ws[2], rs[0], rs[1], rs[2]);
  free(jobs);
  free(run);
  free(wait);
  size_t nk = tk_group_child_count(g);
  tk_group_t **kids = malloc((nk ? nk : 1) * sizeof *kids);
  if (kids == NULL) return;
  size_t gk = tk_group_children(g, kids, nk);  /* <= nk */
  for (size_t i = 0; i < gk; i++) {
    print_group(f, kids[i], depth + 1);
    tk_group_release(kids[i]);
  }
  free(kids);
}

static void print_pool(FILE *f, const char *name, const tk_pool_metrics_t *m) {
  fprintf(f, "  %-20s %7d %9llu %9llu %6llu %9llu %6llu %9.0f  %7.2f %7.2f %7.2f  %7.2f %7.2f %7.2f\n",
          name, m->workers, (unsigned long long)m->submitted,
          (unsigned long long)m->completed, (unsigned long long)m->failed,
          (unsigned long long)m->cancelled, (unsigned long long)m->peak_pending,
          m->uptime > 0 ? (double)(m->completed + m->failed) / m->uptime : 0,
          m->mean_queue_wait * 1e3, m->p50_queue_wait * 1e3,
          m->p99_queue_wait * 1e3, m->mean_execution_time * 1e3,
          m->p50_execution_time * 1e3, m->p99_execution_time * 1e3);
}

/* tklua --stats: every pool (closed ones too), then every group still
** alive, as tables. */
void tkl_print_stats(FILE *f);
void tkl_print_stats(FILE *f) {
  fprintf(f, "threadkit stats (times in ms; pool percentiles within a factor "
             "of 1.4)\n");
  fprintf(f, "  %-20s %7s %9s %9s %6s %9s %6s %9s  %23s  %23s\n", "pool",
          "workers", "submitted", "completed", "failed", "cancelled", "peak",
          "jobs/s", "queue wait mean/p50/p99", "run time mean/p50/p99");
  pthread_mutex_lock(&live_mu);
  for (int i = 0; i < nclosed; i++)
    print_pool(f, closed_pools[i].name, &closed_pools[i].m);
  for (tkl_pool *p = live; p != NULL; p = p->next_live) {
    tk_pool_metrics_t m;
    tk_pool_metrics(p->pool, &m);
    print_pool(f, p->name, &m);
  }
  pthread_mutex_unlock(&live_mu);
  size_t n = tk_group_child_count(NULL);
  if (n == 0) return;
  fprintf(f, "  %-20s %7s %7s %9s %6s %9s  %23s  %23s\n", "group", "pending",
          "running", "completed", "failed", "cancelled",
          "queue wait mean/p50/p99", "run time mean/p50/p99");
  tk_group_t **roots = malloc(n * sizeof *roots);
  if (roots == NULL) return;
  size_t got = tk_group_children(NULL, roots, n);  /* <= n */
  for (size_t i = 0; i < got; i++) {
    print_group(f, roots[i], 0);
    tk_group_release(roots[i]);
  }
  free(roots);
}

/* tk.stats() --> the --stats table as text */
static int l_stats(lua_State *L) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL) return luaL_error(L, "not enough memory");
  tkl_print_stats(f);
  fclose(f);
  lua_pushlstring(L, text, len);
  free(text);
  return 1;
}

/* }====================================================== */

/* Cancels everything in every live pool (tklua on Ctrl-C, at the end of a
** failed script, and for daemon work at the end of any script). On_cancel
** callbacks run here and may submit or make pools: no lock is held. */
void tkl_cancel_live_pools(void);
void tkl_cancel_live_pools(void) {
  size_t n;
  tkl_pool **all = live_snapshot(&n);
  for (size_t i = 0; i < n; i++) tk_pool_shutdown(all[i]->pool, 0, 1);
  snapshot_free(all, n);
}

/* tklua's REPL after Ctrl-C cancelled every live pool's work
** (tkl_cancel_live_pools): waits up to `timeout` s for their stopped tasks
** to end, closes those pools and forgets the default one, so that the
** next prompt's work gets a fresh default pool (pools the user made stay
** shut down). L is the REPL's state: its sentinel stops naming the old
** default, whose memory a new pool may reuse. Returns 0 if some task was
** still running at the timeout. */
int tkl_settle_interrupt(lua_State *L, double timeout);

/* Shuts the pool down, waiting for its work if `wait` (unless called from
** one of its own workers, which cannot wait for themselves). Any thread
** may call it, at once with others: the core shutdown is idempotent, the
** first close takes the pool off the live list. The core pool is freed
** with the last reference (tkl_pool_release). */
static void pool_close_wait(tkl_pool *p, int cancel_pending, int wait) {
  if (!p->owned) return;
  /* Still on the live list while it waits for its work: Ctrl-C may have
  ** to cancel that work (tkl_cancel_live_pools). */
  tk_pool_shutdown(p->pool, wait, cancel_pending);
  if (atomic_exchange(&p->closed, 1)) return;
  live_remove(p);
  tk_pool_metrics_t m;
  tk_pool_metrics(p->pool, &m);
  pthread_mutex_lock(&live_mu);
  if (nclosed < MAX_CLOSED) {
    snprintf(closed_pools[nclosed].name, sizeof closed_pools[nclosed].name,
             "%s", p->name);
    closed_pools[nclosed].m = m;
    nclosed++;
  }
  pthread_mutex_unlock(&live_mu);
}

static void pool_close(tkl_pool *p, int cancel_pending) {
  pool_close_wait(p, cancel_pending, 1);
}

int tkl_settle_interrupt(lua_State *L, double timeout) {
  uint64_t deadline = tk_now_ns() + (uint64_t)(timeout * 1e9);
  int settled = 1;
  size_t n;
  tkl_pool **all = live_snapshot(&n);
  for (size_t i = 0; i < n; i++) {
    uint64_t now = tk_now_ns();
    double left = now < deadline ? (double)(deadline - now) / 1e9 : 0;
    if (tk_pool_wait_all(all[i]->pool, left) != 0) settled = 0;
    pool_close_wait(all[i], 1, 0);
  }
  snapshot_free(all, n);
  if (lua_getfield(L, LUA_REGISTRYINDEX, "threadkit.default_sentinel") ==
      LUA_TUSERDATA)
    *(tkl_pool **)lua_touserdata(L, -1) = NULL;
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "threadkit.default_sentinel");
  pthread_mutex_lock(&live_mu);
  tkl_pool *old = default_pool;
  default_pool = NULL;
  pthread_mutex_unlock(&live_mu);
  if (old != NULL) tkl_pool_release(old);
  return settled;
}

void tkl_pool_retain_handle(tkl_pool *p) {
  atomic_fetch_add(&p->handles, 1);
  tkl_pool_retain(p);
}

void tkl_pool_drop_own_handle(tkl_pool *p) {
  if (atomic_fetch_sub(&p->handles, 1) == 1) pool_close_wait(p, 0, 0);
}

void tkl_pool_release_handle(tkl_pool *p, int wait) {
  if (atomic_fetch_sub(&p->handles, 1) == 1) pool_close_wait(p, 0, wait);
  tkl_pool_release(p);
}

static tkl_pool *pool_make(lua_State *L, int workers, const char *name,
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

/* The pool of the box at idx; a box closed by __close or collected holds
** none. A pool shut down is still a pool: its submits fail cleanly. */
static tkl_pool *check_pool(lua_State *L, int idx) {
  tkl_pool *p = P(tkl_check_box(L, idx, TKL_K_POOL));
  if (p == NULL) luaL_error(L, "attempt to use a closed pool");
  return p;
}

/* Pushes a new owner box (ptr set by the caller once the pool exists). */
static pool_box *push_pool(lua_State *L) {
  pool_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->tag = tkl_box_tag(TKL_K_POOL);
  b->kind = TKL_K_POOL;
  b->owner = 1;
  b->ptr = NULL;
  luaL_setmetatable(L, TK_POOL_MT);
  return b;
}



/* tk.pool(n) or tk.pool{workers, name, init, capacity, on_full} */
static int l_pool(lua_State *L) {
  int workers = 0, init = 0, block = 0;
  size_t capacity = 0, memory_limit = 0;
  const char *name = NULL;
  if (lua_isinteger(L, 1)) {
    lua_Integer n = lua_tointeger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 4096, 1, "workers must be 1..4096");
    workers = (int)n;
  } else if (lua_istable(L, 1)) {
    static const char *const known[] = {"workers", "name", "init", "capacity",
                                        "memory_limit", "on_full", NULL};
    tkl_check_options(L, 1, 1, "", known);
    if (lua_getfield(L, 1, "workers") != LUA_TNIL) {
      lua_Integer n = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || n < 1 || n > 4096)
        luaL_argerror(L, 1, "workers must be an integer 1..4096");
      workers = (int)n;
    }
    if (lua_getfield(L, 1, "name") != LUA_TNIL) {
      name = lua_tostring(L, -1);
      if (name == NULL) luaL_argerror(L, 1, "name must be a string");
    }
    if (lua_getfield(L, 1, "init") != LUA_TNIL) {
      if (!lua_isfunction(L, -1)) luaL_argerror(L, 1, "init must be a function");
      init = lua_gettop(L);
    }
    if (lua_getfield(L, 1, "capacity") != LUA_TNIL) {
      lua_Integer n = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || n < 1)
        luaL_argerror(L, 1, "capacity must be a positive integer");
      capacity = (size_t)n;
    }
    if (lua_getfield(L, 1, "memory_limit") != LUA_TNIL) {
      lua_Integer n = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || n < 64 * 1024)
        luaL_argerror(L, 1, "memory_limit must be an integer of at least "
                            "65536 bytes");
      memory_limit = (size_t)n;
    }
    if (lua_getfield(L, 1, "on_full") != LUA_TNIL) {
      const char *mode = lua_tostring(L, -1);
      if (mode != NULL && strcmp(mode, "block") == 0) block = 1;
      else if (mode == NULL || strcmp(mode, "reject") != 0)
        luaL_argerror(L, 1, "on_full must be \"block\" or \"reject\"");
    }
  } else if (!lua_isnoneornil(L, 1)) {
    luaL_typeerror(L, 1, "integer or table");
  }
  pool_box *b = push_pool(L);
  int box = lua_gettop(L);
  tkl_pool *p = pool_make(L, workers, name, capacity, block);
  p->memory_limit = memory_limit;  /* read by workers on their first task */
  b->ptr = p;  /* the box owns it now */
  tkl_push_pool_mt(L, p);
  lua_setmetatable(L, box);
  /* The state's box cache: a reference coming back finds this box. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tkl_key_boxes);
  lua_pushvalue(L, box);
  lua_rawsetp(L, -2, p);
  lua_pop(L, 1);
  if (init != 0) tkl_encode(L, init, 1, &p->init, "the init function");
  lua_pushvalue(L, box);
  return 1;
}

/* The default pool: made on first use (or given by an embedding host),
** ended when the state that made it closes: a sentinel in that state's
** registry holds the pool and, when collected, ends it if it is still the
** default. */
static int default_gc(lua_State *L) {
  tkl_pool **slot = lua_touserdata(L, 1);
  pthread_mutex_lock(&live_mu);
  tkl_pool *p = *slot == default_pool ? default_pool : NULL;
  if (p != NULL) default_pool = NULL;
  pthread_mutex_unlock(&live_mu);
  if (p != NULL) {
    pool_close(p, 0);  /* a no-op for a host's pool: the host ends it */
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
static tkl_pool *get_default(lua_State *L, tkl_ctx *c) {
  tkl_pool *p = atomic_load(&default_pool);
  if (p != NULL && p == c->default_pool) return p;
  pthread_mutex_lock(&live_mu);
  p = default_pool;
  if (p != NULL) tkl_pool_retain(p);
  pthread_mutex_unlock(&live_mu);
  if (p != NULL) return hold_default(c, p);
  lua_getfield(L, LUA_REGISTRYINDEX, "threadkit.worker");
  int in_worker = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (in_worker)
    luaL_error(L, "the default pool is not running (a task cannot start it)");
  p = pool_make(L, default_workers, "tk", 0, 0);
  pthread_mutex_lock(&live_mu);
  if (default_pool == NULL) {
    default_pool = p;
    p = NULL;
  }
  tkl_pool *winner = default_pool;
  if (winner != NULL) tkl_pool_retain(winner);  /* this state's hold */
  pthread_mutex_unlock(&live_mu);
  if (p != NULL) {  /* lost a race: keep the other */
    pool_close(p, 0);
    tkl_pool_release(p);
  } else {
    set_sentinel(L, winner);
  }
  return hold_default(c, winner);
}

static tkl_pool *get_default_here(lua_State *L) {
  tkl_ctx *c = tkl_ctx_push(L);
  lua_pop(L, 1);  /* the registry keeps it */
  return get_default(L, c);
}

tkl_pool *tkl_default_pool(lua_State *L) {
  tkl_task *t = tkl_current_task();
  if (t != NULL && t->pool != NULL) return t->pool;
  return get_default_here(L);
}

/* {====================================================== submit */

/* The submitting functions have the state's context as upvalue 1. */
#define CTX lua_upvalueindex(1)

/* pool:submit([opts,] fn, ...) */
static int l_pool_submit(lua_State *L) {
  tkl_pool *p = check_pool(L, 1);
  if (lua_istable(L, 2)) return tkl_submit(L, p, NULL, CTX, 2, 3);
  return tkl_submit(L, p, NULL, CTX, 0, 2);
}

/* tk.submit([opts,] fn, ...) on the default pool */
static int l_submit(lua_State *L) {
  tkl_pool *p = get_default(L, lua_touserdata(L, CTX));
  if (lua_istable(L, 1)) return tkl_submit(L, p, NULL, CTX, 1, 2);
  return tkl_submit(L, p, NULL, CTX, 0, 1);
}

/* }====================================================== */

static int wait_all(lua_State *L, tkl_pool *p, int tidx) {
  double timeout = tkl_opt_timeout(L, tidx);
  int rc = tk_pool_wait_all(p->pool, timeout);
  if (rc == TK_EBUSY)
    return luaL_error(L, "wait_all called from a task of the same pool "
                         "(it would wait for itself)");
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int l_pool_wait_all(lua_State *L) {
  return wait_all(L, check_pool(L, 1), 2);
}

static int l_wait_all(lua_State *L) {
  return wait_all(L, get_default(L, lua_touserdata(L, CTX)), 1);
}

static void push_metrics(lua_State *L, tkl_pool *p) {
  tk_pool_metrics_t m;
  tk_pool_metrics(p->pool, &m);
  lua_createtable(L, 0, 12);
#define SETI(k, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, k))
#define SETN(k, v) (lua_pushnumber(L, (v)), lua_setfield(L, -2, k))
  SETI("submitted", m.submitted);
  SETI("completed", m.completed);
  SETI("failed", m.failed);
  SETI("cancelled", m.cancelled);
  SETI("running", m.running);
  SETI("pending", m.pending);
  SETI("peak_pending", m.peak_pending);
  SETI("workers", m.workers);
  SETI("spares", m.spares);
  SETI("schedules", m.schedules);
  SETN("total_execution_time", m.total_execution_time);
  SETN("mean_execution_time", m.mean_execution_time);
  SETN("mean_queue_wait", m.mean_queue_wait);
  SETN("p50_execution_time", m.p50_execution_time);
  SETN("p99_execution_time", m.p99_execution_time);
  SETN("p50_queue_wait", m.p50_queue_wait);
  SETN("p99_queue_wait", m.p99_queue_wait);
  SETN("uptime", m.uptime);
  SETN("throughput", m.uptime > 0 ? (double)(m.completed + m.failed) / m.uptime : 0);
#undef SETI
#undef SETN
  lua_pushstring(L, p->name);
  lua_setfield(L, -2, "name");
}

/* A shut-down pool answers with its counts, which no longer change. */
static int l_pool_metrics(lua_State *L) {
  push_metrics(L, check_pool(L, 1));
  return 1;
}

static int l_metrics(lua_State *L) {
  push_metrics(L, get_default(L, lua_touserdata(L, CTX)));
  return 1;
}

/* pool:shutdown{wait = true, cancel_pending = false} */
static int l_pool_shutdown(lua_State *L) {
  pool_box *b = tkl_check_box(L, 1, TKL_K_POOL);
  int wait = 1, cancel = 0;
  if (lua_istable(L, 2)) {
    static const char *const known[] = {"wait", "cancel_pending", NULL};
    tkl_check_options(L, 2, 2, "", known);
    if (lua_getfield(L, 2, "wait") != LUA_TNIL) wait = lua_toboolean(L, -1);
    if (lua_getfield(L, 2, "cancel_pending") != LUA_TNIL)
      cancel = lua_toboolean(L, -1);
  } else if (!lua_isnoneornil(L, 2)) {
    luaL_typeerror(L, 2, "table or nil");
  }
  tkl_pool *p = P(b);
  if (p == NULL) return 0;  /* closed: already shut down */
  if (wait) {
    pool_close(p, cancel);
  } else {
    tk_pool_shutdown(p->pool, 0, cancel);
  }
  return 0;
}

/* A box collected: the pool goes down (waiting for its work) with the last
** handle on it, in whatever state that was. */
static int pool_gc(lua_State *L) {
  pool_box *b = tkl_check_box(L, 1, TKL_K_POOL);
  tkl_pool *p = P(b);
  b->ptr = NULL;
  if (p == NULL) return 0;
  if (b->owner < 0) tkl_pool_release(p);  /* held no handle */
  else tkl_pool_release_handle(p, 1);
  return 0;
}

/* A box closed (<close>): the box that tk.pool made shuts the pool down,
** as pool:shutdown() does; any other lets its handle go. */
static int pool_close_box(lua_State *L) {
  pool_box *b = tkl_check_box(L, 1, TKL_K_POOL);
  if (P(b) != NULL && b->owner > 0) pool_close(P(b), 0);
  return pool_gc(L);
}

static int pool_tostring(lua_State *L) {
  pool_box *b = tkl_check_box(L, 1, TKL_K_POOL);
  if (P(b) == NULL)
    lua_pushfstring(L, "threadkit.pool (closed)");
  else
    lua_pushfstring(L, "threadkit.pool '%s' (%p)%s", P(b)->name, b->ptr,
                    atomic_load(&P(b)->closed) ? " (shut down)" : "");
  return 1;
}

/* Copies the entries of the table at `from` into the table on top. */
static void copy_fields(lua_State *L, int from) {
  int to = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, from) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, to);
  }
}

/* Pushes a metatable for a box of p: the shared one's metamethods, and as
** __index a plain table of the methods and p's fixed fields. Each pool box
** has its own so that `pool:submit` costs a table lookup: with a shared
** metatable only an __index function could reach the fields, and calling
** it took a fifteenth of a one-by-one submit. */
void tkl_push_pool_mt(lua_State *L, tkl_pool *p) {
  luaL_checkstack(L, 8, NULL);
  luaL_getmetatable(L, TK_POOL_MT);
  int shared = lua_gettop(L);
  lua_createtable(L, 0, 6);
  copy_fields(L, shared);
  lua_getfield(L, shared, "__index");  /* the methods */
  lua_createtable(L, 0, 12);
  copy_fields(L, shared + 2);
  lua_pushstring(L, p->name);
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, tk_pool_workers(p->pool));
  lua_setfield(L, -2, "workers");
  lua_setfield(L, shared + 1, "__index");
  lua_pop(L, 1);
  lua_remove(L, shared);
}

/* The host's pool becomes the default pool (embedding API). */
/* For the embedding API: the host's pool becomes the default until L
** closes. */
void tkl_set_default_pool(lua_State *L, tkl_pool *p);
void tkl_set_default_pool(lua_State *L, tkl_pool *p) {
  pthread_mutex_lock(&live_mu);
  tkl_pool *old = default_pool;
  default_pool = p;
  pthread_mutex_unlock(&live_mu);
  if (old != NULL) {
    pool_close(old, 0);
    tkl_pool_release(old);
  }
  set_sentinel(L, p);
}

/* For the embedding API: a pool made by the host, not owned. */
tkl_pool *tkl_pool_wrap(tk_pool_t *core);
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

void tkl_open_pool(lua_State *L) {
  static const luaL_Reg methods[] = {{"submit", l_pool_submit},
                                     {"wait_all", l_pool_wait_all},
                                     {"metrics", l_pool_metrics},
                                     {"shutdown", l_pool_shutdown},
                                     {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", pool_gc},
                                  {"__close", pool_close_box},
                                  {"__tostring", pool_tostring},
                                  {"__eq", tkl_handle_eq},
                                  {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"pool", l_pool},
                                   {"submit", l_submit},
                                   {"wait_all", l_wait_all},
                                   {"metrics", l_metrics},
                                   {"stats", l_stats},
                                   {NULL, NULL}};
  int module = lua_gettop(L);
  luaL_newmetatable(L, TK_POOL_MT);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  tkl_ctx_push(L);
  luaL_setfuncs(L, methods, 1);
  tkl_open_schedule(L, lua_gettop(L));
  tkl_open_work(L, module, lua_gettop(L));
  lua_setfield(L, -2, "__index");  /* each box's metatable copies these */
  lua_pop(L, 1);
  tkl_register_mt(L, TKL_K_POOL);
  tkl_ctx_push(L);
  luaL_setfuncs(L, funcs, 1);
}
