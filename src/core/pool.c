/*
** pool.c - worker threads draining one ready queue.
** See LICENSE for copyright and licence.
**
** One mutex guards the queue, the held list and the counters marked "mu".
** Workers that find the queue empty spin briefly (a burst of submits is
** then served without a futex wake-up) and then sleep on work_cv; submit
** signals only when someone sleeps and nobody spins.
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "park.h"
#include "pool.h"
#include "readyq.h"

#define MAX_WORKERS 4096
#define MAX_CAPACITY ((size_t)1 << 40)
#define SPIN_ROUNDS 200          /* about 20-50 us of polling before sleep */

typedef struct worker {
  _Alignas(TK_CACHELINE) tk_pool_t *pool;
  pthread_t thread;
  int index;
  int started;                   /* thread was created */
  void *data;                    /* from the init hook */
  /* Written by this worker only; read by metrics. */
  atomic_uint_least64_t completed, failed, cancelled, ran;
  atomic_uint_least64_t exec_ns, wait_ns;
} worker;

struct tk_pool {
  pthread_mutex_t mu;
  pthread_cond_t work_cv;        /* workers wait for work */
  pthread_cond_t space_cv;       /* bounded submitters wait for room */
  pthread_cond_t idle_cv;        /* wait_all waits for outstanding == 0 */
  pthread_cond_t state_cv;       /* start-up, resume, worker exits */
  tk__readyq q;                  /* mu */
  atomic_size_t queued;          /* copy of q.total for spinners */
  int sleepers, spinning, busy;  /* mu: workers asleep / polling / running */
  int space_waiters;             /* mu */
  int paused, stopping, drained; /* mu */
  int ready, exited;             /* mu: workers up / gone */
  int init_rc;                   /* mu: first failing worker_init */
  uint64_t submitted;            /* mu */
  uint64_t pending, peak_pending;/* mu: queued or held, not yet started */
  uint64_t cancelled;            /* mu: cancelled without a worker */
  atomic_long outstanding;       /* submitted and not yet final */
  atomic_int idle_waiters;
  tk_job_t *held;                /* mu: jobs waiting for dependencies */
  int has_timer;                 /* mu: holds a timer use */
  size_t capacity;
  int block_on_full;
  int nworkers;
  worker *workers;
  char name[16];
  tk_worker_init_fn init;
  tk_worker_fini_fn fini;
  void *data;
};

static _Thread_local worker *self;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* outstanding-- after a job became final; wakes wait_all at zero. */
static void done_one(tk_pool_t *pool) {
  if (atomic_fetch_sub(&pool->outstanding, 1) == 1 &&
      atomic_load(&pool->idle_waiters) > 0) {
    pthread_mutex_lock(&pool->mu);
    pthread_cond_broadcast(&pool->idle_cv);
    pthread_mutex_unlock(&pool->mu);
  }
}

/* {====================================================== held list */

static void held_push(tk_pool_t *pool, tk_job_t *job) {
  job->held_prev = NULL;
  job->held_next = pool->held;
  if (pool->held) pool->held->held_prev = job;
  pool->held = job;
}

static void held_unlink(tk_pool_t *pool, tk_job_t *job) {
  if (job->held_prev) job->held_prev->held_next = job->held_next;
  else pool->held = job->held_next;
  if (job->held_next) job->held_next->held_prev = job->held_prev;
  job->held_prev = job->held_next = NULL;
}

/* Whoever turns job->held from 1 to 0 owns the job's place on the list
** (and the reference it holds) and must unlink it under mu. */
static int held_claim(tk_job_t *job) {
  return atomic_exchange(&job->held, 0) == 1;
}

/* Detaches every claimable held job into a singly linked list (mu held). */
static tk_job_t *held_take_all(tk_pool_t *pool) {
  tk_job_t *out = NULL, *j = pool->held;
  while (j != NULL) {
    tk_job_t *next = j->held_next;
    if (held_claim(j)) {
      held_unlink(pool, j);
      j->held_next = out;
      out = j;
    }
    j = next;
  }
  return out;
}

static void cancel_list(tk_job_t *list, const char *why) {
  while (list != NULL) {
    tk_job_t *next = list->held_next;
    list->held_next = NULL;
    tk__job_cancel_pending(list, tk__strdup(why));
    tk_job_release(list);
    list = next;
  }
}

