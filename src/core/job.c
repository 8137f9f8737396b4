/*
** job.c - job lifetime, state transitions, waits, dependencies, timeouts.
** See LICENSE for copyright and licence.
*/
#include <stdarg.h>
#include <stdio.h>

#include "job.h"
#include "park.h"
#include "tk_slab.h"

static _Thread_local tk_job_t *current;
static _Atomic(const tk__pool_ops *) pool_ops;

void tk__job_set_pool_ops(const tk__pool_ops *ops) {
  atomic_store_explicit(&pool_ops, ops, memory_order_release);
}

/* A job exists only once a pool did: the pool set these first. */
static const tk__pool_ops *pool_of_jobs(void) {
  return atomic_load_explicit(&pool_ops, memory_order_acquire);
}
static tk_slab_t job_slab = TK_SLAB_INIT(sizeof(tk_job_t));

static int claim_timeout(tk__timer_entry *e) {
  tk__job_ext *x = tk_container_of(e, tk__job_ext, timer);
  return tk__try_retain(&((tk_job_t *)x->token.owner)->refs);
}

static void fire_timeout(tk__timer_entry *e) {
  tk__job_ext *x = tk_container_of(e, tk__job_ext, timer);
  tk_job_t *job = x->token.owner;
  atomic_store_explicit(&x->timed_out, 1, memory_order_relaxed);
  tk_token_cancel(&x->token);
  tk_job_release(job);
}

static void token_cancelled(tk_job_t *job);

/* The job's side of its own token: the token's references are the job's. */
static void owner_retain(void *job) { tk_job_retain(job); }
static int owner_try_retain(void *job) {
  return tk__try_retain(&((tk_job_t *)job)->refs);
}
static void owner_release(void *job) { tk_job_release(job); }
static void owner_cancelled(void *job) { token_cancelled(job); }

static const tk__token_owner_ops token_owner = {
    owner_retain, owner_try_retain, owner_release, owner_cancelled};

static tk__job_ext *ext_new(tk_job_t *job) {
  tk__job_ext *x = tk__malloc(sizeof *x);
  if (x == NULL) return NULL;
  tk__token_init_embedded(&x->token, job, &token_owner);
  x->name = NULL;
  x->timeout = 0;
  tk__atomic_init(&x->timed_out, 0);
  tk__timer_entry_init(&x->timer, claim_timeout, fire_timeout);
  tk__atomic_init(&x->deps_left, 0);
  tk__atomic_init(&x->dep_reason, NULL);
  x->cascade_next = NULL;
  tk__atomic_init(&x->held, 0);
  x->held_prev = x->held_next = NULL;
  tk__atomic_init(&x->susp, TK__SUSP_RUNNING);
  x->home = -1;
  x->resume_next = NULL;
  x->susp_prev = x->susp_next = NULL;
  tk__atomic_init(&x->gate, 0);
  x->group = NULL;
  x->runner = 0;
  return x;
}

static void ext_free(tk__job_ext *x) {
  if (x == NULL) return;
  tk__token_fini(&x->token);
  tk__free(x->name);
  tk__free(atomic_load_explicit(&x->dep_reason, memory_order_relaxed));
  tk__free(x);
}

tk__job_ext *tk__job_ext_get(tk_job_t *job) {
  tk__job_ext *x = tk__job_ext_peek(job);
  if (x != NULL) return x;
  tk__job_ext *mine = ext_new(job);
  if (mine == NULL) return NULL;
  TK_HG_RELEASE(&job->ext);
  if (atomic_compare_exchange_strong(&job->ext, &x, mine)) return mine;
  ext_free(mine);  /* another thread installed one first */
  return x;
}

