/*
** pool_ready.c - the lists a pool keeps under its mutex (held jobs,
** suspended jobs, a worker's resumed ones), pushing to the ready queue,
** and the pool's side of its contract with jobs.
** See LICENSE for copyright and licence.
*/
#include "pool_layout.h"

void tk__pool_unpark_all(tk_pool_t *pool) {
  while (pool->parked != NULL) tk__pool_unpark(pool, pool->parked);
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
