/*
** ltask.c - running Lua tasks: a lua_State per worker, a coroutine per
** task that a wait suspends (lwait.c arms what wakes it), and the hard
** stop of runaway tasks. See LICENSE for copyright and licence.
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lualib.h"
#include "buffer.h"
#include "ctx.h"
#include "handles.h"
#include "lcallbacks.h"
#include "lcoro.h"
#include "lopen.h"
#include "ltask.h"
#include "lwait.h"
#include "pool.h"
#include "tkl_atomic.h"
#include "transfer.h"
#include "tkl_runtime.h"

/* {====================================================== worker states */


/* Each thread that runs Lua tasks has a slot saying what it runs, so that
** a hard stop (job cancelled with force, timeout, tklua's Ctrl-C) can set a
** hook on exactly that coroutine: the task's own, or the one of its making
** that runs Lua code now (coroutine.resume and wrap say which, lcoro.c).
** Slots live from the thread's first task to its exit. slots_mu guards the
** list (a slot is freed only under it). The task runner sets its slot's
** task twice per task without a lock; look_at says how a stopper still
** never hooks a coroutine that has moved on to another task, or one that
** the collector freed. */
typedef struct slot {
  struct slot *next;
  lua_State *state;              /* the thread's worker state */
  size_t used, limit;            /* its allocator's bytes and cap (0: none) */
  tkl_ctx *ctx;                  /* the state's module context */
  pthread_mutex_t mu;            /* stoppers take turns (see look_at) */
  _Atomic(tkl_task *) task;      /* running now, or NULL; its thread sets it */
  /* The coroutine running Lua code for task: the task's own or one that
  ** the task resumed (tkl_coro_enter); its thread sets it. */
  _Atomic(lua_State *) running;
  int suspendable;               /* running and every coroutine that
                                    resumed it up to the task's may yield:
                                    a wait there suspends the task */
  tkl_task *closing;             /* the task whose coroutine drop_coroutine
                                    closes: a stop still applies to the
                                    __close handlers that run */
  atomic_int stopping;           /* a stopper is looking at task */
  /* Finished tasks' coroutines, reset, for the next tasks (registry refs
  ** keep them alive): a new one costs allocations and garbage. */
  int nidle;
  lua_State *idle_co[8];
  int idle_ref[8];
} slot;

static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;
static slot *slots;
static atomic_int interrupted;   /* tkl_interrupt_all was called */

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static _Thread_local slot *myslot;

/* Set by the embedding API: runs in every new worker state. */
void (*tkl_worker_hook)(lua_State *L);

/* Thread exit: unlist the slot and close the thread's worker state. */
static void close_state(void *arg) {
  slot *me = arg;
  pthread_mutex_lock(&slots_mu);
  for (slot **pp = &slots; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == me) {
      *pp = me->next;
      break;
    }
  }
  pthread_mutex_unlock(&slots_mu);
  tkl_set_closing(1);
  lua_close(me->state);
  tkl_set_closing(0);
  pthread_mutex_destroy(&me->mu);
  free(me);
}

static void make_key(void) {
  pthread_key_create(&state_key, close_state);
  TKL_HG_RELEASE(&state_once);
}

/* Protected: the error value at 1 as text, pushed and returned: a string
** as it is, else through __tostring, else as lua.c says it. */
static int describe_error(lua_State *L) {
  int type = lua_type(L, 1);
  if (type == LUA_TSTRING || type == LUA_TNUMBER) {
    lua_pushvalue(L, 1);
    lua_tostring(L, -1);
  } else if (!luaL_callmeta(L, 1, "__tostring") || !lua_isstring(L, -1)) {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  return 1;
}

/* Builds a worker state in protected mode: libraries (with coroutine
** functions that tell the worker which coroutine runs), the creator's
** package paths, threadkit, the host hook, the pool's init function. */
static int setup_state(lua_State *L) {
  tkl_pool *p = lua_touserdata(L, 1);
  luaL_openlibs(L);
  /* Before threadkit names the library's functions (module.c). */
  lua_getglobal(L, "coroutine");
  tkl_open_coroutines(L);
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  if (p->path) {
    lua_pushstring(L, p->path);
    lua_setfield(L, -2, "path");
  }
  if (p->cpath) {
    lua_pushstring(L, p->cpath);
    lua_setfield(L, -2, "cpath");
  }
  lua_pop(L, 1);
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "threadkit.worker");
  luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
  lua_pop(L, 1);
  if (tkl_worker_hook != NULL) tkl_worker_hook(L);
  if (p->init.len > 0) {
    /* The workers start at once and decoding moves a read position: each
    ** reads the pool's buffer through a copy of its own. */
    tkl_buf view = p->init;
    view.borrowed = 1;
    int n = tkl_decode(L, &view);
    lua_call(L, n - 1, 0);
  }
  return 0;
}

