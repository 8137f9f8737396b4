/*
** pool.c - worker threads draining one ready queue.
** See LICENSE for copyright and licence.
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
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "inbox.h"
#include "job.h"
#include "park.h"
#include "pool.h"
#include "readyq.h"

#define MAX_WORKERS 4096
#define TK__HIST 48              /* buckets of log2(ns): up to ~3 days */
#define MAX_CAPACITY ((size_t)1 << 40)
#ifndef SPIN_ROUNDS
/* Rounds of 32 pauses before sleeping: about 7 us where a pause takes 22
** ns. Longer polls spent the CPU that the submitter needed on a busy
** machine: 100 rounds, while pool:work's submitter handed out results,
** had workers poll for 70 us at a time, and their CPU per call was some
** 10 % higher than with 10 (5 paired runs). */
#define SPIN_ROUNDS 10
#endif

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
  _Alignas(TK_CACHELINE) pthread_cond_t space_cv;       /* bounded submitters wait for room */
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
  /* Quiet jobs (tk__pool_submit_quiet) run calls that count as jobs of
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
  /* Calls handed to quiet jobs (by one submitting thread at a time). */
  _Alignas(TK_CACHELINE) atomic_uint_least64_t calls_submitted;
  atomic_int has_timer;          /* holds a timer use (set under mu) */
  worker *workers;
  char name[32];
  tk_worker_init_fn init;
  tk_worker_fini_fn fini;
  void *data;
};

static _Thread_local worker *self;

/* Worker i: one of the pool's own, or a spare (mu, for a spare). */
static worker *worker_at(tk_pool_t *pool, int i) {
  return i < pool->nworkers ? &pool->workers[i]
                            : pool->spares[i - pool->nworkers];
}

/* Every thread's slot made so far, spares included (mu). */
static int nslots(const tk_pool_t *pool) {
  int n = pool->nworkers;
  for (int i = 0; pool->spares != NULL && i < pool->max_spares; i++)
    if (pool->spares[i] != NULL) n = pool->nworkers + i + 1;
  return n;
}

/* Increments a counter that only the calling thread writes. */
static void bump(atomic_uint_least64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

/* {====================================================== locking */

/* With mu held: mirrors whether the ready queue has tasks, for pollers. */
static void note_queue(tk_pool_t *pool) {
  int ne = pool->q.total > 0;
  if (atomic_load_explicit(&pool->nonempty, memory_order_relaxed) != ne)
    atomic_store_explicit(&pool->nonempty, ne, memory_order_relaxed);
}

/* With mu held: moves what submitters left in the inbox into the ready
** queue, counting it as submitted and pending. If the queue cannot grow
** (out of memory) the rest stays in the inbox for a later try. */
static void drain(tk_pool_t *pool) {
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
  note_queue(pool);
}

static void lock(tk_pool_t *pool) {
  pthread_mutex_lock(&pool->mu);
  drain(pool);
}

static void unlock(tk_pool_t *pool) { pthread_mutex_unlock(&pool->mu); }

static void set_atomic(atomic_int *a, int v) {
  atomic_store_explicit(a, v, memory_order_seq_cst);
}

/* With mu held: wakes wait_all (and free) once nothing is pending or
** running. Every path that ends a job passes here under mu. */
static void check_idle(tk_pool_t *pool) {
  if (pool->idle_waiters > 0 && pool->pending == 0 && pool->busy == 0 &&
      pool->suspended == 0 && tk__inbox_count(&pool->inbox) == 0)
    pthread_cond_broadcast(&pool->idle_cv);
}

/* {====================================================== parking */

/* With mu held: w sleeps until unparked (or a spurious wake-up). The
** caller re-checks its reasons to sleep first. */
static void park(tk_pool_t *pool, worker *w) {
  w->parked = 1;
  w->park_next = pool->parked;
  pool->parked = w;
  pthread_cond_wait(&w->cv, &pool->mu);
  if (w->parked) {  /* spurious: take ourselves off the stack */
    worker **pp = &pool->parked;
    while (*pp != w) pp = &(*pp)->park_next;
    *pp = w->park_next;
    w->parked = 0;
    set_atomic(&pool->sleepers,
               atomic_load_explicit(&pool->sleepers, memory_order_relaxed) - 1);
  }
}

/* With mu held: wakes w if it is parked. */
static void unpark(tk_pool_t *pool, worker *w) {
  if (!w->parked) return;
  worker **pp = &pool->parked;
  while (*pp != w) pp = &(*pp)->park_next;
  *pp = w->park_next;
  w->parked = 0;
  set_atomic(&pool->sleepers,
             atomic_load_explicit(&pool->sleepers, memory_order_relaxed) - 1);
  pthread_cond_signal(&w->cv);
}

static void unpark_all(tk_pool_t *pool) {
  while (pool->parked != NULL) unpark(pool, pool->parked);
}

/* }====================================================== */

/* With mu held: wakes a sleeper if the polling workers cannot take every
** queued task next. */
static void wake_locked(tk_pool_t *pool) {
  int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
  if (pool->parked != NULL && !pool->paused &&
      pool->q.total + tk__inbox_count(&pool->inbox) > (size_t)spinning)
    unpark(pool, pool->parked);
}
/* After a lock-free push: the same decision, taking the lock only to
** signal. The seq_cst load pairs with the worker's announce-then-check. */
static void wake_after_push(tk_pool_t *pool) {
  if (atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) == 0) return;
  int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
  if (tk__inbox_count(&pool->inbox) <= (size_t)spinning) return;
  pthread_mutex_lock(&pool->mu);
  wake_locked(pool);
  pthread_mutex_unlock(&pool->mu);
}

/* }====================================================== */

/* {====================================================== held list */

/* Held jobs always have an extension (made at submit for their `after`). */
static tk__job_ext *X(tk_job_t *job) { return tk__job_ext_peek(job); }

static int is_runner(tk_job_t *job) {
  tk__job_ext *x = tk__job_ext_peek(job);
  return x != NULL && x->runner;
}

static void held_push(tk_pool_t *pool, tk_job_t *job) {
  X(job)->held_prev = NULL;
  X(job)->held_next = pool->held;
  if (pool->held) X(pool->held)->held_prev = job;
  pool->held = job;
}

static void held_unlink(tk_pool_t *pool, tk_job_t *job) {
  tk__job_ext *x = X(job);
  if (x->held_prev) X(x->held_prev)->held_next = x->held_next;
  else pool->held = x->held_next;
  if (x->held_next) X(x->held_next)->held_prev = x->held_prev;
  x->held_prev = x->held_next = NULL;
}

/* Whoever turns x->held from 1 to 0 owns the job's place on the list (and
** the reference it holds) and must unlink it under mu. */
static int held_claim(tk_job_t *job) {
  tk__job_ext *x = X(job);
  return x != NULL && atomic_exchange(&x->held, 0) == 1;
}

