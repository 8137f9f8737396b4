/*
** lschedule.c - pool:schedule(spec, fn, ...): a Lua task run by the core's
** timer, once or periodically. See LICENSE for copyright and licence.
*/
#include <stdlib.h>

#include <string.h>

#include "buffer.h"
#include "handles.h"
#include "lopen.h"
#include "lopts.h"
#include "lsubmit.h"
#include "ltask.h"
#include "lwait.h"
#include "pool.h"
#include "transfer.h"

#define TK_SCHEDULE_MT "threadkit.schedule"

/* What every tick copies into a fresh task. */
typedef struct sched_arg {
  tkl_pool *pool;                /* holds a reference */
  tkl_buf in;                    /* the function and its arguments */
} sched_arg;

static void *make_task(void *arg) {
  sched_arg *a = arg;
  tkl_buf copy;
  if (tkl_buf_copy(&copy, &a->in) != 0) return NULL;
  tkl_task *t = tkl_task_new(a->pool, &copy);
  tkl_buf_free(&copy);
  return t;
}

static void free_arg(void *arg) {
  sched_arg *a = arg;
  tkl_buf_free(&a->in);
  tkl_pool_release(a->pool);
  free(a);
}

static tk_schedule_t **check_sched(lua_State *L) {
  tk_schedule_t **b = luaL_checkudata(L, 1, TK_SCHEDULE_MT);
  if (*b == NULL) luaL_error(L, "attempt to use a released schedule");
  return b;
}

static double spec_number(lua_State *L, int spec, const char *key) {
  if (lua_getfield(L, spec, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  int ok;
  double v = lua_tonumberx(L, -1, &ok);
  if (!ok || !(v > 0))
    luaL_argerror(L, spec, lua_pushfstring(L, "%s must be a positive number",
                                           key));
  lua_pop(L, 1);
  return v;
}

/* pool:schedule({delay = s} | {every = s} | {at = t}, fn, ...) */
static int l_schedule(lua_State *L) {
  tkl_pool *p = tkl_check_box(L, 1, TKL_K_POOL)->ptr;
  if (p == NULL) return luaL_error(L, "attempt to use a closed pool");
  if (tk_pool_is_shutdown(p->pool))
    return luaL_error(L, "attempt to use a shut-down pool");
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 3;  /* counted before options push values */
  tkl_check_count(L, nargs, "arguments");
  static const char *const known[] = {"delay", "every", "at", "name",
                                      "priority", NULL};
  tkl_check_options(L, 2, 2, "", known);
  tk_schedule_opts_t o = {0};
  o.delay = spec_number(L, 2, "delay");
  o.every = spec_number(L, 2, "every");
  if (o.every > 0 && o.every < 1e-9)
    return luaL_argerror(L, 2, "every must be at least 1e-9 seconds");
  o.at = spec_number(L, 2, "at");
  if (o.delay > 0 && o.at > 0)
    return luaL_argerror(L, 2, "give delay or at, not both");
  if (o.delay == 0 && o.at == 0 && o.every == 0)
    return luaL_argerror(L, 2, "delay, every or at expected");
  if (lua_getfield(L, 2, "name") != LUA_TNIL) {
    o.name = lua_tostring(L, -1);
    if (o.name == NULL) luaL_argerror(L, 2, "name must be a string");
  }
  if (lua_getfield(L, 2, "priority") != LUA_TNIL)
    o.priority = tkl_priority(L, -1, 2);
  tk_schedule_t **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, TK_SCHEDULE_MT);
  int boxidx = lua_gettop(L);
  tkl_buf *scratch = tkl_scratch(L);
  tkl_encode(L, 3, nargs + 1, scratch, TKL_ENCODE_ARGUMENTS);
  sched_arg *a = malloc(sizeof *a);
  if (a == NULL) return luaL_error(L, "not enough memory");
  a->pool = p;
  tkl_pool_retain(p);
  tkl_buf_move(&a->in, scratch, NULL, 0);
  o.tick_arg = make_task;
  o.tick_arg_free = tkl_task_free;
  o.arg_free = free_arg;
  int rc = tk_pool_schedule(p->pool, &o, tkl_task_run, a, box);
  if (rc != 0) {
    free_arg(a);
    if (rc == TK_EINVAL && o.at > 0)
      return luaL_error(L, "schedule: the time is in the past");
    return luaL_error(L, "schedule: %s", tk_strerror(rc));
  }
  tkl_anchor(L, boxidx, 1);  /* the pool's box: see tkl_anchor */
  lua_pushvalue(L, boxidx);
  return 1;
}

static int l_cancel(lua_State *L) {
  lua_pushboolean(L, tk_schedule_cancel(*check_sched(L)) == 0);
  return 1;
}

static int sched_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  tk_schedule_t *s = *check_sched(L);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "active") == 0) lua_pushboolean(L, tk_schedule_active(s));
  else if (strcmp(k, "runs") == 0)
    lua_pushinteger(L, (lua_Integer)tk_schedule_runs(s));
  else if (strcmp(k, "missed") == 0)
    lua_pushinteger(L, (lua_Integer)tk_schedule_missed(s));
  else lua_pushnil(L);
  return 1;
}

static int sched_gc(lua_State *L) {
  tk_schedule_t **b = luaL_checkudata(L, 1, TK_SCHEDULE_MT);
  tk_schedule_release(*b);  /* the pool keeps an active one going */
  *b = NULL;
  return 0;
}

void tkl_open_schedule(lua_State *L, int pool_methods) {
  luaL_newmetatable(L, TK_SCHEDULE_MT);
  lua_pushcfunction(L, sched_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  lua_pushcfunction(L, l_cancel);
  lua_setfield(L, -2, "cancel");
  lua_pushcclosure(L, sched_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_schedule);
  lua_setfield(L, pool_methods, "schedule");
}