/* The worker states' allocator: counts bytes, refuses to grow past the
** pool's memory_limit (Lua then raises "not enough memory" in the task,
** and the state stays usable). Shrinking never fails, as Lua requires. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  slot *s = ud;
  size_t old = ptr != NULL ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    s->used -= old;
    return NULL;
  }
  if (s->limit > 0 && nsize > old && s->used + (nsize - old) > s->limit)
    return NULL;
  void *n = realloc(ptr, nsize);
  if (n != NULL) s->used = s->used - old + nsize;
  return n;
}

static int state_panic(lua_State *L) {
  lua_writestringerror("threadkit: unprotected error in a worker state: %s\n",
                       lua_tostring(L, -1));
  return 0;
}

/* This thread's slot, its state made on its first task. NULL with an
** error message in err when the state cannot be made. */
static slot *worker_slot(tkl_pool *p, char *err, size_t errlen) {
  slot *me = myslot;
  if (me != NULL) return me;
  TKL_ONCE(&state_once, make_key);
  me = calloc(1, sizeof *me);
  if (me != NULL) me->limit = p->memory_limit;
  lua_State *L = me ? lua_newstate(limited_alloc, me) : NULL;
  if (L != NULL) lua_atpanic(L, state_panic);
  if (L == NULL) {
    free(me);
    snprintf(err, errlen, "not enough memory for a worker state");
    return NULL;
  }
  lua_pushcfunction(L, setup_state);
  lua_pushlightuserdata(L, p);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pushcfunction(L, describe_error);
    lua_insert(L, -2);
    int described = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1);
    snprintf(err, errlen, "worker state: %s",
             described ? lua_tostring(L, -1) : "(error object could not be described)");
    lua_close(L);
    free(me);
    return NULL;
  }
  me->state = L;
  /* A reference of our own: a script that reloads threadkit replaces the
  ** registry's context, and this one must outlive that. */
  me->ctx = tkl_ctx_push(L);
  luaL_ref(L, LUA_REGISTRYINDEX);
  pthread_mutex_init(&me->mu, NULL);
  pthread_mutex_lock(&slots_mu);
  me->next = slots;
  slots = me;
  pthread_mutex_unlock(&slots_mu);
  myslot = me;
  pthread_setspecific(state_key, me);
  return me;
}

/* }====================================================== */

/* {====================================================== running tasks */

tkl_task *tkl_task_of(tk_job_t *job) {
  tk_task_fn fn;
  void *arg = tk_job_arg(job, &fn);
  return fn == tkl_task_run ? arg : NULL;
}

/* The task this thread runs now: its slot's (one thread-local read). */
static tkl_task *running_task(void) {
  slot *me = myslot;
  return me != NULL ? atomic_load_explicit(&me->task, memory_order_relaxed)
                    : NULL;
}

tkl_task *tkl_current_task(void) { return running_task(); }

tkl_task *tkl_yieldable_task(lua_State *L) {
  slot *me = myslot;
  if (me == NULL) return NULL;
  tkl_task *t = atomic_load_explicit(&me->task, memory_order_relaxed);
  int here = atomic_load_explicit(&me->running, memory_order_relaxed) == L;
  return t != NULL && here && me->suspendable && lua_isyieldable(L) ? t : NULL;
}

