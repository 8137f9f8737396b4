/*
** lcoro.h - the coroutine library of worker states.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LCORO_H
#define TKL_LCORO_H

#include "tkl_common.h"

/* Replaces resume, wrap and close in the coroutine library of a worker
** state (the library table is on top). */
TKL_INTERNAL void tkl_open_coroutines(lua_State *L);

#endif
