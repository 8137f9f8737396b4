/*
** lchannel.c - channels: FIFO queues of copied values shared by states.
** See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdlib.h>

#include "buffer.h"
#include "handles.h"
#include "lcallbacks.h"
#include "lcycles.h"
#include "lopen.h"
#include "lopts.h"
#include "ltask.h"
#include "lwait.h"
#include "transfer.h"

/* Suspended tasks waiting on a channel, each by its waker. */
typedef struct waitlist {
  void **w;
  size_t n, cap;
} waitlist;

typedef struct tkl_channel {
  tkl_gcobj gc;                  /* first: the count and mu (lcycles.c) */
  pthread_cond_t cv;             /* threads blocked in pop or push */
  tkl_buf **items;               /* ring of encoded values */
  size_t head, count, cap;
  size_t capacity;               /* 0: unbounded */
  int closed;
  waitlist poppers;              /* tasks waiting for a value */
  waitlist pushers;              /* tasks waiting for room */
} tkl_channel;

/* With mu held: room for one more waker (0), or ENOMEM (-1). */
static int wl_reserve(waitlist *l) {
  if (l->n < l->cap) return 0;
  size_t cap = l->cap ? l->cap * 2 : 4;
  void **w = realloc(l->w, cap * sizeof *w);
  if (w == NULL) return -1;
  l->w = w;
  l->cap = cap;
  return 0;
}

/* With mu held: wakes one waiting task, if any. */
static void wl_wake_one(waitlist *l) {
  if (l->n > 0) tkl_waker_fire(l->w[--l->n]);
}

/* With mu held: takes wk off the list if a wake did not already. */
static void wl_remove(waitlist *l, void *wk) {
  for (size_t i = 0; i < l->n; i++) {
    if (l->w[i] == wk) {
      l->w[i] = l->w[--l->n];
      tkl_waker_release(wk);
      return;
    }
  }
}

static void wl_free(waitlist *l) {
  for (size_t i = 0; i < l->n; i++) tkl_waker_release(l->w[i]);
  free(l->w);
}

static void channel_retain(void *c) { tkl_gc_retain(&((tkl_channel *)c)->gc); }

static void channel_release(void *c) {
  tkl_gc_release(&((tkl_channel *)c)->gc);
}

static const tkl_kind channel_kind = {TKL_K_CHANNEL, "channel", TK_CHANNEL_MT,
                                      channel_retain, channel_release,
                                      NULL, NULL, NULL};

/* {====================================================== collector */

static void ch_each(tkl_gcobj *o, void (*fn)(const tkl_buf *, void *),
                    void *ud) {
  tkl_channel *c = (tkl_channel *)o;
  for (size_t i = 0; i < c->count; i++)
    fn(c->items[(c->head + i) % c->cap], ud);
}

typedef struct taken_items {
  tkl_buf **items;
  size_t head, count, cap;
} taken_items;

static void *ch_take(tkl_gcobj *o) {
  tkl_channel *c = (tkl_channel *)o;
  if (c->count == 0) return NULL;
  taken_items *t = malloc(sizeof *t);
  if (t == NULL) {
    /* No memory to carry them: let them go here (a rare path; the
    ** lock held is this channel's, which they cannot need: a value
    ** whose release takes it would need a reference to it). */
    for (size_t i = 0; i < c->count; i++)
      tkl_buf_delete(c->items[(c->head + i) % c->cap]);
  } else {
    t->items = c->items;
    t->head = c->head;
    t->count = c->count;
    t->cap = c->cap;
    c->items = NULL;
    c->cap = 0;
  }
  c->head = c->count = 0;
  return t;
}

static void ch_drop(void *taken) {
  taken_items *t = taken;
  if (t == NULL) return;
  for (size_t i = 0; i < t->count; i++)
    tkl_buf_delete(t->items[(t->head + i) % t->cap]);
  free(t->items);
  free(t);
}

static void ch_free(tkl_gcobj *o) {
  tkl_channel *c = (tkl_channel *)o;
  wl_free(&c->poppers);
  wl_free(&c->pushers);
  free(c->items);
  pthread_cond_destroy(&c->cv);
  free(c);
}

static const tkl_gctype channel_type = {ch_each, ch_take, ch_drop, ch_free};

/* }====================================================== */