/* The task whose code runs on this thread now: the running one, or the
** one whose coroutine drop_coroutine closes. */
static tkl_task *task_in_charge(slot *me) {
  tkl_task *t = atomic_load_explicit(&me->task, memory_order_relaxed);
  return t != NULL ? t : me->closing;
}

static int must_stop(tkl_task *t) {
  return atomic_load(&t->force) || tk_job_timed_out(t->job) ||
         atomic_load(&interrupted);
}

/* A stop is due: the job was cancelled with force, timed out, or tklua
** was interrupted (the cancellation first: it publishes the others). */
static int stop_due(tkl_task *t) {
  return (tk_job_is_cancelled(t->job) && must_stop(t)) ||
         atomic_load(&interrupted);
}

/* The hard stop: a hook that raises the cancellation on every count, so
** that even a pcall cannot keep the task going. A hook can outlive its
** stop: set on a coroutine that a later task resumes (the worker state's
** coroutines outlive their tasks), it finds no stop due and goes. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  slot *me = myslot;
  tkl_task *t = me != NULL ? task_in_charge(me) : NULL;
  /* The stopper set its flags before the hook: read them after it. */
  atomic_thread_fence(memory_order_seq_cst);
  if (t != NULL && stop_due(t)) tkl_raise_cancel(L);
  else lua_sethook(L, NULL, 0, 0);
}

