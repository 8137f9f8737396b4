/*
** pool.h - what queues and schedules need from their pool (a job's side
** of the contract with its pool is in job.h).
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_POOL_H
#define TK_POOL_H

#include "tk_common.h"

/* Runner jobs (queue.c) run calls that count in the pool's metrics as
** jobs of their own: a runner's job, submitted quiet, stays out of the
** metrics itself. The queue reports each call: submitted (any one thread
** at a time), taken from its queue and run (on the worker running the
** runner), or dropped unrun (any thread). */
TK_INTERNAL int tk__pool_submit_quiet(tk_pool_t *pool,
                                      const tk_job_opts_t *opts,
                                      tk_task_fn fn, void *arg);
TK_INTERNAL void tk__pool_count_submitted(tk_pool_t *pool, uint64_t n);
TK_INTERNAL void tk__pool_count_taken(void);
/* started 0: taken but never run (cancelled). */
TK_INTERNAL void tk__pool_count_run(int state, uint64_t submitted,
                                    uint64_t started, uint64_t finished);
TK_INTERNAL void tk__pool_count_dropped(tk_pool_t *pool, uint64_t n);
/* Some job waits in the pool's queue (a hint: no lock). */
TK_INTERNAL int tk__pool_has_queued(tk_pool_t *pool);
/* 1 once the pool is shut down cancelling what has not started: the
** calls of its queues are cancelled too. */
TK_INTERNAL int tk__pool_cancelling(tk_pool_t *pool);

/* The pool's use of the shared timer, taken on first need (schedules and
** job timeouts); 0 or an error. */
TK_INTERNAL int tk__pool_timer(tk_pool_t *pool);

/* Something that lives on a pool until the pool shuts down (a schedule):
** the pool lists it while it is attached, counts it in its metrics as a
** schedule, and at tk_pool_shutdown detaches it and calls at_shutdown on
** it (outside the pool's lock), once. */
typedef struct tk__pool_hook tk__pool_hook;
struct tk__pool_hook {
  tk__pool_hook *next;           /* the pool's list (pool mutex) */
  void (*at_shutdown)(tk__pool_hook *h);
};
/* 0, or TK_ESHUTDOWN (not attached) once the pool is shut down. */
TK_INTERNAL int tk__pool_attach(tk_pool_t *pool, tk__pool_hook *h);
/* 1 when this call detached h, 0 when it was not attached (any more). */
TK_INTERNAL int tk__pool_detach(tk_pool_t *pool, tk__pool_hook *h);

#endif
