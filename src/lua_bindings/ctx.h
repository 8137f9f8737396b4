/*
** ctx.h - a state's module context: what the hot paths reach without a registry
** lookup.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_CTX_H
#define TKL_CTX_H

#include "buffer.h"
#include "code.h"
#include "handles.h"
#include "tkl_common.h"

struct tkl_pool;
typedef struct tkl_fired tkl_fired;

/* A state's module context (ctx.c): what submitting needs, reached through
** upvalue 1 of the functions that submit instead of registry lookups. */
#define TKL_FN_SLOTS 8
typedef struct tkl_ctx {
  const void *tag;               /* private address: a context, nothing
                                    else, even dressed by the debug library */
  tkl_buf scratch;               /* see tkl_scratch */
  /* The plain functions (no upvalue but _ENV) this state sent last, by
  ** closure address, with their ids (encode.c). User values anchor the
  ** closures, so a listed address cannot be reused by another object. */
  const void *fn[TKL_FN_SLOTS];
  lua_Integer fn_id[TKL_FN_SLOTS];
  tkl_code *fn_code[TKL_FN_SLOTS];  /* a reference each: a buffer that
                                       names the id takes one more */
  int fn_nup[TKL_FN_SLOTS];
  /* The cached closures this state decoded last, by function id, with
  ** registry references (worker states: tkl_decode_blob_ctx). */
  lua_Integer dec_id[TKL_FN_SLOTS];
  int dec_ref[TKL_FN_SLOTS];
  struct tkl_pool *default_pool; /* the default pool, held by this state
                                    once it used it (ldefault.c) */
  tkl_fired *fired;              /* on_cancel callbacks to run here, once
                                    one was registered (lcallbacks.c) */
  int trim_floor_kb;             /* worker states: the heap after the last
                                    collection tkl_state_trim made */
} tkl_ctx;
/* Its user values: the cached closures, then each handle kind's
** metatable. */
#define TKL_UV_FN(slot) (1 + (slot))
#define TKL_UV_MT(kind) (TKL_FN_SLOTS + (kind))
#define TKL_CTX_NUV (TKL_FN_SLOTS + TKL_K_LAST)

/* What a part does when a state's context is collected (the state
** closes), in the order of the slots: the state's fired callbacks run
** first, then its scratch buffer goes; the context lets go of its code;
** then go its hold on the default pool and the cycles its boxes left. */
enum { TKL_CLOSE_CALLBACKS, TKL_CLOSE_SCRATCH, TKL_CLOSE_DEFAULT_POOL,
       TKL_CLOSE_CYCLES, TKL_CLOSE_SLOTS };
typedef void (*tkl_ctx_closer)(lua_State *L, tkl_ctx *c);
TKL_INTERNAL void tkl_ctx_on_close(int slot, tkl_ctx_closer fn);

/* Pushes this state's context (a registry lookup) and returns it. */
TKL_INTERNAL tkl_ctx *tkl_ctx_push(lua_State *L);
/* After a worker's task: collects the state's garbage at once when its
** heap has grown past twice what it was after the last such collection
** (and past a few MiB), so that a large value a task decoded or made
** does not stay in an idle worker (a task's path makes few of the calls
** that drive the collector). */
TKL_INTERNAL void tkl_state_trim(lua_State *L, tkl_ctx *c);

#endif
