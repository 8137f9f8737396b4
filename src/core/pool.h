/*
** pool.h - what jobs need from their pool.
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