/* Detaches every claimable held job into a singly linked list (mu held). */
static tk_job_t *held_take_all(tk_pool_t *pool) {
  tk_job_t *out = NULL, *j = pool->held;
  while (j != NULL) {
    tk_job_t *next = X(j)->held_next;
    if (held_claim(j)) {
      held_unlink(pool, j);
      X(j)->held_next = out;
      out = j;
    }
    j = next;
  }
  return out;
}

static void cancel_list(tk_job_t *list, const char *why) {
  while (list != NULL) {
    tk_job_t *next = X(list)->held_next;
    X(list)->held_next = NULL;
    tk__job_cancel_pending(list, tk__strdup(why));
    tk_job_release(list);
    list = next;
  }
}

/* }====================================================== */

static void job_cancelled(tk_pool_t *pool, tk_job_t *job) {
  int owned = held_claim(job);
  lock(pool);  /* drains first, so the job is counted as pending */
  if (owned) held_unlink(pool, job);
  pool->pending--;
  if (is_runner(job)) pool->quiet_pending--;
  else pool->cancelled++;
  if (pool->space_waiters) pthread_cond_signal(&pool->space_cv);
  /* pending drops under mu: tk_pool_free waits on mu for zero, so it cannot
  ** free the pool under our feet. */
  check_idle(pool);
  unlock(pool);
  if (owned) tk_job_release(job);
}

/* With mu held (and drained): appends to the ready queue. */
static int push_locked(tk_pool_t *pool, int prio, const tk__task *t) {
  int rc = tk__readyq_push(&pool->q, prio, t);
  if (rc == 0) {
    note_queue(pool);
    wake_locked(pool);
  }
  return rc;
}

static void deps_ready(tk_pool_t *pool, tk_job_t *job) {
  if (!held_claim(job)) return;  /* being cancelled by someone else */
  lock(pool);
  held_unlink(pool, job);
  tk__task t = {NULL, NULL, job};  /* the held reference moves to the queue */
  int rc = pool->drained ? TK_ESHUTDOWN : push_locked(pool, job->priority, &t);
  unlock(pool);
  if (rc != 0) {
    tk__job_cancel_pending(job, tk__strdup(
        rc == TK_ESHUTDOWN ? "pool shut down before its dependencies finished"
                           : "not enough memory to queue the job"));
    tk_job_release(job);
  }
}

/* {====================================================== workers */

/* With mu held: queues a suspended job to run again on its worker. */
static void resume_push(tk_pool_t *pool, worker *w, tk_job_t *job) {
  X(job)->resume_next = NULL;
  if (w->resume_tail) X(w->resume_tail)->resume_next = job;
  else w->resume_head = job;
  w->resume_tail = job;
  unpark(pool, w);
  if (w->retired) pthread_cond_signal(&w->cv);  /* parked apart */
}

static void susp_link(tk_pool_t *pool, tk_job_t *job) {
  X(job)->susp_prev = NULL;
  X(job)->susp_next = pool->susp_list;
  if (pool->susp_list) X(pool->susp_list)->susp_prev = job;
  pool->susp_list = job;
}

static void susp_unlink(tk_pool_t *pool, tk_job_t *job) {
  tk__job_ext *x = X(job);
  if (x->susp_prev) X(x->susp_prev)->susp_next = x->susp_next;
  else pool->susp_list = x->susp_next;
  if (x->susp_next) X(x->susp_next)->susp_prev = x->susp_prev;
  x->susp_prev = x->susp_next = NULL;
}

/* The task returned TK_SUSPEND: park the job (keeping the queue's
** reference) unless a resume was asked for already. */
static void suspend(worker *w, tk_job_t *job) {
  tk_pool_t *pool = w->pool;
  tk__job_ext *x = tk__job_ext_get(job);
  if (x == NULL) {
    /* Cannot record where it waits: end it rather than lose it. */
    tk__job_abort(job, "not enough memory to suspend the task");
    if (!is_runner(job)) bump(&w->failed, 1);
    tk_job_release(job);
    return;
  }
  x->home = w->index;
  pthread_mutex_lock(&pool->mu);
  pool->suspended++;
  susp_link(pool, job);
  int expected = 0;
  if (!atomic_compare_exchange_strong(&x->susp, &expected, 1)) {
    atomic_store(&x->susp, 0);  /* resumed before it parked: run again */
    resume_push(pool, w, job);
  }
  /* A shutdown that cancels everything may have collected the suspended
  ** jobs before this one parked: it must not wait forever either. */
  int cancel = pool->cancel_all;
  pthread_mutex_unlock(&pool->mu);
  if (cancel) tk_token_cancel(&x->token);
}

int tk_job_resume(tk_job_t *job) {
  if (job == NULL) return TK_EINVAL;
  tk__job_ext *x = tk__job_ext_get(job);
  if (x == NULL) return TK_ENOMEM;
  for (;;) {
    if (atomic_load_explicit(&job->state, memory_order_acquire) !=
        TK_JOB_RUNNING)
      return TK_EINVAL;
    int s = atomic_load(&x->susp);
    if (s == 2) return 0;
    if (atomic_compare_exchange_weak(&x->susp, &s, s == 0 ? 2 : 0)) {
      if (s == 1) {
        tk_pool_t *pool = job->pool;
        pthread_mutex_lock(&pool->mu);
        resume_push(pool, worker_at(pool, x->home), job);
        pthread_mutex_unlock(&pool->mu);
      }
      return 0;
    }
  }
}

static int bucket(uint64_t ns) {
  int b = ns ? 63 - __builtin_clzll(ns) : 0;
  return b < TK__HIST ? b : TK__HIST - 1;
}

/* The q-quantile (0..1) of a histogram, as seconds: the geometric middle
** of the bucket it falls in. */
static double quantile(const uint64_t *h, uint64_t total, double q) {
  if (total == 0) return 0;
  uint64_t want = (uint64_t)((double)total * q), seen = 0;
  if (want >= total) want = total - 1;
  for (int b = 0; b < TK__HIST; b++) {
    seen += h[b];
    if (seen > want) return (double)(1ull << b) * 1.41421356 / 1e9;
  }
  return 0;
}

/* On worker w: a job (or a quiet job's call) ended in `state`; started 0
** when it never ran. */
static void count_end(worker *w, int state, uint64_t submitted,
                      uint64_t started, uint64_t finished) {
  bump(state == TK_JOB_COMPLETED ? &w->completed
       : state == TK_JOB_FAILED  ? &w->failed
                                 : &w->cancelled, 1);
  if (started == 0) return;
  bump(&w->ran, 1);
  bump(&w->exec_ns, finished - started);
  bump(&w->wait_ns, started - submitted);
  bump(&w->hist_exec[bucket(finished - started)], 1);
  bump(&w->hist_wait[bucket(started - submitted)], 1);
}