/* }====================================================== */

void tk__pool_job_cancelled(tk_pool_t *pool, tk_job_t *job) {
  int owned = held_claim(job);
  pthread_mutex_lock(&pool->mu);
  if (owned) held_unlink(pool, job);
  pool->pending--;
  pool->cancelled++;
  if (pool->space_waiters) pthread_cond_signal(&pool->space_cv);
  /* outstanding drops under mu here: tk_pool_free waits on mu for zero, so
  ** it cannot free the pool under our feet. */
  if (atomic_fetch_sub(&pool->outstanding, 1) == 1)
    pthread_cond_broadcast(&pool->idle_cv);
  pthread_mutex_unlock(&pool->mu);
  if (owned) tk_job_release(job);
}

/* With mu held: wakes a sleeper if nobody is polling the queue. */
static void wake_one(tk_pool_t *pool) {
  if (pool->sleepers > 0 && pool->spinning == 0 && !pool->paused)
    pthread_cond_signal(&pool->work_cv);
}

static int push_locked(tk_pool_t *pool, int prio, const tk__task *t) {
  int rc = tk__readyq_push(&pool->q, prio, t);
  if (rc == 0) {
    atomic_store_explicit(&pool->queued, pool->q.total, memory_order_relaxed);
    wake_one(pool);
  }
  return rc;
}

void tk__pool_deps_ready(tk_pool_t *pool, tk_job_t *job) {
  if (!held_claim(job)) return;  /* being cancelled by someone else */
  pthread_mutex_lock(&pool->mu);
  held_unlink(pool, job);
  tk__task t = {NULL, NULL, job};  /* the held reference moves to the queue */
  int rc = pool->drained ? TK_ESHUTDOWN : push_locked(pool, job->priority, &t);
  pthread_mutex_unlock(&pool->mu);
  if (rc != 0) {
    tk__job_cancel_pending(job, tk__strdup(
        rc == TK_ESHUTDOWN ? "pool shut down before its dependencies finished"
                           : "not enough memory to queue the job"));
    tk_job_release(job);
  }
}

/* {====================================================== workers */

static void run_task(worker *w, tk__task *t) {
  tk_pool_t *pool = w->pool;
#define BUMP(ctr, n)                                                      \
  atomic_store_explicit(&(ctr), atomic_load_explicit(&(ctr),             \
                        memory_order_relaxed) + (n), memory_order_relaxed)
  if (t->job == NULL) {
    ((tk_post_fn)t->fn)(t->arg, 0);
    BUMP(w->completed, 1);
    done_one(pool);
    return;
  }
  tk_job_t *job = t->job;
  int state = tk__job_run(job);
  atomic_uint_least64_t *c = state == TK_JOB_COMPLETED ? &w->completed
                             : state == TK_JOB_FAILED  ? &w->failed
                                                       : &w->cancelled;
  uint64_t start = atomic_load_explicit(&job->t_start, memory_order_relaxed);
  BUMP(*c, 1);
  BUMP(w->ran, 1);
  BUMP(w->exec_ns, job->t_finish - start);
  BUMP(w->wait_ns, start - job->t_submit);
#undef BUMP
  done_one(pool);
  tk_job_release(job);
}

