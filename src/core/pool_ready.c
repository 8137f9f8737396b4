/*
** pool_ready.c - what every part of the pool does under its mutex: the
** ready queue, parking and waking workers, the held and suspended lists,
** and counting what ended.
** See LICENSE for copyright and licence.
*/
#include "pool_layout.h"

/* With mu held: mirrors whether the ready queue has tasks, for pollers. */
void tk__pool_note_queue(tk_pool_t *pool) {
  int ne = pool->q.total > 0;
  if (atomic_load_explicit(&pool->nonempty, memory_order_relaxed) != ne)
    atomic_store_explicit(&pool->nonempty, ne, memory_order_relaxed);
}

/* With mu held: moves what submitters left in the inbox into the ready
** queue, counting it as submitted and pending. If the queue cannot grow
** (out of memory) the rest stays in the inbox for a later try. */
void tk__pool_drain(tk_pool_t *pool) {
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

void tk__pool_lock(tk_pool_t *pool) {
  pthread_mutex_lock(&pool->mu);
  tk__pool_drain(pool);
}

/* With mu held: wakes wait_all (and free) once nothing is pending or
** running. Every path that ends a job passes here under mu. */
void tk__pool_check_idle(tk_pool_t *pool) {
  if (pool->idle_waiters > 0 && pool->pending == 0 && pool->busy == 0 &&
      pool->suspended == 0 && tk__inbox_count(&pool->inbox) == 0)
    pthread_cond_broadcast(&pool->idle_cv);
}

/* With mu held: wakes w if it is parked. */
void tk__pool_unpark(tk_pool_t *pool, worker *w) {
  if (!w->parked) return;
  worker **pp = &pool->parked;
  while (*pp != w) pp = &(*pp)->park_next;
  *pp = w->park_next;
  w->parked = 0;
  tk__pool_add_sleepers(pool, -1);
  pthread_cond_signal(&w->cv);
}

void tk__pool_unpark_all(tk_pool_t *pool) {
  while (pool->parked != NULL) tk__pool_unpark(pool, pool->parked);
}

/* With mu held: wakes a sleeper if the polling workers cannot take every
** queued task next. */
void tk__pool_wake_locked(tk_pool_t *pool) {
  int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
  if (pool->parked != NULL && !pool->paused &&
      pool->q.total + tk__inbox_count(&pool->inbox) > (size_t)spinning)
    tk__pool_unpark(pool, pool->parked);
}

void tk__pool_held_push(tk_pool_t *pool, tk_job_t *job) {
  tk__pool_ext(job)->held_prev = NULL;
  tk__pool_ext(job)->held_next = pool->held;
  if (pool->held) tk__pool_ext(pool->held)->held_prev = job;
  pool->held = job;
}

static void held_unlink(tk_pool_t *pool, tk_job_t *job) {
  tk__job_ext *x = tk__pool_ext(job);
  if (x->held_prev) tk__pool_ext(x->held_prev)->held_next = x->held_next;
  else pool->held = x->held_next;
  if (x->held_next) tk__pool_ext(x->held_next)->held_prev = x->held_prev;
  x->held_prev = x->held_next = NULL;
}

/* Whoever turns x->held from 1 to 0 owns the job's place on the list (and
** the reference it holds) and must unlink it under mu. */
static int held_claim(tk_job_t *job) {
  tk__job_ext *x = tk__pool_ext(job);
  return x != NULL && atomic_exchange(&x->held, 0) == 1;
}

/* Detaches every claimable held job into a singly linked list (mu held). */
tk_job_t *tk__pool_held_take_all(tk_pool_t *pool) {
  tk_job_t *out = NULL, *j = pool->held;
  while (j != NULL) {
    tk_job_t *next = tk__pool_ext(j)->held_next;
    if (held_claim(j)) {
      held_unlink(pool, j);
      tk__pool_ext(j)->held_next = out;
      out = j;
    }
    j = next;
  }
  return out;
}

void tk__pool_cancel_list(tk_job_t *list, const char *why) {
  while (list != NULL) {
    tk_job_t *next = tk__pool_ext(list)->held_next;
    tk__pool_ext(list)->held_next = NULL;
    tk__job_cancel_pending(list, tk__strdup(why));
    tk_job_release(list);
    list = next;
  }
}

static void job_cancelled(tk_pool_t *pool, tk_job_t *job) {
  int owned = held_claim(job);
  tk__pool_lock(pool);  /* drains first, so the job is counted as pending */
  if (owned) held_unlink(pool, job);
  pool->pending--;
  if (tk__pool_is_runner(job)) pool->quiet_pending--;
  else pool->cancelled++;
  if (pool->space_waiters) pthread_cond_signal(&pool->space_cv);
  /* pending drops under mu: tk_pool_free waits on mu for zero, so it cannot
  ** free the pool under our feet. */
  tk__pool_check_idle(pool);
  tk__pool_unlock(pool);
  if (owned) tk_job_release(job);
}

/* With mu held (and drained): appends to the ready queue. */
int tk__pool_push_locked(tk_pool_t *pool, int prio, const tk__task *t) {
  int rc = tk__readyq_push(&pool->q, prio, t);
  if (rc == 0) {
    tk__pool_note_queue(pool);
    tk__pool_wake_locked(pool);
  }
  return rc;
}

static void deps_ready(tk_pool_t *pool, tk_job_t *job) {
  if (!held_claim(job)) return;  /* being cancelled by someone else */
  tk__pool_lock(pool);
  held_unlink(pool, job);
  tk__task t = {NULL, NULL, job};  /* the held reference moves to the queue */
  int rc = pool->drained ? TK_ESHUTDOWN
                         : tk__pool_push_locked(pool, job->priority, &t);
  tk__pool_unlock(pool);
  if (rc != 0) {
    tk__job_cancel_pending(job, tk__strdup(
        rc == TK_ESHUTDOWN ? "pool shut down before its dependencies finished"
                           : "not enough memory to queue the job"));
    tk_job_release(job);
  }
}

/* With mu held: queues a suspended job to run again on its worker. */
void tk__pool_resume_push(tk_pool_t *pool, worker *w, tk_job_t *job) {
  tk__pool_ext(job)->resume_next = NULL;
  if (w->resume_tail) tk__pool_ext(w->resume_tail)->resume_next = job;
  else w->resume_head = job;
  w->resume_tail = job;
  tk__pool_unpark(pool, w);
  if (w->retired) pthread_cond_signal(&w->cv);  /* parked apart */
}

void tk__pool_susp_link(tk_pool_t *pool, tk_job_t *job) {
  tk__pool_ext(job)->susp_prev = NULL;
  tk__pool_ext(job)->susp_next = pool->susp_list;
  if (pool->susp_list) tk__pool_ext(pool->susp_list)->susp_prev = job;
  pool->susp_list = job;
}

void tk__pool_susp_unlink(tk_pool_t *pool, tk_job_t *job) {
  tk__job_ext *x = tk__pool_ext(job);
  if (x->susp_prev) tk__pool_ext(x->susp_prev)->susp_next = x->susp_next;
  else pool->susp_list = x->susp_next;
  if (x->susp_next) tk__pool_ext(x->susp_next)->susp_prev = x->susp_prev;
  x->susp_prev = x->susp_next = NULL;
}


const tk__pool_ops tk__pool_job_ops = {job_cancelled, deps_ready};
