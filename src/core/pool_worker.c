/*
** pool_worker.c - the worker loop: taking tasks, running them, suspending
** and resuming jobs, and the spares that stand in for blocked workers.
** See LICENSE for copyright and licence.
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "pool_layout.h"

#ifndef SPIN_ROUNDS
/* Rounds of 32 pauses before sleeping: about 7 us where a pause takes 22
** ns. Longer polls spend the CPU that submitters need on a busy machine. */
#define SPIN_ROUNDS 10
#endif

static _Thread_local worker *self;

tk_pool_t *tk__pool_of_thread(void) { return self ? self->pool : NULL; }

int tk_worker_index(void) { return self ? self->index : -1; }

void *tk_worker_data(void) { return self ? self->data : NULL; }

static int bucket(uint64_t ns) {
  int b = ns ? 63 - __builtin_clzll(ns) : 0;
  return b < TK__HIST ? b : TK__HIST - 1;
}

/* On worker w: a job (or a runner job's call) ended in `state`; started 0
** when it never ran. */
static void count_end(worker *w, int state, uint64_t submitted,
                      uint64_t started, uint64_t finished) {
  tk__pool_bump(state == TK_JOB_COMPLETED ? &w->completed
                : state == TK_JOB_FAILED  ? &w->failed
                                          : &w->cancelled,
                1);
  if (started == 0) return;
  tk__pool_bump(&w->ran, 1);
  tk__pool_bump(&w->exec_ns, finished - started);
  tk__pool_bump(&w->wait_ns, started - submitted);
  tk__pool_bump(&w->hist_exec[bucket(finished - started)], 1);
  tk__pool_bump(&w->hist_wait[bucket(started - submitted)], 1);
}

/* The task returned TK_SUSPEND: park the job (keeping the queue's
** reference) unless a resume was asked for already. */
static void suspend(worker *w, tk_job_t *job) {
  tk_pool_t *pool = w->pool;
  tk__job_ext *x = tk__job_ext_get(job);
  if (x == NULL) {
    /* Cannot record where it waits: end it rather than lose it. */
    tk__job_abort(job, "not enough memory to suspend the task");
    if (!tk__pool_is_runner(job)) tk__pool_bump(&w->failed, 1);
    tk_job_release(job);
    return;
  }
  x->home = w->index;
  pthread_mutex_lock(&pool->mu);
  pool->suspended++;
  tk__pool_susp_link(pool, job);
  int expected = TK__SUSP_RUNNING;
  if (!atomic_compare_exchange_strong(&x->susp, &expected, TK__SUSP_PARKED)) {
    /* resumed before it parked: run again */
    atomic_store(&x->susp, TK__SUSP_RUNNING);
    tk__pool_resume_push(pool, w, job);
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
    if (s == TK__SUSP_RESUME_ASKED) return 0;
    /* Running: ask it to run again when it parks. Parked: it runs again. */
    int next = s == TK__SUSP_RUNNING ? TK__SUSP_RESUME_ASKED : TK__SUSP_RUNNING;
    if (atomic_compare_exchange_weak(&x->susp, &s, next)) {
      if (s == TK__SUSP_PARKED) {
        tk_pool_t *pool = job->pool;
        pthread_mutex_lock(&pool->mu);
        tk__pool_resume_push(pool, tk__pool_worker_at(pool, x->home), job);
        pthread_mutex_unlock(&pool->mu);
      }
      return 0;
    }
  }
}

static void run_task(worker *w, tk__task *t, int resumed) {
  if (t->job == NULL) {
    ((tk_post_fn)t->fn)(t->arg, 0);
    tk__pool_bump(&w->completed, 1);
    return;
  }
  tk_job_t *job = t->job;
  int state = tk__job_run(job, resumed);
  if (state == TK__SUSPENDED) {
    suspend(w, job);
    return;
  }
  if (!tk__pool_is_runner(job))  /* a runner's calls counted themselves */
    count_end(w, state, job->t_submit,
              atomic_load_explicit(&job->t_start, memory_order_relaxed),
              job->t_finish);
  tk_job_release(job);
}

/* What a worker found when it looked for a task (with mu held). */
typedef enum taken {
  TAKEN_NONE,        /* nothing ready */
  TAKEN_RUN,         /* a task to run: started, out of "pending" */
  TAKEN_GONE,        /* a job cancelled while queued: its canceller counted
                        it; the worker only drops the queue's reference */
  TAKEN_TO_CANCEL    /* a task a cancelling shutdown caught: the worker
                        ends it (tk__pool_cancel_queued) */
} taken;