/* With mu held: pops the next task and moves it out of "pending". Returns
** 0 when the queue is empty, 1 for a task to run, 2 for a job that was
** cancelled while queued (its canceller counted it; the caller only drops
** the queue's reference, outside the lock). */
static int take(tk_pool_t *pool, tk__task *t) {
  if (!tk__readyq_pop(&pool->q, t)) return 0;
  atomic_store_explicit(&pool->queued, pool->q.total, memory_order_relaxed);
  if (t->job != NULL && !tk__job_start(t->job)) return 2;
  pool->pending--;
  if (pool->space_waiters) pthread_cond_signal(&pool->space_cv);
  return 1;
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
  if (rc != 0 && pool->init_rc == 0) pool->init_rc = rc;
  pool->ready++;
  pthread_cond_broadcast(&pool->state_cv);
  while (pool->paused && !pool->stopping)
    pthread_cond_wait(&pool->state_cv, &pool->mu);

  tk_job_t *orphans = NULL;
  for (;;) {
    tk__task t;
    int got = take(pool, &t);
    if (got == 2) {
      pthread_mutex_unlock(&pool->mu);
      tk_job_release(t.job);
      pthread_mutex_lock(&pool->mu);
      continue;
    }
    if (got == 1) {
      pool->busy++;
      if (pool->q.total > 0) wake_one(pool);  /* more work: chain a wake */
      pthread_mutex_unlock(&pool->mu);
      run_task(w, &t);
      pthread_mutex_lock(&pool->mu);
      pool->busy--;
      continue;
    }
    if (pool->stopping) {
      /* Running jobs may still queue their dependents: exit only once the
      ** queue is empty and nobody runs anything. */
      if (pool->busy == 0 || pool->drained) {
        if (!pool->drained) {
          pool->drained = 1;
          orphans = held_take_all(pool);
          pthread_cond_broadcast(&pool->work_cv);
        }
        break;
      }
      pool->sleepers++;
      pthread_cond_wait(&pool->work_cv, &pool->mu);
      pool->sleepers--;
      continue;
    }
    /* Poll without the lock for a moment before sleeping. */
    pool->spinning++;
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < SPIN_ROUNDS; i++) {
      if (atomic_load_explicit(&pool->queued, memory_order_relaxed) > 0) break;
      for (int k = 0; k < 32; k++) cpu_relax();
      if ((i & 15) == 15) sched_yield();
    }
    pthread_mutex_lock(&pool->mu);
    pool->spinning--;
    if (pool->q.total > 0 || pool->stopping) continue;
    pool->sleepers++;
    pthread_cond_wait(&pool->work_cv, &pool->mu);
    pool->sleepers--;
  }
  pthread_mutex_unlock(&pool->mu);
  cancel_list(orphans, "pool shut down before its dependencies finished");
  if (pool->fini) pool->fini(pool->data, w->index, w->data);
  pthread_mutex_lock(&pool->mu);
  pool->exited++;
  pthread_cond_broadcast(&pool->state_cv);
  pthread_mutex_unlock(&pool->mu);
  return NULL;
}

/* }====================================================== */

/* {====================================================== lifecycle */

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

static void destroy(tk_pool_t *pool) {
  if (pool->has_timer) tk__timer_release();
  tk__readyq_free(&pool->q);
  pthread_cond_destroy(&pool->work_cv);
  pthread_cond_destroy(&pool->space_cv);
  pthread_cond_destroy(&pool->idle_cv);
  pthread_cond_destroy(&pool->state_cv);
  pthread_mutex_destroy(&pool->mu);
  tk__free(pool->workers);
  tk__free(pool);
}

static void join_started(tk_pool_t *pool) {
  for (int i = 0; i < pool->nworkers; i++)
    if (pool->workers[i].started) pthread_join(pool->workers[i].thread, NULL);
}