static void run_task(worker *w, tk__task *t, int resumed) {
  if (t->job == NULL) {
    ((tk_post_fn)t->fn)(t->arg, 0);
    bump(&w->completed, 1);
    return;
  }
  tk_job_t *job = t->job;
  int state = tk__job_run(job, resumed);
  if (state == TK__SUSPENDED) {
    suspend(w, job);
    return;
  }
  if (!is_runner(job))  /* a quiet job's calls counted themselves */
    count_end(w, state, job->t_submit,
              atomic_load_explicit(&job->t_start, memory_order_relaxed),
              job->t_finish);
  tk_job_release(job);
}
/* With mu held: pops the next task and moves it out of "pending". Returns
** 0 when the queue is empty, 1 for a task to run, 2 for a job that was
** cancelled while queued (its canceller counted it; the caller only drops
** the queue's reference, outside the lock). */
static int take(tk_pool_t *pool, tk__task *t) {
  if (!tk__readyq_pop(&pool->q, t)) return 0;
  note_queue(pool);
  if (t->job != NULL && !tk__job_start(t->job)) return 2;
  pool->pending--;
  if (t->job != NULL && is_runner(t->job)) pool->quiet_pending--;
  if (pool->space_waiters) pthread_cond_signal(&pool->space_cv);
  return 1;
}

/* Without mu: ends a queued task that a cancelling shutdown caught. */
static void cancel_queued(tk_pool_t *pool, tk__task *t) {
  if (t->job != NULL) {
    tk__job_cancel_pending(t->job, tk__strdup("pool shut down"));
    tk_job_release(t->job);
    return;
  }
  ((tk_post_fn)t->fn)(t->arg, TK_ECANCELED);
  lock(pool);
  pool->pending--;
  pool->cancelled++;
  check_idle(pool);
  unlock(pool);
}

/* With mu held, when drain() left a filled slot at the inbox's head (the
** ready queue had no memory to grow): takes that task straight from the
** inbox, so accepted work runs, ahead of its priority, instead of
** stalling. Returns as take() does, or 3 for a task a cancelling
** shutdown caught (the caller ends it with cancel_queued). */
static int take_from_inbox(tk_pool_t *pool, tk__task *t) {
  int prio;
  if (!tk__inbox_pop(&pool->inbox, &prio, t)) return 0;  /* being written */
  pool->submitted++;  /* what drain() would have counted */
  pool->pending++;
  if (pool->cancel_all) return 3;
  if (t->job != NULL && !tk__job_start(t->job)) return 2;
  pool->pending--;
  return 1;
}

