/*
** lrunner.c - runners: jobs that take a work's calls from its queue and
** run them one after the other, each in a coroutine of its own.
** See LICENSE for copyright and licence.
**
** A call of pool:work was a job of its own: its submitter paid for the
** job, the pool's queue and wake-ups, its worker for the pool's lock, the
** job's states and three clock reads, and the two sides passed some ten
** cache lines between them per call. Now w:queue appends the call to its
** work's queue, and up to one runner per worker takes calls from there.
** A runner ends when the queue stays empty for a moment, or gives its
** worker up (queueing a runner again, behind them) when other jobs have
** waited for a worker for a millisecond. A call that waits suspends its
** runner, which first hands the queue to a new runner. Each call counts in
** the pool's metrics as a job, with its queue wait and run time; the
** runners do not count (tk__pool_submit_quiet). Works with a token or a
** timeout, and bounded pools, keep a job per call (lwork.c).
*/
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "work.h"

/* Polls of the empty queue before a runner ends: about 7 us where a pause
** takes 22 ns, as the pool's own workers poll (pool.c). */
#define IDLE_ROUNDS 10
/* How long a runner keeps its worker while other jobs wait for one. */
#define SLICE_NS 1000000
/* Every PILE_UP calls appended while a runner takes them, another runner
** starts (up to one per worker): it finds calls only if they pile up. */
#define PILE_UP 64

typedef struct runner {
  tkl_work *w;                   /* holds a reference */
  tkl_task *cur;                 /* its call suspended in a wait, or NULL */
  uint64_t cur_start;            /* when that call started */
  int started;                   /* its job ran */
} runner;

void tkl_work_runners_init(tkl_work *w, tk_pool_t *pool, int priority,
                           char *name) {
  w->pool = pool;
  memset(&w->ropts, 0, sizeof w->ropts);
  w->ropts.priority = priority;
  w->ropts.name = name;
  int workers = tk_pool_workers(pool);
  w->max_runners = workers > 0 ? workers : 1;
  atomic_init(&w->stub.qnext, NULL);
  atomic_init(&w->qtail, &w->stub);
  atomic_init(&w->qhead, &w->stub);
  atomic_init(&w->qlock, 0);
  atomic_init(&w->active, 0);
}

/* seq_cst: the exchange pairs with a runner that leaves, then looks
** (leave). */
static void append(tkl_work *w, tkl_arrival *a) {
  atomic_store_explicit(&a->qnext, NULL, memory_order_relaxed);
  tkl_arrival *prev = atomic_exchange_explicit(&w->qtail, a,
                                               memory_order_seq_cst);
  atomic_store_explicit(&prev->qnext, a, memory_order_release);
}

static void lock_queue(tkl_work *w) {
  for (;;) {
    if (!atomic_exchange_explicit(&w->qlock, 1, memory_order_acquire)) return;
    for (int i = 0; atomic_load_explicit(&w->qlock, memory_order_relaxed);
         i++) {
      if (i < 100) tk__cpu_relax();
      else sched_yield();  /* its holder lost its CPU */
    }
  }
}

static void unlock_queue(tkl_work *w) {
  atomic_store_explicit(&w->qlock, 0, memory_order_release);
}

/* The oldest call, or NULL when none is ready (an append may be half
** done: the queue then looks busy, and its taker looks again). */
static tkl_task *take_call(tkl_work *w) {
  lock_queue(w);
  tkl_arrival *head = atomic_load_explicit(&w->qhead, memory_order_relaxed);
  tkl_arrival *next = atomic_load_explicit(&head->qnext, memory_order_acquire);
  if (head == &w->stub) {
    if (next == NULL) goto none;
    head = next;
    next = atomic_load_explicit(&head->qnext, memory_order_acquire);
  }
  if (next == NULL) {
    if (head != atomic_load_explicit(&w->qtail, memory_order_acquire))
      goto none;  /* an append is half done */
    append(w, &w->stub);  /* the last call: the stub takes its place */
    next = atomic_load_explicit(&head->qnext, memory_order_acquire);
    if (next == NULL) goto none;
  }
  atomic_store_explicit(&w->qhead, next, memory_order_relaxed);
  unlock_queue(w);
  return tkl_task_of_arrival(head);
none:
  atomic_store_explicit(&w->qhead, head, memory_order_relaxed);
  unlock_queue(w);
  return NULL;
}

