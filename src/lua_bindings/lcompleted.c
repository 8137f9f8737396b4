/*
** lcompleted.c - tk.as_completed(jobs, [timeout]): iterate jobs in the
** order they finish. See LICENSE for copyright and licence.
**
** One collector per loop: each job's on_finish pushes its index into the
** collector's queue; the iterator pops, waiting (suspending a task) while
** it is empty.
*/
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "handles.h"
#include "lopen.h"
#include "lopts.h"
#include "ltask.h"
#include "lwait.h"
#include "tkl_atomic.h"

typedef struct collector {
  atomic_int refs;               /* the Lua box and each pending callback */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int *done;                     /* indexes of finished jobs, in order */
  size_t head, count, cap;
  void *waker;                   /* a suspended iterator, or NULL */
} collector;

typedef struct arrival {
  collector *c;
  int index;
} arrival;

static void collector_release(collector *c) {
  if (!tkl_ref_drop(&c->refs)) return;
  if (c->waker != NULL) tkl_waker_release(c->waker);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c->done);
  free(c);
}

static void arrived(void *arg) {
  arrival *a = arg;
  collector *c = a->c;
  pthread_mutex_lock(&c->mu);
  c->done[(c->head + c->count++) % c->cap] = a->index;  /* cap = #jobs */
  void *w = c->waker;
  c->waker = NULL;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (w != NULL) tkl_waker_fire(w);
  free(a);
  collector_release(c);
}

static int collector_gc(lua_State *L) {
  collector **box = lua_touserdata(L, 1);
  if (*box != NULL) collector_release(*box);
  *box = NULL;
  return 0;
}

/* Upvalues: 1 collector box, 2 the jobs, 3 how many are left, 4 deadline
** (< 0: none). */
static int next_k(lua_State *L, int status, lua_KContext ctx);

static int iter(lua_State *L) { return next_k(L, LUA_OK, 0); }

static int next_k(lua_State *L, int status, lua_KContext suspended) {
  (void)status;
  if (suspended) tkl_wait_end(L);
  collector *c = *(collector **)lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer left = lua_tointeger(L, lua_upvalueindex(3));
  double deadline = lua_tonumber(L, lua_upvalueindex(4));
  if (left == 0) return 0;
  tkl_block b;
  tkl_block_start(&b, L, deadline);
  for (;;) {
    pthread_mutex_lock(&c->mu);
    if (c->count > 0) {
      int idx = c->done[c->head];
      c->head = (c->head + 1) % c->cap;
      c->count--;
      pthread_mutex_unlock(&c->mu);
      tkl_block_stop(&b);
      lua_pushinteger(L, left - 1);
      lua_replace(L, lua_upvalueindex(3));
      lua_rawgeti(L, lua_upvalueindex(2), idx);
      return 1;
    }
    double wait = tkl_left(deadline);
    if (wait == 0) {
      pthread_mutex_unlock(&c->mu);
      tkl_block_stop(&b);
      return luaL_error(L, "as_completed: timed out with %d job(s) left",
                        (int)left);
    }
    tkl_task *t = tkl_yieldable_task(L);
    if (t != NULL) {
      pthread_mutex_unlock(&c->mu);
      void *wk = tkl_wait_begin_waker(L, t, wait);
      pthread_mutex_lock(&c->mu);
      if (c->count > 0) {  /* arrived meanwhile: wake at once */
        pthread_mutex_unlock(&c->mu);
        tkl_waker_fire(wk);
      } else {
        if (c->waker != NULL) tkl_waker_release(c->waker);
        c->waker = wk;
        pthread_mutex_unlock(&c->mu);
      }
      return tkl_wait_suspend(L, next_k, 1);
    }
    /* Blocks in slices; a task's worker gets a spare meanwhile. A
    ** cancelled task waits on, as one suspended here does: its jobs are
    ** what ends the loop. */
    double s = tkl_block_next(&b);
    tkl_cond_wait(&c->cv, &c->mu, s > 0 ? s : tkl_block_slice(wait));
    pthread_mutex_unlock(&c->mu);
    tkl_block_between(&b);
  }
}

/* for job in tk.as_completed(jobs, [timeout]) do ... end */
static int l_as_completed(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  double timeout = tkl_opt_timeout(L, 2);
  lua_Integer n = tkl_check_list(L, 1, 1, "jobs");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    tkl_check_list_job(L, -1, 1, "jobs", i);
    lua_pop(L, 1);
  }
  collector **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  lua_newtable(L);
  lua_pushcfunction(L, collector_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  collector *c = calloc(1, sizeof *c);
  if (c == NULL) return luaL_error(L, "not enough memory");
  c->cap = n > 0 ? (size_t)n : 1;
  c->done = malloc(c->cap * sizeof *c->done);
  if (c->done == NULL) {
    free(c);
    return luaL_error(L, "not enough memory");
  }
  if (tkl_cond_init(&c->cv) != 0) {
    free(c->done);
    free(c);
    return luaL_error(L, "cannot make a condition variable");
  }
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->mu, NULL);
  *box = c;
  lua_newtable(L);  /* job -> true: one listed twice comes once, as in Python */
  int seen = lua_gettop(L);
  lua_createtable(L, (int)n, 0);  /* a copy of the list: the order is ours */
  lua_Integer m = 0;              /* distinct jobs */
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    tk_job_t *job = tkl_test_handle(L, -1, TKL_K_JOB);
    lua_pushlightuserdata(L, job);
    if (lua_rawget(L, seen) != LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, job);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    lua_rawseti(L, -2, ++m);
    arrival *a = malloc(sizeof *a);
    if (a == NULL) return luaL_error(L, "not enough memory");
    a->c = c;
    a->index = (int)m;
    atomic_fetch_add(&c->refs, 1);
    if (tk_job_on_finish(job, arrived, a) != 0) {
      free(a);
      collector_release(c);
      return luaL_error(L, "not enough memory");
    }
  }
  lua_remove(L, seen);
  lua_pushinteger(L, m);
  lua_pushnumber(L, tkl_deadline(timeout));
  lua_pushcclosure(L, iter, 4);
  return 1;
}

void tkl_open_completed(lua_State *L) {
  lua_pushcfunction(L, l_as_completed);
  lua_setfield(L, -2, "as_completed");
}
