/*
** ljob.c - jobs in Lua: fields, wait, result, cancel.
** See LICENSE for copyright and licence.
*/
#include <string.h>

#include "handles.h"
#include "lcallbacks.h"
#include "lopen.h"
#include "lopts.h"
#include "ltask.h"
#include "lwait.h"
#include "transfer.h"

static void job_retain(void *job) { tk_job_retain(job); }
static void job_release(void *job) { tk_job_release(job); }

static const tkl_kind job_kind = {TKL_K_JOB, "job", TK_JOB_MT, job_retain,
                                  job_release, NULL, NULL, NULL};

static tk_job_t *check_job(lua_State *L) {
  return tkl_check_handle(L, 1, TKL_K_JOB);
}

static int is_final(tk_job_t *job) {
  return tk_job_state(job) >= TK_JOB_COMPLETED;
}

static int job_final(void *job) { return is_final(job); }
static void job_wait(void *job, double secs) { tk_job_wait(job, secs); }

/* Waits for job (suspending a task, blocking elsewhere), then calls k
** with the job at index 1: directly with status LUA_OK and the job as
** context, or after a suspension with LUA_YIELD (k then checks the handle
** again: another task may have closed it meanwhile). */
static int wait_then(lua_State *L, tk_job_t *job, double timeout,
                     lua_KFunction k) {
  if (!is_final(job) && timeout != 0) {
    tkl_task *t = tkl_yieldable_task(L);
    if (t != NULL && t->job == job)
      return luaL_error(L, "a task cannot wait for its own job");
    if (t != NULL) {
      tkl_wait *w = tkl_wait_begin(L, t);
      tkl_wait_job(L, w, job);
      tkl_wait_deadline(L, w, timeout);
      return tkl_wait_suspend(L, k, 0);
    }
    t = tkl_current_task();
    if (t != NULL && t->job == job)
      return luaL_error(L, "a task cannot wait for its own job");
    tkl_block_until(L, tkl_deadline(timeout), job_final, job_wait, job);
  }
  tkl_run_callbacks(L, NULL);  /* what fired before the job ended */
  return k(L, LUA_OK, (lua_KContext)job);
}

static tk_job_t *job_after_wait(lua_State *L, int status, lua_KContext job) {
  if (status != LUA_YIELD) return (tk_job_t *)job;
  tkl_wait_end(L);
  return tkl_check_handle(L, 1, TKL_K_JOB);
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  lua_pushboolean(L, is_final(job_after_wait(L, status, ctx)));
  return 1;
}

/* job:wait([timeout]) --> true when finished, false on timeout */
static int l_wait(lua_State *L) {
  tk_job_t *job = check_job(L);
  return wait_then(L, job, tkl_opt_timeout(L, 2), wait_k);
}

static int result_k(lua_State *L, int status, lua_KContext ctx) {
  tk_job_t *job = job_after_wait(L, status, ctx);
  switch (tk_job_state(job)) {
    case TK_JOB_COMPLETED: {
      tkl_task *t = tkl_task_of(job);
      if (t == NULL) return 0;  /* a C job: no Lua values */
      lua_settop(L, 1);
      return tkl_decode_blob(L, &t->out);
    }
    case TK_JOB_FAILED: {  /* the task's own error value, or its text */
      tkl_task *t = tkl_task_of(job);
      lua_settop(L, 1);
      if (t != NULL && t->error_kept != TKL_ERROR_NONE)
        tkl_decode_blob(L, &t->out);
      else
        lua_pushstring(L, tk_job_error(job));
      return lua_error(L);
    }
    case TK_JOB_CANCELLED:
      lua_pushfstring(L, "job was cancelled (%s)", tk_job_error(job));
      return lua_error(L);
    default:
      return luaL_error(L, "timed out waiting for the job's result");
  }
}

/* job:result([timeout]) --> the task's return values; raises its error */
static int l_result(lua_State *L) {
  tk_job_t *job = check_job(L);
  return wait_then(L, job, tkl_opt_timeout(L, 2), result_k);
}

