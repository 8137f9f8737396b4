/*
** lpool.c - pools in Lua: tk.pool, submit, wait_all, metrics, shutdown
** (the default pool behind tk.submit: ldefault.c). See LICENSE for
** copyright and licence.
*/
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "handles.h"
#include "ldefault.h"
#include "lopen.h"
#include "lopts.h"
#include "lsubmit.h"
#include "ltask.h"
#include "lwait.h"
#include "pool.h"
#include "transfer.h"

/* A pool's box: the one tk.pool made (owner: it shuts the pool down when
** collected or closed), or a reference that crossed from another state. */
typedef tkl_box pool_box;
#define P(b) ((tkl_pool *)(b)->ptr)


/* A box made in a state of one of p's own workers holds no handle: a
** pool's tasks cannot keep it up after every other holder let go (the box
** keeps its reference). */
static void boxed(tkl_box *b) {
  tkl_pool *p = b->ptr;
  tkl_task *t = tkl_current_task();
  if (t != NULL && t->pool == p) {
    b->owner = -1;
    tkl_pool_drop_own_handle(p);
  }
}

static void push_pool_mt(lua_State *L, tkl_pool *p);
static void push_box_mt(lua_State *L, void *p) { push_pool_mt(L, p); }

/* Every pool box has a metatable of its own (push_pool_mt). */
static const tkl_kind pool_kind = {TKL_K_POOL, "pool", TK_POOL_MT,
                                   tkl_pool_retain_handle,
                                   tkl_pool_drop_handle, boxed,
                                   push_box_mt, NULL};

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
    if (n < 1 || n > TK_MAX_WORKERS)
      luaL_argerror(L, 1, lua_pushfstring(L, "workers must be 1..%d",
                                          TK_MAX_WORKERS));
    workers = (int)n;
  } else if (lua_istable(L, 1)) {
    static const char *const known[] = {"workers", "name", "init", "capacity",
                                        "memory_limit", "on_full", NULL};
    tkl_check_options(L, 1, 1, "", known);
    if (lua_getfield(L, 1, "workers") != LUA_TNIL) {
      lua_Integer n = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || n < 1 || n > TK_MAX_WORKERS)
        luaL_argerror(L, 1, lua_pushfstring(
                                L, "workers must be an integer 1..%d",
                                TK_MAX_WORKERS));
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
  tkl_pool *p = tkl_pool_make(L, workers, name, capacity, block);
  p->memory_limit = memory_limit;  /* read by workers on their first task */
  b->ptr = p;  /* the box owns it now */
  push_pool_mt(L, p);
  lua_setmetatable(L, box);
  tkl_remember_box(L, box, p);  /* a reference coming back finds it */
  if (init != 0) tkl_encode(L, init, 1, &p->init, TKL_ENCODE_INIT);
  lua_pushvalue(L, box);
  return 1;
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
  tkl_pool *p = tkl_default_pool_ctx(L, lua_touserdata(L, CTX));
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
  return wait_all(L, tkl_default_pool_ctx(L, lua_touserdata(L, CTX)), 1);
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
  push_metrics(L, tkl_default_pool_ctx(L, lua_touserdata(L, CTX)));
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
    tkl_pool_close(p, cancel);
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
  if (P(b) != NULL && b->owner > 0) tkl_pool_close(P(b), 0);
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
static void push_pool_mt(lua_State *L, tkl_pool *p) {
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
  tkl_register_kind(L, &pool_kind);
  tkl_ctx_push(L);
  luaL_setfuncs(L, funcs, 1);
}
