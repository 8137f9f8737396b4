/*
** lwork.c - pool:work(fn, on_result): calls of one function whose results
** come back to a callback instead of a job handle.
** See LICENSE for copyright and licence.
**
** w:queue(...) runs fn(...) on a worker, but makes no handle: a handle is
** a Lua object with a finalizer, and in a loop of small tasks the
** submitting state's collector spent about a third of its time on them.
** Nor does a call get a job: it goes onto the work's queue (tk_queue_*),
** for the runners of the core, unless the work has a token or a timeout,
** or its pool is bounded (those are a job's). Each call that ends is put on the work's
** arrivals by the thread that ended it; w:wait(), and w:queue now and
** then, take them in the order they finished, in the state that made w,
** and call on_result(true, ...) or on_result(false, err).
*/
#define _GNU_SOURCE  /* sched_getcpu */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "work.h"

#define TK_WORK_MT "threadkit.work"

#define CLOSED ((tkl_arrival *)1)  /* the arrivals of a released box */
#define BIAS ((long long)1 << 62)  /* see box_release */
#define KILLED BIAS              /* in a lane's done: the box is gone */

/* The userdata; user values: 1 the function, 2 on_result. Only the state
** that made it touches these fields. */
typedef struct work_box {
  const void *tag;               /* &box_tag: tells it apart cheaply */
  tkl_work *w;                   /* NULL once released */
  tkl_pool *pool;                /* a reference */
  tk_job_opts_t opts;            /* name w's, token retained */
  tkl_arrival *ready, *ready_tail;  /* arrivals taken, oldest first */
  size_t pending;                /* queued calls not yet handed out */
  long long queued;              /* calls ever queued */
  unsigned long calls;           /* calls to w:queue (see l_queue) */
  tkl_arrival *holding;          /* one being handed out (see wait_k) */
  int runners;                   /* calls go to w's queue */
} work_box;

static const char box_tag = 0;

static void work_free(tkl_work *w) {
  if (w->waker != NULL) tkl_waker_release(w->waker);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w->name);
  free(w);
}

static void work_unref(tkl_work *w) {
  if (atomic_fetch_sub(&w->refs, 1) == 1) work_free(w);
}

/* Frees a call that ended: its job (which frees its task), or its task. */
static void drop_call(tkl_arrival *a) {
  if (a->job != NULL) {
    tk_job_release(a->job);
    return;
  }
  tk_free(a->u.call.error);
  tkl_task_free(tkl_task_of_arrival(a));
}

static tkl_lane *my_lane(tkl_work *w) {
#ifdef __linux__
  return &w->lanes[(unsigned)sched_getcpu() & (TKL_LANES - 1)];
#else
  return &w->lanes[0];
#endif
}

/* A call ended (in the thread that ended it): onto the arrivals, without
** a lock, and the waiter, if any, is woken. Once the box is gone the call
** is dropped. Its last touch of w is the count in done (see box_release). */
static void arrive(void *arg) {
  tkl_arrival *a = arg;
  tkl_work *w = a->w;  /* a may be gone once pushed */
  tkl_lane *ln = my_lane(w);
  tkl_arrival *head = atomic_load_explicit(&ln->arrived, memory_order_relaxed);
  int pushed;
  do {
    pushed = head != CLOSED;
    if (!pushed) break;
    a->next = head;
  } while (!atomic_compare_exchange_weak_explicit(
      &ln->arrived, &head, a, memory_order_seq_cst, memory_order_relaxed));
  if (!pushed) {
    drop_call(a);
  } else if (atomic_load_explicit(&w->waiting, memory_order_seq_cst)) {
    /* Pairs with the waiter's announce-then-look (await). */
    pthread_mutex_lock(&w->mu);
    void *waker = w->waker;
    w->waker = NULL;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (waker != NULL) tkl_waker_fire(waker);
  }
  if (atomic_fetch_add(&ln->done, 1) & KILLED) work_unref(w);
}

/* The queue's side of a call: it runs as its task, and ends as a call
** with a job does. */
static int run_call(tk_call_t *call, void *data) {
  (void)data;
  tkl_arrival *a = (tkl_arrival *)((char *)call - offsetof(tkl_arrival, u));
  return tkl_task_run(tkl_task_of_arrival(a));
}

static void call_ended(tk_call_t *call, void *data) {
  (void)data;
  arrive((char *)call - offsetof(tkl_arrival, u));
}

