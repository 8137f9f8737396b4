/*
** code.h - the interned bytecode of the functions that travel.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_CODE_H
#define TKL_CODE_H

#include "tkl_common.h"

/* The interned bytecode of a function (code.c): functions travel as
** its id. Every buffer that names an id holds a reference to its code, and
** so does each sending state's cache of its last plain functions, so that
** no code a buffer may still be decoded with is ever freed; code nothing
** holds is freed (the least recently idle beyond a bound), and its id is
** never given out again. */
typedef struct tkl_code tkl_code;
/* Another reference, for a holder of one (a buffer being copied, a cache
** slot). */
TKL_INTERNAL void tkl_code_retain(tkl_code *c);
TKL_INTERNAL void tkl_code_release(tkl_code *c);  /* NULL is ignored */
/* The code of the Lua function at idx (its bytecode dumped, with debug
** information), with a reference for the caller; NULL without memory. */
TKL_INTERNAL tkl_code *tkl_code_dump(lua_State *L, int idx);
/* The code of id with a reference for the caller, or NULL if this process
** never produced it or has freed it: a decoder loads only bytecode this
** process produced. */
TKL_INTERNAL tkl_code *tkl_code_find(lua_Integer id);
/* Its id: the same for every function of the same bytecode, never given
** to other code. */
TKL_INTERNAL lua_Integer tkl_code_id(const tkl_code *c);
/* Its bytecode, of *len bytes. */
TKL_INTERNAL const char *tkl_code_bytes(const tkl_code *c, size_t *len);

#endif