int tk_pool_new(const tk_pool_opts_t *opts, tk_pool_t **out) {
  static const tk_pool_opts_t defaults;
  if (out == NULL) return TK_EINVAL;
  *out = NULL;
  if (opts == NULL) opts = &defaults;
  if (opts->workers < 0 || opts->workers > MAX_WORKERS ||
      opts->capacity > MAX_CAPACITY)
    return TK_EINVAL;
  tk_pool_t *pool = tk__calloc(1, sizeof *pool);
  if (pool == NULL) return TK_ENOMEM;
  int rc;
  pool->nworkers = opts->workers ? opts->workers : online_cpus();
  pool->workers = tk__calloc((size_t)pool->nworkers, sizeof *pool->workers);
  int ncv = 0;
  int ok = pool->workers != NULL &&
           pthread_mutex_init(&pool->mu, NULL) == 0 &&
           tk__cond_init(&pool->work_cv) == 0 && ++ncv &&
           tk__cond_init(&pool->space_cv) == 0 && ++ncv &&
           tk__cond_init(&pool->idle_cv) == 0 && ++ncv &&
           tk__cond_init(&pool->state_cv) == 0 && ++ncv;
  if (!ok) {
    /* Partial set-up is rare enough to unwind by hand. */
    pthread_cond_t *cvs[] = {&pool->work_cv, &pool->space_cv, &pool->idle_cv,
                             &pool->state_cv};
    for (int i = 0; i < ncv; i++) pthread_cond_destroy(cvs[i]);
    rc = pool->workers == NULL ? TK_ENOMEM : TK_ESYS;
    if (pool->workers != NULL) pthread_mutex_destroy(&pool->mu);
    tk__free(pool->workers);
    tk__free(pool);
    return rc;
  }
  tk__readyq_init(&pool->q);
  atomic_init(&pool->queued, 0);
  atomic_init(&pool->outstanding, 0);
  atomic_init(&pool->idle_waiters, 0);
  pool->capacity = opts->capacity;
  pool->block_on_full = opts->block_on_full;
  pool->paused = opts->paused != 0;
  snprintf(pool->name, sizeof pool->name, "%s", opts->name ? opts->name : "tk");
  pool->init = opts->worker_init;
  pool->fini = opts->worker_fini;
  pool->data = opts->data;

  rc = 0;
  for (int i = 0; i < pool->nworkers; i++) {
    worker *w = &pool->workers[i];
    w->pool = pool;
    w->index = i;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      rc = TK_ESYS;
      break;
    }
    w->started = 1;
  }
  pthread_mutex_lock(&pool->mu);
  int started = 0;
  for (int i = 0; i < pool->nworkers; i++) started += pool->workers[i].started;
  while (pool->ready < started) pthread_cond_wait(&pool->state_cv, &pool->mu);
  if (rc == 0) rc = pool->init_rc;
  if (rc != 0) {
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->state_cv);
    pthread_cond_broadcast(&pool->work_cv);
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
  tk__task *drop = NULL;
  size_t ndrop = 0;
  tk_job_t *held = NULL;
  pthread_mutex_lock(&pool->mu);
  pool->stopping = 1;
  pool->paused = 0;
  if (cancel_pending) {
    held = held_take_all(pool);
    ndrop = pool->q.total;
    drop = ndrop ? tk__malloc(ndrop * sizeof *drop) : NULL;
    if (drop == NULL) ndrop = 0;  /* no memory: the workers drain instead */
    for (size_t i = 0; i < ndrop; i++) tk__readyq_pop(&pool->q, &drop[i]);
    atomic_store_explicit(&pool->queued, pool->q.total, memory_order_relaxed);
  }
  pthread_cond_broadcast(&pool->work_cv);
  pthread_cond_broadcast(&pool->state_cv);
  pthread_cond_broadcast(&pool->space_cv);
  pthread_mutex_unlock(&pool->mu);

  for (size_t i = 0; i < ndrop; i++) {
    if (drop[i].job != NULL) {
      tk__job_cancel_pending(drop[i].job, tk__strdup("pool shut down"));
      tk_job_release(drop[i].job);
      continue;
    }
    ((tk_post_fn)drop[i].fn)(drop[i].arg, TK_ECANCELED);
    pthread_mutex_lock(&pool->mu);
    pool->pending--;
    pool->cancelled++;
    if (atomic_fetch_sub(&pool->outstanding, 1) == 1)
      pthread_cond_broadcast(&pool->idle_cv);
    pthread_mutex_unlock(&pool->mu);
  }
  tk__free(drop);
  cancel_list(held, "pool shut down");

  if (!wait) return 0;
  if (on_own_worker(pool)) return TK_EBUSY;
  pthread_mutex_lock(&pool->mu);
  while (pool->exited < pool->nworkers)
    pthread_cond_wait(&pool->state_cv, &pool->mu);
  pthread_mutex_unlock(&pool->mu);
  return 0;
}

int tk_pool_free(tk_pool_t *pool) {
  if (pool == NULL) return 0;
  if (on_own_worker(pool)) return TK_EBUSY;
  tk_pool_shutdown(pool, 1, 0);
  join_started(pool);
  /* Cancellations running on other threads finish their accounting under
  ** mu; once outstanding is zero nothing else touches the pool. */
  pthread_mutex_lock(&pool->mu);
  while (atomic_load(&pool->outstanding) != 0)
    pthread_cond_wait(&pool->idle_cv, &pool->mu);
  pthread_mutex_unlock(&pool->mu);
  destroy(pool);
  return 0;
}

int tk_pool_resume(tk_pool_t *pool) {
  if (pool == NULL) return TK_EINVAL;
  pthread_mutex_lock(&pool->mu);
  pool->paused = 0;
  pthread_cond_broadcast(&pool->state_cv);
  pthread_mutex_unlock(&pool->mu);
  return 0;
}

