/*
** work.h - what pool:work's two halves share: its Lua side (lwork.c) and
** the runners that take its calls (lrunner.c). Private to
** src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_WORK_H
#define TKL_WORK_H

#include <pthread.h>

#include "tkl.h"
#include "../core/job.h"

/* A call, once it ended: it lives in its task's room (tkl_task_new_room),
** right after the task, so it costs no allocation of its own. */
typedef struct tkl_arrival {
  struct tkl_work *w;
  struct tkl_arrival *next;      /* on a lane, then on the ready list */
  _Atomic(struct tkl_arrival *) qnext;  /* on the work's queue */
  tk_job_t *job;                 /* its own job (a reference), or NULL */
  union {
    tk__dep_node node;           /* with a job: its finish callback (kept
                                    ours, tk__job_on_finish_kept) */
    struct {                     /* run by a runner */
      char *error;               /* tk__malloc'ed, or NULL */
      uint64_t t_submit, t_finish;
      int state;                 /* TK_JOB_COMPLETED, _FAILED, _CANCELLED */
    } call;
  } u;
} tkl_arrival;

TK_STATIC_ASSERT(sizeof(tkl_arrival) <= TKL_TASK_ROOM);

static inline tkl_arrival *tkl_arrival_of(tkl_task *t) {
  return (tkl_arrival *)(t + 1);
}
static inline tkl_task *tkl_task_of_arrival(tkl_arrival *a) {
  return (tkl_task *)a - 1;
}

/* Arrivals go to the lane of the CPU that finished the call. With one
** list for all, its line passed between the workers at every call: the
** lanes cut their CPU per call by about 7 % (5 paired runs, pool:work). */
#define TKL_LANES 8              /* a power of two */

typedef struct tkl_lane {
  _Alignas(TK_CACHELINE) _Atomic(tkl_arrival *) arrived;  /* newest first;
                                                  CLOSED once released */
  atomic_llong done;             /* arrivals done with w; | KILLED */
} tkl_lane;

/* Shared with the threads that run its calls. */
typedef struct tkl_work {
  tkl_lane lanes[TKL_LANES];
  _Alignas(TK_CACHELINE) atomic_int waiting;  /* a waiter is (about to
                                                 be) asleep */
  /* BIAS until the box is released, then the calls its lanes had not
  ** counted as done (see box_release), plus one for each runner alive:
  ** whoever takes it to 0 frees w. */
  atomic_llong refs;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  void *waker;                   /* mu: a task suspended in w:wait */
  /* Runners (lrunner.c); set before the first call. */
  tk_pool_t *pool;
  tk_job_opts_t ropts;           /* priority; the name is owned */
  int max_runners;               /* the pool's workers */
  unsigned long appended;        /* calls appended (the making state) */
  /* The calls waiting for a runner, oldest first: a linked queue after
  ** Dmitry Vyukov's (intrusive, through qnext, with a stub node). The
  ** making state appends without a lock; runners take holding qlock, a
  ** spin lock (held for a few loads and stores: a mutex put runners to
  ** sleep on each other). Empty: both ends at the stub. */
  _Alignas(TK_CACHELINE) _Atomic(tkl_arrival *) qtail;
  _Alignas(TK_CACHELINE) atomic_int qlock;
  _Atomic(tkl_arrival *) qhead;  /* written holding qlock */
  tkl_arrival stub;
  _Alignas(TK_CACHELINE) atomic_int active;   /* runners taking calls */
} tkl_work;

/* A call ended (in the thread that ended it): onto its lane (lwork.c). */
TKL_INTERNAL void tkl_work_arrive(void *arrival);
/* Drops a reference to w; the last one frees it (lwork.c). */
TKL_INTERNAL void tkl_work_unref(tkl_work *w);

/* lrunner.c: sets up w's queue and runners; w owns the name. */
TKL_INTERNAL void tkl_work_runners_init(tkl_work *w, tk_pool_t *pool,
                                        int priority, char *name);
/* Appends a call (a task with its arrival's t_submit set) to w's queue,
** for a runner, starting one if fewer than one per worker take calls. */
TKL_INTERNAL void tkl_work_push(tkl_work *w, tkl_task *t);

#endif
