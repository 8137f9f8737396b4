/*
** transfer.h - copying Lua values between states: encoding and decoding.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_TRANSFER_H
#define TKL_TRANSFER_H

#include "buffer.h"
#include "ctx.h"
#include "tkl_common.h"

/* Registry keys (their addresses) of the C functions that travel by name
** (module.c names them): function -> name, and name -> function. */
TKL_INTERNAL extern const char tkl_key_cnames, tkl_key_cfuncs;

/* A task's arguments or results: as many as a Lua call takes, and more
** refused where they are copied (tkl_check_count), before the coder's own
** limit, which leaves room for the function and a retry runner's two. */
#define TKL_MAX_VALUES 10000
/* Raises "too many <what> to copy (n, at most 10000)" for n over it. */
TKL_INTERNAL void tkl_check_count(lua_State *L, int n, const char *what);

/* What values are encoded: it names them in errors ("cannot copy
** argument #2: ..."), and a task's own job among its results travels as a
** weak reference (the job holds its results). */
typedef enum tkl_encode_mode {
  TKL_ENCODE_ARGUMENTS,          /* "task function", then "argument #k" */
  TKL_ENCODE_RESULTS,            /* "result #k" */
  TKL_ENCODE_ERROR,              /* "error value" */
  TKL_ENCODE_INIT,               /* "the init function" */
  TKL_ENCODE_VALUE               /* "the value" */
} tkl_encode_mode;

/* Encodes the n values at first.. of L's stack (nothing else is touched)
** into b. Raises a Lua error naming where a value cannot be copied. */
TKL_INTERNAL void tkl_encode(lua_State *L, int first, int n, tkl_buf *b,
                             tkl_encode_mode mode);
/* A task's n results, the whole stack of L, for the task of job self: a
** reference to self among them holds none (the job holds its results, so
** it outlives every decode of them). */
TKL_INTERNAL void tkl_encode_results(lua_State *L, int n, tkl_buf *b,
                                     tk_job_t *self);
/* The same with the state's context at index ctx (absolute or upvalue;
** 0: look it up), saving its lookup. */
TKL_INTERNAL void tkl_encode_ctx(lua_State *L, int ctx, int first, int n,
                                 tkl_buf *b, tkl_encode_mode mode);
/* Decodes every value of b onto L's stack; returns how many. Each handle
** gets a reference of its own (b keeps its own, so b can be decoded again).
** Raises a Lua error on a malformed buffer. */
TKL_INTERNAL int tkl_decode(lua_State *L, tkl_buf *b);
/* The same for a task's blob (which keeps its references). */
TKL_INTERNAL int tkl_decode_blob(lua_State *L, const tkl_blob *b);
/* The same with L's state's context c, whose last decoded closures it
** finds without a table lookup (a worker decoding its tasks). */
TKL_INTERNAL int tkl_decode_blob_ctx(lua_State *L, const tkl_blob *b,
                                     tkl_ctx *c);

#endif