int tk__job_new(tk_pool_t *pool, const tk_job_opts_t *opts, tk_task_fn fn,
                void *arg, int refs, tk_job_t **out) {
  tk_job_t *job = tk__slab_alloc(&job_slab);
  if (job == NULL) return TK_ENOMEM;
  tk__atomic_init(&job->refs, refs);
  tk__atomic_init(&job->state, TK_JOB_PENDING);
  tk__atomic_init(&job->waiters, 0);
  job->priority = opts ? opts->priority : TK_NORMAL;
  job->pool = pool;
  job->fn = fn;
  job->arg = arg;
  job->arg_free = opts ? opts->arg_free : NULL;
  job->t_submit = tk__now_ns();
  job->t_finish = 0;
  tk__atomic_init(&job->t_start, 0);
  job->error = NULL;
  job->result = NULL;
  job->result_free = NULL;
  tk__atomic_init(&job->dependents, NULL);
  tk__atomic_init(&job->ext, NULL);
  if (opts != NULL && (opts->name != NULL || opts->token != NULL ||
                       opts->timeout > 0 || opts->n_after > 0 ||
                       opts->gated)) {
    tk__job_ext *x = ext_new(job);
    if (x == NULL ||
        (opts->name != NULL && (x->name = tk__strdup(opts->name)) == NULL)) {
      ext_free(x);
      tk__slab_free(&job_slab, job);
      return TK_ENOMEM;
    }
    x->timeout = opts->timeout;
    tk__atomic_init(&job->ext, x);
  }
  *out = job;
  return 0;
}

static void job_free(tk_job_t *job) {
  ext_free(tk__job_ext_peek(job));
  if (job->result_free != NULL) job->result_free(job->result);
  if (job->arg_free != NULL) job->arg_free(job->arg);
  tk__free(job->error);
  tk__slab_free(&job_slab, job);
}

void tk_job_retain(tk_job_t *job) {
  if (job != NULL) atomic_fetch_add_explicit(&job->refs, 1, memory_order_relaxed);
}

void tk_job_release(tk_job_t *job) {
  if (job == NULL) return;
  if (tk__ref_drop(&job->refs)) job_free(job);
}

static int is_final(int st) {
  return st >= TK_JOB_COMPLETED && st <= TK_JOB_CANCELLED;
}

/* The state, acquired: once it reads final, what the ending thread wrote
** before publish() (error, result, times) is visible. */
static int state_of(const tk_job_t *job) {
  int st = atomic_load_explicit(&job->state, memory_order_acquire);
  if (is_final(st)) TK_HG_ACQUIRE((void *)&job->state);
  return st;
}

tk_job_state_t tk_job_state(const tk_job_t *job) {
  if (job == NULL) return TK_JOB_INVALID;
  int st = state_of(job);
  return st == TK__JOB_CANCELLING ? TK_JOB_PENDING : (tk_job_state_t)st;
}

const char *tk_job_state_name(tk_job_state_t state) {
  static const char *const names[] = {"pending", "running", "completed",
                                      "failed", "cancelled"};
  return (unsigned)state < TK_ARRAY_SIZE(names) ? names[state] : "unknown";
}

/* Publishes the final state, wakes waiters and tells the dependents. The
** error text and times are written before; the caller holds a reference. */
static _Atomic(void (*)(tk_job_t *)) finish_hook;

void tk_set_finish_hook(void (*hook)(tk_job_t *job)) {
  atomic_store(&finish_hook, hook);
}

/* The trace's hook on each run of a task (job.h). */
static _Atomic(tk_run_hook_fn) run_hook;

void tk_set_run_hook(tk_run_hook_fn hook) { atomic_store(&run_hook, hook); }

static void publish(tk_job_t *job, int state) {
  TK_HG_RELEASE(&job->state);
  atomic_store_explicit(&job->state, state, memory_order_seq_cst);
  void (*hook)(tk_job_t *) =
      atomic_load_explicit(&finish_hook, memory_order_relaxed);
  if (hook != NULL) hook(job);
  /* Pairs with the waiter's increment-then-check in tk_job_wait. */
  if (atomic_load_explicit(&job->waiters, memory_order_seq_cst) > 0) {
    tk__bucket *b = tk__park_bucket(job);
    pthread_mutex_lock(&b->mu);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
  }
}

static void notify_dependents(tk_job_t *job) {
  tk__dep_node *n = atomic_exchange_explicit(&job->dependents,
                                             TK__DEPS_CLOSED,
                                             memory_order_acq_rel);
  TK_HG_ACQUIRE(&job->dependents);
  while (n != NULL && n != TK__DEPS_CLOSED) {
    tk__dep_node *next = n->next;
    if (n->dependent != NULL) {
      tk__job_dep_done(n->dependent, job, n->index);
      tk_job_release(n->dependent);
      tk__free(n);
    } else {
      int kept = n->index == TK__NODE_KEPT;  /* fn may reuse a kept node */
      n->fn(n->arg);
      if (!kept) tk__free(n);
    }
    n = next;
  }
}

