/*
** pool.h - what jobs, queues and schedules need from their pool.
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_POOL_H
#define TK_POOL_H

#include "tk_common.h"

/* Accounting for a PENDING job that was just cancelled (by anyone). Takes
** it off the held list if it was there. The last touch of the pool. */
TK_INTERNAL void tk__pool_job_cancelled(tk_pool_t *pool, tk_job_t *job);
/* Every dependency of a held job completed: queue it (or cancel it if the
** pool's workers are gone). */
TK_INTERNAL void tk__pool_deps_ready(tk_pool_t *pool, tk_job_t *job);


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

/* Schedules: the pool keeps a reference to each active one, ends them at
** shutdown, and counts them in its metrics (schedule.c). */
struct tk_schedule;
TK_INTERNAL int tk__pool_timer(tk_pool_t *pool);
TK_INTERNAL int tk__pool_add_schedule(tk_pool_t *pool, struct tk_schedule *s);
TK_INTERNAL void tk__pool_remove_schedule(tk_pool_t *pool,
                                          struct tk_schedule *s);
TK_INTERNAL void tk__schedule_end(struct tk_schedule *s);
TK_INTERNAL struct tk_schedule **tk__schedule_link(struct tk_schedule *s);

#endif
