/*
** lgroup.c - thread groups in Lua: tk.group, add_task, join, events,
** wait_for_condition, the tree. See LICENSE for copyright and licence.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handles.h"
#include "lcallbacks.h"
#include "ldefault.h"
#include "lopen.h"
#include "lopts.h"
#include "lsubmit.h"
#include "ltask.h"
#include "ltrace.h"
#include "lwait.h"
#include "pool.h"

static void group_retain(void *g) { tk_group_retain(g); }
static void group_release(void *g) { tk_group_release(g); }

static const tkl_kind group_kind = {TKL_K_GROUP, "group", TK_GROUP_MT,
                                    group_retain, group_release,
                                    NULL, NULL, NULL};

static tk_group_t *check_group(lua_State *L) {
  return tkl_check_handle(L, 1, TKL_K_GROUP);
}

static void release_pool(void *p) { tkl_pool_release(p); }

/* tk.group([name], [{max_concurrent, daemon, pool}]) */
static int l_group(lua_State *L) {
  tk_group_opts_t o = {0};
  int oidx = 0;
  if (lua_type(L, 1) == LUA_TSTRING) {
    o.name = lua_tostring(L, 1);
    if (!lua_isnoneornil(L, 2)) oidx = 2;
  } else if (!lua_isnoneornil(L, 1)) {
    oidx = 1;
  }
  tkl_pool *p = NULL;
  int pidx = 0;
  if (oidx != 0) {
    if (!lua_istable(L, oidx))
      luaL_typeerror(L, oidx, oidx == 1 ? "string or table" : "table");
    static const char *const known[] = {"max_concurrent", "daemon", "name",
                                        "pool", NULL};
    tkl_check_options(L, oidx, oidx, "", known);
    if (lua_getfield(L, oidx, "max_concurrent") != LUA_TNIL) {
      lua_Integer n = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || n < 0 || n > 1 << 30)
        luaL_argerror(L, oidx, "max_concurrent must be a non-negative integer");
      o.max_concurrent = (int)n;
    }
    if (lua_getfield(L, oidx, "daemon") != LUA_TNIL) o.daemon = lua_toboolean(L, -1);
    if (lua_getfield(L, oidx, "name") != LUA_TNIL) {
      o.name = lua_tostring(L, -1);
      if (o.name == NULL) luaL_argerror(L, oidx, "name must be a string");
    }
    if (lua_getfield(L, oidx, "pool") != LUA_TNIL) {
      p = tkl_test_handle(L, -1, TKL_K_POOL);
      if (p == NULL) luaL_argerror(L, oidx, "pool must be a pool");
      if (tk_pool_is_shutdown(p->pool))
        luaL_error(L, "attempt to use a shut-down pool");
      pidx = lua_gettop(L);
    }
  }
  if (p == NULL) p = tkl_default_pool(L);
  tkl_pool_retain(p);
  o.data = p;
  o.data_free = release_pool;
  tk_group_t *g;
  int rc = tk_group_new(p->pool, &o, &g);
  if (rc != 0) {
    tkl_pool_release(p);
    return luaL_error(L, "cannot create group: %s", tk_strerror(rc));
  }
  tkl_push_handle(L, TKL_K_GROUP, g);
  /* The group keeps the pool it was given from the collector: the pool
  ** may be a temporary, as in tk.group("x", {pool = tk.pool(2)}). */
  if (pidx != 0) tkl_anchor(L, lua_gettop(L), pidx);
  return 1;
}

/* g:add_task([opts,] fn, ...) --> job */
static int l_add_task(lua_State *L) {
  tk_group_t *g = check_group(L);
  tkl_pool *p = tk_group_data(g);
  if (lua_istable(L, 2)) return tkl_submit(L, p, g, 0, 2, 3);
  return tkl_submit(L, p, g, 0, 0, 2);
}

/* The longest a task waiting for a condition sleeps between two looks at
** it: completions wake waiters outside tasks at once, tasks poll this
** often. */
#define POLL 0.02

