/*
** lopen.h - the openers of the module's parts, which module.c calls in one
** declared order.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LOPEN_H
#define TKL_LOPEN_H

#include "threadkit_lua.h"  /* luaopen_threadkit, the module (module.c) */
#include "tkl_common.h"

/* Makes this state's context, which the parts below register into. */
TKL_INTERNAL void tkl_open_ctx(lua_State *L);
/* What a state's close does for the on_cancel callbacks, the default
** pool and the containers' cycles (tkl_ctx_on_close). */
TKL_INTERNAL void tkl_open_callbacks(lua_State *L);
TKL_INTERNAL void tkl_open_default(lua_State *L);
TKL_INTERNAL void tkl_open_cycles(lua_State *L);
/* The guard of buffers on Lua stacks (tkl_push_buf_guard). */
TKL_INTERNAL void tkl_open_buffers(lua_State *L);
/* The registry tables of encoding and decoding. */
TKL_INTERNAL void tkl_open_transfer(lua_State *L);
/* Registers the metatables and functions of each part into the module
** table on top of the stack. */
TKL_INTERNAL void tkl_open_handles(lua_State *L);
TKL_INTERNAL void tkl_open_pool(lua_State *L);
TKL_INTERNAL void tkl_open_job(lua_State *L);
TKL_INTERNAL void tkl_open_token(lua_State *L);
TKL_INTERNAL void tkl_open_channel(lua_State *L);
TKL_INTERNAL void tkl_open_shared(lua_State *L);
TKL_INTERNAL void tkl_open_task(lua_State *L);
TKL_INTERNAL void tkl_open_group(lua_State *L);
TKL_INTERNAL void tkl_open_completed(lua_State *L);
TKL_INTERNAL void tkl_open_dot(lua_State *L);
TKL_INTERNAL void tkl_open_trace(lua_State *L);
TKL_INTERNAL void tkl_open_stats(lua_State *L);
/* Pool methods that live in files of their own, into the methods table at
** pool_methods. */
TKL_INTERNAL void tkl_open_schedule(lua_State *L, int pool_methods);
TKL_INTERNAL void tkl_open_work(lua_State *L, int module, int pool_methods);
/* The parts written in Lua (lscript.c), once every other part is open:
** their code binds the module's functions when it loads. */
TKL_INTERNAL void tkl_open_script(lua_State *L, int module);
/* threadkit's C functions that tasks carry but that are not on the module
** table (lscript.c's entries into its Lua code): they travel by these
** names, which no "library.function" name can take. */
TKL_INTERNAL extern const luaL_Reg tkl_private_cfuncs[];

#endif
