/*
** threadkit_lua.h - the public C API of threadkit's Lua layer: the module,
** embedding it in a host's Lua state, and what an interpreter built
** around it (tklua) needs.
** See LICENSE for copyright and licence.
**
** Link the Lua layer and the core (libthreadkit_lua.a, or
** `pkg-config --libs threadkit-lua`) and Lua 5.4 itself. The conventions of
** threadkit.h hold here too: 0 or a negative TK_E* code, NULL taken
** without a crash.
*/
#ifndef THREADKIT_LUA_H
#define THREADKIT_LUA_H

#include <stdio.h>

#include "threadkit.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lua_State;

/* {====================================================== embedding Lua */

/* The module's opener, as `require "threadkit"` calls it: pushes the
** module table. Where threadkit is built in (a host, tklua, every worker
** state) it also registers itself in package.preload, so that require
** finds the built-in module again instead of loading a second copy. */
TK_API int luaopen_threadkit(struct lua_State *L);

/* Opens the threadkit module in the host's state L and pushes it (as
** require "threadkit" would). If pool is not NULL it becomes the default
** pool behind tk.submit, tk.wait_all and tk.metrics until L closes; the
** host keeps ownership and frees it after closing L. Closing L with work
** in flight is safe: the host's pool runs its queued tasks on; threadkit's
** own default pool finishes them before lua_close returns.
** TK_EINVAL if L is NULL, TK_ENOMEM. */
TK_API int tk_lua_open(struct lua_State *L, tk_pool_t *pool);
/* Runs hook(L) in every new worker state, after the standard libraries
** and threadkit, before the pool's init function: the place to register
** the host's own C functions for tasks. Set it before tasks run; NULL
** removes it. */
TK_API void tk_lua_set_worker_hook(void (*hook)(struct lua_State *L));
/* Closes L (lua_close) with threadkit told that it closes: a finalizer
** that would make a new threadkit handle (one the closing state could
** never free) gets an error instead. The way to close a state that has
** run threadkit code. NULL is ignored. */
TK_API void tk_lua_close(struct lua_State *L);

/* }====================================================== */

/* {====================================================== running scripts */

/* The number of workers of the default pool threadkit makes on first use
** (tk.submit without a pool): 0 for one per CPU (the default), else 1 to
** 4096. Takes effect for a default pool made after the call.
** TK_EINVAL out of that range. */
TK_API int tk_lua_set_default_workers(int workers);
/* Waits until every pool the Lua layer knows holds no work but daemon
** groups' (the end of a script), running the fired on_cancel callbacks
** of L, the state that waits, meanwhile. Daemon work never ends on its
** own: it is counted, not waited for. Returns how many daemon tasks are
** left (0 if L is NULL); returns early after tk_lua_stop_all. */
TK_API size_t tk_lua_wait_all(struct lua_State *L);
/* Stops all work at once (Ctrl-C): every running task stops at its next
** safe point, every later one before it starts, and every queued job of
** every pool is cancelled. Takes no lock the caller may hold, and may be
** called from any thread, a signal-waiting one included (not from a
** signal handler). */
TK_API void tk_lua_stop_all(void);
/* After tk_lua_stop_all, for an interpreter that goes on (tklua's REPL):
** waits up to `timeout` seconds in all for the stopped tasks to end, shuts
** down every pool the Lua layer made (pools made before stay shut down)
** and forgets the default pool, so that the next tk.submit from L makes a
** new one (a host's pool given to tk_lua_open is the host's: it is not
** shut down, and stays the default). Returns 1 if every task had ended, 0
** if some still ran at the timeout (they were cancelled), 1 for a NULL L. */
TK_API int tk_lua_stop_settle(struct lua_State *L, double timeout);
/* Lifts the stop of tk_lua_stop_all: tasks submitted from now on run. */
TK_API void tk_lua_stop_end(void);
/* Writes the metrics of every pool (closed ones too) and of every group
** still alive to f, as tables (tklua --stats, tk.stats()). NULL is
** ignored. */
TK_API void tk_lua_print_stats(FILE *f);
/* Starts recording every job into a trace written to path by
** tk_lua_trace_stop (Chrome's trace format; tk.trace_start in Lua). The
** file is opened now, so that a bad path fails here. 0, TK_EINVAL for a
** NULL path, TK_EBUSY while a trace records, or TK_ESYS with errno set. */
TK_API int tk_lua_trace_start(const char *path);
/* Writes the trace and forgets its events; returns how many were written
** (jobs and marks), 0 when no trace records, -1 if the file could not be
** written. */
TK_API long tk_lua_trace_stop(void);

/* }====================================================== */

#ifdef __cplusplus
}
#endif
#endif
