/*
** schedule.c - jobs submitted by the shared timer: once, at a time, or
** periodically without overlapping. See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <time.h>

#include "job.h"
#include "pool.h"
#include "timer.h"

struct tk_schedule {
  atomic_int refs;
  tk_pool_t *pool;
  tk_task_fn fn;
  void *arg;
  void (*arg_free)(void *);
  void *(*tick_arg)(void *);
  void (*tick_arg_free)(void *);
  int priority;
  char *name;
  uint64_t every;                /* ns; 0: one run */
  tk__timer_entry timer;
  pthread_mutex_t mu;            /* guards the fields below */
  uint64_t next;                 /* monotonic ns of the next tick */
  int active;                    /* more ticks to come */
  int running;                   /* a run has not finished yet */
  uint64_t runs, missed;
  tk__pool_hook hook;            /* while attached: the pool's reference */
};

/* Takes s off its pool's list; the pool's reference goes with it. */
static void detach(tk_schedule_t *s) {
  if (tk__pool_detach(s->pool, &s->hook)) tk_schedule_release(s);
}

void tk_schedule_release(tk_schedule_t *s) {
  if (s == NULL || !tk__ref_drop(&s->refs)) return;
  tk__timer_disarm(&s->timer);
  if (s->arg_free != NULL) s->arg_free(s->arg);
  pthread_mutex_destroy(&s->mu);
  tk__free(s->name);
  tk__free(s);
}

static int claim(tk__timer_entry *e) {
  return tk__try_retain(&tk_container_of(e, tk_schedule_t, timer)->refs);
}

static void run_done(void *arg) {
  tk_schedule_t *s = arg;
  pthread_mutex_lock(&s->mu);
  s->running = 0;
  pthread_mutex_unlock(&s->mu);
  tk_schedule_release(s);
}