/* }====================================================== */

/* {====================================================== submitting */

/* With mu held: waits until `n` more pending jobs fit (bounded pools). */
static int wait_for_room(tk_pool_t *pool, size_t n, double block_timeout) {
  if (pool->capacity == 0) return 0;
  if (n > pool->capacity) return TK_EFULL;
  int block = block_timeout > 0 || (block_timeout == 0 && pool->block_on_full);
  uint64_t deadline = block_timeout > 0 ? tk__deadline(block_timeout)
                                        : UINT64_MAX;
  while (pool->pending + n > pool->capacity) {
    if (!block) return TK_EFULL;
    if (pool->stopping) return TK_ESHUTDOWN;
    pool->space_waiters++;
    int rc = tk__cond_wait(&pool->space_cv, &pool->mu, deadline);
    pool->space_waiters--;
    if (rc == TK_ETIMEDOUT && pool->pending + n > pool->capacity)
      return TK_ETIMEDOUT;
  }
  return pool->stopping ? TK_ESHUTDOWN : 0;
}

/* With mu held: counts n accepted jobs. */
static void accepted(tk_pool_t *pool, size_t n) {
  pool->submitted += n;
  pool->pending += n;
  if (pool->pending > pool->peak_pending) pool->peak_pending = pool->pending;
  atomic_fetch_add_explicit(&pool->outstanding, (long)n, memory_order_relaxed);
}

int tk_pool_submit(tk_pool_t *pool, const tk_job_opts_t *opts, tk_task_fn fn,
                   void *arg, tk_job_t **out) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || fn == NULL) return TK_EINVAL;
  size_t n_after = 0;
  if (opts != NULL) {
    if (opts->n_after > 0 && opts->after == NULL) return TK_EINVAL;
    if (!(opts->timeout >= 0)) return TK_EINVAL;
    for (size_t i = 0; i < opts->n_after; i++)
      if (opts->after[i] == NULL) return TK_EINVAL;
    n_after = opts->n_after;
  }
  /* References: the pool's, ours for the rest of this call, the caller's. */
  tk_job_t *job;
  int rc = tk__job_new(pool, opts, fn, arg, out ? 3 : 2, &job);
  if (rc != 0) return rc;

  pthread_mutex_lock(&pool->mu);
  rc = pool->stopping ? TK_ESHUTDOWN
                      : wait_for_room(pool, 1, opts ? opts->block_timeout : 0);
  if (rc == 0 && job->timeout > 0 && !pool->has_timer) {
    rc = tk__timer_acquire();
    pool->has_timer = rc == 0;
  }
  if (rc == 0 && n_after == 0) {
    tk__task t = {NULL, NULL, job};
    rc = push_locked(pool, job->priority, &t);
  } else if (rc == 0) {
    /* Waits on the held list until its dependencies end; the +1 on
    ** deps_left keeps it there until every registration below is done. */
    atomic_store(&job->held, 1);
    atomic_store(&job->deps_left, n_after + 1);
    held_push(pool, job);
  }
  if (rc == 0) accepted(pool, 1);
  pthread_mutex_unlock(&pool->mu);
  if (rc != 0) {
    atomic_store(&job->refs, 1);
    tk_job_release(job);
    return rc;
  }

  if (opts != NULL && opts->token != NULL &&
      tk__token_link(&job->token, opts->token))
    tk_token_cancel(&job->token);
  for (size_t i = 0; i < n_after; i++) {
    int r = tk__job_add_dependent(opts->after[i], job, i);
    if (r == TK_EBUSY) {
      tk__job_dep_done(job, opts->after[i], i);
    } else if (r != 0) {
      /* Cannot wait for it: fail safe, never run without it. */
      char *none = NULL;
      char *why = tk__strdup("not enough memory to track a dependency");
      if (why && !atomic_compare_exchange_strong(&job->dep_reason, &none, why))
        tk__free(why);
      tk__job_dep_done(job, NULL, i);
    }
  }
  if (n_after > 0) tk__job_dep_done(job, NULL, 0);  /* the submit guard */
  if (out != NULL) *out = job;
  tk_job_release(job);
  return 0;
}

