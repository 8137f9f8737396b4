/*
** test_oom.c - allocation failures injected into the core: a scenario that
** touches every allocating path runs once per allocation, with that
** allocation failing (and again with every allocation from it on failing).
** Each run must end with error codes only: no crash, no hang, no leak, no
** job without a final state, callbacks exactly once.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"
#include "tk_slab.h"

#include <execinfo.h>
#include <stdio.h>
#include <unistd.h>

/* {====================================================== the allocator */

static atomic_long calls;        /* allocation attempts this run */
static atomic_long fail_at;      /* the attempt that fails (1-based) */
static atomic_int fail_onward;   /* 1: every attempt from fail_at fails */
static atomic_long injected;     /* failures handed out this run */
static atomic_long live;         /* blocks allocated and not freed */

static int should_fail(void) {
  long c = atomic_fetch_add(&calls, 1) + 1;
  long at = atomic_load(&fail_at);
  int fail = at > 0 && (c == at || (atomic_load(&fail_onward) && c > at));
  if (fail && atomic_fetch_add(&injected, 1) == 0 && getenv("TK_OOM_POINT")) {
    void *frames[16];  /* where a single point under study failed */
    backtrace_symbols_fd(frames, backtrace(frames, 16), STDERR_FILENO);
  }
  return fail;
}

static void *oom_malloc(size_t n) {
  if (should_fail()) return NULL;
  void *p = malloc(n);
  if (p != NULL) atomic_fetch_add(&live, 1);
  return p;
}

static void *oom_realloc(void *ptr, size_t n) {
  if (should_fail()) return NULL;
  void *p = realloc(ptr, n);
  if (p != NULL && ptr == NULL) atomic_fetch_add(&live, 1);
  return p;
}

static void oom_free(void *p) {
  if (p != NULL) atomic_fetch_sub(&live, 1);
  free(p);
}

/* }====================================================== */

/* {====================================================== the scenario */

/* Anything but 0 or TK_ENOMEM from a call is a bug; tasks cannot use
** cmocka's asserts, so the first one is recorded for the main thread. */
static atomic_int bad;
static char bad_what[160];

static void note_bad(const char *what, int rc) {
  if (atomic_exchange(&bad, 1) == 0)
    snprintf(bad_what, sizeof bad_what, "%s returned %s", what,
             tk_err_name(rc));
}

#define TRY(call) try_((call), #call)
static int try_(int rc, const char *what) {
  if (rc != 0 && rc != TK_ENOMEM) note_bad(what, rc);
  return rc == 0;
}

static atomic_int cb_registered, cb_ran, posts_made, posts_ran, finish_ran;

static void on_cancel_cb(void *arg) {
  (void)arg;
  atomic_fetch_add(&cb_ran, 1);
}

static void on_post(void *arg, int status) {
  (void)arg;
  (void)status;
  atomic_fetch_add(&posts_ran, 1);
}

static void on_finish(void *arg) {
  (void)arg;
  atomic_fetch_add(&finish_ran, 1);
}

static int result_task(void *arg) {
  (void)arg;
  char *r = malloc(8);
  strcpy(r, "done");
  if (tk_job_set_result(tk_job_current(), r, free) != 0) free(r);
  return 0;
}

static int fail_task(void *arg) {
  (void)arg;
  return tk_job_fail(tk_job_current(), "boom %d", 42);
}

/* Waits on its own token: ends when its 1 ms timeout cancels it. */
static int timeout_task(void *arg) {
  (void)arg;
  tk_token_wait(tk_job_token(tk_job_current()), 30);
  return TK_ECANCELED;
}

static tk_pool_t *run_pool;

/* Inside a group's task: a child group and a job in it. */
static int nest_task(void *arg) {
  (void)arg;
  tk_group_t *child;
  tk_group_opts_t o = {0};
  o.name = "child";
  if (!TRY(tk_group_new(run_pool, &o, &child))) return TK_ENOMEM;
  tk_job_t *j = NULL;
  TRY(tk_group_submit(child, NULL, noop_task, NULL, &j));
  tk_job_release(j);
  tk_group_release(child);
  return 0;
}

enum { MAXJOBS = 32 };
static tk_job_t *jobs[MAXJOBS];
static int njobs;