static work_box *test_work(lua_State *L, int idx) {
  work_box *b = lua_touserdata(L, idx);
  return b != NULL && lua_rawlen(L, idx) == sizeof *b && b->tag == &box_tag
             ? b
             : NULL;
}

static work_box *check_work(lua_State *L) {
  work_box *b = test_work(L, 1);
  if (b == NULL) luaL_typeerror(L, 1, TK_WORK_MT);
  if (b->w == NULL) luaL_error(L, "attempt to use a released work");
  return b;
}

/* The submitting functions have the state's context as upvalue 1. */
#define CTX lua_upvalueindex(1)

/* Pushes on_result's arguments for a call that ended; returns how many. */
static int push_outcome(lua_State *L, tkl_arrival *a) {
  tkl_task *t = tkl_task_of_arrival(a);
  int state = a->job != NULL ? (int)tk_job_state(a->job) : a->u.call.state;
  const char *error = a->job != NULL ? tk_job_error(a->job) : a->u.call.error;
  if (error == NULL)  /* a message without the memory for it */
    error = state == TK_JOB_FAILED ? "failed (no memory for its message)"
                                   : "cancelled";
  switch (state) {
    case TK_JOB_COMPLETED:
      lua_pushboolean(L, 1);
      return 1 + tkl_decode_blob(L, &t->out);
    case TK_JOB_FAILED: {
      lua_pushboolean(L, 0);
      if (t->error_kept != TKL_ERROR_NONE) tkl_decode_blob(L, &t->out);
      else lua_pushstring(L, error);
      tkl_task_extra *x = tkl_task_extra_peek(t);
      if (x != NULL && x->traceback != NULL) lua_pushstring(L, x->traceback);
      else lua_pushnil(L);
      return 3;
    }
    default:
      lua_pushboolean(L, 0);
      lua_pushfstring(L, "job was cancelled (%s)", error);
      return 2;
  }
}

static int any_arrived(tkl_work *w) {
  for (int i = 0; i < TKL_LANES; i++)
    if (atomic_load_explicit(&w->lanes[i].arrived, memory_order_seq_cst))
      return 1;
  return 0;
}

static uint64_t finished_at(const tkl_arrival *a) {
  if (a->job == NULL) return a->u.call.finished;
  uint64_t finished;
  tk_job_times_ns(a->job, NULL, NULL, &finished);
  return finished;
}

/* Takes the arrivals onto the ready list in the order they finished (each
** lane's, reversed, then merged); 0 if none. */
static int take_arrivals(work_box *b) {
  tkl_arrival *list[TKL_LANES];
  int n = 0;
  for (int i = 0; i < TKL_LANES; i++) {
    tkl_lane *ln = &b->w->lanes[i];
    if (atomic_load_explicit(&ln->arrived, memory_order_relaxed) == NULL)
      continue;  /* a look leaves the line where it is */
    tkl_arrival *a = atomic_exchange_explicit(&ln->arrived, NULL,
                                          memory_order_acquire);
    tkl_arrival *oldest = NULL;
    while (a != NULL) {  /* newest first: reverse */
      tkl_arrival *next = a->next;
      a->next = oldest;
      oldest = a;
      a = next;
    }
    if (oldest != NULL) list[n++] = oldest;
  }
  if (n == 0) return 0;
  for (;;) {
    int first = 0;
    for (int i = 1; i < n; i++)
      if (finished_at(list[i]) < finished_at(list[first])) first = i;
    tkl_arrival *a = list[first];
    if (a->next != NULL) list[first] = a->next;
    else list[first] = list[--n];
    a->next = NULL;
    if (b->ready == NULL) b->ready = a;
    else b->ready_tail->next = a;
    b->ready_tail = a;
    if (n == 0) return 1;
  }
}

