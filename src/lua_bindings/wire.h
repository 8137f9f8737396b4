/*
** wire.h - the format of encoded values, shared by encode.c and decode.c.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_WIRE_H
#define TKL_WIRE_H

#include "transfer.h"

#define MAX_DEPTH 100
/* Values in one transfer: a task's function, a retry runner's two and
** TKL_MAX_VALUES arguments at most. */
#define MAX_VALUES (TKL_MAX_VALUES + 3)

/* A buffer is a count, then each value: a tag and what it needs. */
enum {
  T_NIL = 1, T_FALSE, T_TRUE, T_INT, T_FLT, T_STR, T_TABLE, T_REF, T_END,
  T_FUNC, T_ENV, T_CFUNC, T_HANDLE,
  T_PFUNC,  /* a function that cannot be met again: not numbered */
  T_UPREF   /* an upvalue shared with a function sent before */
};

/* Lua's name for the upvalues of a function loaded from stripped
** bytecode. */
#define NO_NAME "(no name)"

/* Registry key (its address) of the receiving state's closures by
** function id (weak values, decode.c). */
TKL_INTERNAL extern const char tkl_key_loads;

#endif