/* A tick, on the timer thread: submit a run unless one is still going,
** and arm the next tick of a periodic schedule. */
static void fire(tk__timer_entry *e) {
  tk_schedule_t *s = tk_container_of(e, tk_schedule_t, timer);
  int submit = 0, rearm = 0, over = 0;
  uint64_t next = 0;
  pthread_mutex_lock(&s->mu);
  if (s->active) {
    if (s->running) {
      s->missed++;
    } else {
      s->running = 1;
      s->runs++;
      submit = 1;
    }
    if (s->every > 0) {
      /* Fixed rate; ticks the timer could not keep count as missed. */
      uint64_t now = tk__now_ns();
      s->next += s->every;
      while (s->next <= now) {
        s->next += s->every;
        s->missed++;
      }
      next = s->next;
      rearm = 1;
    } else {
      s->active = 0;
      over = 1;
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (rearm && tk__timer_arm(&s->timer, next) != 0) {
    /* No memory for the next tick: end visibly rather than stall. */
    pthread_mutex_lock(&s->mu);
    s->active = 0;
    pthread_mutex_unlock(&s->mu);
    over = 1;
  }
  /* A one-shot leaves the pool's list before its run can end. */
  if (over) detach(s);
  if (submit) {
    void *arg = s->tick_arg ? s->tick_arg(s->arg) : s->arg;
    tk_job_opts_t o = {0};
    o.priority = s->priority;
    o.name = s->name;
    o.arg_free = s->tick_arg ? s->tick_arg_free : NULL;
    tk_job_t *job = NULL;
    int rc = arg != NULL || !s->tick_arg
                 ? tk_pool_submit(s->pool, &o, s->fn, arg, &job)
                 : TK_ENOMEM;
    if (rc == 0) {
      atomic_fetch_add(&s->refs, 1);
      if (tk_job_on_finish(job, run_done, s) != 0) run_done(s);
      tk_job_release(job);
    } else {
      if (s->tick_arg && arg != NULL && s->tick_arg_free) s->tick_arg_free(arg);
      pthread_mutex_lock(&s->mu);
      s->running = 0;
      if (rc == TK_ESHUTDOWN) s->active = 0;
      pthread_mutex_unlock(&s->mu);
      if (rc == TK_ESHUTDOWN) detach(s);
    }
  }
  tk_schedule_release(s);  /* the claim's reference */
}

/* The pool shut down (it detached s): no more ticks, and the pool's
** reference goes. */
static void at_shutdown(tk__pool_hook *h) {
  tk_schedule_t *s = tk_container_of(h, tk_schedule_t, hook);
  pthread_mutex_lock(&s->mu);
  s->active = 0;
  pthread_mutex_unlock(&s->mu);
  tk__timer_disarm(&s->timer);
  tk_schedule_release(s);
}

int tk_pool_schedule(tk_pool_t *pool, const tk_schedule_opts_t *opts,
                     tk_task_fn fn, void *arg, tk_schedule_t **out) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || opts == NULL || fn == NULL || out == NULL)
    return TK_EINVAL;
  if (!(opts->delay >= 0) || !(opts->every >= 0) || !(opts->at >= 0))
    return TK_EINVAL;  /* negative or NaN */
  if (opts->delay > 0 && opts->at > 0) return TK_EINVAL;
  /* A period the clock cannot tell from 0 would make a one-shot. */
  if (opts->every > 0 && tk__ns(opts->every) == 0) return TK_EINVAL;
  double first = opts->delay;
  if (opts->at > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    first = opts->at - ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    if (first <= 0) return TK_EINVAL;  /* a time in the past */
  }
  if (first == 0) first = opts->every;
  if (!(first > 0)) return TK_EINVAL;  /* nothing to go by */
  int rc = tk__pool_timer(pool);
  if (rc != 0) return rc;
  tk_schedule_t *s = tk__calloc(1, sizeof *s);
  if (s == NULL) return TK_ENOMEM;
  if (opts->name != NULL && (s->name = tk__strdup(opts->name)) == NULL) {
    tk__free(s);
    return TK_ENOMEM;
  }
  tk__atomic_init(&s->refs, 2);  /* the caller's and the pool's */
  s->pool = pool;
  s->fn = fn;
  s->arg = arg;
  s->arg_free = opts->arg_free;
  s->tick_arg = opts->tick_arg;
  s->tick_arg_free = opts->tick_arg_free;
  s->priority = opts->priority;
  s->every = tk__ns(opts->every);
  s->active = 1;
  pthread_mutex_init(&s->mu, NULL);
  tk__timer_entry_init(&s->timer, claim, fire);
  s->next = tk__now_ns() + tk__ns(first);
  s->hook.at_shutdown = at_shutdown;
  rc = tk__pool_attach(pool, &s->hook);
  if (rc == 0) rc = tk__timer_arm(&s->timer, s->next);
  if (rc != 0) {
    tk__pool_detach(pool, &s->hook);
    s->arg_free = NULL;  /* a failed call leaves arg to the caller */
    atomic_store(&s->refs, 1);
    tk_schedule_release(s);
    return rc;
  }
  *out = s;
  return 0;
}

int tk_schedule_cancel(tk_schedule_t *s) {
  if (s == NULL) return TK_EINVAL;
  pthread_mutex_lock(&s->mu);
  int was = s->active;
  s->active = 0;
  pthread_mutex_unlock(&s->mu);
  tk__timer_disarm(&s->timer);
  if (was) detach(s);
  return was ? 0 : TK_EINVAL;
}

int tk_schedule_active(tk_schedule_t *s) {
  if (s == NULL) return 0;
  pthread_mutex_lock(&s->mu);
  int a = s->active;
  pthread_mutex_unlock(&s->mu);
  return a;
}

uint64_t tk_schedule_runs(tk_schedule_t *s) {
  if (s == NULL) return 0;
  pthread_mutex_lock(&s->mu);
  uint64_t n = s->runs;
  pthread_mutex_unlock(&s->mu);
  return n;
}

uint64_t tk_schedule_missed(tk_schedule_t *s) {
  if (s == NULL) return 0;
  pthread_mutex_lock(&s->mu);
  uint64_t n = s->missed;
  pthread_mutex_unlock(&s->mu);
  return n;
}