/* Blocks (a thread) or suspends (a task, continuing in k) until something
** arrives or the deadline passes (< 0: none). Returns 1 when it blocked
** and timed out, or its task was cancelled (a suspended wait sees that in
** unawait). */
static int await(lua_State *L, work_box *b, double deadline,
                 lua_KFunction k) {
  tkl_work *w = b->w;
  double left = tkl_left(deadline);
  if (left == 0) return 1;
  tkl_task *t = tkl_yieldable_task(L);
  void *wk = NULL;
  if (t != NULL) {
    pthread_mutex_lock(&w->mu);
    int busy = w->waker != NULL;
    pthread_mutex_unlock(&w->mu);
    if (busy) return luaL_error(L, "another task already waits for this work");
    wk = tkl_wait_begin_waker(L, t, left);
  }
  int over = 0;
  tkl_block blk;
  tkl_block_start(&blk, L, deadline);
  pthread_mutex_lock(&w->mu);
  /* Announce, then look: a finishing thread pushes, then reads waiting. */
  atomic_store_explicit(&w->waiting, 1, memory_order_seq_cst);
  int empty = !any_arrived(w);
  if (wk != NULL && empty) {
    w->waker = wk;  /* waiting stays set until the waker fires or ends */
    pthread_mutex_unlock(&w->mu);
    return tkl_wait_suspend(L, k, 1);
  }
  if (empty) {  /* one slice; a task's worker gets a spare meanwhile */
    double secs = tkl_block_next(&blk);
    if (secs > 0) tkl_cond_wait(&w->cv, &w->mu, secs);
    else over = 1;  /* the deadline passed, or the task was cancelled */
  }
  atomic_store_explicit(&w->waiting, 0, memory_order_relaxed);
  pthread_mutex_unlock(&w->mu);
  if (wk != NULL) {  /* arrived meanwhile: wake at once */
    tkl_waker_fire(wk);
    return tkl_wait_suspend(L, k, 1);
  }
  if (empty && !over) tkl_block_between(&blk);
  tkl_block_stop(&blk);
  return over;
}

/* Ends a suspended wait: the waker goes if it did not fire. When it timed
** out or the task was cancelled, the deadline at index 2 becomes "now":
** the next look hands out what arrived, then returns false. */
static void unawait(lua_State *L, work_box *b) {
  if (tkl_wait_end_given_up(L)) {
    lua_pushnumber(L, 0);
    lua_replace(L, 2);
  }
  tkl_work *w = b->w;
  pthread_mutex_lock(&w->mu);
  void *wk = w->waker;
  w->waker = NULL;
  atomic_store_explicit(&w->waiting, 0, memory_order_relaxed);
  pthread_mutex_unlock(&w->mu);
  if (wk != NULL) tkl_waker_release(wk);
}

/* Frees the call being handed out. */
static void let_go(work_box *b) {
  tkl_arrival *a = b->holding;
  if (a == NULL) return;
  b->holding = NULL;
  drop_call(a);
}

/* Calls on_result for the oldest arrival taken; the box is at index 1 and
** the caller's values stay as they are. A yield inside on_result (a task
** waiting) continues in k. */
static void give(lua_State *L, work_box *b, lua_KFunction k) {
  int top = lua_gettop(L);
  tkl_arrival *a = b->ready;
  b->ready = a->next;
  b->pending--;
  b->holding = a;
  lua_getiuservalue(L, 1, 2);
  int n = push_outcome(L, a);
  let_go(b);  /* the values pushed hold what they need */
  lua_callk(L, n, 0, 0, k);
  lua_settop(L, top);
}

/* How often w:queue hands out what has arrived. Without it a long loop of
** queue calls would keep every finished call until w:wait; much more often
** is slower, likely because the next calls then reuse at once the tasks a
** hand-out frees, while their lines sit in the workers' caches (see
** docs/performance.md). */
#define HAND_OUT_EVERY 1024

static int queue_k(lua_State *L, int status, lua_KContext ctx);

/* w:queue(...): fn(...) on a worker; on_result gets its results later.
** Every HAND_OUT_EVERY calls it first hands out what has arrived, so
** on_result may run here; an error there leaves this call not queued. The
** count is of calls to w:queue, made before the hand-out: a w:queue inside
** on_result is a call of its own and does not hand out again (its depth
** would grow with every result). */
static int l_queue(lua_State *L) {
  work_box *b = check_work(L);
  let_go(b);  /* an error in the last hand-out cut it short */
  if (++b->calls % HAND_OUT_EVERY == 0) {
    take_arrivals(b);
    while (b->ready != NULL) give(L, b, queue_k);
  }
  return queue_k(L, LUA_OK, (lua_KContext)b);
}

