/*
** queue.c - queues of calls drained by runner jobs (tk_queue_*).
** See LICENSE for copyright and licence.
**
** A call costs its pusher one exchange on the queue's tail, and its runner
** a short spin lock on the head: no job, no trip through the pool's ready
** queue, no wake-up. Up to one runner per worker takes calls; a runner
** ends when the queue stays empty for a moment, or gives its worker up
** (queueing a runner again, behind them) when other jobs have waited for
** a worker for a slice. A call that suspends suspends its runner, which
** first hands the queue to a new runner. Each call counts in the pool's
** metrics as a job, with its queue wait and run time; the runners
** themselves do not count (tk__pool_submit_quiet).
*/
#include <sched.h>
#include <string.h>

#include "job.h"
#include "pool.h"

/* Polls of the empty queue before a runner ends: about 7 us where a pause
** takes 22 ns, as the pool's own workers poll. */
#define IDLE_ROUNDS 10
/* How long a runner keeps its worker while other jobs wait for one. */
#define SLICE_NS 1000000
/* Every PILE_UP calls pushed while a runner takes them, another runner
** starts (up to one per worker): it finds calls only if they pile up. */
#define PILE_UP 64

/* The calls ended on one worker (the last slot: elsewhere). Written with
** atomics by whoever ends a call there; read by tk_queue_metrics. */
typedef struct ended {
  _Alignas(TK_CACHELINE) atomic_uint_least64_t by_state[3];
} ended;

struct tk_queue {
  atomic_int refs;               /* the owner's, and one per runner */
  tk_pool_t *pool;
  tk_call_run_fn run;
  tk_call_end_fn end;
  void *data;
  tk_job_opts_t ropts;           /* the runners': priority, name (owned) */
  int max_runners;               /* the pool's workers */
  void *base;                    /* what tk__malloc returned */
  ended *slots;                  /* max_runners + 1 */
  /* The pusher's (one thread at a time). */
  _Alignas(TK_CACHELINE) unsigned long appended;
  atomic_uint_least64_t submitted;
  /* The calls waiting for a runner, oldest first: a linked queue after
  ** Dmitry Vyukov's (intrusive, through link, with a stub node). The
  ** pusher appends without a lock; runners take holding qlock, a spin
  ** lock (held for a few loads and stores: a mutex put runners to sleep
  ** on each other). Empty: both ends at the stub. */
  _Alignas(TK_CACHELINE) _Atomic(tk_call_t *) qtail;
  _Alignas(TK_CACHELINE) atomic_int qlock;
  _Atomic(tk_call_t *) qhead;    /* written holding qlock */
  tk_call_t stub;
  _Alignas(TK_CACHELINE) atomic_int active;   /* runners taking calls */
};

typedef struct runner {
  tk_queue_t *q;                 /* holds a reference */
  tk_call_t *cur;                /* its call suspended in a wait, or NULL */
  uint64_t cur_start;            /* when that call started */
  int started;                   /* its job ran */
} runner;

TK_STATIC_ASSERT(sizeof(_Atomic(tk_call_t *)) == sizeof(void *));

static _Atomic(tk_call_t *) *next_of(tk_call_t *c) {
  return (_Atomic(tk_call_t *) *)&c->link;
}

int tk_queue_new(tk_pool_t *pool, const tk_queue_opts_t *opts,
                 tk_queue_t **out) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || opts == NULL || opts->run == NULL || opts->end == NULL ||
      out == NULL)
    return TK_EINVAL;
  int workers = tk_pool_workers(pool);
  int max_runners = workers > 0 ? workers : 1;
  size_t nslots = (size_t)max_runners + 1;
  /* The queue, then its slots, on cache lines of their own. */
  size_t size = TK_CACHELINE + sizeof(tk_queue_t) + nslots * sizeof(ended);
  void *base = tk__malloc(size);
  char *name = opts->name != NULL ? tk__strdup(opts->name) : NULL;
  if (base == NULL || (opts->name != NULL && name == NULL)) {
    tk__free(base);
    tk__free(name);
    return TK_ENOMEM;
  }
  uintptr_t at = ((uintptr_t)base + TK_CACHELINE - 1) &
                 ~(uintptr_t)(TK_CACHELINE - 1);
  tk_queue_t *q = (tk_queue_t *)at;
  memset(q, 0, sizeof *q);
  q->base = base;
  q->slots = (ended *)(q + 1);
  for (size_t i = 0; i < nslots; i++)
    for (int k = 0; k < 3; k++)
      tk__atomic_init(&q->slots[i].by_state[k], 0);
  tk__atomic_init(&q->refs, 1);
  q->pool = pool;
  q->run = opts->run;
  q->end = opts->end;
  q->data = opts->data;
  q->ropts.priority = opts->priority;
  q->ropts.name = name;
  q->max_runners = max_runners;
  tk__atomic_init(&q->submitted, 0);
  atomic_init(next_of(&q->stub), NULL);
  tk__atomic_init(&q->qtail, &q->stub);
  tk__atomic_init(&q->qhead, &q->stub);
  tk__atomic_init(&q->qlock, 0);
  tk__atomic_init(&q->active, 0);
  *out = q;
  return 0;
}

