/*
** ltoken.c - cancellation tokens in Lua.
** See LICENSE for copyright and licence.
**
** tok:on_cancel(fn) runs fn once. When the token is cancelled by the state
** that registered fn (inside tok:cancel()), fn runs right there, before
** cancel returns. A cancellation from another thread cannot enter that
** state, so fn (copied at registration, like a task) then runs as a task on
** the default pool.
*/
#include <stdlib.h>

#include "tkl.h"

static _Thread_local lua_State *cancelling;  /* main thread of the state in
                                                tok:cancel(), on this thread */

static lua_State *main_thread(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  lua_State *m = lua_tothread(L, -1);
  lua_pop(L, 1);
  return m;
}

static tk_token_t *check_token(lua_State *L) {
  return tkl_check_handle(L, 1, TKL_K_TOKEN);
}

/* tk.token([{timeout = s}]) */
static int l_token(lua_State *L) {
  double timeout = -1;
  if (lua_istable(L, 1)) {
    static const char *const known[] = {"timeout", NULL};
    tkl_check_options(L, 1, 1, "", known);
    if (lua_getfield(L, 1, "timeout") != LUA_TNIL) {
      int ok;
      timeout = lua_tonumberx(L, -1, &ok);
      if (!ok || !(timeout >= 0))
        luaL_argerror(L, 1, "timeout must be a non-negative number");
    }
  } else if (!lua_isnoneornil(L, 1)) {
    luaL_typeerror(L, 1, "table or nil");
  }
  tk_token_t *t;
  if (tk_token_new(&t) != 0) return luaL_error(L, "not enough memory");
  tkl_push_handle(L, TKL_K_TOKEN, t);
  if (timeout >= 0 && tk_token_set_deadline(t, timeout) != 0)
    return luaL_error(L, "cannot arm the token's deadline");
  return 1;
}

static int l_cancel(lua_State *L) {
  tk_token_t *t = check_token(L);
  lua_State *prev = cancelling;
  cancelling = main_thread(L);
  int rc = tk_token_cancel(t);
  cancelling = prev;
  lua_pushboolean(L, rc == 0);  /* true if this call cancelled it */
  return 1;
}

static int l_is_cancelled(lua_State *L) {
  lua_pushboolean(L, tk_token_is_cancelled(check_token(L)));
  return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext suspended) {
  (void)status;
  if (suspended) tkl_wait_end(L);
  lua_pushboolean(L, tk_token_is_cancelled(check_token(L)));
  return 1;
}

/* tok:wait([timeout]) --> true if cancelled, false on timeout */
static int l_wait(lua_State *L) {
  tk_token_t *t = check_token(L);
  double timeout = tkl_opt_timeout(L, 2);
  if (!tk_token_is_cancelled(t) && timeout != 0) {
    tkl_task *task = tkl_yieldable_task(L);
    if (task != NULL) {
      tkl_wait *w = tkl_wait_begin(L, task);
      tkl_wait_token(L, w, t);
      tkl_wait_deadline(L, w, timeout);
      return tkl_wait_suspend(L, wait_k, 1);
    }
    /* Blocking: until cancelled, timed out or the task is cancelled. */
    double deadline = timeout < 0 ? -1 : tkl_now() + timeout;
    tk_pool_block_begin();
    while (!tk_token_is_cancelled(t) && !tkl_block_given_up()) {
      double left = deadline < 0 ? -1 : deadline - tkl_now();
      if (deadline >= 0 && left <= 0) break;
      tk_token_wait(t, tkl_block_slice(left));
    }
    tk_pool_block_end();
  }
  return wait_k(L, LUA_OK, 0);
}

static int l_child(lua_State *L) {
  tk_token_t *t = check_token(L), *c;
  if (tk_token_new_child(t, &c) != 0) return luaL_error(L, "not enough memory");
  tkl_push_handle(L, TKL_K_TOKEN, c);
  return 1;
}

/* {====================================================== on_cancel */