int tk_pool_post_batch(tk_pool_t *pool, int priority, tk_post_fn fn,
                       void *const *args, size_t n) {
  if (pool == NULL || fn == NULL || (args == NULL && n > 0)) return TK_EINVAL;
  pthread_mutex_lock(&pool->mu);
  int rc = pool->stopping ? TK_ESHUTDOWN : wait_for_room(pool, n, 0);
  if (rc == 0) rc = tk__readyq_reserve(&pool->q, priority, n);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      tk__task t = {(void *)fn, args[i], NULL};
      tk__readyq_push(&pool->q, priority, &t);  /* cannot fail: reserved */
    }
    atomic_store_explicit(&pool->queued, pool->q.total, memory_order_relaxed);
    accepted(pool, n);
    if (pool->sleepers > 0 && !pool->paused)
      pthread_cond_broadcast(&pool->work_cv);
  }
  pthread_mutex_unlock(&pool->mu);
  return rc;
}

int tk_pool_post(tk_pool_t *pool, int priority, tk_post_fn fn, void *arg) {
  if (pool == NULL || fn == NULL) return TK_EINVAL;
  pthread_mutex_lock(&pool->mu);
  int rc = pool->stopping ? TK_ESHUTDOWN : wait_for_room(pool, 1, 0);
  if (rc == 0) {
    tk__task t = {(void *)fn, arg, NULL};
    rc = push_locked(pool, priority, &t);
  }
  if (rc == 0) accepted(pool, 1);
  pthread_mutex_unlock(&pool->mu);
  return rc;
}

/* }====================================================== */

/* {====================================================== observing */

int tk_pool_wait_all(tk_pool_t *pool, double timeout) {
  if (pool == NULL) return TK_EINVAL;
  if (on_own_worker(pool)) return TK_EBUSY;
  if (atomic_load(&pool->outstanding) == 0) return 0;
  uint64_t deadline = tk__deadline(timeout);
  int rc = 0;
  pthread_mutex_lock(&pool->mu);
  atomic_fetch_add(&pool->idle_waiters, 1);
  while (atomic_load(&pool->outstanding) != 0) {
    if (tk__cond_wait(&pool->idle_cv, &pool->mu, deadline) == TK_ETIMEDOUT &&
        atomic_load(&pool->outstanding) != 0) {
      rc = TK_ETIMEDOUT;
      break;
    }
  }
  atomic_fetch_sub(&pool->idle_waiters, 1);
  pthread_mutex_unlock(&pool->mu);
  return rc;
}

int tk_pool_metrics(tk_pool_t *pool, tk_pool_metrics_t *m) {
  if (pool == NULL || m == NULL) return TK_EINVAL;
  memset(m, 0, sizeof *m);
  uint64_t exec_ns = 0, wait_ns = 0, ran = 0;
  pthread_mutex_lock(&pool->mu);
  m->submitted = pool->submitted;
  m->pending = pool->pending;
  m->peak_pending = pool->peak_pending;
  m->running = (uint64_t)pool->busy;
  m->cancelled = pool->cancelled;
  for (int i = 0; i < pool->nworkers; i++) {
    worker *w = &pool->workers[i];
    m->completed += atomic_load_explicit(&w->completed, memory_order_relaxed);
    m->failed += atomic_load_explicit(&w->failed, memory_order_relaxed);
    m->cancelled += atomic_load_explicit(&w->cancelled, memory_order_relaxed);
    ran += atomic_load_explicit(&w->ran, memory_order_relaxed);
    exec_ns += atomic_load_explicit(&w->exec_ns, memory_order_relaxed);
    wait_ns += atomic_load_explicit(&w->wait_ns, memory_order_relaxed);
  }
  pthread_mutex_unlock(&pool->mu);
  m->workers = pool->nworkers;
  m->total_execution_time = (double)exec_ns / 1e9;
  m->mean_execution_time = ran ? m->total_execution_time / (double)ran : 0;
  m->mean_queue_wait = ran ? (double)wait_ns / 1e9 / (double)ran : 0;
  return 0;
}

int tk_pool_workers(const tk_pool_t *pool) {
  return pool ? pool->nworkers : TK_EINVAL;
}

int tk_worker_index(void) { return self ? self->index : -1; }
void *tk_worker_data(void) { return self ? self->data : NULL; }

/* }====================================================== */