static tkl_channel *check_channel(lua_State *L) {
  return tkl_check_handle(L, 1, TKL_K_CHANNEL);
}

/* tk.channel([capacity]) */
static int l_channel(lua_State *L) {
  lua_Integer cap = luaL_optinteger(L, 1, 0);
  luaL_argcheck(L, cap >= 0, 1, "capacity must not be negative");
  tkl_gc_maybe_collect();
  tkl_channel *c = calloc(1, sizeof *c);
  if (c == NULL) return luaL_error(L, "not enough memory");
  if (tkl_cond_init(&c->cv) != 0) {
    free(c);
    return luaL_error(L, "cannot make a condition variable");
  }
  tkl_gc_init(&c->gc, &channel_type);
  c->capacity = (size_t)cap;
  tkl_push_new_handle(L, TKL_K_CHANNEL, c);
  return 1;
}

/* With mu held: room for one more value in the ring. 0, or TK_ENOMEM. */
static int grow(tkl_channel *c) {
  size_t cap = c->cap ? c->cap * 2 : 16;
  tkl_buf **items = malloc(cap * sizeof *items);
  if (items == NULL) return TK_ENOMEM;
  for (size_t i = 0; i < c->count; i++)
    items[i] = c->items[(c->head + i) % c->cap];
  free(c->items);
  c->items = items;
  c->cap = cap;
  c->head = 0;
  return 0;
}

/* {====================================================== waits */

/* A wait's deadline travels on the Lua stack, across suspensions, as
** tkl_now seconds (< 0: none), so that a wake-up that finds nothing to do
** waits only for what is left. */

/* Suspends the running task t on list l until a wake, its deadline or its
** cancellation, unless `ready` already holds once the waker is listed.
** Called with mu held (and a slot reserved, so that a lack of memory is
** an error before the wait begins); returns with mu released, through
** tkl_wait_suspend (k then finds the waker on top). */
static int suspend_on(lua_State *L, tkl_channel *c, waitlist *l,
                      tkl_task *t, double left, int (*ready)(tkl_channel *),
                      lua_KFunction k) {
  pthread_mutex_unlock(&c->gc.mu);
  void *wk = tkl_wait_begin_waker(L, t, left);
  pthread_mutex_lock(&c->gc.mu);
  /* Reserve again: other tasks may have taken the slot meanwhile. */
  if (ready(c) || wl_reserve(l) != 0) {
    /* It changed in between (or no memory): wake at once, k looks again. */
    pthread_mutex_unlock(&c->gc.mu);
    tkl_waker_fire(wk);
  } else {
    l->w[l->n++] = wk;
    pthread_mutex_unlock(&c->gc.mu);
  }
  lua_pushlightuserdata(L, wk);
  return tkl_wait_suspend(L, k, 0);
}

/* In a continuation: takes the task's waker off l, ends the wait, and
** sets the deadline at `dl` to "now" when it timed out or the task was
** cancelled, so that the next look does not wait again. */
static void resume_from(lua_State *L, tkl_channel *c, waitlist *l, int dl) {
  void *wk = lua_touserdata(L, -1);
  lua_pop(L, 1);
  pthread_mutex_lock(&c->gc.mu);
  wl_remove(l, wk);
  pthread_mutex_unlock(&c->gc.mu);
  if (tkl_wait_end_given_up(L)) {
    lua_pushnumber(L, 0);
    lua_replace(L, dl);
  }
}

/* }====================================================== */

/* {====================================================== push */

static int has_room(tkl_channel *c) {
  return c->closed || c->capacity == 0 || c->count < c->capacity;
}

static int push_k(lua_State *L, int status, lua_KContext ctx);

/* With c's lock held, where no task can suspend: blocks this thread one
** slice of b's wait (tkl_block_next's s seconds); between slices the
** state's fired callbacks run, not under the lock (they may use this
** channel). */
static void block_slice(tkl_block *b, tkl_channel *c, double s) {
  tkl_cond_wait(&c->cv, &c->gc.mu, s);
  pthread_mutex_unlock(&c->gc.mu);
  tkl_block_between(b);
  pthread_mutex_lock(&c->gc.mu);
}