int tk_job_wait(tk_job_t *job, double timeout) {
  if (job == NULL) return TK_EINVAL;
  if (is_final(state_of(job))) return 0;
  if (timeout == 0) return TK_ETIMEDOUT;
  uint64_t deadline = tk__deadline(timeout);
  tk__bucket *b = tk__park_bucket(job);
  int rc = 0;
  tk__block_begin();  /* on a worker: a spare meanwhile (before the
                         bucket: pool mu comes first) */
  pthread_mutex_lock(&b->mu);
  atomic_fetch_add_explicit(&job->waiters, 1, memory_order_seq_cst);
  while (!is_final(atomic_load_explicit(&job->state, memory_order_seq_cst))) {
    if (tk__bucket_wait(b, deadline) == TK_ETIMEDOUT) {
      rc = TK_ETIMEDOUT;
      break;
    }
  }
  atomic_fetch_sub_explicit(&job->waiters, 1, memory_order_relaxed);
  pthread_mutex_unlock(&b->mu);
  tk__block_end();
  if (rc == 0) TK_HG_ACQUIRE(&job->state);
  return rc;
}

/* {====================================================== running */

int tk__job_start(tk_job_t *job) {
  int expected = TK_JOB_PENDING;
  return atomic_compare_exchange_strong_explicit(&job->state, &expected,
                                                 TK_JOB_RUNNING,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire);
}

int tk__job_run(tk_job_t *job, int resumed) {
  uint64_t start = resumed ? atomic_load_explicit(&job->t_start,
                                                  memory_order_relaxed)
                           : tk__now_ns();
  atomic_store_explicit(&job->t_start, start, memory_order_relaxed);
  tk__job_ext *x = tk__job_ext_peek(job);
  int state;
  tk_run_hook_fn ran = NULL;    /* the task ran, with a hook to tell */
  uint64_t ran_start = 0;
  if (!resumed && x != NULL && tk__token_chain_cancelled(&x->token)) {
    /* Cancelled (by its token or group) after it was queued: never runs. */
    job->error = tk__strdup("cancelled before it started");
    state = TK_JOB_CANCELLED;
  } else if (!resumed && x != NULL && x->timeout > 0 &&
             tk__timer_arm(&x->timer,
                           start + tk__ns(x->timeout)) != 0) {
    /* Running it unbounded would break the promise of its timeout. */
    job->error = tk__strdup("not enough memory to arm its timeout");
    state = TK_JOB_FAILED;
  } else {
    /* The timeout runs from the first start and stays armed while the
    ** job is suspended. A trace hears of each run (the hook; one load when
    ** unset): the first starts at `start`, a later one now. */
    tk_run_hook_fn hook =
        atomic_load_explicit(&run_hook, memory_order_relaxed);
    uint64_t run_start = hook != NULL && resumed ? tk__now_ns() : start;
    tk_job_t *prev = current;
    current = job;
    int rc = job->fn(job->arg);
    current = prev;
    if (rc == TK_SUSPEND) {
      if (hook != NULL) hook(job, run_start, tk__now_ns(), 1);
      return TK__SUSPENDED;
    }
    ran = hook;
    ran_start = run_start;
    x = tk__job_ext_peek(job);  /* the task may have made one */
    if (x != NULL && x->timeout > 0) tk__timer_disarm(&x->timer);
    if (rc == 0) {
      state = TK_JOB_COMPLETED;
    } else {
      int cancelled = rc == TK_ECANCELED ||
                      (x != NULL && tk_token_is_cancelled(&x->token));
      state = cancelled ? TK_JOB_CANCELLED : TK_JOB_FAILED;
      if (cancelled && x != NULL &&
          atomic_load_explicit(&x->timed_out, memory_order_relaxed)) {
        char buf[64];
        snprintf(buf, sizeof buf, "timed out after %g s", x->timeout);
        tk__free(job->error);
        job->error = tk__strdup(buf);
      } else if (job->error == NULL) {
        job->error = tk__strdup(cancelled ? "cancelled" : tk_strerror(rc));
      }
    }
  }
  job->t_finish = tk__now_ns();
  if (ran != NULL) ran(job, ran_start, job->t_finish, 0);  /* then the end */
  publish(job, state);
  notify_dependents(job);
  return state;
}