static void queue_unref(tk_queue_t *q) {
  if (!tk__ref_drop(&q->refs)) return;
  tk__free((char *)q->ropts.name);
  tk__free(q->base);
}

void tk_queue_release(tk_queue_t *q) {
  if (q != NULL) queue_unref(q);
}

/* seq_cst: the exchange pairs with a runner that leaves, then looks
** (leave). */
static void append(tk_queue_t *q, tk_call_t *c) {
  atomic_store_explicit(next_of(c), NULL, memory_order_relaxed);
  tk_call_t *prev = atomic_exchange_explicit(&q->qtail, c,
                                             memory_order_seq_cst);
  atomic_store_explicit(next_of(prev), c, memory_order_release);
}

static void lock_queue(tk_queue_t *q) {
  for (;;) {
    if (!atomic_exchange_explicit(&q->qlock, 1, memory_order_acquire)) return;
    for (int i = 0; atomic_load_explicit(&q->qlock, memory_order_relaxed);
         i++) {
      if (i < 100) tk__cpu_relax();
      else sched_yield();  /* its holder lost its CPU */
    }
  }
}

static void unlock_queue(tk_queue_t *q) {
  atomic_store_explicit(&q->qlock, 0, memory_order_release);
}

/* The oldest call, or NULL when none is ready (an append may be half
** done: the queue then looks busy, and its taker looks again). */
static tk_call_t *take_call(tk_queue_t *q) {
  lock_queue(q);
  tk_call_t *head = atomic_load_explicit(&q->qhead, memory_order_relaxed);
  tk_call_t *next = atomic_load_explicit(next_of(head), memory_order_acquire);
  if (head == &q->stub) {
    if (next == NULL) goto none;
    head = next;
    next = atomic_load_explicit(next_of(head), memory_order_acquire);
  }
  if (next == NULL) {
    if (head != atomic_load_explicit(&q->qtail, memory_order_acquire))
      goto none;  /* an append is half done */
    append(q, &q->stub);  /* the last call: the stub takes its place */
    next = atomic_load_explicit(next_of(head), memory_order_acquire);
    if (next == NULL) goto none;
  }
  atomic_store_explicit(&q->qhead, next, memory_order_relaxed);
  unlock_queue(q);
  return head;
none:
  atomic_store_explicit(&q->qhead, head, memory_order_relaxed);
  unlock_queue(q);
  return NULL;
}

/* Calls wait, or are being appended. seq_cst: see leave. */
static int calls_wait(tk_queue_t *q) {
  return atomic_load_explicit(&q->qtail, memory_order_seq_cst) != &q->stub ||
         atomic_load_explicit(&q->qhead, memory_order_seq_cst) != &q->stub;
}

/* A call is over: counted on this thread's slot, then handed to end. */
static void call_ended(tk_queue_t *q, tk_call_t *c, int state, char *error,
                       uint64_t end) {
  int i = tk_worker_index();
  ended *slot = &q->slots[i >= 0 && i < q->max_runners ? i : q->max_runners];
  atomic_fetch_add_explicit(&slot->by_state[state - TK_JOB_COMPLETED], 1,
                            memory_order_relaxed);
  c->state = state;
  c->error = error;
  c->finished = end;
  q->end(c, q->data);
}

