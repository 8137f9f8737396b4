/*
** lopts.h - reading the arguments and option tables of the Lua API.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LOPTS_H
#define TKL_LOPTS_H

#include "tkl_common.h"

/* The optional timeout argument at idx: -1 when none or nil, else a
** non-negative number (negative and NaN are refused). */
TKL_INTERNAL double tkl_opt_timeout(lua_State *L, int idx);
/* Raises "unknown option 'k'" (as bad argument arg) for a key of the
** options table at idx that `known` (NULL-terminated) does not list: a
** misspelt option is an error, not a default silently kept. `prefix`
** names a nested table ("retry."), or is "". */
TKL_INTERNAL void tkl_check_options(lua_State *L, int idx, int arg,
                                    const char *prefix,
                                    const char *const known[]);


/* Lists from Lua (lopts.c) are read raw: their own entries 1..n, with n
** = lua_rawlen (never __len), and no key outside 1..n. tkl_list_length
** returns n, or -1 with a description of an offending key pushed. */
TKL_INTERNAL lua_Integer tkl_list_length(lua_State *L, int idx);
/* The same for argument `arg`, raising "<what> must be a list: key k" (or
** "... (a table)" for a value that is not a table); n fits an int. */
TKL_INTERNAL int tkl_check_list(lua_State *L, int idx, int arg,
                                const char *what);

#endif