/* Polls for work without the lock; returns when some may have arrived or
** after SPIN_ROUNDS. */
static void poll_for_work(tk_pool_t *pool) {
  for (int i = 0; i < SPIN_ROUNDS; i++) {
    if (atomic_load_explicit(&pool->nonempty, memory_order_relaxed) ||
        tk__inbox_count(&pool->inbox) > 0)
      return;
    for (int k = 0; k < 32; k++) tk__cpu_relax();
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  tk_pool_t *pool = w->pool;
  self = w;
  char name[16];
  snprintf(name, sizeof name, "%.10s-%d", pool->name, w->index);
  pthread_setname_np(pthread_self(), name);
  int rc = pool->init ? pool->init(pool->data, w->index, &w->data) : 0;

  pthread_mutex_lock(&pool->mu);
  if (rc != 0 && w->spare) {
    /* A spare that cannot serve: the pool goes on without it. */
    w->dead = 1;
    pool->active_spares--;
  } else if (rc != 0 && pool->init_rc == 0) {
    pool->init_rc = rc;
  }
  pool->ready++;
  pthread_cond_broadcast(&pool->state_cv);
  while (pool->paused && !pool->closed)
    pthread_cond_wait(&pool->state_cv, &pool->mu);

  tk_job_t *orphans = NULL;
  int polled = 0;                /* polled since the last task: sleep next */
  while (!w->dead) {
    if (w->resume_head != NULL) {
      /* Its own suspended jobs first: they already hold resources. */
      tk__task t = {NULL, NULL, w->resume_head};
      w->resume_head = X(t.job)->resume_next;
      if (w->resume_head == NULL) w->resume_tail = NULL;
      susp_unlink(pool, t.job);
      pool->suspended--;
      pool->busy++;
      unlock(pool);
      run_task(w, &t, 1);
      pthread_mutex_lock(&pool->mu);
      pool->busy--;
      check_idle(pool);
      polled = 0;
      continue;
    }
    if (w->spare && !w->retired && !pool->closed &&
        pool->active_spares > pool->blocked) {
      /* The workers it stood in for are back: it parks apart, there for
      ** its own suspended jobs and for the next worker that blocks. */
      w->retired = 1;
      pool->active_spares--;
      wake_locked(pool);  /* in case it was woken for queued work */
    }
    if (w->retired && !pool->closed) {
      pthread_cond_wait(&w->cv, &pool->mu);
      polled = 0;
      continue;
    }
    drain(pool);
    tk__task t;
    int got = 0;
    if (pool->cancel_all && tk__readyq_pop(&pool->q, &t)) {
      note_queue(pool);
      got = 3;
    } else {
      got = take(pool, &t);
    }
    if (got == 0 && tk__inbox_count(&pool->inbox) > 0)
      got = take_from_inbox(pool, &t);
    if (got == 3) {
      unlock(pool);
      cancel_queued(pool, &t);
      pthread_mutex_lock(&pool->mu);
      continue;
    }
    if (got == 2) {
      unlock(pool);
      tk_job_release(t.job);
      pthread_mutex_lock(&pool->mu);
      continue;
    }
    if (got == 1) {
      polled = 0;
      pool->busy++;
      if (pool->q.total > 0) wake_locked(pool);  /* more work: chain a wake */
      unlock(pool);
      run_task(w, &t, 0);
      pthread_mutex_lock(&pool->mu);
      pool->busy--;
      check_idle(pool);
      if (pool->closed && pool->busy == 0) unpark_all(pool);
      continue;
    }
    if (tk__inbox_count(&pool->inbox) > 0) {
      /* A submitter claimed a slot and is still writing it. */
      unlock(pool);
      sched_yield();
      pthread_mutex_lock(&pool->mu);
      continue;
    }
    if (pool->closed) {
      /* Running jobs may still queue their dependents, suspended ones
      ** still have to finish: exit only once nothing runs or waits. */
      if ((pool->busy == 0 && pool->suspended == 0) || pool->drained) {
        if (!pool->drained) {
          pool->drained = 1;
          orphans = held_take_all(pool);
          unpark_all(pool);
        }
        break;
      }
      set_atomic(&pool->sleepers,
                 atomic_load_explicit(&pool->sleepers, memory_order_relaxed) + 1);
      park(pool, w);
      continue;
    }
    int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
    if (!polled && spinning < pool->max_spinners) {
      polled = 1;
      set_atomic(&pool->spinning, spinning + 1);
      unlock(pool);
      poll_for_work(pool);
      pthread_mutex_lock(&pool->mu);
      set_atomic(&pool->spinning,
                 atomic_load_explicit(&pool->spinning, memory_order_relaxed) - 1);
      continue;  /* the loop drains and looks again before sleeping */
    }
    /* Announce, then look once more: a submitter pushes, then reads
    ** sleepers; one of the two sees the other. */
    set_atomic(&pool->sleepers,
               atomic_load_explicit(&pool->sleepers, memory_order_relaxed) + 1);
    if (tk__inbox_count(&pool->inbox) == 0 && pool->q.total == 0 &&
        !pool->closed && w->resume_head == NULL)
      park(pool, w);
    else
      set_atomic(&pool->sleepers,
                 atomic_load_explicit(&pool->sleepers, memory_order_relaxed) - 1);
    polled = 0;
  }
  unlock(pool);
  cancel_list(orphans, "pool shut down before its dependencies finished");
  if (pool->fini) pool->fini(pool->data, w->index, w->data);
  pthread_mutex_lock(&pool->mu);
  pool->exited++;
  pthread_cond_broadcast(&pool->state_cv);
  pthread_mutex_unlock(&pool->mu);
  return NULL;
}

/* }====================================================== */

/* {====================================================== blocking regions */

/* The counters metrics reads while the worker writes them (helgrind). */
static void declare_counters(worker *w) {
  (void)w;
  TK_HG_ATOMIC(&w->completed);
  TK_HG_ATOMIC(&w->failed);
  TK_HG_ATOMIC(&w->cancelled);
  TK_HG_ATOMIC(&w->ran);
  TK_HG_ATOMIC(&w->exec_ns);
  TK_HG_ATOMIC(&w->wait_ns);
  TK_HG_ATOMIC(&w->hist_exec);
  TK_HG_ATOMIC(&w->hist_wait);
}

#define DEFAULT_MAX_SPARES 64

/* With mu held: one more spare takes jobs. A retired one comes back (NULL
** is returned), else a new one is reserved and returned, for the caller
** to start once mu is released; NULL too when max_spares are made or
** there is no memory for one. */
static worker *add_spare(tk_pool_t *pool) {
  if (pool->max_spares == 0) return NULL;
  if (pool->spares == NULL) {
    pool->spares = tk__calloc((size_t)pool->max_spares, sizeof *pool->spares);
    if (pool->spares == NULL) return NULL;
  }
  for (int i = 0; i < pool->max_spares; i++) {
    worker *s = pool->spares[i];
    if (s != NULL && s->retired) {
      s->retired = 0;
      pool->active_spares++;
      pthread_cond_signal(&s->cv);
      return NULL;
    }
  }
  for (int i = 0; i < pool->max_spares; i++) {
    worker *s = pool->spares[i];
    if (s != NULL && (s->started || s->starting)) continue;
    if (s == NULL) {  /* a slot's first spare: kept until the pool goes */
      s = tk__calloc(1, sizeof *s);
      if (s == NULL) return NULL;
      if (tk__cond_init(&s->cv) != 0) {
        tk__free(s);
        return NULL;
      }
      s->pool = pool;
      s->index = pool->nworkers + i;
      s->spare = 1;
      declare_counters(s);
      pool->spares[i] = s;
    }
    s->starting = 1;
    pool->active_spares++;
    pool->nthreads++;
    return s;
  }
  return NULL;
}

/* Starts the thread of a spare add_spare reserved (mu not held). Returns
** 0, or TK_ESYS (the slot is free again). */
static int start_spare(tk_pool_t *pool, worker *s) {
  int rc = pthread_create(&s->thread, NULL, worker_main, s);
  pthread_mutex_lock(&pool->mu);
  s->starting = 0;
  if (rc == 0) {
    s->started = 1;
  } else {  /* the slot stays free for a later try */
    pool->active_spares--;
    pool->nthreads--;
    pthread_cond_broadcast(&pool->state_cv);
  }
  pthread_mutex_unlock(&pool->mu);
  return rc == 0 ? 0 : TK_ESYS;
}

int tk_pool_block_begin(void) {
  worker *w = self;
  if (w == NULL) return 0;
  if (w->block_depth++ > 0) return w->block_rc;
  tk_pool_t *pool = w->pool;
  worker *fresh = NULL;
  pthread_mutex_lock(&pool->mu);
  pool->blocked++;
  /* A spare for each blocked thread: as many take jobs as `workers`. */
  if (pool->active_spares < pool->blocked && !pool->drained)
    fresh = add_spare(pool);
  /* Threads left to take jobs, counting one just reserved. */
  int left = pool->nworkers + pool->active_spares - pool->blocked;
  pthread_mutex_unlock(&pool->mu);
  if (fresh != NULL && start_spare(pool, fresh) != 0) left--;
  w->block_rc = left > 0 ? 0 : TK_EBUSY;
  return w->block_rc;
}

void tk_pool_block_end(void) {
  worker *w = self;
  if (w == NULL || w->block_depth == 0 || --w->block_depth > 0) return;
  tk_pool_t *pool = w->pool;
  pthread_mutex_lock(&pool->mu);
  pool->blocked--;
  /* A spare too many retires when it next looks: now, if one sleeps. */
  if (pool->active_spares > pool->blocked) {
    for (worker *p = pool->parked; p != NULL; p = p->park_next) {
      if (p->spare) {
        unpark(pool, p);
        break;
      }
    }
  }
  pthread_mutex_unlock(&pool->mu);
}

/* Wakes the retired spares (mu held): the pool is closing. */
static void wake_retired(tk_pool_t *pool) {
  for (int i = 0; pool->spares != NULL && i < pool->max_spares; i++)
    if (pool->spares[i] != NULL && pool->spares[i]->retired)
      pthread_cond_signal(&pool->spares[i]->cv);
}

/* }====================================================== */

/* {====================================================== lifecycle */

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

static void destroy(tk_pool_t *pool) {
  if (atomic_load(&pool->has_timer)) tk__timer_release();
  tk__readyq_free(&pool->q);
  for (int i = 0; i < pool->nworkers; i++)
    pthread_cond_destroy(&pool->workers[i].cv);
  for (int i = 0; pool->spares != NULL && i < pool->max_spares; i++) {
    if (pool->spares[i] == NULL) continue;
    pthread_cond_destroy(&pool->spares[i]->cv);
    tk__free(pool->spares[i]);
  }
  tk__free(pool->spares);
  pthread_cond_destroy(&pool->space_cv);
  pthread_cond_destroy(&pool->idle_cv);
  pthread_cond_destroy(&pool->state_cv);
  pthread_mutex_destroy(&pool->mu);
  tk__free(pool->workers);
  tk__free(pool);
}

/* Joins every thread started, spares too (no spare starts once the pool
** has drained, and the task that starts one waits for it to start). */
static void join_started(tk_pool_t *pool) {
  int n = nslots(pool);
  for (int i = 0; i < n; i++) {
    worker *w = worker_at(pool, i);
    if (w != NULL && w->started) pthread_join(w->thread, NULL);
  }
}

/* The pool's condvars, then each worker's, by number. */
static pthread_cond_t *nth_cond(tk_pool_t *pool, size_t i) {
  pthread_cond_t *own[] = {&pool->space_cv, &pool->idle_cv, &pool->state_cv};
  return i < 3 ? own[i] : &pool->workers[i - 3].cv;
}

/* Creates mu (adaptive: critical sections are a few dozen instructions, so
** a contended lock is better spun on briefly than slept on) and the
** condvars. Returns 0 or TK_ESYS with nothing left to undo. */
static int init_sync(tk_pool_t *pool) {
  pthread_mutexattr_t ma;
  if (pthread_mutexattr_init(&ma) != 0) return TK_ESYS;
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
  int rc = pthread_mutex_init(&pool->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  if (rc != 0) return TK_ESYS;
  size_t ncv = 3 + (size_t)pool->nworkers;
  for (size_t i = 0; i < ncv; i++) {
    if (tk__cond_init(nth_cond(pool, i)) != 0) {
      while (i-- > 0) pthread_cond_destroy(nth_cond(pool, i));
      pthread_mutex_destroy(&pool->mu);
      return TK_ESYS;
    }
  }
  return 0;
}

int tk_pool_new(const tk_pool_opts_t *opts, tk_pool_t **out) {
  static const tk_pool_opts_t defaults;
  if (out == NULL) return TK_EINVAL;
  *out = NULL;
  if (opts == NULL) opts = &defaults;
  if (opts->workers < 0 || opts->workers > MAX_WORKERS ||
      opts->capacity > MAX_CAPACITY)
    return TK_EINVAL;
  /* What jobs and waits below ask of pools (the same every time). */
  static const tk__pool_ops ops = {job_cancelled, deps_ready};
  tk__job_set_pool_ops(&ops);
  tk__set_block_hooks(tk_pool_block_begin, tk_pool_block_end);
  tk_pool_t *pool = tk__malloc(sizeof *pool);
  if (pool == NULL) return TK_ENOMEM;
  memset(pool, 0, offsetof(tk_pool_t, inbox));
  memset(&pool->space_cv, 0, sizeof *pool - offsetof(tk_pool_t, space_cv));
  pool->nworkers = opts->workers ? opts->workers : online_cpus();
  pool->workers = tk__calloc((size_t)pool->nworkers, sizeof *pool->workers);
  if (pool->workers == NULL) {
    tk__free(pool);
    return TK_ENOMEM;
  }
  int rc = init_sync(pool);
  if (rc != 0) {
    tk__free(pool->workers);
    tk__free(pool);
    return rc;
  }
  tk__readyq_init(&pool->q);
  tk__inbox_init(&pool->inbox);
  for (int i = 0; i < pool->nworkers; i++)  /* calloc zeroed them */
    declare_counters(&pool->workers[i]);
  tk__atomic_init(&pool->sleepers, 0);
  tk__atomic_init(&pool->spinning, 0);
  tk__atomic_init(&pool->nonempty, 0);
  tk__atomic_init(&pool->stopping, 0);
  tk__atomic_init(&pool->cancelling, 0);
  tk__atomic_init(&pool->has_timer, 0);
  pool->max_spinners = online_cpus() / 2 > 0 ? online_cpus() / 2 : 1;
  pool->capacity = opts->capacity;
  pool->born = tk__now_ns();
  pool->block_on_full = opts->block_on_full;
  pool->paused = opts->paused != 0;
  pool->max_spares = opts->max_spares < 0    ? 0
                     : opts->max_spares == 0 ? DEFAULT_MAX_SPARES
                     : opts->max_spares > MAX_WORKERS ? MAX_WORKERS
                                                      : opts->max_spares;
  snprintf(pool->name, sizeof pool->name, "%s", opts->name ? opts->name : "tk");
  pool->init = opts->worker_init;
  pool->fini = opts->worker_fini;
  pool->data = opts->data;

  for (int i = 0; i < pool->nworkers; i++) {
    worker *w = &pool->workers[i];
    w->pool = pool;
    w->index = i;
    int err = pthread_create(&w->thread, NULL, worker_main, w);
    if (err != 0) {
      rc = tk__sys_failed("pthread_create", err);
      break;
    }
    w->started = 1;
  }
  pthread_mutex_lock(&pool->mu);
  int started = 0;
  for (int i = 0; i < pool->nworkers; i++) started += pool->workers[i].started;
  pool->nthreads = started;
  while (pool->ready < started) pthread_cond_wait(&pool->state_cv, &pool->mu);
  if (rc == 0) rc = pool->init_rc;
  if (rc != 0) {
    pool->closed = 1;
    pthread_cond_broadcast(&pool->state_cv);
    unpark_all(pool);
  }
  pthread_mutex_unlock(&pool->mu);
  if (rc != 0) {
    join_started(pool);
    destroy(pool);
    return rc;
  }
  *out = pool;
  return 0;
}

static int on_own_worker(const tk_pool_t *pool) {
  return self != NULL && self->pool == pool;
}

int tk_pool_shutdown(tk_pool_t *pool, int wait, int cancel_pending) {
  if (pool == NULL) return TK_EINVAL;
  /* New submits fail from here on. A lock-free submit that claimed its
  ** inbox slot before the close still lands; the workers wait for it (see
  ** "still writing" in worker_main) before they may exit. */
  atomic_store(&pool->stopping, 1);
  tk__inbox_close(&pool->inbox);

  tk_job_t *held = NULL;
  tk__readyq drop;
  tk__readyq_init(&drop);
  lock(pool);
  pool->closed = 1;
  pool->paused = 0;
  if (cancel_pending) {
    /* The whole queue at once, with no memory needed: nothing queued can
    ** start from here. What lands later a worker cancels, not runs. */
    pool->cancel_all = 1;
    atomic_store(&pool->cancelling, 1);
    held = held_take_all(pool);
    drop = pool->q;
    tk__readyq_init(&pool->q);
    note_queue(pool);
  }
  /* No schedule fires into a closed pool. */
  tk__pool_hook *hooks = pool->hooks;
  pool->hooks = NULL;
  pool->nhooks = 0;
  /* Suspended jobs wait for something that may never come: cancel their
  ** tokens so that their waits end. */
  size_t nsusp = 0;
  tk_job_t **susp = NULL;
  if (cancel_pending && pool->suspended > 0 &&
      (susp = tk__malloc((size_t)pool->suspended * sizeof *susp)) != NULL) {
    for (tk_job_t *j = pool->susp_list; j != NULL; j = X(j)->susp_next) {
      tk_job_retain(j);
      susp[nsusp++] = j;
    }
  }
  unpark_all(pool);
  wake_retired(pool);
  pthread_cond_broadcast(&pool->state_cv);
  pthread_cond_broadcast(&pool->space_cv);
  unlock(pool);
  for (size_t i = 0; i < nsusp; i++) {
    tk_token_cancel(&X(susp[i])->token);
    tk_job_release(susp[i]);
  }
  tk__free(susp);
  while (hooks != NULL) {
    tk__pool_hook *next = hooks->next;
    hooks->at_shutdown(hooks);
    hooks = next;
  }

  for (tk__task t; tk__readyq_pop(&drop, &t);) cancel_queued(pool, &t);
  tk__readyq_free(&drop);
  cancel_list(held, "pool shut down");

  if (!wait) return 0;
  if (on_own_worker(pool)) return TK_EBUSY;
  pthread_mutex_lock(&pool->mu);
  while (pool->exited < pool->nthreads)
    pthread_cond_wait(&pool->state_cv, &pool->mu);
  int join = !pool->joining;
  pool->joining = 1;
  pthread_mutex_unlock(&pool->mu);
  /* The first waiter joins the workers, so that a pool shut down but not
  ** yet freed (its jobs still held) keeps no threads. */
  if (join) join_started(pool);
  return 0;
}

int tk_pool_free(tk_pool_t *pool) {
  if (pool == NULL) return 0;
  if (on_own_worker(pool)) return TK_EBUSY;
  tk_pool_shutdown(pool, 1, 0);  /* joins the workers, if nobody did */
  /* Cancellations running on other threads finish their accounting under
  ** mu; once nothing is pending nothing else touches the pool. */
  lock(pool);
  pool->idle_waiters++;
  while (pool->pending != 0 || pool->busy != 0 || pool->suspended != 0)
    pthread_cond_wait(&pool->idle_cv, &pool->mu);
  pool->idle_waiters--;
  unlock(pool);
  destroy(pool);
  return 0;
}

int tk_pool_resume(tk_pool_t *pool) {
  if (pool == NULL) return TK_EINVAL;
  lock(pool);
  pool->paused = 0;
  pthread_cond_broadcast(&pool->state_cv);
  unlock(pool);
  return 0;
}

/* }====================================================== */

/* {====================================================== submitting */

/* With mu held: waits until `n` more pending jobs fit (bounded pools). A
** worker that waits does so in a blocking region (*region set: the caller
** ends it once mu is released), so that a spare makes the room when the
** pool is its own; when no thread of its own pool is left to make room,
** it fails at once with TK_EBUSY instead. */
static int wait_for_room(tk_pool_t *pool, size_t n, double block_timeout,
                         int *region) {
  if (pool->capacity == 0) return 0;
  if (n > pool->capacity) return TK_EFULL;
  int block = block_timeout > 0 || (block_timeout == 0 && pool->block_on_full);
  uint64_t deadline = block_timeout > 0 ? tk__deadline(block_timeout)
                                        : UINT64_MAX;
  while ((uint64_t)pool->pending + n > pool->capacity) {
    if (!block) return TK_EFULL;
    if (pool->closed) return TK_ESHUTDOWN;
    if (self != NULL && !*region) {
      *region = 1;
      unlock(pool);  /* the region may be this pool's */
      int stuck = tk_pool_block_begin() == TK_EBUSY && self->pool == pool;
      lock(pool);
      if (stuck) return TK_EBUSY;
      continue;  /* look again: the room may have come meanwhile */
    }
    pool->space_waiters++;
    int rc = tk__cond_wait(&pool->space_cv, &pool->mu, deadline);
    pool->space_waiters--;
    drain(pool);
    if (rc == TK_ETIMEDOUT && (uint64_t)pool->pending + n > pool->capacity)
      return TK_ETIMEDOUT;
  }
  return pool->closed ? TK_ESHUTDOWN : 0;
}

/* With mu held: counts n accepted jobs. */
static void accepted(tk_pool_t *pool, size_t n) {
  pool->submitted += n;
  pool->pending += (int64_t)n;
  if (pool->pending > (int64_t)pool->peak_pending)
    pool->peak_pending = (uint64_t)pool->pending;
}

/* The common path: an unbounded, running pool takes the task through the
** inbox without its mutex. Returns TK_EBUSY when the caller must use the
** locked path (bounded pool, inbox full), TK_ESHUTDOWN after shutdown. */
static int push_lock_free(tk_pool_t *pool, int prio, const tk__task *t) {
  if (pool->capacity != 0) return TK_EBUSY;
  int rc = tk__inbox_push(&pool->inbox, prio, t);
  if (rc == 0) wake_after_push(pool);
  return rc == TK_EFULL ? TK_EBUSY : rc;
}

/* The locked path for one task; `held` parks a job on the held list
** instead of queueing it. */
static int push_slow(tk_pool_t *pool, int prio, const tk__task *t,
                     double block_timeout, int held) {
  int region = 0;
  lock(pool);
  int rc = pool->closed || atomic_load(&pool->stopping)
               ? TK_ESHUTDOWN
               : wait_for_room(pool, 1, block_timeout, &region);
  if (rc == 0 && held) held_push(pool, t->job);
  else if (rc == 0) rc = push_locked(pool, prio, t);
  if (rc == 0) accepted(pool, 1);
  if (rc == 0 && t->job != NULL && is_runner(t->job)) {
    pool->quiet_submitted++;
    pool->quiet_pending++;
  }
  unlock(pool);
  if (region) tk_pool_block_end();
  return rc;
}


int tk__pool_attach(tk_pool_t *pool, tk__pool_hook *h) {
  pthread_mutex_lock(&pool->mu);
  int rc = pool->closed || atomic_load(&pool->stopping) ? TK_ESHUTDOWN : 0;
  if (rc == 0) {
    h->next = pool->hooks;
    pool->hooks = h;
    pool->nhooks++;
  }
  pthread_mutex_unlock(&pool->mu);
  return rc;
}

int tk__pool_detach(tk_pool_t *pool, tk__pool_hook *h) {
  int found = 0;
  pthread_mutex_lock(&pool->mu);
  for (tk__pool_hook **pp = &pool->hooks; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == h) {
      *pp = h->next;
      pool->nhooks--;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&pool->mu);
  return found;
}

static int ensure_timer(tk_pool_t *pool);
int tk__pool_timer(tk_pool_t *pool) { return ensure_timer(pool); }

static int ensure_timer(tk_pool_t *pool) {
  if (atomic_load(&pool->has_timer)) return 0;
  pthread_mutex_lock(&pool->mu);
  int rc = 0;
  if (!atomic_load(&pool->has_timer)) {
    rc = tk__timer_acquire();
    if (rc == 0) atomic_store(&pool->has_timer, 1);
  }
  pthread_mutex_unlock(&pool->mu);
  return rc;
}

/* tk_pool_submit, and tk_pool_submit_watched when watch is not NULL. */
static int submit(tk_pool_t *pool, const tk_job_opts_t *opts, tk_task_fn fn,
                  void *arg, tk_job_t **out, tk__dep_node *watch,
                  tk_cancel_fn on_finish, void *finish_arg, int silent) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || fn == NULL) return TK_EINVAL;
  size_t n_after = 0;
  if (opts != NULL) {
    if (opts->n_after > 0 && opts->after == NULL) return TK_EINVAL;
    if (!(opts->timeout >= 0)) return TK_EINVAL;
    for (size_t i = 0; i < opts->n_after; i++)
      if (opts->after[i] == NULL) return TK_EINVAL;
    n_after = opts->n_after;
    if (opts->timeout > 0) {
      int rc = ensure_timer(pool);
      if (rc != 0) return rc;
    }
  }
  /* References: the pool's, the caller's, and ours while linking to a
  ** token or to dependencies after the job is queued (it may have run and
  ** been released by then). */
  int gated = opts != NULL && opts->gated;
  int linking = opts != NULL && (opts->token != NULL || n_after > 0 || gated);
  tk_job_t *job;
  int rc = tk__job_new(pool, opts, fn, arg, 1 + (out != NULL) + linking, &job);
  if (rc != 0) return rc;
  if (out != NULL) *out = job;
  if (silent) {
    tk__job_ext *x = tk__job_ext_get(job);
    if (x == NULL) {
      if (out != NULL) *out = NULL;
      job->arg_free = NULL;
      atomic_store(&job->refs, 1);
      tk_job_release(job);
      return TK_ENOMEM;
    }
    x->runner = 1;
  }
  /* Before any worker sees the job: the push below publishes the node. */
  if (watch != NULL) tk__job_on_finish_kept(job, watch, on_finish, finish_arg);
  /* And its token's parent: a worker that starts the job before the link
  ** below must see a token cancelled before the submit (it ran, now and
  ** then, when only the link told it). */
  if (opts != NULL && opts->token != NULL)
    tk__token_set_parent(&X(job)->token, opts->token);

  tk__task t = {NULL, NULL, job};
  if (n_after > 0 || gated) {
    /* Waits on the held list until its dependencies end (and its gate
    ** opens); the +1 on deps_left keeps it there until every registration
    ** below is done. */
    atomic_store(&X(job)->held, 1);
    atomic_store(&X(job)->gate, gated);
    atomic_store(&X(job)->deps_left, n_after + 1 + (size_t)gated);
    rc = push_slow(pool, job->priority, &t, opts->block_timeout, 1);
    if (rc != 0) atomic_store(&X(job)->gate, 0);
  } else {
    /* Quiet jobs take the lock: they are few, and counted apart there. */
    rc = silent ? TK_EBUSY : push_lock_free(pool, job->priority, &t);
    if (rc == TK_EBUSY)
      rc = push_slow(pool, job->priority, &t, opts ? opts->block_timeout : 0, 0);
  }
  if (rc != 0) {
    if (out != NULL) *out = NULL;
    job->arg_free = NULL;  /* a failed submit leaves arg to the caller */
    atomic_store(&job->refs, 1);
    tk_job_release(job);
    return rc;
  }
  if (!linking) return 0;

  if (opts->token != NULL && tk__token_link(&X(job)->token, opts->token))
    tk_token_cancel(&X(job)->token);
  for (size_t i = 0; i < n_after; i++) {
    int r = tk__job_add_dependent(opts->after[i], job, i);
    if (r == TK_EBUSY) {
      tk__job_dep_done(job, opts->after[i], i);
    } else if (r != 0) {
      /* Cannot wait for it: fail safe, never run without it. */
      char *none = NULL;
      char *why = tk__strdup("not enough memory to track a dependency");
      if (why && !atomic_compare_exchange_strong(&X(job)->dep_reason, &none,
                                                 why))
        tk__free(why);
      tk__job_dep_done(job, NULL, i);
    }
  }
  if (n_after > 0 || gated) tk__job_dep_done(job, NULL, 0);  /* the guard */
  tk_job_release(job);
  return 0;
}