/* Ends every call still queued, cancelled. On a worker of the pool
** (a runner) they count as taken and cancelled there, else as dropped. */
static void drop_calls(tk_queue_t *q, const char *why, int on_worker) {
  tk_call_t *c;
  uint64_t n = 0;
  while ((c = take_call(q)) != NULL) {
    if (on_worker) {
      tk__pool_count_taken();
      tk__pool_count_run(TK_JOB_CANCELLED, 0, 0, 0);
    }
    n++;
    call_ended(q, c, TK_JOB_CANCELLED, tk__strdup(why), tk__now_ns());
  }
  if (!on_worker && n > 0) tk__pool_count_dropped(q->pool, n);
}

static int run_calls(void *arg);
static void runner_free(void *arg);

/* Starts a runner if fewer than one per worker take calls. */
static int start_runner(tk_queue_t *q) {
  int n = atomic_load(&q->active);
  while (n < q->max_runners) {
    if (!atomic_compare_exchange_weak(&q->active, &n, n + 1)) continue;
    runner *r = tk__calloc(1, sizeof *r);
    int rc = TK_ENOMEM;
    if (r != NULL) {
      r->q = q;
      atomic_fetch_add(&q->refs, 1);
      tk_job_opts_t o = q->ropts;
      o.arg_free = runner_free;
      rc = tk__pool_submit_quiet(q->pool, &o, run_calls, r);
      if (rc != 0) {  /* a failed submit leaves r to us */
        queue_unref(q);
        tk__free(r);
      }
    }
    if (rc != 0) atomic_fetch_sub(&q->active, 1);
    return rc;
  }
  return 0;
}

/* After the queue may have lost its last runner: starts one if calls wait;
** if none can start and none runs, the calls end cancelled. */
static void keep_running(tk_queue_t *q, int on_worker) {
  if (!calls_wait(q)) return;
  int rc = start_runner(q);
  if (rc != 0 && atomic_load(&q->active) == 0)
    drop_calls(q, rc == TK_ESHUTDOWN ? "pool shut down" : tk_strerror(rc),
               on_worker);
}

int tk_queue_push(tk_queue_t *q, tk_call_t *call) {
  if (q == NULL || call == NULL) return TK_EINVAL;
  call->submitted = tk__now_ns();
  call->finished = 0;
  call->error = NULL;
  call->state = TK_JOB_PENDING;
  atomic_store_explicit(&q->submitted,
                        atomic_load_explicit(&q->submitted,
                                             memory_order_relaxed) + 1,
                        memory_order_relaxed);
  tk__pool_count_submitted(q->pool, 1);
  append(q, call);
  /* One runner, and another while calls pile up. */
  int n = atomic_load(&q->active);
  if (n == 0 || (n < q->max_runners && ++q->appended % PILE_UP == 0))
    keep_running(q, 0);
  return 0;
}

/* A runner stops taking calls. Leave, then look: a call pushed meanwhile
** either sees one fewer runner (and starts one) or is seen here. */
static void leave(tk_queue_t *q) {
  atomic_fetch_sub(&q->active, 1);
  keep_running(q, 1);
}

/* The queue is empty: polls a moment, then leaves. Returns 1 when there is
** more to take (and the runner still takes calls). */
static int more_soon(tk_queue_t *q) {
  for (int i = 0; i < IDLE_ROUNDS; i++) {
    if (calls_wait(q)) return 1;
    for (int k = 0; k < 32; k++) tk__cpu_relax();
  }
  atomic_fetch_sub(&q->active, 1);
  if (!calls_wait(q)) return 0;
  int n = atomic_load(&q->active);
  while (n < q->max_runners)
    if (atomic_compare_exchange_weak(&q->active, &n, n + 1)) return 1;
  return 0;  /* as many runners as workers take them already */
}

/* Ends a call that ran: completed, failed (with the message its run left
** in the runner's job) or cancelled. */
static void finish(tk_queue_t *q, tk_job_t *job, tk_call_t *c, int rc,
                   uint64_t start, uint64_t end) {
  int state = rc == 0             ? TK_JOB_COMPLETED
              : rc == TK_ECANCELED ? TK_JOB_CANCELLED
                                   : TK_JOB_FAILED;
  char *error = job->error;  /* the runner's job is ours to clear */
  job->error = NULL;
  if (state == TK_JOB_FAILED) {
    if (error == NULL) error = tk__strdup(tk_strerror(rc));
  } else {
    tk__free(error);
    error = state == TK_JOB_CANCELLED ? tk__strdup("cancelled") : NULL;
  }
  tk__pool_count_run(state, c->submitted, start, end);
  call_ended(q, c, state, error, end);
}