/* With mu held: pops the next task from the ready queue. */
static taken take(tk_pool_t *pool, tk__task *t) {
  if (!tk__readyq_pop(&pool->q, t)) return TAKEN_NONE;
  tk__pool_note_queue(pool);
  if (t->job != NULL && !tk__job_start(t->job)) return TAKEN_GONE;
  pool->pending--;
  if (t->job != NULL && tk__pool_is_runner(t->job)) pool->quiet_pending--;
  if (pool->space_waiters) pthread_cond_signal(&pool->space_cv);
  return TAKEN_RUN;
}

/* Without mu: ends a queued task that a cancelling shutdown caught. */
void tk__pool_cancel_queued(tk_pool_t *pool, tk__task *t) {
  if (t->job != NULL) {
    tk__job_cancel_pending(t->job, tk__strdup("pool shut down"));
    tk_job_release(t->job);
    return;
  }
  ((tk_post_fn)t->fn)(t->arg, TK_ECANCELED);
  tk__pool_lock(pool);
  pool->pending--;
  pool->cancelled++;
  tk__pool_check_idle(pool);
  tk__pool_unlock(pool);
}

/* With mu held, when tk__pool_drain() left a filled slot at the inbox's
** head (the ready queue had no memory to grow): takes that task straight
** from the inbox, so accepted work runs, ahead of its priority, instead
** of stalling. */
static taken take_from_inbox(tk_pool_t *pool, tk__task *t) {
  int prio;
  if (!tk__inbox_pop(&pool->inbox, &prio, t))
    return TAKEN_NONE;  /* being written */
  pool->submitted++;  /* what tk__pool_drain() would have counted */
  pool->pending++;
  if (pool->cancel_all) return TAKEN_TO_CANCEL;
  if (t->job != NULL && !tk__job_start(t->job)) return TAKEN_GONE;
  pool->pending--;
  return TAKEN_RUN;
}

/* With mu held: the next task, from the ready queue or else the inbox. */
static taken take_next(tk_pool_t *pool, tk__task *t) {
  tk__pool_drain(pool);
  taken got;
  if (pool->cancel_all && tk__readyq_pop(&pool->q, t)) {
    tk__pool_note_queue(pool);
    got = TAKEN_TO_CANCEL;
  } else {
    got = take(pool, t);
  }
  if (got == TAKEN_NONE && tk__inbox_count(&pool->inbox) > 0)
    got = take_from_inbox(pool, t);
  return got;
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
    tk__pool_add_sleepers(pool, -1);
  }
}

/* The thread starts: its name, the init hook, then it waits while the
** pool is paused. Returns holding mu. */
static void start_up(worker *w) {
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
}

/* With mu held: runs the oldest of its own suspended jobs that were
** resumed (they come first: they already hold resources). */
static void run_resumed(worker *w) {
  tk_pool_t *pool = w->pool;
  tk__task t = {NULL, NULL, w->resume_head};
  w->resume_head = tk__pool_ext(t.job)->resume_next;
  if (w->resume_head == NULL) w->resume_tail = NULL;
  tk__pool_susp_unlink(pool, t.job);
  pool->suspended--;
  pool->busy++;
  tk__pool_unlock(pool);
  run_task(w, &t, 1);
  pthread_mutex_lock(&pool->mu);
  pool->busy--;
  tk__pool_check_idle(pool);
}

/* With mu held: a spare whose workers are back parks apart, there for its
** own suspended jobs and for the next worker that blocks. Returns 1 when
** it waited there (the caller looks again). */
static int stand_aside(worker *w) {
  tk_pool_t *pool = w->pool;
  if (w->spare && !w->retired && !pool->closed &&
      pool->active_spares > pool->blocked) {
    w->retired = 1;
    pool->active_spares--;
    tk__pool_wake_locked(pool);  /* in case it was woken for queued work */
  }
  if (!w->retired || pool->closed) return 0;
  pthread_cond_wait(&w->cv, &pool->mu);
  return 1;
}

/* With mu held: does what take_next found (not TAKEN_NONE). */
static void handle(worker *w, taken got, tk__task *t) {
  tk_pool_t *pool = w->pool;
  if (got == TAKEN_RUN) {
    pool->busy++;
    if (pool->q.total > 0) tk__pool_wake_locked(pool);  /* chain a wake */
    tk__pool_unlock(pool);
    run_task(w, t, 0);
    pthread_mutex_lock(&pool->mu);
    pool->busy--;
    tk__pool_check_idle(pool);
    if (pool->closed && pool->busy == 0) tk__pool_unpark_all(pool);
    return;
  }
  tk__pool_unlock(pool);
  if (got == TAKEN_TO_CANCEL) tk__pool_cancel_queued(pool, t);
  else tk_job_release(t->job);
  pthread_mutex_lock(&pool->mu);
}