int tk_pool_submit(tk_pool_t *pool, const tk_job_opts_t *opts, tk_task_fn fn,
                   void *arg, tk_job_t **out) {
  return submit(pool, opts, fn, arg, out, NULL, NULL, NULL, 0);
}

int tk_pool_submit_watched(tk_pool_t *pool, const tk_job_opts_t *opts,
                           tk_task_fn fn, void *arg, tk_job_t **out,
                           tk_job_watch_t *watch, tk_cancel_fn on_finish,
                           void *finish_arg) {
  if (watch == NULL || on_finish == NULL) {
    if (out != NULL) *out = NULL;
    return TK_EINVAL;
  }
  return submit(pool, opts, fn, arg, out, (tk__dep_node *)watch, on_finish,
                finish_arg, 0);
}

/* {====================================================== runner jobs */

int tk__pool_submit_quiet(tk_pool_t *pool, const tk_job_opts_t *opts,
                          tk_task_fn fn, void *arg) {
  return submit(pool, opts, fn, arg, NULL, NULL, NULL, NULL, 1);
}

void tk__pool_count_submitted(tk_pool_t *pool, uint64_t n) {
  atomic_fetch_add_explicit(&pool->calls_submitted, n, memory_order_relaxed);
}

void tk__pool_count_taken(void) {
  if (self != NULL) bump(&self->calls_taken, 1);
}

