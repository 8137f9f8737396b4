/*
** pool_layout.h - the pool's layout and what its files share: pool.c
** (lifecycle), pool_ready.c (the ready queue, parking and the lists kept
** under the mutex), pool_worker.c (the worker loop, suspension, blocking
** regions), pool_submit.c (the submit paths) and pool_metrics.c. Private
** to those files.
**
** Submitters hand tasks over through a lock-free inbox (inbox.c) and never
** take the pool mutex on the common path; whoever holds the mutex first
** moves the inbox into the ready queue (readyq.c), which orders tasks by
** priority. Workers that find no work poll briefly (at most half the CPUs
** at once, so they do not starve submitters) and then sleep, each on its
** own condvar (so a resumed job can wake the one worker it belongs to); a
** submitter wakes a sleeper only when the polling workers cannot absorb
** the backlog.
**
** A task that must block its worker says so (tk_pool_block_begin): while
** it blocks, a spare thread takes jobs in its place, so that a pool whose
** workers all wait for work still queued does not starve. Spares are made
** on demand, at most max_spares, and retire, parked, once the workers they
** stood in for are back; they exit with the pool.
**
** The mutex guards the ready queue, the held list and the fields marked
** "mu". Lock order: pool mu, then park buckets (job.c, token.c); nothing
** here calls into a job or token while holding mu except state reads.
** See LICENSE for copyright and licence.
*/
#ifndef TK_POOL_LAYOUT_H
#define TK_POOL_LAYOUT_H

#include <pthread.h>

#include "inbox.h"
#include "job.h"
#include "park.h"
#include "pool.h"
#include "readyq.h"

#define TK__HIST 48              /* buckets of log2(ns): up to ~3 days */

typedef struct worker {
  _Alignas(TK_CACHELINE) tk_pool_t *pool;
  pthread_t thread;
  int index;
  int started;                   /* thread was created */
  void *data;                    /* from the init hook */
  pthread_cond_t cv;             /* it sleeps here, alone */
  int parked;                    /* mu: on the pool's parked stack */
  struct worker *park_next;      /* mu */
  tk_job_t *resume_head, *resume_tail;  /* mu: its suspended jobs to run */
  /* Spares (index >= nworkers): made by tk_pool_block_begin. mu: */
  int spare;
  int starting;                  /* its thread is being created */
  int retired;                   /* parked apart: the pool has enough */
  int dead;                      /* its worker_init failed: never used */
  /* This thread's own. */
  int block_depth;               /* nested blocking regions */
  int block_rc;                  /* the outermost region's answer */
  /* Written by this worker only; read by metrics. */
  atomic_uint_least64_t completed, failed, cancelled, ran;
  atomic_uint_least64_t exec_ns, wait_ns;
  atomic_uint_least64_t calls_taken;  /* see tk__pool_count_taken */
  /* log2(ns) histograms of execution time and queue wait. */
  atomic_uint_least64_t hist_exec[TK__HIST], hist_wait[TK__HIST];
} worker;