/* With mu held, nothing to take: waits for work (a while polling, then
** asleep), or finds the pool closed and done. Returns 0 when the worker
** exits (then *orphans are the held jobs to cancel). *polled: it polled
** since its last task, so it sleeps next. */
static int wait_for_work(worker *w, int *polled, tk_job_t **orphans) {
  tk_pool_t *pool = w->pool;
  if (tk__inbox_count(&pool->inbox) > 0) {
    /* A submitter claimed a slot and is still writing it. */
    tk__pool_unlock(pool);
    sched_yield();
    pthread_mutex_lock(&pool->mu);
    return 1;
  }
  if (pool->closed) {
    /* Running jobs may still queue their dependents, suspended ones
    ** still have to finish: exit only once nothing runs or waits. */
    if ((pool->busy == 0 && pool->suspended == 0) || pool->drained) {
      if (!pool->drained) {
        pool->drained = 1;
        *orphans = tk__pool_held_take_all(pool);
        tk__pool_unpark_all(pool);
      }
      return 0;
    }
    tk__pool_add_sleepers(pool, 1);
    park(pool, w);
    return 1;
  }
  int spinning = atomic_load_explicit(&pool->spinning, memory_order_relaxed);
  if (!*polled && spinning < pool->max_spinners) {
    *polled = 1;
    tk__pool_set_atomic(&pool->spinning, spinning + 1);
    tk__pool_unlock(pool);
    poll_for_work(pool);
    pthread_mutex_lock(&pool->mu);
    tk__pool_set_atomic(
        &pool->spinning,
        atomic_load_explicit(&pool->spinning, memory_order_relaxed) - 1);
    return 1;  /* the loop drains and looks again before sleeping */
  }
  /* Announce, then look once more: a submitter pushes, then reads
  ** sleepers; one of the two sees the other. */
  tk__pool_add_sleepers(pool, 1);
  if (tk__inbox_count(&pool->inbox) == 0 && pool->q.total == 0 &&
      !pool->closed && w->resume_head == NULL)
    park(pool, w);
  else
    tk__pool_add_sleepers(pool, -1);
  *polled = 0;
  return 1;
}

/* With mu held: the thread ends (cancelling the orphans it collected). */
static void shut_down(worker *w, tk_job_t *orphans) {
  tk_pool_t *pool = w->pool;
  tk__pool_unlock(pool);
  tk__pool_cancel_list(orphans,
                       "pool shut down before its dependencies finished");
  if (pool->fini) pool->fini(pool->data, w->index, w->data);
  pthread_mutex_lock(&pool->mu);
  pool->exited++;
  pthread_cond_broadcast(&pool->state_cv);
  pthread_mutex_unlock(&pool->mu);
}

void *tk__pool_worker_main(void *arg) {
  worker *w = arg;
  start_up(w);
  tk_job_t *orphans = NULL;
  int polled = 0;
  while (!w->dead) {
    if (w->resume_head != NULL) {
      run_resumed(w);
      polled = 0;
      continue;
    }
    if (stand_aside(w)) {
      polled = 0;
      continue;
    }
    tk__task t;
    taken got = take_next(w->pool, &t);
    if (got != TAKEN_NONE) {
      if (got == TAKEN_RUN) polled = 0;
      handle(w, got, &t);
    } else if (!wait_for_work(w, &polled, &orphans)) {
      break;
    }
  }
  shut_down(w, orphans);
  return NULL;
}

/* The counters metrics reads while the worker writes them (helgrind). */
void tk__pool_declare_counters(worker *w) {
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
      tk__pool_declare_counters(s);
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
  int rc = pthread_create(&s->thread, NULL, tk__pool_worker_main, s);
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
        tk__pool_unpark(pool, p);
        break;
      }
    }
  }
  pthread_mutex_unlock(&pool->mu);
}

/* Wakes the retired spares (mu held): the pool is closing. */
void tk__pool_wake_retired(tk_pool_t *pool) {
  for (int i = 0; pool->spares != NULL && i < pool->max_spares; i++)
    if (pool->spares[i] != NULL && pool->spares[i]->retired)
      pthread_cond_signal(&pool->spares[i]->cv);
}

void tk__pool_count_taken(void) {
  if (self != NULL) tk__pool_bump(&self->calls_taken, 1);
}

void tk__pool_count_run(int state, uint64_t submitted, uint64_t started,
                        uint64_t finished) {
  if (self != NULL) count_end(self, state, submitted, started, finished);
}