static void set_stop_hook(lua_State *co) {
  lua_sethook(co, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Stops a running task: its coroutine, and `running`, the one of its
** making that runs now, if another. Setting a hook from another thread is
** what lua.c does from its SIGINT handler: lua_sethook is documented as
** safe to call asynchronously. */
static void stop_running(tkl_task *t, lua_State *running) {
  if (t->co != NULL) set_stop_hook(t->co);
  if (running != NULL && running != t->co) set_stop_hook(running);
}

/* From another thread: stops s's task if it is `only` (or any, for NULL).
** No lock on the worker's path: the stopper says it is looking, then
** looks; the worker takes its task down, then waits while a stopper looks
** (each side a store, then a load, all sequentially consistent). So a
** stopper that sees the task has hooked it before the worker moves on
** and reuses its coroutine; one that misses it came before the worker
** looked for a cancellation, which the worker then sees. The coroutines a
** task resumes come and go the same way (tkl_coro_enter, tkl_coro_leave):
** one the stopper saw is not left, so not freed, before it is hooked.
** Stoppers take turns on s->mu. Returns the job of the task it stopped,
** retained, when `take` says so (else NULL). */
static tk_job_t *look_at(slot *s, tkl_task *only, int take) {
  tk_job_t *job = NULL;
  pthread_mutex_lock(&s->mu);
  atomic_store(&s->stopping, 1);
  tkl_task *t = atomic_load(&s->task);
  TKL_HG_ACQUIRE(&s->task);
  if (t != NULL && (only == NULL || t == only)) {
    stop_running(t, atomic_load(&s->running));
    if (take) tk_job_retain(job = t->job);
  }
  TKL_HG_RELEASE(&s->stopping);
  atomic_store(&s->stopping, 0);
  pthread_mutex_unlock(&s->mu);
  return job;
}

void tkl_stop_task(tkl_task *t) {
  pthread_mutex_lock(&slots_mu);
  for (slot *s = slots; s != NULL; s = s->next) look_at(s, t, 0);
  pthread_mutex_unlock(&slots_mu);
}

/* Runs on the cancelling thread when the job's token is cancelled (jobs
** with a timeout only: the timeout cancels the token). */
static void hard_stop_cb(void *arg) {
  tkl_task *t = arg;
  if (must_stop(t)) tkl_stop_task(t);
}

/* Ctrl-C in tklua: every running task stops, and every later one too. */
void tkl_interrupt_all(void) {
  atomic_store(&interrupted, 1);
  pthread_mutex_lock(&slots_mu);
  size_t n = 0, got = 0;
  for (slot *s = slots; s != NULL; s = s->next) n++;
  tk_job_t **jobs = malloc((n ? n : 1) * sizeof *jobs);
  for (slot *s = slots; s != NULL; s = s->next) {
    tk_job_t *job = look_at(s, NULL, jobs != NULL);
    if (job != NULL) jobs[got++] = job;
  }
  pthread_mutex_unlock(&slots_mu);
  /* Their tokens too: a task blocked in C (a wait that could not suspend)
  ** runs no Lua for the hook to stop. Cancelling runs callbacks, which may
  ** stop tasks (slots_mu): after the lock. */
  for (size_t i = 0; i < got; i++) {
    tk_job_cancel(jobs[i]);
    tk_job_release(jobs[i]);
  }
  free(jobs);
}

int tkl_interrupted(void) { return atomic_load(&interrupted); }

void tkl_clear_interrupt(void) { atomic_store(&interrupted, 0); }

/* The base of every task's coroutine: decodes the function and its
** arguments, calls it and encodes its results into the task, all in one
** resume (protected calls of their own for the decoding and the encoding
** cost as much as a small task). An error in any of them is the task's. */
static int body_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  tkl_task *t = (tkl_task *)k;
  int n = lua_gettop(L);
  tkl_check_count(L, n, "results");
  for (int i = 1; i <= n; i++) {
    if (lua_type(L, i) == LUA_TTHREAD)
      return luaL_error(L, "cannot copy result #%d: a task cannot return a "
                           "coroutine", i);
  }
  tkl_buf *scratch = tkl_ctx_scratch(myslot->ctx);  /* L is a worker's */
  tkl_encode_results(L, n, scratch, t->job);
  if (tkl_blob_take(&t->out, scratch, t->out_space, sizeof t->out_space) != 0)
    return luaL_error(L, "not enough memory");
  return 0;
}

static int task_body(lua_State *L) {
  tkl_task *t = lua_touserdata(L, 1);
  lua_pop(L, 1);
  /* The function, then its arguments; L is a worker's. */
  int n = tkl_decode_blob_ctx(L, &t->in, myslot->ctx);
  lua_callk(L, n - 1, LUA_MULTRET, (lua_KContext)t, body_k);
  return body_k(L, LUA_OK, (lua_KContext)t);
}

/* Ends the task's coroutine: it waits for the next task, unless the cache
** is full or it did not reset cleanly. One that returned (`finished`) is
** at its base already, every upvalue and to-be-closed variable closed:
** emptying its stack is enough (the collector shrinks the stack). One that
** raised an error is dead and must be reset. */
static void drop_coroutine(lua_State *L, tkl_task *t, int finished) {
  int st = LUA_OK;
  slot *me = myslot;
  if (!finished) {
    me->closing = t;  /* a stopped task's __close handlers stop too */
#if LUA_VERSION_RELEASE_NUM >= 50406
    st = lua_closethread(t->co, L);
#else
    st = lua_resetthread(t->co);
#endif
    me->closing = NULL;
  }
  lua_settop(t->co, 0);
  if (st == LUA_OK && me->nidle < (int)(sizeof me->idle_co / sizeof *me->idle_co)) {
    /* No hard stop can reach it now (the slot's task moved on): its
    ** hook, if one was set, goes. */
    lua_sethook(t->co, NULL, 0, 0);
    me->idle_co[me->nidle] = t->co;
    me->idle_ref[me->nidle++] = t->co_ref;
  } else {
    luaL_unref(L, LUA_REGISTRYINDEX, t->co_ref);
  }
  t->co = NULL;
  t->co_ref = LUA_NOREF;
}

/* Protected parts of running a task on the worker's state. */
static int new_coroutine(lua_State *L) {
  tkl_task *t = lua_touserdata(L, 1);
  lua_State *co = lua_newthread(L);
  t->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->co = co;
  return 0;
}

/* The traceback of co's error, without its base (task_body, a C function
** of ours), or nil when nothing else ran (an argument or result that did
** not copy). */
static int make_traceback(lua_State *L) {
  static const char base[] = "\n\t[C]: in ?", none[] = "stack traceback:";
  luaL_traceback(L, lua_touserdata(L, 1), lua_tostring(L, 2), 0);
  size_t n;
  const char *tb = lua_tolstring(L, -1, &n);
  if (n >= sizeof base - 1 && strcmp(tb + n - (sizeof base - 1), base) == 0)
    n -= sizeof base - 1;
  if (n >= sizeof none - 1 && memcmp(tb + n - (sizeof none - 1), none,
                                     sizeof none - 1) == 0)
    lua_pushnil(L);
  else
    lua_pushlstring(L, tb, n);
  return 1;
}

static int encode_error(lua_State *L) {
  tkl_task *t = lua_touserdata(L, 2);
  tkl_buf *scratch = tkl_ctx_scratch(myslot->ctx);  /* L is a worker's */
  tkl_encode(L, 1, 1, scratch, TKL_ENCODE_ERROR);
  if (tkl_blob_take(&t->out, scratch, t->out_space, sizeof t->out_space) != 0)
    return luaL_error(L, "not enough memory");
  return 0;
}

/* Protected, on the worker's state: the task's error value (1) as text,
** which it returns: a string as it is, else through __tostring, else as
** lua.c says it. The value itself goes into the task (2), to be raised
** again by job:result() in whatever state asks: an error crosses states
** like any other value (one that cannot, a coroutine say, leaves its text
** only). */
static int keep_error(lua_State *L) {
  tkl_task *t = lua_touserdata(L, 2);
  int type = lua_type(L, 1);
  lua_pushcfunction(L, encode_error);
  lua_pushvalue(L, 1);
  lua_pushlightuserdata(L, t);
  if (lua_pcall(L, 2, 0, 0) == LUA_OK)
    t->error_kept = type == LUA_TSTRING ? TKL_ERROR_STRING : TKL_ERROR_VALUE;
  else
    lua_pop(L, 1);
  lua_settop(L, 1);
  return describe_error(L);
}

int tkl_task_run(void *arg) {
  tkl_task *t = arg;
  tk_job_t *job = tk_job_current();
  t->job = job;
  char err[256];
  /* Read once: each read of a thread-local is a call in a shared module. */
  slot *me = worker_slot(t->pool, err, sizeof err);
  if (me == NULL) return tk_job_fail(job, "%s", err);
  lua_State *L = me->state;
  int nargs = 0;
  if (t->co != NULL) {
    if (tkl_waiting(t->co)) lua_pop(t->co, 1);  /* back from its wait */
  } else {
    if (me->nidle > 0) {  /* a finished task's coroutine */
      me->nidle--;
      t->co = me->idle_co[me->nidle];
      t->co_ref = me->idle_ref[me->nidle];
    } else {
      /* Everything on the worker's own state runs protected: a task that
      ** ran it out of memory must not take the worker down with it. */
      lua_pushcfunction(L, new_coroutine);
      lua_pushlightuserdata(L, t);
      if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_pop(L, 1);
        lua_gc(L, LUA_GCCOLLECT);
        return tk_job_fail(job, "not enough memory");
      }
    }
    lua_pushcfunction(t->co, task_body);
    lua_pushlightuserdata(t->co, t);
    nargs = 1;
    if (t->has_timeout)
      tk_token_on_cancel(tk_job_token(job), hard_stop_cb, t, &t->stop_cb);
  }
  tkl_run_callbacks(L, me->ctx);  /* a safe point of the worker's state */
  lua_State *co = t->co;
  /* See look_at: up, then look for a stop that may have missed it. The
  ** running coroutine first: a stopper that sees the task sees it. */
  tkl_task *prev = atomic_load_explicit(&me->task, memory_order_relaxed);
  atomic_store_explicit(&me->running, co, memory_order_relaxed);
  me->suspendable = 1;
  TKL_HG_RELEASE(&me->task);
  atomic_store(&me->task, t);
  if (stop_due(t)) stop_running(t, NULL);
  int nres = 0;
  int st = lua_resume(co, L, nargs, &nres);
  /* Down, then wait for a stopper that may have seen it. */
  atomic_store(&me->task, prev);
  while (atomic_load(&me->stopping)) sched_yield();
  TKL_HG_ACQUIRE(&me->stopping);

  if (st == LUA_YIELD && t->wait != NULL) return TK_SUSPEND;  /* tagged */
  if (t->stop_cb != 0) tk_token_off_cancel(tk_job_token(job), t->stop_cb);
  t->stop_cb = 0;
  int rc = 0;
  if (st == LUA_YIELD) {
    rc = tk_job_fail(job, "a task cannot yield (use threadkit's waits, or "
                          "a coroutine of its own)");
  } else if (st != LUA_OK) {
    /* The value moves to the worker's state, where metamethods may run. */
    lua_pushcfunction(L, keep_error);
    lua_xmove(co, L, 1);
    lua_pushlightuserdata(L, t);
    const char *msg = lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isstring(L, -1)
                          ? lua_tostring(L, -1)
                          : "(error object could not be described)";
    lua_pushcfunction(L, make_traceback);
    lua_pushlightuserdata(L, co);
    lua_pushstring(L, msg);
    tkl_task_extra *x;
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isstring(L, -1) &&
        (x = tkl_task_extra_get(t)) != NULL) {
      free(x->traceback);  /* else none, or no memory for one */
      x->traceback = strdup(lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    rc = tk_job_fail(job, "%s", msg);
    lua_pop(L, 1);  /* msg */
  }
  drop_coroutine(L, t, st == LUA_OK);
  tkl_state_trim(L, me->ctx);  /* before the job ends: its waiters see it */
  if (st == LUA_ERRMEM) lua_gc(L, LUA_GCCOLLECT);  /* give it back now */
  if (atomic_load(&t->cancel_raised) && tk_job_is_cancelled(job))
    return TK_ECANCELED;
  return rc;
}

int tkl_raise_cancel(lua_State *L) {
  tkl_task *t = running_task();
  if (t != NULL) atomic_store(&t->cancel_raised, 1);
  lua_pushstring(L, "cancelled");
  return lua_error(L);
}

/* }====================================================== */

/* {====================================================== coroutines */

const char tkl_wait_tag = 0;

int tkl_wait_suspend(lua_State *L, lua_KFunction k, lua_KContext ctx) {
  lua_pushlightuserdata(L, (void *)&tkl_wait_tag);
  return lua_yieldk(L, 1, ctx, k);
}


void tkl_coro_enter(lua_State *from, lua_State *co, int may_suspend,
                    tkl_coro_mark *m) {
  slot *me = myslot;
  m->slot = me;
  if (me == NULL) return;  /* the state is being made: no task yet */
  m->prev = atomic_load_explicit(&me->running, memory_order_relaxed);
  m->prev_suspendable = me->suspendable;
  /* A wait in co may suspend the task if `from` can yield here, where it
  ** resumes co, and so on up to the task's coroutine. If `from` is not the
  ** coroutine the worker knows runs (another library's C code resumed
  ** it), no wait below may suspend. */
  me->suspendable = may_suspend && m->prev == from && me->suspendable &&
                    lua_isyieldable(from);
  /* As the task runner does (look_at): publish, then look for a stop. */
  atomic_store(&me->running, co);
  tkl_task *t = task_in_charge(me);
  if (t != NULL && stop_due(t)) set_stop_hook(co);
}

int tkl_coro_leave(lua_State *from, const tkl_coro_mark *m, int status) {
  slot *me = m->slot;
  if (me == NULL) return 0;
  /* Back, then wait for a stopper that may have seen co: once left, the
  ** collector may free it. A stop that came meanwhile reaches `from`. */
  atomic_store(&me->running, m->prev);
  me->suspendable = m->prev_suspendable;
  while (atomic_load(&me->stopping)) sched_yield();
  TKL_HG_ACQUIRE(&me->stopping);
  tkl_task *t = task_in_charge(me);
  if (t != NULL && stop_due(t)) set_stop_hook(from);
  /* A threadkit wait in co yielded: the task suspends, through `from`. */
  return status == LUA_YIELD && t != NULL && t->wait != NULL;
}

/* }====================================================== */
