/*
** job.h - the job's layout and the transitions the pool drives.
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_JOB_H
#define TK_JOB_H

#include "timer.h"
#include "token.h"

/* Internal state between PENDING and CANCELLED while the canceller writes
** the error text; tk_job_state() reports it as PENDING. */
#define TK__JOB_CANCELLING 5

typedef struct tk__dep_node tk__dep_node;
struct tk__dep_node {
  tk__dep_node *next;
  tk_job_t *dependent;           /* holds a reference; NULL for a callback */
  size_t index;                  /* position in the dependent's `after` */
  tk_cancel_fn fn;               /* tk_job_on_finish callback */
  void *arg;
};
#define TK__DEPS_CLOSED ((tk__dep_node *)1)
/* The index of a callback node its caller keeps (tk__job_on_finish_kept). */
#define TK__NODE_KEPT ((size_t)-1)

/* Where a job that suspends (TK_SUSPEND) is: its task runs, or it is
** parked, or it was resumed while its task still ran (it runs again as
** soon as the task returns). */
enum { TK__SUSP_RUNNING, TK__SUSP_PARKED, TK__SUSP_RESUME_ASKED };

/* What only some jobs need (a name, a token, a timeout, dependencies):
** kept out of the job so the common job fits in two cache lines. */
typedef struct tk__job_ext {
  tk_token_t token;              /* the job's own token */
  char *name;                    /* owned, or NULL */
  double timeout;                /* seconds of running allowed, 0 = none */
  atomic_int timed_out;          /* the timeout fired */
  tk__timer_entry timer;         /* the timeout */
  atomic_size_t deps_left;       /* unfinished dependencies (+1 at submit) */
  _Atomic(char *) dep_reason;    /* first dependency that did not complete */
  tk_job_t *cascade_next;        /* on this thread's list of jobs to cancel */
  atomic_int held;               /* on the pool's held list (see pool.c) */
  tk_job_t *held_prev, *held_next;  /* pool mutex */
  /* Suspension (TK_SUSPEND): */
  atomic_int susp;               /* TK__SUSP_* */
  int home;                      /* index of the worker it is bound to */
  tk_job_t *resume_next;         /* on that worker's resume list (pool mu) */
  tk_job_t *susp_prev, *susp_next;  /* on the pool's suspended list (mu) */
  atomic_int gate;               /* 1 while a gate holds it (tk_job_open) */
  struct tk_group *group;        /* its group, or NULL (group.c's lock) */
  int runner;                    /* a runner job (pool.h); set before it
                                    is queued */
} tk__job_ext;

struct tk_job {
  atomic_int refs;
  atomic_int state;              /* tk_job_state_t or TK__JOB_CANCELLING */
  atomic_int waiters;            /* threads blocked in tk_job_wait */
  int priority;
  tk_pool_t *pool;               /* the pool that runs it (no reference) */
  tk_task_fn fn;
  void *arg;
  void (*arg_free)(void *);      /* called on arg when the job is freed */
  uint64_t t_submit, t_finish;   /* monotonic ns, 0 = not yet */
  _Atomic uint64_t t_start;      /* read while it runs, so atomic */
  char *error;                   /* owned; written before the final state */
  void *result;
  void (*result_free)(void *);
  _Atomic(tk__dep_node *) dependents;  /* or TK__DEPS_CLOSED once final */
  _Atomic(tk__job_ext *) ext;    /* NULL until needed; never changes after */
};

/* The job's extension, or NULL if it has none (yet). */
static inline tk__job_ext *tk__job_ext_peek(const tk_job_t *job) {
  tk__job_ext *x =
      atomic_load_explicit(&((tk_job_t *)job)->ext, memory_order_acquire);
  if (x != NULL) TK_HG_ACQUIRE((void *)&job->ext);
  return x;
}
/* The job's extension, created on first use; NULL only on ENOMEM. */
TK_INTERNAL tk__job_ext *tk__job_ext_get(tk_job_t *job);

/* What a job asks of its pool: the pool's half of the contract, handed
** down by the pool when it starts (tk__job_set_pool_ops), so that jobs
** call up into no pool file. */
typedef struct tk__pool_ops {
  /* Accounting for a PENDING job just cancelled (by anyone); takes it off
  ** the held list if it was there. The last touch of the pool. */
  void (*job_cancelled)(tk_pool_t *pool, tk_job_t *job);
  /* Every dependency of a held job completed: queue it (or cancel it if
  ** the pool's workers are gone). */
  void (*deps_ready)(tk_pool_t *pool, tk_job_t *job);
} tk__pool_ops;
TK_INTERNAL void tk__job_set_pool_ops(const tk__pool_ops *ops);

/* Allocates a PENDING job with `refs` references. */
TK_INTERNAL int tk__job_new(tk_pool_t *pool, const tk_job_opts_t *opts,
                            tk_task_fn fn, void *arg, int refs,
                            tk_job_t **out);
/* Worker side: PENDING -> RUNNING. Returns 0 if the job was cancelled
** first (then it must not run). */
TK_INTERNAL int tk__job_start(tk_job_t *job);
/* Worker side, after tk__job_start: runs the task (unless its token was
** cancelled meanwhile) and makes the job final. Returns the final state,
** or TK__SUSPENDED when the task returned TK_SUSPEND (the job stays
** RUNNING; `resumed` is 1 when it runs again after tk_job_resume). */
#define TK__SUSPENDED (-1)
TK_INTERNAL int tk__job_run(tk_job_t *job, int resumed);
/* RUNNING -> FAILED with `why`, for a task the pool cannot continue. */
TK_INTERNAL void tk__job_abort(tk_job_t *job, const char *why);
/* PENDING -> CANCELLED with `reason` (owned; NULL for the default text).
** Does the pool's accounting. Returns 0, or TK_EINVAL if not PENDING. */
TK_INTERNAL int tk__job_cancel_pending(tk_job_t *job, char *reason);
/* Registers `dependent` to hear when `job` ends. Returns 0, or TK_EBUSY if
** `job` is already final (the caller then calls tk__job_dep_done itself),
** or TK_ENOMEM. */
TK_INTERNAL int tk__job_add_dependent(tk_job_t *job, tk_job_t *dependent,
                                      size_t index);
/* One dependency of `job` ended (dep may be NULL for the submit guard). */
TK_INTERNAL void tk__job_dep_done(tk_job_t *job, tk_job_t *dep, size_t index);
/* tk_job_on_finish with a node the caller allocated (tk__malloc) before it
** could no longer back out: takes the node, cannot fail. */
TK_INTERNAL void tk__job_on_finish_node(tk_job_t *job, tk__dep_node *n,
                                        tk_cancel_fn fn, void *arg);
/* The same with a node that stays the caller's (the core never frees it):
** from the call of fn on, fn's owner may reuse it. No allocation per job
** for a caller that recycles its nodes (tk_pool_submit_watched). */
TK_INTERNAL void tk__job_on_finish_kept(tk_job_t *job, tk__dep_node *n,
                                        tk_cancel_fn fn, void *arg);
/* A caller's watch is a kept node (tk_pool_submit_watched). */
TK_STATIC_ASSERT(sizeof(tk__dep_node) <= sizeof(tk_job_watch_t));

#endif