struct tk_pool {
  /* Hot, guarded by mu: kept together so a pop touches few lines. */
  pthread_mutex_t mu;
  tk__readyq q;
  int busy;                      /* workers running a task */
  int suspended;                 /* jobs parked by TK_SUSPEND */
  struct worker *parked;         /* stack of sleeping workers */
  int space_waiters;             /* bounded submitters waiting for room */
  int idle_waiters;              /* threads in wait_all or free */
  int paused, closed, drained;   /* closed: no lock-free submit can land */
  int cancel_all;                /* shutdown(cancel_pending) was called */
  atomic_int cancelling;         /* cancel_all, read without mu */
  uint64_t submitted;
  /* Queued or held, not yet started. Signed: a job cancelled while an
  ** earlier inbox slot is still being written is uncounted before it is
  ** counted; the sum is right whenever the inbox is empty. */
  int64_t pending;
  uint64_t peak_pending;
  int nworkers;
  uint64_t born;                 /* tk__now_ns() at creation */
  int max_spinners;              /* half the CPUs, at least one */
  size_t capacity;
  int block_on_full;
  /* Read by submitters and pollers without the lock; written under mu,
  ** rarely, and on a line of their own so that reading them does not pull
  ** the mutex's line away from the workers. */
  _Alignas(TK_CACHELINE) atomic_int sleepers, spinning;  /* asleep/polling */
  atomic_int nonempty;           /* the ready queue has tasks */
  atomic_int stopping;           /* submits fail from now on */
  tk__inbox inbox;
  /* Cold. */
  _Alignas(TK_CACHELINE) pthread_cond_t space_cv;  /* bounded submitters
                                                     wait for room */
  pthread_cond_t idle_cv;        /* wait_all: nothing pending or running */
  pthread_cond_t state_cv;       /* start-up, resume, worker exits */
  int ready, exited;             /* mu: workers up / gone */
  int joining;                   /* mu: a thread joins (or joined) them */
  int init_rc;                   /* mu: first failing worker_init */
  uint64_t cancelled;            /* mu: cancelled without a worker */
  tk_job_t *held;                /* mu: jobs waiting for dependencies */
  tk_job_t *susp_list;           /* mu: suspended jobs */
  tk__pool_hook *hooks;          /* mu: attached (schedules) */
  uint64_t nhooks;               /* mu */
  /* Runner jobs (tk__pool_submit_quiet) run calls that count as jobs of
  ** their own; they themselves stay out of the metrics. mu: */
  uint64_t quiet_submitted;
  int64_t quiet_pending;
  uint64_t calls_dropped;        /* mu: calls cancelled before a worker */
  /* Blocking regions and spares. mu: */
  int blocked;                   /* threads in a region */
  int active_spares;             /* spares made and not retired */
  int max_spares;
  int nthreads;                  /* threads started: workers and spares */
  struct worker **spares;        /* max_spares slots, made on first need */
  /* Calls of queues, for runner jobs (by one pushing thread at a time). */
  _Alignas(TK_CACHELINE) atomic_uint_least64_t calls_submitted;
  atomic_int has_timer;          /* holds a timer use (set under mu) */
  worker *workers;
  char name[32];
  tk_worker_init_fn init;
  tk_worker_fini_fn fini;
  void *data;
};

/* Worker i: one of the pool's own, or a spare (mu, for a spare). */
static inline worker *tk__pool_worker_at(tk_pool_t *pool, int i) {
  return i < pool->nworkers ? &pool->workers[i]
                            : pool->spares[i - pool->nworkers];
}

/* Every thread's slot made so far, spares included (mu). */
static inline int tk__pool_nslots(const tk_pool_t *pool) {
  int n = pool->nworkers;
  for (int i = 0; pool->spares != NULL && i < pool->max_spares; i++)
    if (pool->spares[i] != NULL) n = pool->nworkers + i + 1;
  return n;
}

/* Increments a counter that only the calling thread writes. */
static inline void tk__pool_bump(atomic_uint_least64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

static inline void tk__pool_set_atomic(atomic_int *a, int v) {
  atomic_store_explicit(a, v, memory_order_seq_cst);
}

/* With mu held: the count of sleeping workers moves by d (pollers read it
** without mu). */
static inline void tk__pool_add_sleepers(tk_pool_t *pool, int d) {
  tk__pool_set_atomic(
      &pool->sleepers,
      atomic_load_explicit(&pool->sleepers, memory_order_relaxed) + d);
}

static inline void tk__pool_unlock(tk_pool_t *pool) {
  pthread_mutex_unlock(&pool->mu);
}

/* Held jobs always have an extension (made at submit for their `after`). */
static inline tk__job_ext *tk__pool_ext(tk_job_t *job) {
  return tk__job_ext_peek(job);
}

static inline int tk__pool_is_runner(tk_job_t *job) {
  tk__job_ext *x = tk__job_ext_peek(job);
  return x != NULL && x->runner;
}

/* With mu held: mirrors whether the ready queue has tasks, for pollers. */
static inline void tk__pool_note_queue(tk_pool_t *pool) {
  int ne = pool->q.total > 0;
  if (atomic_load_explicit(&pool->nonempty, memory_order_relaxed) != ne)
    atomic_store_explicit(&pool->nonempty, ne, memory_order_relaxed);
}

/* With mu held: moves what submitters left in the inbox into the ready
** queue, counting it as submitted and pending. If the queue cannot grow
** (out of memory) the rest stays in the inbox for a later try. */
static inline void tk__pool_drain(tk_pool_t *pool) {
  int prio;
  tk__task t;
  size_t n = 0;
  for (;;) {
    size_t pos = atomic_load_explicit(&pool->inbox.head, memory_order_relaxed);
    tk__slot *s = &pool->inbox.slots[pos & (TK__INBOX_SLOTS - 1)];
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != pos + 1) break;
    TK_HG_ACQUIRE(s);
    if (tk__readyq_reserve(&pool->q, s->prio, 1) != 0) break;
    tk__inbox_pop(&pool->inbox, &prio, &t);
    tk__readyq_push(&pool->q, prio, &t);  /* cannot fail: reserved */
    n++;
  }
  if (n == 0) return;
  pool->submitted += n;
  pool->pending += (int64_t)n;
  if (pool->pending > (int64_t)pool->peak_pending)
    pool->peak_pending = (uint64_t)pool->pending;
  tk__pool_note_queue(pool);
}

