/*
** lsubmit.h - the submit path every kind of task shares.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LSUBMIT_H
#define TKL_LSUBMIT_H

#include "pool.h"
#include "tkl_common.h"

/* Registry key (its address) of the retry runner lscript.c registers. */
TKL_INTERNAL extern const char tkl_key_retry;

/* Submits the function at fidx (arguments above it, options at oidx or 0)
** to pool p, or to group g when g is not NULL. Pushes the job. ctx is the
** index of the state's context (absolute or upvalue), or 0 to look it
** up. */
TKL_INTERNAL int tkl_submit(lua_State *L, tkl_pool *p, tk_group_t *g,
                            int ctx, int oidx, int fidx);
/* Raises the error of a submit to p that returned rc ("attempt to use a
** shut-down pool", "queue is full ..."). */
TKL_INTERNAL int tkl_submit_error(lua_State *L, int rc, tkl_pool *p);
/* The priority at idx: an integer in int's range (a float with an
** integer's value too) or "lowest".."highest"; else raises a bad argument
** arg. */
TKL_INTERNAL int tkl_priority(lua_State *L, int idx, int arg);
/* Reads the options every task takes (priority, name, token, timeout)
** from the checked table at oidx into o, leaving their values on the stack
** (they anchor o->name). A group's task (in_group) refuses a token. */
TKL_INTERNAL void tkl_read_task_opts(lua_State *L, int oidx, tk_job_opts_t *o,
                                     int in_group);

#endif