/* The rest of w:queue, with the box as ctx; after a yield inside on_result
** (a task waiting) the box is checked again and the hand-out goes on. */
static int queue_k(lua_State *L, int status, lua_KContext ctx) {
  work_box *b = (work_box *)ctx;
  if (status == LUA_YIELD) {
    b = check_work(L);
    while (b->ready != NULL) give(L, b, queue_k);
  }
  int n = lua_gettop(L);  /* the box and the arguments */
  tkl_check_count(L, n - 1, "arguments");
  tkl_pool *p = b->pool;
  if (tk_pool_is_shutdown(p->pool))
    return luaL_error(L, "attempt to use a shut-down pool");
  lua_getiuservalue(L, 1, 1);
  lua_insert(L, 2);  /* the box stays: it anchors b */
  tkl_buf *scratch = tkl_ctx_scratch(lua_touserdata(L, CTX));
  tkl_encode_ctx(L, CTX, 2, n, scratch, TKL_ENCODE_ARGUMENTS);
  tkl_task *t = tkl_task_new_room(p, scratch, TKL_TASK_ROOM);
  if (t == NULL) return luaL_error(L, "not enough memory");
  t->has_timeout = b->opts.timeout > 0;
  tkl_arrival *a = tkl_arrival_of(t);
  a->w = b->w;
  a->job = NULL;
  if (b->runners) {
    tk_queue_push(b->w->queue, &a->u.call);
    b->pending++;
    b->queued++;
    return 0;
  }
  /* Our reference to the job goes to the arrival; the job may end (and
  ** arrive) before this returns. */
  int rc = tk_pool_submit_watched(p->pool, &b->opts, tkl_task_run, t,
                                  &a->job, &a->u.watch, arrive, a);
  if (rc != 0) {
    tkl_task_free(t);
    return tkl_submit_error(L, rc, p);
  }
  b->pending++;
  b->queued++;
  return 0;
}