/* A cancelled task's waits end (with false) instead of waiting on: its
** job's token wakes a suspended one, and every look checks. */
static int task_cancelled(void) {
  tkl_task *t = tkl_current_task();
  return t != NULL && tk_job_is_cancelled(t->job);
}

static int join_k(lua_State *L, int status, lua_KContext ctx);

static int group_joined(void *g) { return tk_group_join(g, 0) == 0; }
static void group_wait(void *g, double secs) { tk_group_join(g, secs); }

/* g:join([timeout]) --> true when every task of g and its subgroups is
** done, false on timeout. Inside a task it suspends until g is idle. */
static int l_join(lua_State *L) {
  tk_group_t *g = check_group(L);
  double timeout = tkl_opt_timeout(L, 2);
  tkl_task *t = tkl_current_task();
  if (t != NULL) {
    tk_group_t *mine = tk_job_group(t->job);
    for (tk_group_t *a = mine; a != NULL;) {
      if (a == g) {
        tk_group_release(a);
        return luaL_error(L, "join called from one of the group's own tasks "
                             "(it would wait for itself)");
      }
      tk_group_t *up = tk_group_parent(a);
      tk_group_release(a);
      a = up;
    }
  }
  lua_settop(L, 1);
  lua_pushnumber(L, tkl_deadline(timeout));  /* 2 (< 0: none) */
  return join_k(L, LUA_OK, 0);
}

