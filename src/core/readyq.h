/*
** readyq.h - the ready queue: jobs ordered by (priority desc, submit order).
** One FIFO ring per distinct priority, the rings kept sorted by priority,
** so push and pop cost O(1) for the usual handful of levels instead of a
** binary heap's O(log n) with its cache misses; the order is the same.
** Not thread-safe: the pool guards it with its mutex.
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_READYQ_H
#define TK_READYQ_H

#include "tk_common.h"

/* A queued unit of work: a job, or a posted function (job == NULL). */
typedef struct tk__task {
  void *fn;                      /* tk_post_fn when job == NULL */
  void *arg;
  tk_job_t *job;                 /* holds the pool's reference */
} tk__task;

typedef struct tk__level {
  int prio;
  size_t head, count, cap;       /* ring of cap (a power of two) slots */
  tk__task *ring;
} tk__level;

typedef struct tk__readyq {
  tk__level *levels;             /* sorted by prio, highest first */
  size_t nlevels, cap;
  size_t total;                  /* tasks in all levels */
  size_t hint;                   /* level of the last push */
} tk__readyq;

TK_INTERNAL void tk__readyq_init(tk__readyq *q);
/* Frees the rings; the queue must be empty (tasks are the pool's to end). */
TK_INTERNAL void tk__readyq_free(tk__readyq *q);
/* Makes room for n more tasks at prio so that n pushes cannot fail. */
TK_INTERNAL int tk__readyq_reserve(tk__readyq *q, int prio, size_t n);
/* Appends t behind every task of the same or higher priority. TK_ENOMEM. */
TK_INTERNAL int tk__readyq_push(tk__readyq *q, int prio, const tk__task *t);
/* Removes the first task in order into *t; returns 0 when empty. */
TK_INTERNAL int tk__readyq_pop(tk__readyq *q, tk__task *t);

#endif
