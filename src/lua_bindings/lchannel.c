/*
** lchannel.c - channels: FIFO queues of copied values shared by states.
** See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdlib.h>

#include "tkl.h"
#include "../core/park.h"

struct tkl_channel {
  atomic_int refs;
  pthread_mutex_t mu;
  pthread_cond_t cv;             /* threads blocked in pop or push */
  tkl_buf **items;               /* ring of encoded values */
  size_t head, count, cap;
  size_t capacity;               /* 0: unbounded */
  int closed;
  void **wakers;                 /* suspended tasks waiting to pop */
  size_t nwakers, capwakers;
};

void tkl_channel_retain(tkl_channel *c) { atomic_fetch_add(&c->refs, 1); }

void tkl_channel_release(tkl_channel *c) {
  if (!tk__ref_drop(&c->refs)) return;
  for (size_t i = 0; i < c->count; i++)
    tkl_buf_delete(c->items[(c->head + i) % c->cap]);
  for (size_t i = 0; i < c->nwakers; i++) tkl_waker_release(c->wakers[i]);
  free(c->wakers);
  free(c->items);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

static tkl_channel *check_channel(lua_State *L) {
  return tkl_check_handle(L, 1, TKL_K_CHANNEL);
}

/* tk.channel([capacity]) */
static int l_channel(lua_State *L) {
  lua_Integer cap = luaL_optinteger(L, 1, 0);
  luaL_argcheck(L, cap >= 0, 1, "capacity must not be negative");
  tkl_channel *c = calloc(1, sizeof *c);
  if (c == NULL) return luaL_error(L, "not enough memory");
  if (tk__cond_init(&c->cv) != 0) {
    free(c);
    return luaL_error(L, "cannot make a condition variable");
  }
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->mu, NULL);
  c->capacity = (size_t)cap;
  tkl_push_new_handle(L, TKL_K_CHANNEL, c);
  return 1;
}

/* With mu held: wakes one suspended popper, if any. */
static void wake_popper(tkl_channel *c) {
  if (c->nwakers > 0) tkl_waker_fire(c->wakers[--c->nwakers]);
}

/* ch:push(v): appends a copy of v; blocks while a bounded channel is full */
static int l_push(lua_State *L) {
  tkl_channel *c = check_channel(L);
  luaL_checkany(L, 2);
  luaL_argcheck(L, !lua_isnil(L, 2), 2, "cannot push nil");
  tkl_buf *b = tkl_buf_new();
  if (b == NULL) return luaL_error(L, "not enough memory");
  tkl_buf **guard = lua_newuserdatauv(L, sizeof *guard, 0);
  *guard = b;
  luaL_setmetatable(L, "threadkit.bufguard");
  tkl_encode(L, 2, 1, b, "the value");
  pthread_mutex_lock(&c->mu);
  while (!c->closed && c->capacity > 0 && c->count >= c->capacity)
    pthread_cond_wait(&c->cv, &c->mu);
  if (c->closed) {
    pthread_mutex_unlock(&c->mu);
    return luaL_error(L, "push to a closed channel");
  }
  if (c->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    tkl_buf **items = malloc(cap * sizeof *items);
    if (items == NULL) {
      pthread_mutex_unlock(&c->mu);
      return luaL_error(L, "not enough memory");
    }
    for (size_t i = 0; i < c->count; i++)
      items[i] = c->items[(c->head + i) % c->cap];
    free(c->items);
    c->items = items;
    c->cap = cap;
    c->head = 0;
  }
  c->items[(c->head + c->count) % c->cap] = b;
  c->count++;
  *guard = NULL;
  wake_popper(c);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  tk_group_poke();  /* wait_for_condition predicates look again */
  return 0;
}

/* With mu held: takes the oldest value, or NULL. */
static tkl_buf *take(tkl_channel *c) {
  if (c->count == 0) return NULL;
  tkl_buf *b = c->items[c->head];
  c->head = (c->head + 1) % c->cap;
  c->count--;
  if (c->capacity > 0) pthread_cond_broadcast(&c->cv);  /* room for push */
  return b;
}

/* Pushes the value of b (then frees b); returns 1. */
static int deliver(lua_State *L, tkl_buf *b) {
  tkl_buf **guard = lua_newuserdatauv(L, sizeof *guard, 0);
  *guard = b;
  luaL_setmetatable(L, "threadkit.bufguard");
  tkl_decode(L, b);
  lua_remove(L, -2);  /* the guard; freed by the GC */
  return 1;
}

static int closed_error(lua_State *L) {
  return luaL_error(L, "pop from a closed channel");
}

static int pop_k(lua_State *L, int status, lua_KContext ctx);

