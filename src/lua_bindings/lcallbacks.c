/*
** lcallbacks.c - tok:on_cancel(fn): callbacks that run in the state that
** registered them. See LICENSE for copyright and licence.
**
** fn runs once, when the token is cancelled, in its own state, so that it
** sees and may change that state's data. A state that cancels the token
** itself, inside tok:cancel(), runs fn right there. A cancellation from
** anywhere else (another thread, a deadline, a parent token, a job or
** group cancelled) cannot enter the state: it queues fn on the state's
** list of fired callbacks, which the state runs at its next safe point
** (tkl_run_callbacks): a submit, a wait or sleep, tok:cancel or
** tok:on_cancel, the start or resumption of a task on a worker state,
** tklua's end-of-script wait, and the state's close.
**
** A registration is held by the token (until fn fires or the token is
** freed uncancelled) and by its state (until fn ran or was let go). Both
** ends go through the state's list, so the state never scans its
 ** registrations: registering and ending one is O(1).
**
** fn often names the token (`t:on_cancel(function() ... t ... end)`):
** held strongly by the state, fn would hold the token's box, the box the
** token, the token the registration, for ever. So fn is first held
** weakly, through the box it was registered on (an ephemeron: the box
** keys it), and Lua sees the cycle box -> fn -> box. When that box is
** collected, its registrations' functions become strong references of
** the state, and then either the token can never be cancelled (nothing
** else holds it, no parent, no deadline: tk_token_sole_holder): the box
** lets it go, the token is freed and fn never runs; or it still can be:
** the box keeps its reference and is marked for finalization again, fn
** runs once when it is cancelled, and the box goes once fn was let go.
*/
#include <pthread.h>
#include <stdlib.h>

#include "ctx.h"
#include "handles.h"
#include "lcallbacks.h"
#include "lopen.h"
#include "tkl_atomic.h"

typedef struct reg reg;

/* A state's fired callbacks, shared with the tokens that may fire them. */
struct tkl_fired {
  atomic_int refs;               /* the state's and each registration's */
  atomic_int pending;            /* the list is not empty: a safe point's
                                    only cost while nothing fired */
  lua_State *owner;              /* the state's main thread */
  pthread_mutex_t mu;
  int open;                      /* mu: the state lives */
  reg *head, *tail;              /* mu: to run (or let go) in the state */
};

/* How many states have callbacks waiting to run: 0 nearly always. Relaxed
** reads suffice: a callback queued before what a state waited for (a job
** ending, say) is seen by that state after its wait, through the wait's
** own ordering. */
static atomic_int states_pending;

struct reg {
  atomic_int refs;               /* the token's and the state's */
  tkl_fired *fired;              /* holds a reference */
  reg *next;                     /* on the fired list */
  int run;                       /* fired by a cancel (else: let go) */
  int ref;                       /* fn in the owner's registry, or
                                    LUA_NOREF while held through its box */
};

/* On this thread, inside tok:cancel(): the calling coroutine and its
** state's main thread. */
static _Thread_local lua_State *cancelling, *cancelling_main;

static const char regs_key = 0;  /* registry: lightuserdata(reg) -> true */
/* The functions held through their boxes: box -> {lightuserdata(reg) ->
** fn}, weak keys (an ephemeron); each such reg's box: lightuserdata(reg)
** -> box, weak values; the boxes kept by their finalizer: lightuserdata
** -> true. */
static const char weakfn_key = 0, regbox_key = 0, kept_key = 0;

