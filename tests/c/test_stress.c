/*
** test_stress.c - many submitters, random cancels, shutdown races: every
** job is accounted for. TK_STRESS_SCALE divides the sizes (sanitizers).
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

typedef struct submitter {
  tk_pool_t *pool;
  tk_token_t *shared_token;      /* cancelled halfway by the main thread */
  long n;
  unsigned seed;
  atomic_long *ran;
  long rejected;
  long final_counts[5];
} submitter;

static int count_task(void *arg) {
  atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
  return 0;
}

static int odd_fail_task(void *arg) {
  atomic_fetch_add_explicit((atomic_long *)arg + 1, 1, memory_order_relaxed);
  return tk_job_fail(tk_job_current(), "odd");
}

static void *submit_many(void *arg) {
  submitter *s = arg;
  tk_job_t **jobs = malloc((size_t)s->n * sizeof *jobs);
  for (long i = 0; i < s->n; i++) {
    unsigned r = (unsigned)rand_r(&s->seed);
    tk_job_opts_t o = {0};
    o.priority = (int)(r % 5) - 2;
    if (r % 7 == 0) o.token = s->shared_token;
    if (i > 0 && r % 11 == 0) {
      o.after = &jobs[i - 1 - (long)(r % (unsigned)(i < 8 ? i : 8))];
      o.n_after = 1;
    }
    tk_task_fn fn = r % 13 == 0 ? odd_fail_task : count_task;
    assert_ok(tk_pool_submit(s->pool, &o, fn, s->ran, &jobs[i]));
    if (r % 5 == 0) tk_job_cancel(jobs[i - (long)(r % (unsigned)(i + 1))]);
  }
  for (long i = 0; i < s->n; i++) {
    assert_ok(tk_job_wait(jobs[i], 120));
    tk_job_state_t st = tk_job_state(jobs[i]);
    assert_true(st >= TK_JOB_COMPLETED);
    s->final_counts[st]++;
    tk_job_release(jobs[i]);
  }
  free(jobs);
  return NULL;
}

static void stress_8_submitters_random_cancels(void **state) {
  (void)state;
  tk_pool_opts_t po = {0};
  po.workers = 2;
  tk_pool_t *p;
  assert_ok(tk_pool_new(&po, &p));
  tk_token_t *tok;
  assert_ok(tk_token_new(&tok));
  atomic_long ran[2] = {0, 0};  /* runs of count_task, odd_fail_task */
  submitter subs[8];
  pthread_t th[8];
  long per = stress_scale(250000);
  for (int i = 0; i < 8; i++) {
    memset(&subs[i], 0, sizeof subs[i]);
    subs[i].pool = p;
    subs[i].shared_token = tok;
    subs[i].n = per;
    subs[i].seed = 1234u + (unsigned)i;
    subs[i].ran = ran;
    pthread_create(&th[i], NULL, submit_many, &subs[i]);
  }
  tk_token_cancel(tok);
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
  assert_ok(tk_pool_wait_all(p, 120));
  long completed = 0, failed = 0, cancelled = 0;
  for (int i = 0; i < 8; i++) {
    completed += subs[i].final_counts[TK_JOB_COMPLETED];
    failed += subs[i].final_counts[TK_JOB_FAILED];
    cancelled += subs[i].final_counts[TK_JOB_CANCELLED];
  }
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(8 * per, m.submitted);
  assert_int_equal(completed, m.completed);
  assert_int_equal(failed, m.failed);
  assert_int_equal(cancelled, m.cancelled);
  assert_int_equal(0, m.pending);
  assert_int_equal(0, m.running);
  assert_int_equal(m.submitted, m.completed + m.failed + m.cancelled);
  /* Each run is counted once: a failing task ends FAILED, or CANCELLED
  ** when the shared token was cancelled while it ran. */
  assert_int_equal(atomic_load(&ran[0]), completed);
  assert_true(atomic_load(&ran[1]) >= failed);
  assert_true(atomic_load(&ran[1]) - failed <= cancelled);
  assert_true(cancelled > 0);
  tk_token_release(tok);
  tk_pool_free(p);
}

typedef struct poster {
  tk_pool_t *pool;
  long n;
  atomic_long *ran, *dropped;
  long accepted;
} poster;

static void post_fn(void *arg, int status) {
  poster *ps = arg;
  atomic_fetch_add(status == 0 ? ps->ran : ps->dropped, 1);
}

static void *post_many(void *arg) {
  poster *ps = arg;
  for (long i = 0; i < ps->n; i++) {
    int rc = tk_pool_post(ps->pool, (int)(i % 3), post_fn, ps);
    if (rc == TK_ESHUTDOWN) break;
    assert_ok(rc);
    ps->accepted++;
  }
  return NULL;
}

static void stress_shutdown_races_submitters(void **state) {
  (void)state;
  for (int round = 0; round < 20; round++) {
    tk_pool_opts_t po = {0};
    po.workers = 2;
    tk_pool_t *p;
    assert_ok(tk_pool_new(&po, &p));
    atomic_long ran = 0, dropped = 0;
    poster ps[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
      ps[i] = (poster){p, stress_scale(20000), &ran, &dropped, 0};
      pthread_create(&th[i], NULL, post_many, &ps[i]);
    }
    tk_pool_shutdown(p, 1, round % 2);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    long accepted = 0;
    for (int i = 0; i < 4; i++) accepted += ps[i].accepted;
    assert_int_equal(accepted, atomic_load(&ran) + atomic_load(&dropped));
    tk_pool_metrics_t m;
    assert_ok(tk_pool_metrics(p, &m));
    assert_int_equal(accepted, m.submitted);
    assert_int_equal(atomic_load(&ran), m.completed);
    assert_int_equal(atomic_load(&dropped), m.cancelled);
    tk_pool_free(p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stress_8_submitters_random_cancels),
      cmocka_unit_test(stress_shutdown_races_submitters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