/* Tries to pop; suspends or blocks per the timeout otherwise. `left` is
** the remaining timeout (< 0: forever). */
static int pop_wait(lua_State *L, tkl_channel *c, double left) {
  pthread_mutex_lock(&c->mu);
  tkl_buf *b = take(c);
  int closed = c->closed;
  if (b != NULL || closed || left == 0) {
    pthread_mutex_unlock(&c->mu);
    if (b != NULL) return deliver(L, b);
    if (closed) return closed_error(L);
    lua_pushnil(L);
    return 1;
  }
  tkl_task *t = tkl_yieldable_task(L);
  if (t != NULL) {
    if (c->nwakers == c->capwakers) {
      size_t cap = c->capwakers ? c->capwakers * 2 : 4;
      void **w = realloc(c->wakers, cap * sizeof *w);
      if (w == NULL) {
        pthread_mutex_unlock(&c->mu);
        return luaL_error(L, "not enough memory");
      }
      c->wakers = w;
      c->capwakers = cap;
    }
    pthread_mutex_unlock(&c->mu);
    tkl_wait *w = tkl_wait_begin(L, t);
    tkl_wait_deadline(L, w, left);
    void *wk = tkl_wait_waker(w);
    tkl_waker_retain(wk);
    pthread_mutex_lock(&c->mu);
    if (c->count > 0 || c->closed) {
      /* A push or close came in between: wake at once (pop_k looks). */
      pthread_mutex_unlock(&c->mu);
      tkl_waker_fire(wk);
    } else {
      c->wakers[c->nwakers++] = wk;  /* room was reserved above */
      pthread_mutex_unlock(&c->mu);
    }
    lua_pushlightuserdata(L, wk);
    return tkl_wait_suspend(L, pop_k, 0);
  }
  /* Not in a task (or cannot yield): block this thread, on the monotonic
  ** clock (a step of the wall clock neither ends nor stretches the wait). */
  uint64_t deadline = tk__deadline(left);
  while (c->count == 0 && !c->closed)
    if (tk__cond_wait(&c->cv, &c->mu, deadline) == TK_ETIMEDOUT) break;
  b = take(c);
  closed = c->closed;
  pthread_mutex_unlock(&c->mu);
  if (b != NULL) return deliver(L, b);
  if (closed) return closed_error(L);
  lua_pushnil(L);
  return 1;
}

static int pop_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tkl_channel *c = check_channel(L);
  void *wk = lua_touserdata(L, -1);
  lua_pop(L, 1);
  /* Take our waker off the channel if a push did not already. */
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nwakers; i++) {
    if (c->wakers[i] == wk) {
      c->wakers[i] = c->wakers[--c->nwakers];
      tkl_waker_release(wk);
      break;
    }
  }
  pthread_mutex_unlock(&c->mu);
  int timed_out = tkl_wait_end(L);
  tkl_task *t = tkl_current_task();
  int cancelled = t != NULL && tk_job_is_cancelled(t->job);
  /* Whatever woke us, look again; no more waiting if time is up. */
  return pop_wait(L, c, timed_out || cancelled ? 0 : -1);
}

/* ch:pop([timeout]) --> value, or nil on timeout; error once closed and
** empty */
static int l_pop(lua_State *L) {
  tkl_channel *c = check_channel(L);
  double timeout = -1;
  if (!lua_isnoneornil(L, 2)) {
    timeout = luaL_checknumber(L, 2);
    luaL_argcheck(L, timeout >= 0, 2, "timeout must be a non-negative number");
  }
  lua_settop(L, 1);
  return pop_wait(L, c, timeout);
}

static int l_try_pop(lua_State *L) {
  tkl_channel *c = check_channel(L);
  lua_settop(L, 1);
  pthread_mutex_lock(&c->mu);
  tkl_buf *b = take(c);
  pthread_mutex_unlock(&c->mu);
  if (b != NULL) return deliver(L, b);
  lua_pushnil(L);
  return 1;
}

static int l_close(lua_State *L) {
  tkl_channel *c = check_channel(L);
  pthread_mutex_lock(&c->mu);
  c->closed = 1;
  while (c->nwakers > 0) wake_popper(c);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  tk_group_poke();
  return 0;
}

static int l_len(lua_State *L) {
  tkl_channel *c = check_channel(L);
  pthread_mutex_lock(&c->mu);
  size_t n = c->count;
  pthread_mutex_unlock(&c->mu);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int l_is_closed(lua_State *L) {
  tkl_channel *c = check_channel(L);
  pthread_mutex_lock(&c->mu);
  int closed = c->closed;
  pthread_mutex_unlock(&c->mu);
  lua_pushboolean(L, closed);
  return 1;
}

static int bufguard_gc(lua_State *L) {
  tkl_buf **g = lua_touserdata(L, 1);
  tkl_buf_delete(*g);
  *g = NULL;
  return 0;
}

void tkl_open_channel(lua_State *L) {
  static const luaL_Reg methods[] = {{"push", l_push},
                                     {"pop", l_pop},
                                     {"try_pop", l_try_pop},
                                     {"close", l_close},
                                     {"is_closed", l_is_closed},
                                     {NULL, NULL}};
  tkl_new_handle_type(L, TKL_K_CHANNEL, methods, NULL);
  luaL_getmetatable(L, TK_CHANNEL_MT);
  lua_pushcfunction(L, l_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  luaL_newmetatable(L, "threadkit.bufguard");
  lua_pushcfunction(L, bufguard_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_channel);
  lua_setfield(L, -2, "channel");
}