static int join_k(lua_State *L, int status, lua_KContext suspended) {
  (void)status;
  int given_up = suspended && tkl_wait_end_given_up(L);
  tk_group_t *g = check_group(L);
  double deadline = lua_tonumber(L, 2);
  if (tk_group_join(g, 0) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  double left = tkl_left(deadline);
  if (given_up || left == 0 || task_cancelled()) {
    lua_pushboolean(L, 0);
    return 1;
  }
  tkl_task *t = tkl_yieldable_task(L);
  if (t != NULL) {  /* until g is idle, the deadline or the cancellation */
    tkl_wait *w = tkl_wait_begin(L, t);
    tkl_wait_deadline(L, w, left);
    tkl_wait_group_idle(L, w, g);
    return tkl_wait_suspend(L, join_k, 1);
  }
  /* Blocking: the main state, or a stack that cannot yield. */
  int joined = tkl_block_until(L, deadline, group_joined, group_wait, g);
  tkl_run_callbacks(L, NULL);
  lua_pushboolean(L, joined);
  return 1;
}

static int cond_k(lua_State *L, int status, lua_KContext ctx);
static void set_event(lua_State *L, tk_group_t *g, const char *why);

/* g:wait_for_condition(pred, [timeout]) --> true once pred() holds (and
** the event of g's subtree is set), false on timeout (event untouched). */
static int l_wait_for_condition(lua_State *L) {
  check_group(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  double timeout = tkl_opt_timeout(L, 3);
  lua_settop(L, 2);
  lua_pushnumber(L, timeout);  /* 3: the timeout */
  lua_pushnumber(L, tkl_now());    /* 4: when it started */
  return cond_k(L, LUA_OK, 0);
}

static int cond_k(lua_State *L, int status, lua_KContext suspended) {
  (void)status;
  if (suspended) tkl_wait_end(L);
  tk_group_t *g = check_group(L);
  double timeout = lua_tonumber(L, 3), start = lua_tonumber(L, 4);
  for (;;) {
    uint64_t seen = tk_group_activity();
    lua_pushvalue(L, 2);
    lua_call(L, 0, 1);  /* errors of pred propagate */
    int holds = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (holds) {
      set_event(L, g, "condition met, event set");
      lua_pushboolean(L, 1);
      return 1;
    }
    double left = timeout < 0 ? 1e9 : timeout - (tkl_now() - start);
    if (left <= 0 || task_cancelled()) {
      lua_pushboolean(L, 0);
      return 1;
    }
    double step = left > POLL * 5 ? POLL * 5 : left;
    tkl_task *t = tkl_yieldable_task(L);
    if (t != NULL) {
      tkl_wait *w = tkl_wait_begin(L, t);
      tkl_wait_deadline(L, w, step < POLL ? step : POLL);
      return tkl_wait_suspend(L, cond_k, 1);
    }
    /* Woken by any task's end or shared write; else a poll after `step`. */
    tk_group_wait_activity(seen, step);
  }
}

static void set_event(lua_State *L, tk_group_t *g, const char *why) {
  if (!tk_group_event_is_set(g))
    tkl_trace_mark(lua_pushfstring(L, "%s: %s", tk_group_name(g), why));
  tk_group_set_event(g);
}

static int l_set_event(lua_State *L) {
  set_event(L, check_group(L), "event set");
  return 0;
}

static int l_event_is_set(lua_State *L) {
  lua_pushboolean(L, tk_group_event_is_set(check_group(L)));
  return 1;
}

static int l_clear_pending(lua_State *L) {
  lua_pushinteger(L, tk_group_clear_pending(check_group(L)));
  return 1;
}

static int l_children(lua_State *L) {
  tk_group_t *g = check_group(L);
  size_t cap = tk_group_child_count(g);
  tk_group_t **kids = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *kids, 0);
  size_t n = tk_group_children(g, kids, cap);  /* <= cap */
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    tkl_push_handle(L, TKL_K_GROUP, kids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* Pushes a list of the group's jobs (submission order). */
static int push_jobs(lua_State *L, tk_group_t *g) {
  size_t cap = tk_group_job_count(g);
  tk_job_t **jobs = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *jobs, 0);
  size_t got = tk_group_jobs(g, jobs, cap);  /* <= cap */
  lua_createtable(L, (int)got, 0);
  for (size_t i = 0; i < got; i++) {
    tkl_push_handle(L, TKL_K_JOB, jobs[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_remove(L, -2);
  return (int)got;
}

/* g:results() --> {{job = j, v1, v2, ...}, ...} of the completed tasks
** the group lists: those the last successful join waited for and those
** added since (tk_group_join forgets the rest). */
static int l_results(lua_State *L) {
  tk_group_t *g = check_group(L);
  int n = push_jobs(L, g);
  int jobs = lua_gettop(L);
  lua_newtable(L);
  int out = lua_gettop(L), k = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, jobs, i);
    tk_job_t *job = tkl_test_handle(L, -1, TKL_K_JOB);
    if (tk_job_state(job) != TK_JOB_COMPLETED) {
      lua_pop(L, 1);
      continue;
    }
    int top = lua_gettop(L);
    lua_getfield(L, -1, "result");
    lua_pushvalue(L, top);
    lua_call(L, 1, LUA_MULTRET);
    int nv = lua_gettop(L) - top;
    lua_createtable(L, nv, 1);
    lua_insert(L, top + 1);
    for (int v = nv; v >= 1; v--) lua_rawseti(L, top + 1, v);
    lua_pushvalue(L, top);
    lua_setfield(L, top + 1, "job");
    lua_rawseti(L, out, ++k);
    lua_pop(L, 1);
  }
  return 1;
}

/* g:errors() --> {{job = j, error = msg}, ...} of the failed and
** cancelled tasks the group lists (as g:results()). */
static int l_errors(lua_State *L) {
  tk_group_t *g = check_group(L);
  int n = push_jobs(L, g);
  int jobs = lua_gettop(L);
  lua_newtable(L);
  int out = lua_gettop(L), k = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, jobs, i);
    tk_job_t *job = tkl_test_handle(L, -1, TKL_K_JOB);
    tk_job_state_t st = tk_job_state(job);
    if (st == TK_JOB_FAILED || st == TK_JOB_CANCELLED) {
      lua_createtable(L, 0, 3);
      lua_pushvalue(L, -2);
      lua_setfield(L, -2, "job");
      lua_pushstring(L, tk_job_error(job));
      lua_setfield(L, -2, "error");
      lua_pushstring(L, tk_job_state_name(st));
      lua_setfield(L, -2, "state");
      lua_rawseti(L, out, ++k);
    }
    lua_pop(L, 1);
  }
  return 1;
}

/* g:metrics() --> counts like the pool's: pending and running now, the
** rest over the group's whole life (tasks a join forgot included). */
static int l_metrics(lua_State *L) {
  tk_group_t *g = check_group(L);
  size_t c[5], submitted;
  tk_group_counts(g, &c[0], &c[1], NULL);
  tk_group_totals(g, &submitted, &c[2], &c[3], &c[4]);
  lua_createtable(L, 0, 8);
  static const char *const names[] = {"pending", "running", "completed",
                                      "failed", "cancelled"};
  for (int i = 0; i < 5; i++) {
    lua_pushinteger(L, (lua_Integer)c[i]);
    lua_setfield(L, -2, names[i]);
  }
  lua_pushinteger(L, (lua_Integer)submitted);
  lua_setfield(L, -2, "submitted");
  lua_pushinteger(L, tk_group_max_concurrent(g));
  lua_setfield(L, -2, "max_concurrent");
  return 1;
}

static int group_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  tk_group_t *g = check_group(L);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "name") == 0) {
    lua_pushstring(L, tk_group_name(g));
  } else if (strcmp(k, "parent") == 0) {
    tk_group_t *p = tk_group_parent(g);
    if (p != NULL) tkl_push_handle(L, TKL_K_GROUP, p);
    else lua_pushnil(L);
  } else if (strcmp(k, "max_concurrent") == 0) {
    lua_pushinteger(L, tk_group_max_concurrent(g));
  } else {
    lua_pushnil(L);
  }
  return 1;
}