void tk__pool_count_run(int state, uint64_t submitted, uint64_t started,
                        uint64_t finished) {
  if (self != NULL) count_end(self, state, submitted, started, finished);
}

void tk__pool_count_dropped(tk_pool_t *pool, uint64_t n) {
  pthread_mutex_lock(&pool->mu);
  pool->calls_dropped += n;
  pool->cancelled += n;
  pthread_mutex_unlock(&pool->mu);
}

int tk__pool_cancelling(tk_pool_t *pool) {
  return atomic_load_explicit(&pool->cancelling, memory_order_relaxed);
}

int tk__pool_has_queued(tk_pool_t *pool) {
  return atomic_load_explicit(&pool->nonempty, memory_order_relaxed) ||
         tk__inbox_count(&pool->inbox) > 0;
}

/* }====================================================== */

int tk_pool_post_batch(tk_pool_t *pool, int priority, tk_post_fn fn,
                       void *const *args, size_t n) {
  if (pool == NULL || fn == NULL || (args == NULL && n > 0)) return TK_EINVAL;
  int region = 0;
  lock(pool);
  int rc = pool->closed || atomic_load(&pool->stopping)
               ? TK_ESHUTDOWN
               : wait_for_room(pool, n, 0, &region);
  if (rc == 0) rc = tk__readyq_reserve(&pool->q, priority, n);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      tk__task t = {(void *)fn, args[i], NULL};
      tk__readyq_push(&pool->q, priority, &t);  /* cannot fail: reserved */
    }
    note_queue(pool);
    accepted(pool, n);
    for (size_t i = 0; i < n && pool->parked != NULL && !pool->paused; i++)
      unpark(pool, pool->parked);
  }
  unlock(pool);
  if (region) tk_pool_block_end();
  return rc;
}

