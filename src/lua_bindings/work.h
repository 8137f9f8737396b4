/*
** work.h - what pool:work's Lua side (lwork.c) keeps per work and per
** call. Private to src/lua_bindings. See LICENSE for copyright and
** licence.
*/
#ifndef TKL_WORK_H
#define TKL_WORK_H

#include <pthread.h>

#include "lopen.h"
#include "tkl.h"

/* A cache line: what the threads ending calls write is kept apart. */
#define TKL_WORK_LINE 64

/* A call, once it ended: it lives in its task's room (tkl_task_new_room),
** right after the task, so it costs no allocation of its own. */
typedef struct tkl_arrival {
  struct tkl_work *w;
  struct tkl_arrival *next;      /* on a lane, then on the ready list */
  tk_job_t *job;                 /* its own job (a reference), or NULL */
  union {
    tk_job_watch_t watch;        /* with a job: its finish callback */
    tk_call_t call;              /* without: a call of the work's queue */
  } u;
} tkl_arrival;

_Static_assert(sizeof(tkl_arrival) <= TKL_TASK_ROOM, "an arrival fits a task's room");

static inline tkl_arrival *tkl_arrival_of(tkl_task *t) {
  return (tkl_arrival *)(t + 1);
}
static inline tkl_task *tkl_task_of_arrival(tkl_arrival *a) {
  return (tkl_task *)a - 1;
}

/* Arrivals go to the lane of the CPU that finished the call. With one
** list for all, its line passed between the workers at every call. */
#define TKL_LANES 8              /* a power of two */

typedef struct tkl_lane {
  _Alignas(TKL_WORK_LINE) _Atomic(tkl_arrival *) arrived;  /* newest first;
                                                  CLOSED once released */
  atomic_llong done;             /* arrivals done with w; | KILLED */
} tkl_lane;

/* Shared with the threads that end its calls. */
typedef struct tkl_work {
  tkl_lane lanes[TKL_LANES];
  _Alignas(TKL_WORK_LINE) atomic_int waiting;  /* a waiter is (about to
                                                 be) asleep */
  /* BIAS until the box is released, then the calls its lanes had not
  ** counted as done (see box_release): whoever takes it to 0 frees w. */
  atomic_llong refs;
  pthread_mutex_t mu;
  pthread_cond_t cv;             /* on CLOCK_MONOTONIC */
  void *waker;                   /* mu: a task suspended in w:wait */
  tk_queue_t *queue;             /* its calls without a job, or NULL */
  char *name;                    /* owned: the work's (its jobs') name */
} tkl_work;

#endif
