/*
** tkl_common.h - what every file of the threadkit Lua module includes.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_COMMON_H
#define TKL_COMMON_H

#include <stddef.h>

#include "lauxlib.h"
#include "lua.h"
#include "threadkit.h"

/* Shared between the module's files, never exported. */
#if defined(__GNUC__)
#define TKL_INTERNAL __attribute__((visibility("hidden")))
#else
#define TKL_INTERNAL
#endif

#endif