/* Pushes the registry table at key, made (with mode, or none) if absent. */
static void push_table(lua_State *L, const char *key, const char *mode) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  if (mode != NULL) {
    lua_newtable(L);
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* Pushes the box r's fn is held through (and returns 1), or nothing. */
static int push_reg_box(lua_State *L, reg *r) {
  push_table(L, &regbox_key, "v");
  if (lua_rawgetp(L, -1, r) == LUA_TUSERDATA) {
    lua_remove(L, -2);
    return 1;
  }
  lua_pop(L, 2);
  return 0;
}

/* Pushes r's fn held through a box (and returns 1), or nothing. */
static int push_weak_fn(lua_State *L, reg *r) {
  int top = lua_gettop(L);
  if (!push_reg_box(L, r)) return 0;
  push_table(L, &weakfn_key, "k");
  lua_insert(L, -2);
  if (lua_rawget(L, -2) == LUA_TTABLE &&
      lua_rawgetp(L, -1, r) == LUA_TFUNCTION) {
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 1;
  }
  lua_settop(L, top);
  return 0;
}

/* Pushes r's fn (and returns 1), or nothing if it cannot be found. */
static int push_fn(lua_State *L, reg *r) {
  if (r->ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    return 1;
  }
  if (push_weak_fn(L, r)) return 1;
  /* Its box is being collected and its finalizer, which makes fn a strong
  ** reference, has not run yet (the box left the weak table already): run
  ** the pending finalizers. */
  lua_gc(L, LUA_GCCOLLECT);
  if (r->ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    return 1;
  }
  return push_weak_fn(L, r);
}

static void release_kept(lua_State *L);

static void fired_release(tkl_fired *f) {
  if (!tkl_ref_drop(&f->refs)) return;
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static void reg_release(reg *r) {
  if (!tkl_ref_drop(&r->refs)) return;
  fired_release(r->fired);
  free(r);
}

static lua_State *main_thread(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  lua_State *m = lua_tothread(L, -1);
  lua_pop(L, 1);
  return m;
}

/* Calls r's callback in L; an error is reported, as nobody waits for it. */
static void call_callback(lua_State *L, reg *r) {
  if (!push_fn(L, r)) return;
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_writestringerror("threadkit: on_cancel callback: %s\n",
                         luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
  }
}

/* The state's part of r ends: its callback and its entry go. */
static void forget(lua_State *L, reg *r) {
  if (r->ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
  } else if (push_reg_box(L, r)) {
    push_table(L, &weakfn_key, "k");
    lua_insert(L, -2);
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      lua_pushnil(L);
      lua_rawsetp(L, -2, r);
    }
    lua_pop(L, 2);
    push_table(L, &regbox_key, "v");
    lua_pushnil(L);
    lua_rawsetp(L, -2, r);
    lua_pop(L, 1);
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &regs_key);
  lua_pushnil(L);
  lua_rawsetp(L, -2, r);
  lua_pop(L, 1);
  reg_release(r);
}

/* Hands r (with the token's reference) to its state; a state already
** closed lets it go. */
static void enqueue(reg *r, int run) {
  tkl_fired *f = r->fired;
  pthread_mutex_lock(&f->mu);
  int open = f->open;
  if (open) {
    r->run = run;
    r->next = NULL;
    if (f->tail) f->tail->next = r;
    else f->head = r;
    f->tail = r;
    if (!atomic_exchange(&f->pending, 1))
      atomic_fetch_add(&states_pending, 1);
  }
  pthread_mutex_unlock(&f->mu);
  if (!open) reg_release(r);
}

/* The token's callback, on the cancelling thread. */
static void on_cancel_cb(void *arg) {
  reg *r = arg;
  lua_State *L = cancelling;
  if (L != NULL && cancelling_main == r->fired->owner) {
    /* Its own state, inside its tok:cancel(): run it right here. */
    call_callback(L, r);
    forget(L, r);
    reg_release(r);  /* the token's */
  } else {
    enqueue(r, 1);
  }
}

/* The token was freed uncancelled: fn will never run. */
static void on_cancel_dispose(void *arg) { enqueue(arg, 0); }

static int drain(lua_State *L) {
  tkl_fired *f = lua_touserdata(L, 1);
  for (;;) {
    pthread_mutex_lock(&f->mu);
    reg *list = f->head;
    f->head = f->tail = NULL;
    if (atomic_exchange(&f->pending, 0))
      atomic_fetch_sub(&states_pending, 1);
    pthread_mutex_unlock(&f->mu);
    if (list == NULL) return 0;
    while (list != NULL) {
      reg *r = list;
      list = r->next;
      if (r->run) call_callback(L, r);
      forget(L, r);
      reg_release(r);  /* the token's */
    }
  }
}

/* The state's fired list, made on first need (NULL: none yet). */
static tkl_fired *fired_of(lua_State *L, tkl_ctx *c, int make) {
  if (c == NULL) {
    c = tkl_ctx_push(L);
    lua_pop(L, 1);  /* the registry keeps it */
  }
  if (c->fired == NULL && make) {
    tkl_fired *f = calloc(1, sizeof *f);
    if (f == NULL || pthread_mutex_init(&f->mu, NULL) != 0) {
      free(f);
      luaL_error(L, "not enough memory");
    }
    atomic_init(&f->refs, 1);  /* the state's */
    atomic_init(&f->pending, 0);
    f->owner = main_thread(L);
    f->open = 1;
    c->fired = f;
  }
  return c->fired;
}

void tkl_run_callbacks(lua_State *L, tkl_ctx *c) {
  /* Most safe points of most states find nothing, without a lookup. */
  if (atomic_load_explicit(&states_pending, memory_order_relaxed) == 0) return;
  tkl_fired *f = fired_of(L, c, 0);
  if (f == NULL || !atomic_load_explicit(&f->pending, memory_order_acquire))
    return;
  /* Protected: a worker state runs this outside any pcall of its own. */
  lua_pushcfunction(L, drain);
  lua_pushlightuserdata(L, f);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_writestringerror("threadkit: on_cancel callbacks: %s\n",
                         lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static void close_callbacks(lua_State *L, tkl_ctx *c) {
  tkl_fired *f = c->fired;
  if (f == NULL) {
    release_kept(L);
    return;
  }
  tkl_run_callbacks(L, c);  /* what fired before the close still runs */
  pthread_mutex_lock(&f->mu);
  f->open = 0;
  reg *list = f->head;
  f->head = f->tail = NULL;
  if (atomic_exchange(&f->pending, 0)) atomic_fetch_sub(&states_pending, 1);
  pthread_mutex_unlock(&f->mu);
  while (list != NULL) {  /* fired while the last ones ran */
    reg *r = list;
    list = r->next;
    reg_release(r);
  }
  /* The state's part of every registration still waiting for its token. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &regs_key) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      lua_pop(L, 1);
      reg_release(lua_touserdata(L, -1));
    }
  }
  lua_pop(L, 1);
  c->fired = NULL;
  fired_release(f);
  release_kept(L);
}

/* The state closes: the boxes that their finalizer kept (and that a
** finalizer may not mark again now) let their tokens go. Their memory
** lives until every finalizer ran. */
static void release_kept(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kept_key) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      lua_pop(L, 1);
      tkl_box *b = lua_touserdata(L, -1);
      if (b->ptr != NULL) {
        void *p = b->ptr;
        b->ptr = NULL;
        tkl_release_handle(TKL_K_TOKEN, p);
      }
    }
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kept_key);
  }
  lua_pop(L, 1);
}

