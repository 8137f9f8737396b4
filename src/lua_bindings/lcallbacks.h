/*
** lcallbacks.h - on_cancel callbacks, run in the state that registered them.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LCALLBACKS_H
#define TKL_LCALLBACKS_H

#include "ctx.h"
#include "tkl_common.h"

/* Runs the on_cancel callbacks of L's state that fired elsewhere (c: its
** context, or NULL to look it up); a load and a test while none did. Every
** safe point calls it: submits, waits, tok:cancel and tok:on_cancel, a
** worker's task start. */
TKL_INTERNAL void tkl_run_callbacks(lua_State *L, tkl_ctx *c);
/* tok:cancel() from L: callbacks of L's state run inside it. Returns
** tk_token_cancel's code. */
TKL_INTERNAL int tkl_cancel_token(lua_State *L, tk_token_t *t);
/* A token's box at idx lets its token go (collected, or closed: may_keep
** 0): the on_cancel functions held through it become strong references.
** Returns 1 when a collected box keeps its token instead (marked for
** finalization again), as its callbacks may still run: the token can be
** cancelled by another holder, a parent or a deadline. */
TKL_INTERNAL int tkl_token_box_gc(lua_State *L, int idx, int may_keep);
/* tok:on_cancel(fn) */
TKL_INTERNAL int tkl_on_cancel(lua_State *L);

#endif