static tk_job_t *keep(tk_job_t *j) {
  if (j != NULL && njobs < MAXJOBS) jobs[njobs++] = j;
  return j;
}

static void submit(tk_pool_t *p, const tk_job_opts_t *o, tk_task_fn fn,
                   tk_job_t **out) {
  tk_job_t *j = NULL;
  if (TRY(tk_pool_submit(p, o, fn, NULL, &j))) keep(j);
  if (out != NULL) *out = j;
}

static void tokens_part(void) {
  tk_token_t *parent, *child;
  if (!TRY(tk_token_new(&parent))) return;
  if (TRY(tk_token_new_child(parent, &child))) {
    uint64_t id;
    if (TRY(tk_token_on_cancel_ex(child, on_cancel_cb, on_cancel_cb, NULL,
                                  &id)))
      atomic_fetch_add(&cb_registered, 1);
    if (TRY(tk_token_set_deadline(child, 0.001)) &&
        tk_token_wait(child, 30) != 0)
      note_bad("an armed deadline", TK_ETIMEDOUT);
    tk_token_release(child);
  }
  tk_token_release(parent);
}

static void pool_part(tk_pool_t *p) {
  tk_token_t *tok = NULL;
  TRY(tk_token_new(&tok));
  tk_job_opts_t o = {0};
  o.name = "a";
  o.token = tok;
  tk_job_t *a, *b;
  submit(p, &o, result_task, &a);
  if (a != NULL && TRY(tk_job_on_finish(a, on_finish, NULL)))
    atomic_fetch_add(&cb_registered, 1);
  tk_job_opts_t ob = {0};
  ob.name = "b";
  ob.after = &a;
  ob.n_after = a != NULL;
  submit(p, &ob, fail_task, &b);
  tk_job_t *ab[2] = {a, b};
  tk_job_opts_t oc = {0};
  oc.after = ab;
  oc.n_after = (a != NULL && b != NULL) ? 2 : 0;
  submit(p, &oc, noop_task, NULL);
  tk_job_opts_t ot = {0};
  ot.timeout = 0.001;
  submit(p, &ot, timeout_task, NULL);
  tk_job_opts_t og = {0};
  og.gated = 1;
  tk_job_t *g;
  submit(p, &og, noop_task, &g);
  if (g != NULL && tk_job_cancel(g) != 0) note_bad("cancel of gated", 1);
  if (TRY(tk_pool_post(p, TK_HIGH, on_post, NULL)))
    atomic_fetch_add(&posts_made, 1);
  void *args[4] = {0};
  if (TRY(tk_pool_post_batch(p, TK_LOW, on_post, args, 4)))
    atomic_fetch_add(&posts_made, 4);
  tk_token_release(tok);
}

static void group_part(tk_pool_t *p) {
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.name = "g";
  o.max_concurrent = 1;
  if (!TRY(tk_group_new(p, &o, &g))) return;
  tk_job_t *j;
  if (TRY(tk_group_submit(g, NULL, nest_task, NULL, &j))) keep(j);
  for (int i = 0; i < 2; i++)
    if (TRY(tk_group_submit(g, NULL, noop_task, NULL, &j))) keep(j);
  if (tk_group_join(g, 30) != 0) note_bad("tk_group_join", TK_ETIMEDOUT);
  tk_job_t *listed[8];
  size_t n = tk_group_jobs(g, listed, 8);
  for (size_t i = 0; i < n; i++) tk_job_release(listed[i]);
  tk_group_t *kids[4];
  n = tk_group_children(g, kids, 4);
  for (size_t i = 0; i < n; i++) tk_group_release(kids[i]);
  tk_group_release(g);
}

static void schedule_part(tk_pool_t *p) {
  tk_schedule_t *once, *every;
  tk_schedule_opts_t o = {0};
  o.delay = 0.001;
  o.name = "once";
  if (TRY(tk_pool_schedule(p, &o, noop_task, NULL, &once)))
    tk_schedule_release(once);
  tk_schedule_opts_t e = {0};
  e.every = 0.001;
  if (TRY(tk_pool_schedule(p, &e, noop_task, NULL, &every))) {
    tk_schedule_cancel(every);
    tk_schedule_release(every);
  }
}

