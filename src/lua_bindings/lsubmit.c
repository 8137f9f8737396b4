/*
** lsubmit.c - the submit path every kind of task shares (pool:submit,
** tk.submit, g:add_task): its options (priority, name, token, timeout,
** block_timeout, retry, after), the encoding of the function and its
** arguments, and the error a refused submit raises. See LICENSE for
** copyright and licence.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "handles.h"
#include "lcallbacks.h"
#include "lopts.h"
#include "lsubmit.h"
#include "ltask.h"
#include "lwait.h"
#include "pool.h"
#include "transfer.h"

int tkl_priority(lua_State *L, int idx, int arg) {
  int isint;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    /* An integer, or a float with an integer's value (2.0), in C's int
    ** range: the core takes any int. */
    lua_Integer n = lua_tointegerx(L, idx, &isint);
    if (isint && n >= INT_MIN && n <= INT_MAX) return (int)n;
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    static const char *const names[] = {"lowest", "low", "normal", "high",
                                        "highest", NULL};
    const char *s = lua_tostring(L, idx);
    for (int i = 0; names[i]; i++)
      if (strcmp(s, names[i]) == 0) return i - 2;
  }
  return luaL_argerror(L, arg, lua_pushfstring(L,
      "priority must be an integer from %d to %d or \"lowest\"..\"highest\" "
      "(got %s)", INT_MIN, INT_MAX, luaL_tolstring(L, idx, NULL)));
}

int tkl_submit_error(lua_State *L, int rc, tkl_pool *p) {
  if (rc == TK_ESHUTDOWN || p->pool == NULL)
    return luaL_error(L, "attempt to use a shut-down pool");
  if (rc == TK_EFULL) {
    tk_pool_metrics_t m;
    tk_pool_metrics(p->pool, &m);
    return luaL_error(L, "queue is full (%d pending, capacity %d)",
                      (int)m.pending, (int)p->capacity);
  }
  if (rc == TK_ETIMEDOUT)
    return luaL_error(L, "queue is full (capacity %d): no room within "
                         "block_timeout", (int)p->capacity);
  if (rc == TK_EBUSY)  /* waiting would block the pool's last thread */
    return luaL_error(L, "queue is full (capacity %d), and no thread of "
                         "the pool is left to make room", (int)p->capacity);
  return luaL_error(L, "submit failed: %s", tk_strerror(rc));
}

/* Reads opts.retry (at index r) into a plain policy table it pushes. */
static void push_retry_policy(lua_State *L, int oidx, int r) {
  static const char *const known[] = {"attempts", "delay", "backoff",
                                      "max_delay", "on", NULL};
  tkl_check_options(L, r, oidx, "retry.", known);
  lua_createtable(L, 0, 5);
  int pol = lua_gettop(L);
  static const struct {
    const char *key;
    double def, min;
  } fields[] = {{"delay", 0.1, 0}, {"backoff", 2, 1}, {"max_delay", 30, 0}};
  lua_getfield(L, r, "attempts");
  if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
    luaL_argerror(L, oidx, "retry.attempts must be an integer >= 1");
  lua_setfield(L, pol, "attempts");
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    double v = fields[i].def;
    if (lua_getfield(L, r, fields[i].key) != LUA_TNIL) {
      int ok;
      v = lua_tonumberx(L, -1, &ok);
      if (!ok || !(v >= fields[i].min))
        luaL_argerror(L, oidx, lua_pushfstring(L, "retry.%s must be a number "
                                                  ">= %d", fields[i].key,
                                               (int)fields[i].min));
    }
    lua_pop(L, 1);
    lua_pushnumber(L, v);
    lua_setfield(L, pol, fields[i].key);
  }
  if (lua_getfield(L, r, "on") != LUA_TNIL) {
    if (!lua_isfunction(L, -1))
      luaL_argerror(L, oidx, "retry.on must be a function");
    lua_setfield(L, pol, "on");
  } else {
    lua_pop(L, 1);
  }
}

void tkl_read_task_opts(lua_State *L, int oidx, tk_job_opts_t *o,
                        int in_group) {
  if (lua_getfield(L, oidx, "priority") != LUA_TNIL)
    o->priority = tkl_priority(L, -1, oidx);
  if (lua_getfield(L, oidx, "name") != LUA_TNIL) {
    o->name = lua_tostring(L, -1);
    if (o->name == NULL) luaL_argerror(L, oidx, "name must be a string");
  }
  if (lua_getfield(L, oidx, "token") != LUA_TNIL) {
    if (in_group)
      luaL_argerror(L, oidx, "a group's task takes the group's event as "
                             "its token");
    o->token = tkl_check_handle(L, -1, TKL_K_TOKEN);
  }
  if (lua_getfield(L, oidx, "timeout") != LUA_TNIL) {
    int ok;
    o->timeout = lua_tonumberx(L, -1, &ok);
    if (!ok || !(o->timeout > 0))
      luaL_argerror(L, oidx, "timeout must be a positive number");
  }
}

