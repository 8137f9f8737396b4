/*
** pool.c - pools: creation, start, shutdown, waiting for idle, freeing.
** See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pool_layout.h"

#define MAX_CAPACITY ((size_t)1 << 40)
#define DEFAULT_MAX_SPARES 64

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > TK_MAX_WORKERS ? TK_MAX_WORKERS : (int)n;
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
  int n = tk__pool_nslots(pool);
  for (int i = 0; i < n; i++) {
    worker *w = tk__pool_worker_at(pool, i);
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
  if (opts->workers < 0 || opts->workers > TK_MAX_WORKERS ||
      opts->capacity > MAX_CAPACITY)
    return TK_EINVAL;
  /* What jobs and waits below ask of pools (the same every time). */
  tk__job_set_pool_ops(&tk__pool_job_ops);
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
    tk__pool_declare_counters(&pool->workers[i]);
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
                     : opts->max_spares > TK_MAX_WORKERS ? TK_MAX_WORKERS
                                                      : opts->max_spares;
  snprintf(pool->name, sizeof pool->name, "%s", opts->name ? opts->name : "tk");
  pool->init = opts->worker_init;
  pool->fini = opts->worker_fini;
  pool->data = opts->data;

  for (int i = 0; i < pool->nworkers; i++) {
    worker *w = &pool->workers[i];
    w->pool = pool;
    w->index = i;
    int err = pthread_create(&w->thread, NULL, tk__pool_worker_main, w);
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
    tk__pool_unpark_all(pool);
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

int tk_pool_shutdown(tk_pool_t *pool, int wait, int cancel_pending) {
  if (pool == NULL) return TK_EINVAL;
  /* New submits fail from here on. A lock-free submit that claimed its
  ** inbox slot before the close still lands; the workers wait for it (see
  ** "still writing" in tk__pool_worker_main) before they may exit. */
  atomic_store(&pool->stopping, 1);
  tk__inbox_close(&pool->inbox);

  tk_job_t *held = NULL;
  tk__readyq drop;
  tk__readyq_init(&drop);
  tk__pool_lock(pool);
  pool->closed = 1;
  pool->paused = 0;
  if (cancel_pending) {
    /* The whole queue at once, with no memory needed: nothing queued can
    ** start from here. What lands later a worker cancels, not runs. */
    pool->cancel_all = 1;
    atomic_store(&pool->cancelling, 1);
    held = tk__pool_held_take_all(pool);
    drop = pool->q;
    tk__readyq_init(&pool->q);
    tk__pool_note_queue(pool);
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
    for (tk_job_t *j = pool->susp_list; j != NULL;
         j = tk__pool_ext(j)->susp_next) {
      tk_job_retain(j);
      susp[nsusp++] = j;
    }
  }
  tk__pool_unpark_all(pool);
  tk__pool_wake_retired(pool);
  pthread_cond_broadcast(&pool->state_cv);
  pthread_cond_broadcast(&pool->space_cv);
  tk__pool_unlock(pool);
  for (size_t i = 0; i < nsusp; i++) {
    tk_token_cancel(&tk__pool_ext(susp[i])->token);
    tk_job_release(susp[i]);
  }
  tk__free(susp);
  while (hooks != NULL) {
    tk__pool_hook *next = hooks->next;
    hooks->at_shutdown(hooks);
    hooks = next;
  }

  for (tk__task t; tk__readyq_pop(&drop, &t);) tk__pool_cancel_queued(pool, &t);
  tk__readyq_free(&drop);
  tk__pool_cancel_list(held, "pool shut down");

  if (!wait) return 0;
  if (tk__pool_of_thread() == pool) return TK_EBUSY;
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
  if (tk__pool_of_thread() == pool) return TK_EBUSY;
  tk_pool_shutdown(pool, 1, 0);  /* joins the workers, if nobody did */
  /* Cancellations running on other threads finish their accounting under
  ** mu; once nothing is pending nothing else touches the pool. */
  tk__pool_lock(pool);
  pool->idle_waiters++;
  while (pool->pending != 0 || pool->busy != 0 || pool->suspended != 0)
    pthread_cond_wait(&pool->idle_cv, &pool->mu);
  pool->idle_waiters--;
  tk__pool_unlock(pool);
  destroy(pool);
  return 0;
}

int tk_pool_resume(tk_pool_t *pool) {
  if (pool == NULL) return TK_EINVAL;
  tk__pool_lock(pool);
  pool->paused = 0;
  pthread_cond_broadcast(&pool->state_cv);
  tk__pool_unlock(pool);
  return 0;
}

int tk_pool_wait_all(tk_pool_t *pool, double timeout) {
  if (pool == NULL) return TK_EINVAL;
  if (tk__pool_of_thread() == pool) return TK_EBUSY;
  uint64_t deadline = tk__deadline(timeout);
  int rc = 0;
  /* On another pool's worker: a spare takes its place meanwhile. */
  int region = timeout != 0;
  if (region) tk_pool_block_begin();
  tk__pool_lock(pool);
  pool->idle_waiters++;
  while (pool->pending != 0 || pool->busy != 0 || pool->suspended != 0 ||
         tk__inbox_count(&pool->inbox) != 0) {
    if (tk__cond_wait(&pool->idle_cv, &pool->mu, deadline) == TK_ETIMEDOUT) {
      tk__pool_drain(pool);
      if (pool->pending != 0 || pool->busy != 0 || pool->suspended != 0)
        rc = TK_ETIMEDOUT;
      break;
    }
    tk__pool_drain(pool);
  }
  pool->idle_waiters--;
  tk__pool_unlock(pool);
  if (region) tk_pool_block_end();
  return rc;
}

int tk__pool_cancelling(tk_pool_t *pool) {
  return atomic_load_explicit(&pool->cancelling, memory_order_relaxed);
}

int tk_pool_is_shutdown(const tk_pool_t *pool) {
  return pool == NULL || atomic_load(&pool->stopping);
}

int tk_pool_workers(const tk_pool_t *pool) {
  return pool ? pool->nworkers : TK_EINVAL;
}

const char *tk_pool_name(const tk_pool_t *pool) {
  return pool ? pool->name : NULL;
}