/* A paused pool shut down with work queued: that work ends CANCELLED. */
static void shutdown_part(void) {
  tk_pool_opts_t o = {0};
  o.workers = 1;
  o.paused = 1;
  tk_pool_t *p;
  if (!TRY(tk_pool_new(&o, &p))) return;
  for (int i = 0; i < 3; i++) submit(p, NULL, noop_task, NULL);
  TRY(tk_pool_shutdown(p, 1, 1));
  TRY(tk_pool_free(p));
}

static void check_jobs(void) {
  for (int i = 0; i < njobs; i++) {
    tk_job_t *j = jobs[i];
    if (tk_job_wait(j, 30) != 0) note_bad("tk_job_wait", TK_ETIMEDOUT);
    tk_job_state_t s = tk_job_state(j);
    if (s != TK_JOB_COMPLETED && tk_job_error(j) == NULL)
      note_bad("a job with no error text", (int)s);
    tk_job_release(j);
  }
  njobs = 0;
}

static void scenario(void) {
  tokens_part();
  tk_pool_opts_t o = {0};
  o.workers = 2;
  o.name = "oom";
  if (TRY(tk_pool_new(&o, &run_pool))) {
    pool_part(run_pool);
    group_part(run_pool);
    schedule_part(run_pool);
    if (tk_pool_wait_all(run_pool, 30) != 0)
      note_bad("tk_pool_wait_all", TK_ETIMEDOUT);
    /* Counted once the workers are gone: a schedule's tick may still
    ** have been submitting during the wait. */
    TRY(tk_pool_shutdown(run_pool, 1, 0));
    tk_pool_metrics_t m;
    TRY(tk_pool_metrics(run_pool, &m));
    if (m.submitted != m.completed + m.failed + m.cancelled ||
        m.running != 0 || m.pending != 0)
      note_bad("metrics that do not balance", 1);
    check_jobs();
    TRY(tk_pool_free(run_pool));
  }
  shutdown_part();
  check_jobs();
}

/* }====================================================== */

/* Runs the scenario with failure point n; returns failures injected. */
static long run_with(long n, int onward) {
  atomic_store(&bad, 0);
  atomic_store(&calls, 0);
  atomic_store(&injected, 0);
  atomic_store(&fail_at, n);
  atomic_store(&fail_onward, onward);
  atomic_store(&cb_registered, 0);
  atomic_store(&cb_ran, 0);
  atomic_store(&finish_ran, 0);
  atomic_store(&posts_made, 0);
  atomic_store(&posts_ran, 0);
  scenario();
  atomic_store(&fail_at, 0);
  /* The timer thread may free itself just after the last pool is gone.
  ** The blocks kept for reuse (slab.c) go back too: they must then be
  ** the last ones. */
  double until = now_s() + 5;
  while (atomic_load(&live) != 0 && now_s() < until) {
    tk__slab_trim_all();
    sched_yield();
  }
  if (atomic_load(&live) != 0) note_bad("a leak", (int)atomic_load(&live));
  if (atomic_load(&cb_ran) + atomic_load(&finish_ran) !=
      atomic_load(&cb_registered))
    note_bad("callbacks run other than once", 1);
  if (atomic_load(&posts_ran) != atomic_load(&posts_made))
    note_bad("posts run other than once", 1);
  if (atomic_load(&bad)) fail_msg("failure point %ld%s: %s", n,
                                  onward ? " onward" : "", bad_what);
  return atomic_load(&injected);
}

static void sweep(int onward) {
  assert_ok(tk_replace_allocator(oom_malloc, oom_realloc, oom_free));
  const char *only = getenv("TK_OOM_POINT");  /* study one point */
  if (only != NULL) {
    run_with(atol(only), onward);
    return;
  }
  long n = 1;
  while (run_with(n, onward) > 0) n++;
  assert_ok(tk_replace_allocator(NULL, NULL, NULL));
  /* n - 1 runs had a failure; the last ran clean, as a control. */
  assert_true(n > 50);
  printf("# %ld allocation failure points tried%s\n", n - 1,
         onward ? " (every allocation from the point on failing)" : "");
}

static void oom_each_allocation_fails_once(void **state) {
  (void)state;
  sweep(0);
}

static void oom_every_allocation_fails_from_a_point(void **state) {
  (void)state;
  sweep(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(oom_each_allocation_fails_once),
      cmocka_unit_test(oom_every_allocation_fails_from_a_point),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