int tkl_submit(lua_State *L, tkl_pool *p, tk_group_t *g, int ctx, int oidx,
               int fidx) {
  luaL_checktype(L, fidx, LUA_TFUNCTION);
  tkl_run_callbacks(L, ctx != 0 ? lua_touserdata(L, ctx) : NULL);
  int n = lua_gettop(L) - fidx + 1;  /* the function and its arguments */
  tkl_check_count(L, n - 1, "arguments");
  int policy = 0;                    /* index of a retry policy, if any */
  tk_job_opts_t o = {0};
  tk_job_t *after_stack[8], **after = after_stack;
  size_t n_after = 0;
  if (oidx != 0) {
    static const char *const known[] = {"priority", "name", "token", "timeout",
                                        "block_timeout", "retry", "after", NULL};
    tkl_check_options(L, oidx, oidx, "", known);
    tkl_read_task_opts(L, oidx, &o, g != NULL);
    if (lua_getfield(L, oidx, "block_timeout") != LUA_TNIL) {
      int ok;
      o.block_timeout = lua_tonumberx(L, -1, &ok);
      if (!ok || o.block_timeout != o.block_timeout)  /* NaN */
        luaL_argerror(L, oidx, "block_timeout must be a number");
      if (o.block_timeout == 0) o.block_timeout = -1;  /* 0: do not wait */
    }
    if (lua_getfield(L, oidx, "retry") != LUA_TNIL) {
      if (!lua_istable(L, -1)) luaL_argerror(L, oidx, "retry must be a table");
      push_retry_policy(L, oidx, lua_gettop(L));
      policy = lua_gettop(L);
    }
    if (lua_getfield(L, oidx, "after") != LUA_TNIL) {
      int t = lua_gettop(L);
      n_after = (size_t)tkl_check_list(L, t, oidx, "after");
      if (n_after > 8) after = lua_newuserdatauv(L, n_after * sizeof *after, 0);
      for (size_t i = 0; i < n_after; i++) {
        lua_rawgeti(L, t, (lua_Integer)i + 1);
        after[i] = tkl_check_list_job(L, -1, oidx, "after", (lua_Integer)i + 1);
        lua_pop(L, 1);
      }
      o.after = after;
      o.n_after = n_after;
    }
  }
  /* Encoding can raise: encode into the state's scratch buffer first (it
  ** is reset on next use), and only then make the task. */
  tkl_buf *scratch = ctx != 0 ? tkl_ctx_scratch(lua_touserdata(L, ctx))
                              : tkl_scratch(L);
  if (policy != 0) {
    /* With retries the task is the runner: runner(fn, policy, args...). */
    luaL_checkstack(L, n + 3, "too many arguments");
    int base = lua_gettop(L) + 1;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tkl_key_retry);
    lua_pushvalue(L, fidx);
    lua_pushvalue(L, policy);
    for (int i = 1; i < n; i++) lua_pushvalue(L, fidx + i);
    fidx = base;
    n += 2;
  }
  tkl_encode_ctx(L, ctx, fidx, n, scratch, TKL_ENCODE_ARGUMENTS);
  tkl_task *t = tkl_task_new(p, scratch);
  if (t == NULL) return luaL_error(L, "not enough memory");
  tkl_task_extra *x = n_after > 0 ? tkl_task_extra_get(t) : NULL;
  if (x != NULL && (x->after = malloc(n_after * sizeof *x->after)) != NULL) {
    /* Remembered for tk.dot; dependencies never point back, no cycle. */
    for (size_t i = 0; i < n_after; i++) {
      tk_job_retain(after[i]);
      x->after[x->nafter++] = after[i];
    }
  }
  t->has_timeout = o.timeout > 0;
  o.arg_free = tkl_task_free;
  tk_job_t *job;
  int rc = g != NULL ? tk_group_submit(g, &o, tkl_task_run, t, &job)
                     : tk_pool_submit(p->pool, &o, tkl_task_run, t, &job);
  if (rc != 0) {
    tkl_task_free(t);
    return tkl_submit_error(L, rc, p);
  }
  tkl_push_new_handle_ctx(L, ctx, TKL_K_JOB, job);
  return 1;
}
