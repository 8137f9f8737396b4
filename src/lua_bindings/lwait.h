/*
** lwait.h - waiting, written once: a task suspends until signalled, any
** other thread blocks in slices. Private to src/lua_bindings. See LICENSE
** for copyright and licence.
**
** A wait site asks tkl_yieldable_task (ltask.h) first. With a task that
** can yield it arms wake sources on a tkl_wait and yields through
** tkl_wait_suspend (ltask.h); its continuation calls tkl_wait_end and
** looks again.
** Without one it blocks: tkl_block_until for a condition with a waiting
** call of its own (a job, a token, a group), or the tkl_block steps around
** a condition variable under the caller's own lock (a channel).
*/
#ifndef TKL_LWAIT_H
#define TKL_LWAIT_H

#include <pthread.h>
#include <stdint.h>

#include "tkl_common.h"

typedef struct tkl_task tkl_task;

/* Monotonic seconds (tk.now, deadlines). */
TKL_INTERNAL double tkl_now(void);
/* The deadline `timeout` seconds from now, in tkl_now's seconds; < 0 (no
** deadline) for a negative timeout. */
TKL_INTERNAL double tkl_deadline(double timeout);
/* Seconds left until deadline (0 once passed), or -1 for none. */
TKL_INTERNAL double tkl_left(double deadline);

/* {====================================================== suspending */

/* Suspends the running task (see tkl_yieldable_task) until one of the
** wake sources armed with tkl_wait_* fires, then runs k in the task's
** coroutine. The job's own token always wakes it (cancellation). */
typedef struct tkl_wait tkl_wait;
TKL_INTERNAL tkl_wait *tkl_wait_begin(lua_State *L, tkl_task *t);
TKL_INTERNAL void tkl_wait_deadline(lua_State *L, tkl_wait *w, double secs);
TKL_INTERNAL void tkl_wait_token(lua_State *L, tkl_wait *w, tk_token_t *tok);
TKL_INTERNAL void tkl_wait_job(lua_State *L, tkl_wait *w, tk_job_t *job);
/* Wakes the task once g is idle (tk_group_on_idle). */
TKL_INTERNAL void tkl_wait_group_idle(lua_State *L, tkl_wait *w,
                                      tk_group_t *g);
/* tkl_wait_begin with a deadline `secs` (< 0: none), and a waker for the
** caller to hand to whoever will wake the task (channels, as_completed,
** work): tkl_waker_fire wakes it once and lets that reference go,
** tkl_waker_release only lets it go. */
TKL_INTERNAL void tkl_waker_fire(void *waker);
TKL_INTERNAL void tkl_waker_release(void *waker);
TKL_INTERNAL void *tkl_wait_begin_waker(lua_State *L, tkl_task *t,
                                        double secs);
/* In the continuation: ends the wait (unregisters its sources). Returns
** 1 if the deadline passed. */
TKL_INTERNAL int tkl_wait_end(lua_State *L);
/* The same, and 1 also when the task was cancelled: a wait that should not
** begin again. */
TKL_INTERNAL int tkl_wait_end_given_up(lua_State *L);

/* }====================================================== */

/* {====================================================== blocking */

/* How long a thread that blocks (it cannot suspend) waits at a time.
** Nothing wakes a blocked wait when Ctrl-C interrupts everything, when a
** callback of its state fires, or when its task (if any) is cancelled: it
** waits in slices, and between them checks tkl_interrupted, runs the
** callbacks, and gives up, as a suspended wait does, once the running
** task is cancelled. */
#define TKL_BLOCK_SLICE 0.05
/* One slice of a wait with `left` seconds to go (< 0: no limit). */
TKL_INTERNAL double tkl_block_slice(double left);
/* 1 when the running task (if any) is cancelled: its blocking waits end. */
TKL_INTERNAL int tkl_block_given_up(void);

/* A blocking wait of L's thread, taken a slice at a time:
**   tkl_block_start(&b, L, deadline);
**   while (!ready && (s = tkl_block_next(&b)) > 0) {
**     wait for a change, at most s seconds;
**     tkl_block_between(&b);     holding no lock
**   }
**   tkl_block_stop(&b);
** On a worker the pool runs a spare while it waits: a blocking region
** (tk_pool_block_begin) opens at the first tkl_block_next, which a caller
** may make holding its own lock (that lock comes before the pool's). */
typedef struct tkl_block {
  lua_State *L;
  double deadline;               /* tkl_now seconds; < 0: none */
  int region;                    /* in a blocking region */
} tkl_block;
TKL_INTERNAL void tkl_block_start(tkl_block *b, lua_State *L,
                                  double deadline);
/* The seconds the next slice may wait, or 0 when the wait is over
** unfulfilled: its deadline passed, or the running task was cancelled. */
TKL_INTERNAL double tkl_block_next(tkl_block *b);
/* After a slice: on Ctrl-C ends the wait and raises "interrupted!", else
** runs the state's fired callbacks. */
TKL_INTERNAL void tkl_block_between(tkl_block *b);
/* Ends the wait's blocking region, if one opened. */
TKL_INTERNAL void tkl_block_stop(tkl_block *b);

/* The whole loop for a condition that has a waiting call of its own:
** blocks until ready(ud), the deadline or the running task's
** cancellation, calling wait(ud, secs) to wait up to secs for a change.
** Returns ready(ud) at the end. */
TKL_INTERNAL int tkl_block_until(lua_State *L, double deadline,
                                 int (*ready)(void *ud),
                                 void (*wait)(void *ud, double secs),
                                 void *ud);

/* Condition variables on the monotonic clock (a step of the wall clock
** neither ends nor stretches a wait). 0, or TK_ESYS. */
TKL_INTERNAL int tkl_cond_init(pthread_cond_t *cv);
/* With mu held: waits for a signal, at most secs seconds (< 0: no
** limit). Callers look at their condition again either way. */
TKL_INTERNAL void tkl_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                                double secs);

/* }====================================================== */

#endif