/* w:wait([timeout]) --> true once every queued call's on_result ran, false
** on timeout. Index 2 holds the deadline (< 0: none); continuations come
** back here after a suspension (ctx 1) or a yield inside on_result. */
static int wait_k(lua_State *L, int status, lua_KContext suspended) {
  lua_settop(L, 2);
  work_box *b = check_work(L);
  if (status == LUA_YIELD && suspended) unawait(L, b);
  double deadline = lua_tonumber(L, 2);
  for (;;) {
    let_go(b);  /* an error in the last hand-out cut it short */
    if (b->ready != NULL) {
      give(L, b, wait_k);
      continue;
    }
    if (take_arrivals(b)) continue;
    if (b->pending == 0) break;
    if (tkl_interrupted()) return luaL_error(L, "interrupted!");
    if (await(L, b, deadline, wait_k)) {
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_wait(lua_State *L) {
  check_work(L);
  double timeout = tkl_opt_timeout(L, 2);
  lua_settop(L, 1);
  lua_pushnumber(L, tkl_deadline(timeout));
  return wait_k(L, LUA_OK, 0);
}

/* #w: queued calls whose on_result has not run yet. */
static int l_len(lua_State *L) {
  work_box *b = test_work(L, 1);
  lua_pushinteger(L, b != NULL ? (lua_Integer)b->pending : 0);
  return 1;
}

static void release_all(tkl_arrival *a) {
  while (a != NULL) {
    tkl_arrival *next = a->next;
    drop_call(a);
    a = next;
  }
}

/* Calls still in flight drop themselves (their lane is CLOSED). Each call,
** as it is done with w, counts itself in its lane's done; once the lane is
** KILLED, it takes one from refs instead. So refs needs BIAS less the
** calls not counted at the kill, and the last one out frees w. */
static void box_release(work_box *b) {
  tkl_work *w = b->w;
  if (w == NULL) return;
  b->w = NULL;
  let_go(b);
  long long counted = 0;
  for (int i = 0; i < TKL_LANES; i++) {
    release_all(atomic_exchange(&w->lanes[i].arrived, CLOSED));
    counted += atomic_fetch_or(&w->lanes[i].done, KILLED);
  }
  release_all(b->ready);
  b->ready = NULL;
  b->pending = 0;
  tk_queue_release(w->queue);
  tk_token_release(b->opts.token);
  tkl_pool_release(b->pool);
  long long rest = BIAS - (b->queued - counted);
  if (atomic_fetch_sub(&w->refs, rest) == rest) work_free(w);
}

static int l_gc(lua_State *L) {
  work_box *b = test_work(L, 1);
  if (b != NULL) box_release(b);
  return 0;
}

static int l_tostring(lua_State *L) {
  work_box *b = test_work(L, 1);
  if (b == NULL) return luaL_typeerror(L, 1, TK_WORK_MT);
  lua_pushfstring(L, "threadkit.work (%p, %d pending)", (void *)b,
                  (int)b->pending);
  return 1;
}

/* Reads the options at oidx (0: none) into o. */
static void read_options(lua_State *L, int oidx, tk_job_opts_t *o) {
  if (oidx == 0) return;
  static const char *const known[] = {"priority", "name", "token", "timeout",
                                      NULL};
  tkl_check_options(L, oidx, oidx, "", known);
  tkl_read_task_opts(L, oidx, o, 0);
}

/* pool:work([opts,] fn, on_result) (the pool's box at pool_idx) and
** tk.work on the default pool (pool_idx 0). */
static int make_work(lua_State *L, tkl_pool *p, int pool_idx, int oidx,
                     int fidx) {
  luaL_checktype(L, fidx, LUA_TFUNCTION);
  luaL_checktype(L, fidx + 1, LUA_TFUNCTION);
  tk_job_opts_t o = {0};
  read_options(L, oidx, &o);
  work_box *b = lua_newuserdatauv(L, sizeof *b, 2);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, TK_WORK_MT);
  tkl_work *w = aligned_alloc(_Alignof(tkl_work), sizeof *w);  /* a multiple */
  /* One copy of the name, w's: the box's jobs use it. */
  char *name = o.name != NULL ? strdup(o.name) : NULL;
  if (w != NULL) memset(w, 0, sizeof *w);
  /* A token or a timeout is a job's, and a bounded pool counts jobs: those
  ** calls keep a job each; the others go to a queue. */
  b->runners = o.token == NULL && !(o.timeout > 0) && p->capacity == 0;
  int rc = w == NULL || (o.name != NULL && name == NULL)
               ? TK_ENOMEM
               : tkl_cond_init(&w->cv);
  if (rc == 0 && b->runners) {
    tk_queue_opts_t qo = {o.priority, o.name, run_call, call_ended, NULL};
    if ((rc = tk_queue_new(p->pool, &qo, &w->queue)) != 0)
      pthread_cond_destroy(&w->cv);
  }
  if (rc != 0) {
    free(w);
    free(name);
    return luaL_error(L, "not enough memory");
  }
  w->name = name;
  for (int i = 0; i < TKL_LANES; i++) {
    atomic_init(&w->lanes[i].arrived, NULL);
    atomic_init(&w->lanes[i].done, 0);
  }
  atomic_init(&w->waiting, 0);
  atomic_init(&w->refs, BIAS);
  pthread_mutex_init(&w->mu, NULL);
  b->tag = &box_tag;
  b->w = w;
  b->pool = p;
  tkl_pool_retain(p);
  b->opts = o;
  b->opts.name = name;
  if (o.token != NULL) tk_token_retain(o.token);
  b->opts.arg_free = tkl_task_free;
  lua_pushvalue(L, fidx);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, fidx + 1);
  lua_setiuservalue(L, -2, 2);
  if (pool_idx != 0) tkl_anchor(L, -1, pool_idx);  /* see tkl_anchor */
  return 1;
}

static int l_pool_work(lua_State *L) {
  tkl_box *pb = tkl_check_box(L, 1, TKL_K_POOL);
  tkl_pool *p = pb->ptr;
  if (p == NULL) return luaL_error(L, "attempt to use a closed pool");
  if (tk_pool_is_shutdown(p->pool))
    return luaL_error(L, "attempt to use a shut-down pool");
  if (lua_istable(L, 2)) return make_work(L, p, 1, 2, 3);
  return make_work(L, p, 1, 0, 2);
}

static int l_work(lua_State *L) {
  tkl_pool *p = tkl_default_pool(L);
  if (lua_istable(L, 1)) return make_work(L, p, 0, 1, 2);
  return make_work(L, p, 0, 0, 1);
}

void tkl_open_work(lua_State *L, int module, int pool_methods) {
  static const luaL_Reg meta[] = {{"__gc", l_gc},
                                  {"__len", l_len},
                                  {"__tostring", l_tostring},
                                  {NULL, NULL}};
  static const luaL_Reg methods[] = {{"queue", l_queue},
                                     {"wait", l_wait},
                                     {NULL, NULL}};
  luaL_newmetatable(L, TK_WORK_MT);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  tkl_ctx_push(L);
  luaL_setfuncs(L, methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_pool_work);
  lua_setfield(L, pool_methods, "work");
  lua_pushcfunction(L, l_work);
  lua_setfield(L, module, "work");
}