void tk__job_abort(tk_job_t *job, const char *why) {
  tk__job_ext *x = tk__job_ext_peek(job);
  if (x != NULL && x->timeout > 0) tk__timer_disarm(&x->timer);
  tk__free(job->error);
  job->error = tk__strdup(why);
  job->t_finish = tk__now_ns();
  publish(job, TK_JOB_FAILED);
  notify_dependents(job);
}

tk_job_t *tk_job_current(void) { return current; }

int tk_cancelled(void) { return current != NULL && tk_job_is_cancelled(current); }

int tk_job_set_result(tk_job_t *job, void *result, void (*free_fn)(void *)) {
  if (job == NULL || job != current) return TK_EINVAL;
  if (job->result_free != NULL) job->result_free(job->result);
  job->result = result;
  job->result_free = free_fn;
  return 0;
}

int tk_job_fail(tk_job_t *job, const char *fmt, ...) {
  if (job == NULL || job != current || fmt == NULL) return TK_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = n >= 0 ? tk__malloc((size_t)n + 1) : NULL;
  if (msg != NULL) {
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tk__free(job->error);
    job->error = msg;
  }
  return TK_EFAILED;
}

/* }====================================================== */

/* {====================================================== cancellation */

int tk__job_cancel_pending(tk_job_t *job, char *reason) {
  int expected = TK_JOB_PENDING;
  if (!atomic_compare_exchange_strong_explicit(&job->state, &expected,
                                               TK__JOB_CANCELLING,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    tk__free(reason);
    return TK_EINVAL;
  }
  tk_job_retain(job);  /* the pool may drop its reference below */
  if (reason == NULL) {
    tk__job_ext *x = tk__job_ext_peek(job);
    int timed_out = x != NULL &&
                    atomic_load_explicit(&x->timed_out, memory_order_relaxed);
    reason = tk__strdup(timed_out ? "timed out" : "cancelled");
  }
  job->error = reason;
  job->t_finish = tk__now_ns();
  publish(job, TK_JOB_CANCELLED);
  pool_of_jobs()->job_cancelled(job->pool, job);
  notify_dependents(job);
  tk_job_release(job);
  return 0;
}

/* The job's token was cancelled. */
static void token_cancelled(tk_job_t *job) {
  if (state_of(job) == TK_JOB_PENDING) tk__job_cancel_pending(job, NULL);
}

int tk_job_cancel(tk_job_t *job) {
  if (job == NULL) return TK_EINVAL;
  if (tk__job_cancel_pending(job, NULL) == 0) {
    tk__job_ext *x = tk__job_ext_peek(job);
    if (x != NULL) tk_token_cancel(&x->token);  /* so its callbacks run */
    return 0;
  }
  int st = state_of(job);
  if (st == TK_JOB_RUNNING) {
    tk__job_ext *x = tk__job_ext_get(job);
    if (x == NULL) return TK_ENOMEM;
    tk_token_cancel(&x->token);
    return TK_EBUSY;
  }
  return TK_EINVAL;
}

tk_token_t *tk_job_token(tk_job_t *job) {
  tk__job_ext *x = job != NULL ? tk__job_ext_get(job) : NULL;
  return x != NULL ? &x->token : NULL;
}

int tk_job_timed_out(const tk_job_t *job) {
  tk__job_ext *x = job != NULL ? tk__job_ext_peek(job) : NULL;
  return x != NULL && atomic_load_explicit(&x->timed_out, memory_order_relaxed);
}

int tk_job_is_cancelled(const tk_job_t *job) {
  if (job == NULL) return 0;
  tk__job_ext *x = tk__job_ext_peek(job);
  return (x != NULL && tk_token_is_cancelled(&x->token)) ||
         state_of(job) == TK_JOB_CANCELLED;
}

/* }====================================================== */

/* {====================================================== dependencies */

/* Pushes n on the job's list of things to tell when it ends; 0 if the job
** already ended (the caller handles n itself). */
static int push_dep_node(tk_job_t *job, tk__dep_node *n) {
  tk__dep_node *head = atomic_load_explicit(&job->dependents,
                                            memory_order_acquire);
  do {
    if (head == TK__DEPS_CLOSED) return 0;
    n->next = head;
    TK_HG_RELEASE(&job->dependents);
  } while (!atomic_compare_exchange_weak_explicit(&job->dependents, &head, n,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire));
  return 1;
}

int tk_job_open(tk_job_t *job) {
  tk__job_ext *x = job != NULL ? tk__job_ext_peek(job) : NULL;
  if (x == NULL || atomic_exchange(&x->gate, 0) != 1) return TK_EINVAL;
  tk__job_dep_done(job, NULL, 0);
  return 0;
}

int tk_job_on_finish(tk_job_t *job, tk_cancel_fn fn, void *arg) {
  if (job == NULL || fn == NULL) return TK_EINVAL;
  tk__dep_node *n = tk__malloc(sizeof *n);
  if (n == NULL) return TK_ENOMEM;
  tk__job_on_finish_node(job, n, fn, arg);
  return 0;
}

static void on_finish_node(tk_job_t *job, tk__dep_node *n, tk_cancel_fn fn,
                           void *arg, size_t index) {
  n->dependent = NULL;
  n->index = index;
  n->fn = fn;
  n->arg = arg;
  if (!push_dep_node(job, n)) {
    if (index != TK__NODE_KEPT) tk__free(n);
    fn(arg);
  }
}

void tk__job_on_finish_node(tk_job_t *job, tk__dep_node *n, tk_cancel_fn fn,
                            void *arg) {
  on_finish_node(job, n, fn, arg, 0);
}

void tk__job_on_finish_kept(tk_job_t *job, tk__dep_node *n, tk_cancel_fn fn,
                            void *arg) {
  on_finish_node(job, n, fn, arg, TK__NODE_KEPT);
}

int tk__job_add_dependent(tk_job_t *job, tk_job_t *dependent, size_t index) {
  tk__dep_node *n = tk__malloc(sizeof *n);
  if (n == NULL) return TK_ENOMEM;
  n->dependent = dependent;
  n->index = index;
  n->fn = NULL;
  n->arg = NULL;
  tk_job_retain(dependent);  /* before the push: the job may end at once */
  if (push_dep_node(job, n)) return 0;
  tk_job_release(dependent);
  tk__free(n);
  return TK_EBUSY;
}

static char *dep_reason(tk_job_t *dep, size_t index) {
  int st = state_of(dep);
  const char *what = st == TK_JOB_FAILED ? "failed" : "was cancelled";
  char buf[256];
  const char *name = tk_job_name(dep);
  if (name != NULL)
    snprintf(buf, sizeof buf, "dependency '%s' %s", name, what);
  else
    snprintf(buf, sizeof buf, "dependency #%zu %s", index + 1, what);
  return tk__strdup(buf);
}

void tk__job_dep_done(tk_job_t *job, tk_job_t *dep, size_t index) {
  tk__job_ext *x = tk__job_ext_peek(job);  /* made at submit */
  if (dep != NULL && state_of(dep) != TK_JOB_COMPLETED) {
    char *reason = dep_reason(dep, index);
    char *none = NULL;
    if (reason == NULL ||
        !atomic_compare_exchange_strong(&x->dep_reason, &none, reason))
      tk__free(reason);
  }
  /* The last one to count down sees what every earlier one wrote (the
  ** reason above included). */
  TK_HG_RELEASE(&x->deps_left);
  if (atomic_fetch_sub_explicit(&x->deps_left, 1, memory_order_acq_rel) != 1)
    return;
  TK_HG_ACQUIRE(&x->deps_left);
  if (atomic_load(&x->dep_reason) == NULL) {
    pool_of_jobs()->deps_ready(job->pool, job);
    return;
  }
  /* Cancelling notifies the job's own dependents, which may cancel theirs:
  ** a trampoline keeps a long chain from becoming deep recursion. */
  static _Thread_local tk_job_t *cascade;
  static _Thread_local int draining;
  tk_job_retain(job);
  x->cascade_next = cascade;
  cascade = job;
  if (draining) return;
  draining = 1;
  while (cascade != NULL) {
    tk_job_t *j = cascade;
    tk__job_ext *jx = tk__job_ext_peek(j);
    cascade = jx->cascade_next;
    tk__job_cancel_pending(j, atomic_exchange(&jx->dep_reason, NULL));
    tk_job_release(j);
  }
  draining = 0;
}

/* }====================================================== */

/* {====================================================== accessors */

int tk_job_priority(const tk_job_t *job) { return job ? job->priority : 0; }
const char *tk_job_name(const tk_job_t *job) {
  tk__job_ext *x = job ? tk__job_ext_peek(job) : NULL;
  return x ? x->name : NULL;
}

const char *tk_job_error(const tk_job_t *job) {
  if (job == NULL) return NULL;
  int st = state_of(job);
  if (!is_final(st)) return NULL;
  if (st == TK_JOB_COMPLETED || job->error != NULL) return job->error;
  /* The message's own allocation failed: still say what happened. */
  return st == TK_JOB_CANCELLED ? "cancelled"
                                : "failed (no memory for its message)";
}

void *tk_job_result(const tk_job_t *job) {
  if (job == NULL) return NULL;
  int st = state_of(job);
  return st == TK_JOB_COMPLETED ? job->result : NULL;
}

static double seconds(uint64_t ns) { return (double)ns / 1e9; }

void *tk_job_arg(const tk_job_t *job, tk_task_fn *fn) {
  if (fn != NULL) *fn = job ? job->fn : NULL;
  return job ? job->arg : NULL;
}

double tk_job_execution_time(const tk_job_t *job) {
  if (job == NULL) return -1;
  int st = state_of(job);
  uint64_t start = atomic_load_explicit(&job->t_start, memory_order_relaxed);
  if (!is_final(st) || start == 0) return -1;
  return seconds(job->t_finish - start);
}

double tk_job_queue_wait(const tk_job_t *job) {
  if (job == NULL) return -1;
  int st = state_of(job);
  if (st == TK_JOB_PENDING || st == TK__JOB_CANCELLING) return -1;
  uint64_t start = atomic_load_explicit(&job->t_start, memory_order_relaxed);
  /* Started but its start not stored yet (tk__job_start publishes RUNNING
  ** just before tk__job_run stores it): waiting until now, about. Only a
  ** final job's t_finish is written for good. */
  uint64_t end = start ? start : is_final(st) ? job->t_finish : tk__now_ns();
  return seconds(end - job->t_submit);
}

void tk_job_times_ns(const tk_job_t *job, uint64_t *submitted,
                     uint64_t *started, uint64_t *finished) {
  int st = job ? state_of(job) : TK_JOB_PENDING;
  if (submitted) *submitted = job ? job->t_submit : 0;
  if (started)
    *started = job ? atomic_load_explicit(&job->t_start, memory_order_relaxed)
                   : 0;
  /* Written for good only once final (state_of acquired it). */
  if (finished) *finished = job && is_final(st) ? job->t_finish : 0;
}

uint64_t tk_now_ns(void) { return tk__now_ns(); }

uint64_t tk_deadline_ns(double timeout) { return tk__deadline(timeout); }

tk_pool_t *tk_job_pool(const tk_job_t *job) { return job ? job->pool : NULL; }

double tk_job_submitted_at(const tk_job_t *job) {
  return job ? seconds(job->t_submit) : 0;
}

double tk_job_started_at(const tk_job_t *job) {
  if (job == NULL) return 0;
  int st = state_of(job);
  if (st == TK_JOB_PENDING || st == TK__JOB_CANCELLING) return 0;
  return seconds(atomic_load_explicit(&job->t_start, memory_order_relaxed));
}

double tk_job_finished_at(const tk_job_t *job) {
  if (job == NULL) return 0;
  int st = state_of(job);
  return is_final(st) ? seconds(job->t_finish) : 0;
}

/* }====================================================== */