/* Stack: 1 channel, 2 the guard of the encoded value, 3 the deadline.
** Appends the value, or suspends or blocks until there is room. */
static int push_wait(lua_State *L, tkl_channel *c) {
  tkl_buf **guard = lua_touserdata(L, 2);
  double deadline = lua_tonumber(L, 3);
  tkl_block blk;
  tkl_block_start(&blk, L, deadline);
  pthread_mutex_lock(&c->gc.mu);
  while (!has_room(c)) {
    double left = tkl_left(deadline);
    if (left == 0 || tkl_block_given_up()) {
      pthread_mutex_unlock(&c->gc.mu);
      tkl_block_stop(&blk);
      lua_pushboolean(L, 0);
      return 1;
    }
    tkl_task *t = tkl_yieldable_task(L);
    if (t != NULL) {
      if (wl_reserve(&c->pushers) != 0) {
        pthread_mutex_unlock(&c->gc.mu);
        return luaL_error(L, "not enough memory");
      }
      return suspend_on(L, c, &c->pushers, t, left, has_room, push_k);
    }
    /* Not in a task (or cannot yield): block this thread. */
    block_slice(&blk, c, tkl_block_next(&blk));
  }
  tkl_block_stop(&blk);
  if (c->closed) {
    pthread_mutex_unlock(&c->gc.mu);
    return luaL_error(L, "push to a closed channel");
  }
  tkl_gc_thaw(&c->gc);
  if (c->count == c->cap && grow(c) != 0) {
    pthread_mutex_unlock(&c->gc.mu);
    return luaL_error(L, "not enough memory");
  }
  c->items[(c->head + c->count) % c->cap] = *guard;
  c->count++;
  *guard = NULL;
  wl_wake_one(&c->poppers);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->gc.mu);
  tk_group_poke();  /* wait_for_condition predicates look again */
  lua_pushboolean(L, 1);
  return 1;
}

static int push_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tkl_channel *c = check_channel(L);
  resume_from(L, c, &c->pushers, 3);
  return push_wait(L, c);
}

/* ch:push(v, [timeout]) --> true; false if a bounded channel stayed full
** for the timeout (or the task was cancelled meanwhile). Inside a task
** the wait for room frees the worker. */
static int l_push(lua_State *L) {
  tkl_channel *c = check_channel(L);
  luaL_checkany(L, 2);
  luaL_argcheck(L, !lua_isnil(L, 2), 2, "cannot push nil");
  double timeout = tkl_opt_timeout(L, 3);
  tkl_buf *b = tkl_buf_new();
  if (b == NULL) return luaL_error(L, "not enough memory");
  tkl_buf **guard = tkl_push_buf_guard(L);
  *guard = b;
  tkl_encode(L, 2, 1, b, TKL_ENCODE_VALUE);
  lua_replace(L, 2);  /* stack: channel, guard */
  lua_settop(L, 2);
  lua_pushnumber(L, tkl_deadline(timeout));
  return push_wait(L, c);
}

/* }====================================================== */

/* {====================================================== pop */

/* With mu held: takes the oldest value, or NULL. */
static tkl_buf *take(tkl_channel *c) {
  if (c->count == 0) return NULL;
  tkl_gc_thaw(&c->gc);
  tkl_buf *b = c->items[c->head];
  c->head = (c->head + 1) % c->cap;
  c->count--;
  if (c->capacity > 0) {  /* room for a push */
    wl_wake_one(&c->pushers);
    pthread_cond_broadcast(&c->cv);
  }
  return b;
}

/* A value taken that could not be delivered goes back to the front: a
** value leaves the channel only once a state has it. The ring may then
** hold one more than a bounded channel's capacity, for as long as it
** takes a pop. */
static void put_back(tkl_channel *c, tkl_buf *b) {
  pthread_mutex_lock(&c->gc.mu);
  tkl_gc_thaw(&c->gc);
  if (c->count == c->cap && grow(c) != 0) {
    pthread_mutex_unlock(&c->gc.mu);
    tkl_buf_delete(b);  /* no memory even for a slot: it is lost */
    return;
  }
  c->head = (c->head + c->cap - 1) % c->cap;
  c->items[c->head] = b;
  c->count++;
  wl_wake_one(&c->poppers);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->gc.mu);
}

static int decode_value(lua_State *L) {
  return tkl_decode(L, lua_touserdata(L, 1));
}

