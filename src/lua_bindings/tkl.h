/*
** tkl.h - shared declarations of the threadkit Lua module.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_H
#define TKL_H

#include <stdatomic.h>
#include <stddef.h>

#include "lauxlib.h"
#include "lua.h"
#include "threadkit.h"

#if defined(__GNUC__)
#define TKL_INTERNAL __attribute__((visibility("hidden")))
#else
#define TKL_INTERNAL
#endif

#define TK_POOL_MT "threadkit.pool"
#define TK_JOB_MT "threadkit.job"
#define TK_TOKEN_MT "threadkit.token"
#define TK_CHANNEL_MT "threadkit.channel"
#define TK_SHARED_MT "threadkit.shared"

/* {====================================================== buffers */

/* A growable byte buffer. Handles (jobs, tokens, ...) written into it hold
** a reference each, listed in refs so that a buffer that is never decoded
** can still give them back. */
typedef struct tkl_buf {
  unsigned char *data;
  size_t len, cap;
  size_t pos;                    /* read position while decoding */
  struct tkl_ref *refs;          /* handles still owned by the buffer */
  size_t nrefs, caprefs;
} tkl_buf;

typedef struct tkl_ref {
  int kind;                      /* TKL_K_* */
  void *ptr;
} tkl_ref;

enum { TKL_K_JOB = 1, TKL_K_TOKEN, TKL_K_CHANNEL, TKL_K_SHARED };

TKL_INTERNAL void tkl_buf_init(tkl_buf *b);
/* Frees the bytes and releases every handle the buffer still owns. */
TKL_INTERNAL void tkl_buf_free(tkl_buf *b);
TKL_INTERNAL tkl_buf *tkl_buf_new(void);
TKL_INTERNAL void tkl_buf_delete(void *b);  /* tkl_buf_free + free */

/* }====================================================== */

/* {====================================================== transfer */

/* Encodes the n values on top of L's stack (below them nothing is
** touched) into b. `what` names them for error messages: "argument" gives
** "argument #2", "result" gives "result #1", a name gives "upvalue ...".
** Raises a Lua error naming where a value cannot be copied. */
TKL_INTERNAL void tkl_encode(lua_State *L, int first, int n, tkl_buf *b,
                             const char *what);
/* Decodes every value of b onto L's stack; returns how many. Each handle
** gets a reference of its own (b keeps its own, so b can be decoded again).
** Raises a Lua error on a malformed buffer. */
TKL_INTERNAL int tkl_decode(lua_State *L, tkl_buf *b);

/* }====================================================== */

/* {====================================================== handles */

/* Pushes the box of a C object (creating it, or reusing the state's box
** for the same object so that == holds). Takes over one reference. */
TKL_INTERNAL void tkl_push_handle(lua_State *L, int kind, void *ptr);
/* The object in box idx if it is of `kind`, else NULL. */
TKL_INTERNAL void *tkl_test_handle(lua_State *L, int idx, int kind);
TKL_INTERNAL void *tkl_check_handle(lua_State *L, int idx, int kind);
/* Releases one reference of any handle kind. */
TKL_INTERNAL void tkl_release_handle(int kind, void *ptr);
TKL_INTERNAL void tkl_retain_handle(int kind, void *ptr);

/* }====================================================== */

/* Registers the metatables and functions of each part into the module
** table on top of the stack. */
TKL_INTERNAL void tkl_open_handles(lua_State *L);
TKL_INTERNAL void tkl_open_pool(lua_State *L);
TKL_INTERNAL void tkl_open_job(lua_State *L);
TKL_INTERNAL void tkl_open_token(lua_State *L);
TKL_INTERNAL void tkl_open_channel(lua_State *L);
TKL_INTERNAL void tkl_open_shared(lua_State *L);
TKL_INTERNAL void tkl_open_task(lua_State *L);

#endif