/* Calls wait, or are being appended. seq_cst: see leave. */
static int calls_wait(tkl_work *w) {
  return atomic_load_explicit(&w->qtail, memory_order_seq_cst) != &w->stub ||
         atomic_load_explicit(&w->qhead, memory_order_seq_cst) != &w->stub;
}

/* A call is over: its outcome goes to its arrival, then to the work. */
static void call_ended(tkl_task *t, int state, char *error, uint64_t end) {
  tkl_arrival *a = tkl_arrival_of(t);
  a->u.call.state = state;
  a->u.call.error = error;
  a->u.call.t_finish = end;
  tkl_work_arrive(a);
}

/* Ends every call still queued, cancelled. On a worker of the pool
** (a runner) they count as taken and cancelled there, else as dropped. */
static void drop_calls(tkl_work *w, const char *why, int on_worker) {
  tkl_task *t;
  uint64_t n = 0;
  while ((t = take_call(w)) != NULL) {
    if (on_worker) {
      tk__pool_count_taken();
      tk__pool_count_run(TK_JOB_CANCELLED, 0, 0, 0);
    }
    n++;
    call_ended(t, TK_JOB_CANCELLED, tk__strdup(why), tk__now_ns());
  }
  if (!on_worker && n > 0) tk__pool_count_dropped(w->pool, n);
}

static int run_calls(void *arg);
static void runner_free(void *arg);

/* Starts a runner if fewer than one per worker take calls. */
static int start_runner(tkl_work *w) {
  int n = atomic_load(&w->active);
  while (n < w->max_runners) {
    if (!atomic_compare_exchange_weak(&w->active, &n, n + 1)) continue;
    runner *r = calloc(1, sizeof *r);
    int rc = TK_ENOMEM;
    if (r != NULL) {
      r->w = w;
      atomic_fetch_add(&w->refs, 1);
      tk_job_opts_t o = w->ropts;
      o.arg_free = runner_free;
      rc = tk__pool_submit_quiet(w->pool, &o, run_calls, r);
      if (rc != 0) {  /* a failed submit leaves r to us */
        tkl_work_unref(w);
        free(r);
      }
    }
    if (rc != 0) atomic_fetch_sub(&w->active, 1);
    return rc;
  }
  return 0;
}

/* After the queue may have lost its last runner: starts one if calls wait;
** if none can start and none runs, the calls end cancelled. */
static void keep_running(tkl_work *w, int on_worker) {
  if (!calls_wait(w)) return;
  int rc = start_runner(w);
  if (rc != 0 && atomic_load(&w->active) == 0)
    drop_calls(w, rc == TK_ESHUTDOWN ? "pool shut down" : tk_strerror(rc),
               on_worker);
}

void tkl_work_push(tkl_work *w, tkl_task *t) {
  tk__pool_count_submitted(w->pool, 1);
  append(w, tkl_arrival_of(t));
  /* One runner, and another while calls pile up. */
  int n = atomic_load(&w->active);
  if (n == 0 || (n < w->max_runners && ++w->appended % PILE_UP == 0))
    keep_running(w, 0);
}

/* A runner stops taking calls. Leave, then look: a call put meanwhile
** either sees one fewer runner (and starts one) or is seen here. */
static void leave(tkl_work *w) {
  atomic_fetch_sub(&w->active, 1);
  keep_running(w, 1);
}