/* tk.tree() --> the forest as indented text */
static void render(lua_State *L, luaL_Buffer *b, tk_group_t *g, int depth) {
  size_t pending, running, done;
  tk_group_counts(g, &pending, &running, &done);
  for (int i = 0; i < depth; i++) luaL_addstring(b, "  ");
  lua_pushfstring(L, "%s [pending %d, running %d, done %d]%s\n",
                  tk_group_name(g), (int)pending, (int)running, (int)done,
                  tk_group_event_is_set(g) ? " (event set)" : "");
  luaL_addvalue(b);
  size_t cap = tk_group_child_count(g);
  if (cap == 0) return;
  tk_group_t **kids = malloc(cap * sizeof *kids);
  if (kids == NULL) return;
  size_t got = tk_group_children(g, kids, cap);  /* <= cap */
  for (size_t i = 0; i < got; i++) {
    render(L, b, kids[i], depth + 1);
    tk_group_release(kids[i]);
  }
  free(kids);
}

static int l_tree(lua_State *L) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t cap = tk_group_child_count(NULL);
  tk_group_t **roots = cap ? malloc(cap * sizeof *roots) : NULL;
  size_t got = tk_group_children(NULL, roots, cap);  /* <= cap; 0 if NULL */
  for (size_t i = 0; i < got; i++) {
    render(L, &b, roots[i], 0);
    tk_group_release(roots[i]);
  }
  free(roots);
  luaL_pushresult(&b);
  return 1;
}

/* tk.current_group() --> the group of the running task, or nil */
static int l_current_group(lua_State *L) {
  tkl_task *t = tkl_current_task();
  tk_group_t *g = t != NULL ? tk_job_group(t->job) : NULL;
  if (g != NULL) tkl_push_handle(L, TKL_K_GROUP, g);
  else lua_pushnil(L);
  return 1;
}

void tkl_open_group(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"add_task", l_add_task},
      {"join", l_join},
      {"wait_for_condition", l_wait_for_condition},
      {"set_event_for_child_tasks", l_set_event},
      {"event_is_set", l_event_is_set},
      {"clear_pending", l_clear_pending},
      {"children", l_children},
      {"results", l_results},
      {"errors", l_errors},
      {"metrics", l_metrics},
      {NULL, NULL}};
  tkl_new_handle_type(L, &group_kind, methods, group_index);
  static const luaL_Reg funcs[] = {{"group", l_group},
                                   {"tree", l_tree},
                                   {"current_group", l_current_group},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
