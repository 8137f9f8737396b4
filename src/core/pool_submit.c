/*
** pool_submit.c - the ways into a pool: jobs, posts, batches, runner
** jobs for queues, and what lives on a pool until it shuts down.
** See LICENSE for copyright and licence.
*/
#include <string.h>

#include "pool_layout.h"

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
                                        : TK__NO_DEADLINE;
  while ((uint64_t)pool->pending + n > pool->capacity) {
    if (!block) return TK_EFULL;
    if (pool->closed) return TK_ESHUTDOWN;
    if (tk__pool_of_thread() != NULL && !*region) {
      *region = 1;
      tk__pool_unlock(pool);  /* the region may be this pool's */
      int stuck = tk_pool_block_begin() == TK_EBUSY &&
                  tk__pool_of_thread() == pool;
      tk__pool_lock(pool);
      if (stuck) return TK_EBUSY;
      continue;  /* look again: the room may have come meanwhile */
    }
    pool->space_waiters++;
    int rc = tk__cond_wait(&pool->space_cv, &pool->mu, deadline);
    pool->space_waiters--;
    tk__pool_drain(pool);
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

/* After a lock-free push: the same decision, taking the lock only to
** signal. The seq_cst load pairs with the worker's announce-then-check. */
static void wake_after_push(tk_pool_t *pool) {
  if (atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) == 0) return;
  int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
  if (tk__inbox_count(&pool->inbox) <= (size_t)spinning) return;
  pthread_mutex_lock(&pool->mu);
  tk__pool_wake_locked(pool);
  pthread_mutex_unlock(&pool->mu);
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
  tk__pool_lock(pool);
  int rc = pool->closed || atomic_load(&pool->stopping)
               ? TK_ESHUTDOWN
               : wait_for_room(pool, 1, block_timeout, &region);
  if (rc == 0 && held) tk__pool_held_push(pool, t->job);
  else if (rc == 0) rc = tk__pool_push_locked(pool, prio, t);
  if (rc == 0) accepted(pool, 1);
  if (rc == 0 && t->job != NULL && tk__pool_is_runner(t->job)) {
    pool->quiet_submitted++;
    pool->quiet_pending++;
  }
  tk__pool_unlock(pool);
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

int tk__pool_timer(tk_pool_t *pool) { return ensure_timer(pool); }

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
  ** below must see a token cancelled before the submit (the link alone
  ** comes too late to stop it). */
  if (opts != NULL && opts->token != NULL)
    tk__token_set_parent(&tk__pool_ext(job)->token, opts->token);

  tk__task t = {NULL, NULL, job};
  if (n_after > 0 || gated) {
    /* Waits on the held list until its dependencies end (and its gate
    ** opens); the +1 on deps_left keeps it there until every registration
    ** below is done. */
    atomic_store(&tk__pool_ext(job)->held, 1);
    atomic_store(&tk__pool_ext(job)->gate, gated);
    atomic_store(&tk__pool_ext(job)->deps_left, n_after + 1 + (size_t)gated);
    rc = push_slow(pool, job->priority, &t, opts->block_timeout, 1);
    if (rc != 0) atomic_store(&tk__pool_ext(job)->gate, 0);
  } else {
    /* Quiet jobs take the lock: they are few, and counted apart there. */
    rc = silent ? TK_EBUSY : push_lock_free(pool, job->priority, &t);
    if (rc == TK_EBUSY)
      rc = push_slow(pool, job->priority, &t,
                     opts ? opts->block_timeout : 0, 0);
  }
  if (rc != 0) {
    if (out != NULL) *out = NULL;
    job->arg_free = NULL;  /* a failed submit leaves arg to the caller */
    atomic_store(&job->refs, 1);
    tk_job_release(job);
    return rc;
  }
  if (!linking) return 0;

  if (opts->token != NULL &&
      tk__token_link(&tk__pool_ext(job)->token, opts->token))
    tk_token_cancel(&tk__pool_ext(job)->token);
  for (size_t i = 0; i < n_after; i++) {
    int r = tk__job_add_dependent(opts->after[i], job, i);
    if (r == TK_EBUSY) {
      tk__job_dep_done(job, opts->after[i], i);
    } else if (r != 0) {
      /* Cannot wait for it: fail safe, never run without it. */
      char *none = NULL;
      char *why = tk__strdup("not enough memory to track a dependency");
      if (why && !atomic_compare_exchange_strong(
                     &tk__pool_ext(job)->dep_reason, &none, why))
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

int tk__pool_submit_quiet(tk_pool_t *pool, const tk_job_opts_t *opts,
                          tk_task_fn fn, void *arg) {
  return submit(pool, opts, fn, arg, NULL, NULL, NULL, NULL, 1);
}

void tk__pool_count_submitted(tk_pool_t *pool, uint64_t n) {
  atomic_fetch_add_explicit(&pool->calls_submitted, n, memory_order_relaxed);
}

void tk__pool_count_dropped(tk_pool_t *pool, uint64_t n) {
  pthread_mutex_lock(&pool->mu);
  pool->calls_dropped += n;
  pool->cancelled += n;
  pthread_mutex_unlock(&pool->mu);
}

int tk__pool_has_queued(tk_pool_t *pool) {
  return atomic_load_explicit(&pool->nonempty, memory_order_relaxed) ||
         tk__inbox_count(&pool->inbox) > 0;
}

int tk_pool_post_batch(tk_pool_t *pool, int priority, tk_post_fn fn,
                       void *const *args, size_t n) {
  if (pool == NULL || fn == NULL || (args == NULL && n > 0)) return TK_EINVAL;
  int region = 0;
  tk__pool_lock(pool);
  int rc = pool->closed || atomic_load(&pool->stopping)
               ? TK_ESHUTDOWN
               : wait_for_room(pool, n, 0, &region);
  if (rc == 0) rc = tk__readyq_reserve(&pool->q, priority, n);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      tk__task t = {(void *)fn, args[i], NULL};
      tk__readyq_push(&pool->q, priority, &t);  /* cannot fail: reserved */
    }
    tk__pool_note_queue(pool);
    accepted(pool, n);
    for (size_t i = 0; i < n && pool->parked != NULL && !pool->paused; i++)
      tk__pool_unpark(pool, pool->parked);
  }
  tk__pool_unlock(pool);
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