int tk_pool_post(tk_pool_t *pool, int priority, tk_post_fn fn, void *arg) {
  if (pool == NULL || fn == NULL) return TK_EINVAL;
  tk__task t = {(void *)fn, arg, NULL};
  int rc = push_lock_free(pool, priority, &t);
  if (rc == TK_EBUSY) rc = push_slow(pool, priority, &t, 0, 0);
  return rc;
}

/* }====================================================== */

/* {====================================================== observing */

int tk_pool_wait_all(tk_pool_t *pool, double timeout) {
  if (pool == NULL) return TK_EINVAL;
  if (on_own_worker(pool)) return TK_EBUSY;
  uint64_t deadline = tk__deadline(timeout);
  int rc = 0;
  /* On another pool's worker: a spare takes its place meanwhile. */
  int region = timeout != 0;
  if (region) tk_pool_block_begin();
  lock(pool);
  pool->idle_waiters++;
  while (pool->pending != 0 || pool->busy != 0 || pool->suspended != 0 ||
         tk__inbox_count(&pool->inbox) != 0) {
    if (tk__cond_wait(&pool->idle_cv, &pool->mu, deadline) == TK_ETIMEDOUT) {
      drain(pool);
      if (pool->pending != 0 || pool->busy != 0 || pool->suspended != 0) rc = TK_ETIMEDOUT;
      break;
    }
    drain(pool);
  }
  pool->idle_waiters--;
  unlock(pool);
  if (region) tk_pool_block_end();
  return rc;
}