int tkl_token_box_gc(lua_State *L, int idx, int may_keep) {
  idx = lua_absindex(L, idx);
  tkl_box *b = lua_touserdata(L, idx);
  int top = lua_gettop(L);
  int had = 0;
  /* Its registrations' functions become strong references. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &weakfn_key) == LUA_TTABLE) {
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      push_table(L, &regbox_key, "v");  /* weakfn, fns, regbox */
      lua_pushnil(L);
      while (lua_next(L, -3) != 0) {
        reg *r = lua_touserdata(L, -2);
        r->ref = luaL_ref(L, LUA_REGISTRYINDEX);  /* pops fn */
        lua_pushnil(L);
        lua_rawsetp(L, -3, r);
        had = 1;
      }
      lua_pushvalue(L, idx);
      lua_pushnil(L);
      lua_rawset(L, top + 1);
    }
  }
  lua_settop(L, top);
  int keep = had && may_keep && !tk_token_sole_holder(b->ptr);
  if (keep) {
    /* Its fn may still run: the box keeps the token, and is finalized
    ** again once fn was let go. */
    lua_getmetatable(L, idx);
    lua_setmetatable(L, idx);
    push_table(L, &kept_key, NULL);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, b);
  } else if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kept_key) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_rawsetp(L, -2, b);
  }
  lua_settop(L, top);
  return keep;
}

int tkl_cancel_token(lua_State *L, tk_token_t *t) {
  lua_State *prev = cancelling, *prev_main = cancelling_main;
  cancelling = L;
  cancelling_main = main_thread(L);
  int rc = tk_token_cancel(t);
  cancelling = prev;
  cancelling_main = prev_main;
  tkl_run_callbacks(L, NULL);
  return rc;
}

/* tok:on_cancel(fn): runs once; at once if already cancelled */
int tkl_on_cancel(lua_State *L) {
  tk_token_t *t = tkl_check_handle(L, 1, TKL_K_TOKEN);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  tkl_run_callbacks(L, NULL);
  if (tk_token_is_cancelled(t)) {
    lua_pushvalue(L, 2);
    lua_call(L, 0, 0);
    return 0;
  }
  tkl_fired *f = fired_of(L, NULL, 1);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &regs_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &regs_key);
  }
  reg *r = calloc(1, sizeof *r);
  if (r == NULL) return luaL_error(L, "not enough memory");
  lua_pushlightuserdata(L, r);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);  /* a memory error here loses r: rare, and small */
  atomic_init(&r->refs, 2);  /* the state's and the token's */
  atomic_fetch_add(&f->refs, 1);
  r->fired = f;
  /* fn is held through the box (see the top of this file). */
  r->ref = LUA_NOREF;
  push_table(L, &weakfn_key, "k");
  lua_pushvalue(L, 1);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, r);
  lua_pop(L, 2);
  push_table(L, &regbox_key, "v");
  lua_pushvalue(L, 1);
  lua_rawsetp(L, -2, r);
  lua_pop(L, 1);
  if (tk_token_on_cancel_ex(t, on_cancel_cb, on_cancel_dispose, r, NULL) != 0) {
    reg_release(r);  /* the token's, which it never took */
    forget(L, r);
    return luaL_error(L, "not enough memory");
  }
  return 0;
}

void tkl_open_callbacks(lua_State *L) {
  (void)L;
  tkl_ctx_on_close(TKL_CLOSE_CALLBACKS, close_callbacks);
}