/* job:cancel([force]) --> true if it was pending or running */
static int l_cancel(lua_State *L) {
  tk_job_t *job = check_job(L);
  int force = lua_toboolean(L, 2);
  tkl_task *t = tkl_task_of(job);
  if (force && t != NULL) atomic_store(&t->force, 1);
  int rc = tk_job_cancel(job);
  if (force && t != NULL && rc == TK_EBUSY) tkl_stop_task(t);
  lua_pushboolean(L, rc == 0 || rc == TK_EBUSY);
  return 1;
}

static int l_is_cancelled(lua_State *L) {
  lua_pushboolean(L, tk_job_is_cancelled(check_job(L)));
  return 1;
}

static int l_token(lua_State *L) {
  tk_token_t *tok = tk_job_token(check_job(L));
  if (tok == NULL) return luaL_error(L, "not enough memory");
  tk_token_retain(tok);
  tkl_push_handle(L, TKL_K_TOKEN, tok);
  return 1;
}

static int job_index(lua_State *L) {
  /* Only ever the __index of a job box: methods first, by raw lookup. */
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  tk_job_t *job = check_job(L);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "state") == 0) {
    lua_pushstring(L, tk_job_state_name(tk_job_state(job)));
  } else if (strcmp(k, "name") == 0) {
    const char *n = tk_job_name(job);
    if (n) lua_pushstring(L, n);
    else lua_pushnil(L);
  } else if (strcmp(k, "priority") == 0) {
    lua_pushinteger(L, tk_job_priority(job));
  } else if (strcmp(k, "error") == 0) {
    /* Its text; a string error whole (NULs included). */
    tkl_task *t = tkl_task_of(job);
    const char *e = tk_job_error(job);
    if (t != NULL && t->error_kept == TKL_ERROR_STRING &&
        tk_job_state(job) == TK_JOB_FAILED)
      tkl_decode_blob(L, &t->out);
    else if (e)
      lua_pushstring(L, e);
    else
      lua_pushnil(L);
  } else if (strcmp(k, "traceback") == 0) {
    tkl_task *t = tkl_task_of(job);
    tkl_task_extra *x = t != NULL ? tkl_task_extra_peek(t) : NULL;
    if (x != NULL && x->traceback != NULL && is_final(job))
      lua_pushstring(L, x->traceback);
    else
      lua_pushnil(L);
  } else if (strcmp(k, "execution_time") == 0) {
    double s = tk_job_execution_time(job);
    if (s >= 0) lua_pushnumber(L, s);
    else lua_pushnil(L);
  } else if (strcmp(k, "attempts") == 0) {
    tkl_task *t = tkl_task_of(job);
    tkl_task_extra *x = t != NULL ? tkl_task_extra_peek(t) : NULL;
    int started = tk_job_execution_time(job) >= 0 ||
                  tk_job_state(job) == TK_JOB_RUNNING;
    int n = x != NULL ? atomic_load_explicit(&x->attempts, memory_order_relaxed)
                      : 0;
    lua_pushinteger(L, n > 0 ? n : started);
  } else if (strcmp(k, "attempt_errors") == 0) {
    tkl_task *t = tkl_task_of(job);
    tkl_task_extra *x = t != NULL && is_final(job) ? tkl_task_extra_peek(t)
                                                   : NULL;
    lua_createtable(L, x ? x->nerrors : 0, 0);
    for (int i = 0; x != NULL && i < x->nerrors; i++) {
      lua_pushstring(L, x->attempt_errors[i]);
      lua_rawseti(L, -2, i + 1);
    }
  } else if (strcmp(k, "queue_wait") == 0) {
    double s = tk_job_queue_wait(job);
    if (s >= 0) lua_pushnumber(L, s);
    else lua_pushnil(L);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

void tkl_open_job(lua_State *L) {
  static const luaL_Reg methods[] = {{"wait", l_wait},
                                     {"result", l_result},
                                     {"cancel", l_cancel},
                                     {"is_cancelled", l_is_cancelled},
                                     {"token", l_token},
                                     {NULL, NULL}};
  tkl_new_handle_type(L, &job_kind, methods, job_index);
}