int tk_pool_metrics(tk_pool_t *pool, tk_pool_metrics_t *m) {
  if (pool == NULL || m == NULL) return TK_EINVAL;
  memset(m, 0, sizeof *m);
  uint64_t exec_ns = 0, wait_ns = 0, ran = 0, taken = 0;
  lock(pool);
  uint64_t calls = atomic_load_explicit(&pool->calls_submitted,
                                        memory_order_relaxed);
  m->submitted = pool->submitted - pool->quiet_submitted + calls;
  m->peak_pending = pool->peak_pending;
  m->cancelled = pool->cancelled;
  m->schedules = pool->nhooks;
  uint64_t he[TK__HIST] = {0}, hw[TK__HIST] = {0};
  int n = nslots(pool);  /* spares count what they ran too */
  for (int i = 0; i < n; i++) {
    worker *w = worker_at(pool, i);
    for (int b = 0; w != NULL && b < TK__HIST; b++) {
      he[b] += atomic_load_explicit(&w->hist_exec[b], memory_order_relaxed);
      hw[b] += atomic_load_explicit(&w->hist_wait[b], memory_order_relaxed);
    }
  }
  m->uptime = (double)(tk__now_ns() - pool->born) / 1e9;
  for (int i = 0; i < n; i++) {
    worker *w = worker_at(pool, i);
    if (w == NULL) continue;
    m->completed += atomic_load_explicit(&w->completed, memory_order_relaxed);
    m->failed += atomic_load_explicit(&w->failed, memory_order_relaxed);
    m->cancelled += atomic_load_explicit(&w->cancelled, memory_order_relaxed);
    ran += atomic_load_explicit(&w->ran, memory_order_relaxed);
    exec_ns += atomic_load_explicit(&w->exec_ns, memory_order_relaxed);
    wait_ns += atomic_load_explicit(&w->wait_ns, memory_order_relaxed);
    taken += atomic_load_explicit(&w->calls_taken, memory_order_relaxed);
  }
  /* Calls not yet taken by a quiet job count as pending (taken is read
  ** after calls: a call is never taken before it is counted). */
  int64_t pending = pool->pending - pool->quiet_pending + (int64_t)calls -
                    (int64_t)pool->calls_dropped - (int64_t)taken;
  m->pending = pending > 0 ? (uint64_t)pending : 0;
  m->spares = pool->active_spares;
  unlock(pool);
  /* The counts are read one after another while jobs move on: a job may
  ** be counted final by its worker before it leaves `busy`, or before the
  ** drain that counts its submit. So a snapshot balances by construction:
  ** `running` is what is neither final nor pending, and no count exceeds
  ** what was submitted. At quiescence every count is exact. */
  uint64_t finals = m->completed + m->failed + m->cancelled;
  if (finals > m->submitted) m->submitted = finals;
  if (m->pending > m->submitted - finals) m->pending = m->submitted - finals;
  m->running = m->submitted - finals - m->pending;
  m->workers = pool->nworkers;
  m->total_execution_time = (double)exec_ns / 1e9;
  m->mean_execution_time = ran ? m->total_execution_time / (double)ran : 0;
  m->mean_queue_wait = ran ? (double)wait_ns / 1e9 / (double)ran : 0;
  m->p50_execution_time = quantile(he, ran, 0.5);
  m->p99_execution_time = quantile(he, ran, 0.99);
  m->p50_queue_wait = quantile(hw, ran, 0.5);
  m->p99_queue_wait = quantile(hw, ran, 0.99);
  return 0;
}

int tk_pool_is_shutdown(const tk_pool_t *pool) {
  return pool == NULL || atomic_load(&pool->stopping);
}

int tk_pool_workers(const tk_pool_t *pool) {
  return pool ? pool->nworkers : TK_EINVAL;
}

int tk_worker_index(void) { return self ? self->index : -1; }
const char *tk_pool_name(const tk_pool_t *pool) {
  return pool ? pool->name : NULL;
}
void *tk_worker_data(void) { return self ? self->data : NULL; }

/* }====================================================== */