/* The queue is empty: polls a moment, then leaves. Returns 1 when there is
** more to take (and the runner still takes calls). */
static int more_soon(tkl_work *w) {
  for (int i = 0; i < IDLE_ROUNDS; i++) {
    if (calls_wait(w)) return 1;
    for (int k = 0; k < 32; k++) tk__cpu_relax();
  }
  atomic_fetch_sub(&w->active, 1);
  if (!calls_wait(w)) return 0;
  int n = atomic_load(&w->active);
  while (n < w->max_runners)
    if (atomic_compare_exchange_weak(&w->active, &n, n + 1)) return 1;
  return 0;  /* as many runners as workers take them already */
}

/* Ends a call that ran: completed, failed (the error its task left in the
** runner's job) or cancelled. */
static void finish(tk_job_t *job, tkl_task *t, int rc, uint64_t start,
                   uint64_t end) {
  int state = rc == 0             ? TK_JOB_COMPLETED
              : rc == TK_ECANCELED ? TK_JOB_CANCELLED
                                   : TK_JOB_FAILED;
  char *error = NULL;
  if (state == TK_JOB_FAILED) {
    error = job->error;  /* tkl_task_run failed the job: the text is ours */
    job->error = NULL;
  } else if (state == TK_JOB_CANCELLED) {
    error = tk__strdup("cancelled");
  }
  tkl_arrival *a = tkl_arrival_of(t);
  tk__pool_count_run(state, a->u.call.t_submit, start, end);
  call_ended(t, state, error, end);
}

static int run_calls(void *arg) {
  runner *r = arg;
  tkl_work *w = r->w;
  tk_job_t *job = tk_job_current();
  r->started = 1;
  uint64_t start;
  if (r->cur != NULL) {  /* back from a wait; it left the queue then */
    int rc = tkl_task_run(r->cur);
    if (rc == TK_SUSPEND) return TK_SUSPEND;
    start = tk__now_ns();
    finish(job, r->cur, rc, r->cur_start, start);
    r->cur = NULL;
    int n = atomic_load(&w->active);
    for (;;) {  /* take calls again if a worker's share is free */
      if (n >= w->max_runners) return 0;
      if (atomic_compare_exchange_weak(&w->active, &n, n + 1)) break;
    }
  } else {
    start = tk__now_ns();
  }
  uint64_t slice = start;
  for (;;) {
    if (tk__pool_cancelling(w->pool)) {
      /* A cancelling shutdown: the calls not started end cancelled, as
      ** queued jobs do. Leave first: a call queued after the drop finds
      ** no runner, and is dropped by its submitter. */
      atomic_fetch_sub(&w->active, 1);
      drop_calls(w, "pool shut down", 1);
      return 0;
    }
    if (tk_job_is_cancelled(job)) {
      /* A call cancelled the job it ran in (tk.current_job():cancel()):
      ** that cancels that call, not the ones queued after it, which a
      ** new runner takes. */
      leave(w);
      return 0;
    }
    if (start - slice >= SLICE_NS) {
      if (tk__pool_has_queued(w->pool)) {  /* others wait: behind them */
        leave(w);
        return 0;
      }
      slice = start;
    }
    tkl_task *t = take_call(w);
    if (t == NULL) {
      if (!more_soon(w)) return 0;
      start = slice = tk__now_ns();
      continue;
    }
    tk__pool_count_taken();
    int rc = tkl_task_run(t);
    if (rc == TK_SUSPEND) {
      r->cur = t;
      r->cur_start = start;
      leave(w);
      return TK_SUSPEND;
    }
    uint64_t end = tk__now_ns();
    finish(job, t, rc, start, end);
    start = end;
  }
}

/* The runner's job is freed (it ran or not). */
static void runner_free(void *arg) {
  runner *r = arg;
  tkl_work *w = r->w;
  if (!r->started) {  /* cancelled while queued: a shutdown */
    atomic_fetch_sub(&w->active, 1);
    if (atomic_load(&w->active) == 0) drop_calls(w, "pool shut down", 0);
  }
  tkl_work_unref(w);
  free(r);
}