/* Takes mu (not held before) and drains. */
static inline void tk__pool_lock(tk_pool_t *pool) {
  pthread_mutex_lock(&pool->mu);
  tk__pool_drain(pool);
}

/* With mu held: wakes wait_all (and free) once nothing is pending or
** running. Every path that ends a job passes here under mu. */
static inline void tk__pool_check_idle(tk_pool_t *pool) {
  if (pool->idle_waiters > 0 && pool->pending == 0 && pool->busy == 0 &&
      pool->suspended == 0 && tk__inbox_count(&pool->inbox) == 0)
    pthread_cond_broadcast(&pool->idle_cv);
}

/* With mu held: wakes w if it is parked. */
static inline void tk__pool_unpark(tk_pool_t *pool, worker *w) {
  if (!w->parked) return;
  worker **pp = &pool->parked;
  while (*pp != w) pp = &(*pp)->park_next;
  *pp = w->park_next;
  w->parked = 0;
  tk__pool_add_sleepers(pool, -1);
  pthread_cond_signal(&w->cv);
}

/* With mu held: wakes a sleeper if the polling workers cannot take every
** queued task next. */
static inline void tk__pool_wake_locked(tk_pool_t *pool) {
  int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
  if (pool->parked != NULL && !pool->paused &&
      pool->q.total + tk__inbox_count(&pool->inbox) > (size_t)spinning)
    tk__pool_unpark(pool, pool->parked);
}

/* The pool whose worker (or spare) this thread is, or NULL. */
TK_INTERNAL tk_pool_t *tk__pool_of_thread(void);

/* pool_ready.c: with mu held unless said otherwise. */
TK_INTERNAL void tk__pool_unpark_all(tk_pool_t *pool);
TK_INTERNAL void tk__pool_held_push(tk_pool_t *pool, tk_job_t *job);
TK_INTERNAL tk_job_t *tk__pool_held_take_all(tk_pool_t *pool);
/* Without mu: cancels a list tk__pool_held_take_all made. */
TK_INTERNAL void tk__pool_cancel_list(tk_job_t *list, const char *why);
TK_INTERNAL int tk__pool_push_locked(tk_pool_t *pool, int prio,
                                     const tk__task *t);
TK_INTERNAL void tk__pool_resume_push(tk_pool_t *pool, worker *w,
                                      tk_job_t *job);
TK_INTERNAL void tk__pool_susp_link(tk_pool_t *pool, tk_job_t *job);
TK_INTERNAL void tk__pool_susp_unlink(tk_pool_t *pool, tk_job_t *job);
/* What jobs ask of their pool (tk__job_set_pool_ops). */
TK_INTERNAL extern const tk__pool_ops tk__pool_job_ops;

/* pool_worker.c */
TK_INTERNAL void *tk__pool_worker_main(void *arg);
/* Without mu: ends a queued task that a cancelling shutdown caught. */
TK_INTERNAL void tk__pool_cancel_queued(tk_pool_t *pool, tk__task *t);
TK_INTERNAL void tk__pool_wake_retired(tk_pool_t *pool);
TK_INTERNAL void tk__pool_declare_counters(worker *w);

#endif