static int run_calls(void *arg) {
  runner *r = arg;
  tk_queue_t *q = r->q;
  tk_job_t *job = tk_job_current();
  r->started = 1;
  uint64_t start;
  if (r->cur != NULL) {  /* back from a wait; it left the queue then */
    int rc = q->run(r->cur, q->data);
    if (rc == TK_SUSPEND) return TK_SUSPEND;
    start = tk__now_ns();
    finish(q, job, r->cur, rc, r->cur_start, start);
    r->cur = NULL;
    int n = atomic_load(&q->active);
    for (;;) {  /* take calls again if a worker's share is free */
      if (n >= q->max_runners) return 0;
      if (atomic_compare_exchange_weak(&q->active, &n, n + 1)) break;
    }
  } else {
    start = tk__now_ns();
  }
  uint64_t slice = start;
  for (;;) {
    if (tk__pool_cancelling(q->pool)) {
      /* A cancelling shutdown: the calls not started end cancelled, as
      ** queued jobs do. Leave first: a call pushed after the drop finds
      ** no runner, and is dropped by its pusher. */
      atomic_fetch_sub(&q->active, 1);
      drop_calls(q, "pool shut down", 1);
      return 0;
    }
    if (tk_job_is_cancelled(job)) {
      /* A call cancelled the job it ran in (tk_job_current()): that
      ** cancels that call, not the ones queued after it, which a new
      ** runner takes. */
      leave(q);
      return 0;
    }
    if (start - slice >= SLICE_NS) {
      /* Others wait: behind them. Not once the pool shuts down: no new
      ** runner could start then, and a waiting shutdown runs every call
      ** queued before it. */
      if (tk__pool_has_queued(q->pool) && !tk_pool_is_shutdown(q->pool)) {
        leave(q);
        return 0;
      }
      slice = start;
    }
    tk_call_t *c = take_call(q);
    if (c == NULL) {
      if (!more_soon(q)) return 0;
      start = slice = tk__now_ns();
      continue;
    }
    tk__pool_count_taken();
    int rc = q->run(c, q->data);
    if (rc == TK_SUSPEND) {
      r->cur = c;
      r->cur_start = start;
      leave(q);
      return TK_SUSPEND;
    }
    uint64_t end = tk__now_ns();
    finish(q, job, c, rc, start, end);
    start = end;
  }
}

/* The runner's job is freed (it ran or not). */
static void runner_free(void *arg) {
  runner *r = arg;
  tk_queue_t *q = r->q;
  if (!r->started) {  /* cancelled while queued: a shutdown */
    atomic_fetch_sub(&q->active, 1);
    if (atomic_load(&q->active) == 0) drop_calls(q, "pool shut down", 0);
  }
  queue_unref(q);
  tk__free(r);
}

int tk_queue_metrics(tk_queue_t *q, tk_queue_metrics_t *out) {
  if (q == NULL || out == NULL) return TK_EINVAL;
  memset(out, 0, sizeof *out);
  uint64_t by_state[3] = {0, 0, 0};
  for (int i = 0; i <= q->max_runners; i++)
    for (int k = 0; k < 3; k++)
      by_state[k] += atomic_load_explicit(&q->slots[i].by_state[k],
                                          memory_order_acquire);
  /* Read after the ends: a call counted ended was counted pushed. */
  uint64_t submitted = atomic_load_explicit(&q->submitted,
                                            memory_order_acquire);
  out->completed = by_state[0];
  out->failed = by_state[TK_JOB_FAILED - TK_JOB_COMPLETED];
  out->cancelled = by_state[TK_JOB_CANCELLED - TK_JOB_COMPLETED];
  uint64_t ended_n = out->completed + out->failed + out->cancelled;
  out->submitted = submitted > ended_n ? submitted : ended_n;
  out->pending = out->submitted - ended_n;
  out->runners = atomic_load_explicit(&q->active, memory_order_relaxed);
  return 0;
}
