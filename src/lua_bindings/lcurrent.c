/*
** lcurrent.c - what a script asks about the task it runs in: tk.current_job,
** tk.cancelled, tk.checkpoint, tk.sleep, tk.now. See LICENSE for
** copyright and licence.
*/
#include <time.h>

#include "handles.h"
#include "lcallbacks.h"
#include "lopen.h"
#include "ltask.h"
#include "lwait.h"

static int l_current_job(lua_State *L) {
  tkl_task *t = tkl_current_task();
  if (t == NULL || t->job == NULL) {
    lua_pushnil(L);
    return 1;
  }
  tk_job_retain(t->job);
  tkl_push_handle(L, TKL_K_JOB, t->job);
  return 1;
}

static int l_cancelled(lua_State *L) {
  tkl_task *t = tkl_current_task();
  lua_pushboolean(L, t != NULL && tk_job_is_cancelled(t->job));
  return 1;
}

static int l_checkpoint(lua_State *L) {
  tkl_task *t = tkl_current_task();
  if (t != NULL && tk_job_is_cancelled(t->job)) return tkl_raise_cancel(L);
  return 0;
}

static void nap(double s) {
  struct timespec ts;
  if (s > TK_LONGEST_WAIT) s = TK_LONGEST_WAIT;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  /* Ctrl-C in tklua wakes the main thread (EINTR) to end its naps. */
  while (nanosleep(&ts, &ts) != 0 && !tkl_interrupted()) {}
}

/* tk.sleep outside tasks: in slices, running the state's fired callbacks
** and ending on Ctrl-C between them. */
static void nap_in(lua_State *L, double s) {
  double until = tkl_now() + s;
  for (double left = s; left > 0 && !tkl_interrupted();
       left = until - tkl_now()) {
    tkl_run_callbacks(L, NULL);
    nap(tkl_block_slice(left));
  }
  tkl_run_callbacks(L, NULL);
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tkl_task *t = tkl_current_task();
  tkl_wait_end(L);
  lua_pushboolean(L, !tk_job_is_cancelled(t->job));
  return 1;
}

/* tk.sleep(s): true after s seconds, false at once when the task is
** cancelled. Inside a task it frees the worker meanwhile. */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0, 1, "duration must be a non-negative number");
  tkl_task *t = tkl_yieldable_task(L);
  if (t != NULL) {
    if (tk_job_is_cancelled(t->job)) {
      lua_pushboolean(L, 0);
      return 1;
    }
    tkl_wait *w = tkl_wait_begin(L, t);
    tkl_wait_deadline(L, w, s);
    return tkl_wait_suspend(L, sleep_k, 0);
  }
  t = tkl_current_task();
  if (t != NULL) {  /* in a task, but cannot yield here: block */
    int cancelled = tk_token_wait(tk_job_token(t->job), s) == 0;
    lua_pushboolean(L, !cancelled);
    return 1;
  }
  nap_in(L, s);
  if (tkl_interrupted()) return luaL_error(L, "interrupted!");
  lua_pushboolean(L, 1);
  return 1;
}

/* tk.event_aware_sleep(s), the thread-group library's name for tk.sleep: a
** function of its own, so that an error names the one called (Lua names a
** C function by the first field found holding it). */
static int l_event_aware_sleep(lua_State *L) {
  luaL_checknumber(L, 1);  /* its own check: the two must not be merged */
  return l_sleep(L);
}

/* tk.now(): a monotonic clock in seconds, for measuring durations */
static int l_now(lua_State *L) {
  lua_pushnumber(L, tkl_now());
  return 1;
}

void tkl_open_task(lua_State *L) {
  static const luaL_Reg funcs[] = {{"current_job", l_current_job},
                                   {"now", l_now},
                                   {"cancelled", l_cancelled},
                                   {"checkpoint", l_checkpoint},
                                   {"sleep", l_sleep},
                                   {"event_aware_sleep", l_event_aware_sleep},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