/* Pushes the value of b (then frees b) and returns 1; if this state
** cannot decode it (out of memory, say), b goes back and the error is
** raised. */
static int deliver(lua_State *L, tkl_channel *c, tkl_buf *b) {
  lua_pushcfunction(L, decode_value);
  lua_pushlightuserdata(L, b);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    put_back(c, b);
    return lua_error(L);
  }
  tkl_buf_delete(b);
  return 1;
}

static int closed_error(lua_State *L) {
  return luaL_error(L, "pop from a closed channel");
}

static int has_value(tkl_channel *c) { return c->count > 0 || c->closed; }

static int pop_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: 1 channel, 2 the deadline. Pops, or suspends or blocks until a
** value, the close or the deadline. */
static int pop_wait(lua_State *L, tkl_channel *c) {
  double deadline = lua_tonumber(L, 2);
  tkl_block blk;
  tkl_block_start(&blk, L, deadline);
  pthread_mutex_lock(&c->gc.mu);
  while (!has_value(c)) {
    double left = tkl_left(deadline);
    if (left == 0 || tkl_block_given_up()) break;
    tkl_task *t = tkl_yieldable_task(L);
    if (t != NULL) {
      if (wl_reserve(&c->poppers) != 0) {
        pthread_mutex_unlock(&c->gc.mu);
        return luaL_error(L, "not enough memory");
      }
      return suspend_on(L, c, &c->poppers, t, left, has_value, pop_k);
    }
    /* Not in a task (or cannot yield): block this thread. */
    block_slice(&blk, c, tkl_block_next(&blk));
  }
  tkl_block_stop(&blk);
  tkl_buf *b = take(c);
  int closed = c->closed;
  pthread_mutex_unlock(&c->gc.mu);
  tkl_run_callbacks(L, NULL);
  if (b != NULL) return deliver(L, c, b);
  if (closed) return closed_error(L);
  lua_pushnil(L);
  return 1;
}

static int pop_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tkl_channel *c = check_channel(L);
  resume_from(L, c, &c->poppers, 2);
  return pop_wait(L, c);
}

/* ch:pop([timeout]) --> value, or nil on timeout; error once closed and
** empty */
static int l_pop(lua_State *L) {
  tkl_channel *c = check_channel(L);
  double timeout = tkl_opt_timeout(L, 2);
  lua_settop(L, 1);
  lua_pushnumber(L, tkl_deadline(timeout));
  return pop_wait(L, c);
}

static int l_try_pop(lua_State *L) {
  tkl_channel *c = check_channel(L);
  lua_settop(L, 1);
  pthread_mutex_lock(&c->gc.mu);
  tkl_buf *b = take(c);
  pthread_mutex_unlock(&c->gc.mu);
  if (b != NULL) return deliver(L, c, b);
  lua_pushnil(L);
  return 1;
}

static int l_close(lua_State *L) {
  tkl_channel *c = check_channel(L);
  pthread_mutex_lock(&c->gc.mu);
  c->closed = 1;
  while (c->poppers.n > 0) wl_wake_one(&c->poppers);
  while (c->pushers.n > 0) wl_wake_one(&c->pushers);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->gc.mu);
  tk_group_poke();
  return 0;
}

/* }====================================================== */

static int l_len(lua_State *L) {
  tkl_channel *c = check_channel(L);
  pthread_mutex_lock(&c->gc.mu);
  size_t n = c->count;
  pthread_mutex_unlock(&c->gc.mu);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int l_is_closed(lua_State *L) {
  tkl_channel *c = check_channel(L);
  pthread_mutex_lock(&c->gc.mu);
  int closed = c->closed;
  pthread_mutex_unlock(&c->gc.mu);
  lua_pushboolean(L, closed);
  return 1;
}

void tkl_open_channel(lua_State *L) {
  static const luaL_Reg methods[] = {{"push", l_push},
                                     {"pop", l_pop},
                                     {"try_pop", l_try_pop},
                                     {"close", l_close},
                                     {"is_closed", l_is_closed},
                                     {NULL, NULL}};
  tkl_new_handle_type(L, &channel_kind, methods, NULL);
  luaL_getmetatable(L, TK_CHANNEL_MT);
  lua_pushcfunction(L, l_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_channel);
  lua_setfield(L, -2, "channel");
}
