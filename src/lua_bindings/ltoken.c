/*
** ltoken.c - cancellation tokens in Lua (tok:on_cancel: lcallbacks.c).
** See LICENSE for copyright and licence.
*/
#include <stdlib.h>

#include "handles.h"
#include "lcallbacks.h"
#include "lopen.h"
#include "lopts.h"
#include "ltask.h"
#include "lwait.h"

static void token_retain(void *t) { tk_token_retain(t); }
static void token_release(void *t) { tk_token_release(t); }

/* A token's box that goes lets go of the on_cancel functions held through
** it too (lcallbacks.c), or keeps the token while they may still run. */
static const tkl_kind token_kind = {TKL_K_TOKEN, "token", TK_TOKEN_MT,
                                    token_retain, token_release,
                                    NULL, NULL, tkl_token_box_gc};

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
  int rc = tkl_cancel_token(L, check_token(L));
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

static int token_cancelled(void *t) { return tk_token_is_cancelled(t); }
static void token_wait(void *t, double secs) { tk_token_wait(t, secs); }

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
    tkl_block_until(L, tkl_deadline(timeout), token_cancelled, token_wait, t);
    tkl_run_callbacks(L, NULL);  /* this token's, among others */
  }
  return wait_k(L, LUA_OK, 0);
}

static int l_child(lua_State *L) {
  tk_token_t *t = check_token(L), *c;
  if (tk_token_new_child(t, &c) != 0) return luaL_error(L, "not enough memory");
  tkl_push_handle(L, TKL_K_TOKEN, c);
  return 1;
}


void tkl_open_token(lua_State *L) {
  static const luaL_Reg methods[] = {{"cancel", l_cancel},
                                     {"is_cancelled", l_is_cancelled},
                                     {"wait", l_wait},
                                     {"on_cancel", tkl_on_cancel},
                                     {"child", l_child},
                                     {NULL, NULL}};
  tkl_new_handle_type(L, &token_kind, methods, NULL);
  lua_pushcfunction(L, l_token);
  lua_setfield(L, -2, "token");
}