/* One registration: held by the token (until fn or dispose runs) and by
** the registering state (until it sweeps it or closes). */
typedef struct reg {
  atomic_int refs;
  atomic_int done;               /* fn ran or will never run */
  _Atomic(lua_State *) owner;    /* main thread of the state; NULL once it
                                    closed */
  tkl_buf fn;                    /* the callback, copied */
  int ref;                       /* the callback in the owner's registry */
} reg;

static void reg_release(reg *r) {
  if (!tk__ref_drop(&r->refs)) return;
  tkl_buf_free(&r->fn);
  free(r);
}

/* Runs fn as a fire-and-forget task on the default pool (lpool.c). */
int tkl_submit_copied(const tkl_buf *fn);

static void on_cancel_cb(void *arg) {
  reg *r = arg;
  atomic_store(&r->done, 1);
  lua_State *L = atomic_load(&r->owner);
  if (L != NULL && cancelling == L) {
    /* Same state, inside its own tok:cancel(): call it right here. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      lua_writestringerror("threadkit: on_cancel callback: %s\n",
                           lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  } else {
    /* Another thread cannot enter the state: run the copy instead. */
    tkl_submit_copied(&r->fn);
  }
  reg_release(r);
}

static void on_cancel_dispose(void *arg) {
  reg *r = arg;
  atomic_store(&r->done, 1);
  reg_release(r);
}

/* Drops the state's part of registrations that are over (all of them when
** the state closes). The table maps lightuserdata(reg) -> true. */
static void sweep(lua_State *L, int all) {
  lua_getfield(L, LUA_REGISTRYINDEX, "threadkit.oncancel");
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    reg *r = lua_touserdata(L, -2);
    lua_pop(L, 1);
    if (all || atomic_load(&r->done)) {
      if (all) atomic_store(&r->owner, NULL);
      else luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -4);  /* clearing the current key is allowed */
      reg_release(r);
    }
  }
  lua_pop(L, 1);
}

static int oncancel_gc(lua_State *L) {
  sweep(L, 1);
  return 0;
}

/* tok:on_cancel(fn): runs once; at once if already cancelled */
static int l_on_cancel(lua_State *L) {
  tk_token_t *t = check_token(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (tk_token_is_cancelled(t)) {
    lua_pushvalue(L, 2);
    lua_call(L, 0, 0);
    return 0;
  }
  sweep(L, 0);
  reg *r = calloc(1, sizeof *r);
  if (r == NULL) return luaL_error(L, "not enough memory");
  atomic_init(&r->refs, 1);  /* the state's */
  atomic_init(&r->owner, main_thread(L));
  tkl_buf_init(&r->fn);
  lua_pushvalue(L, 2);
  r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, LUA_REGISTRYINDEX, "threadkit.oncancel");
  lua_pushlightuserdata(L, r);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  atomic_store(&r->done, 1);  /* swept if the encoding below raises */
  tkl_encode(L, 2, 1, &r->fn, "the callback");
  atomic_store(&r->done, 0);
  atomic_fetch_add(&r->refs, 1);  /* the token's */
  if (tk_token_on_cancel_ex(t, on_cancel_cb, on_cancel_dispose, r, NULL) != 0) {
    on_cancel_dispose(r);
    return luaL_error(L, "not enough memory");
  }
  return 0;
}

/* }====================================================== */

void tkl_open_token(lua_State *L) {
  static const luaL_Reg methods[] = {{"cancel", l_cancel},
                                     {"is_cancelled", l_is_cancelled},
                                     {"wait", l_wait},
                                     {"on_cancel", l_on_cancel},
                                     {"child", l_child},
                                     {NULL, NULL}};
  tkl_new_handle_type(L, TKL_K_TOKEN, methods, NULL);
  /* Registrations of this state; its __gc lets go of them at close. */
  lua_newtable(L);
  lua_newtable(L);
  lua_pushcfunction(L, oncancel_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "threadkit.oncancel");
  lua_pushcfunction(L, l_token);
  lua_setfield(L, -2, "token");
}
