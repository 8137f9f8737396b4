/*
** test_job.c - job states, results, errors, cancellation, timeouts, timings.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

static int result_task(void *arg) {
  int *v = malloc(sizeof *v);
  *v = *(int *)arg * 2;
  tk_job_set_result(tk_job_current(), v, free);
  return 0;
}

static void job_completes_with_result(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  int in = 21;
  tk_job_opts_t o = {0};
  o.name = "double";
  o.priority = TK_HIGH;
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, &o, result_task, &in, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  assert_int_equal(42, *(int *)tk_job_result(j));
  assert_string_equal("double", tk_job_name(j));
  assert_int_equal(TK_HIGH, tk_job_priority(j));
  assert_null(tk_job_error(j));
  assert_true(tk_job_execution_time(j) >= 0);
  assert_true(tk_job_queue_wait(j) >= 0);
  assert_true(tk_job_finished_at(j) >= tk_job_started_at(j));
  assert_true(tk_job_started_at(j) >= tk_job_submitted_at(j));
  assert_string_equal("completed", tk_job_state_name(tk_job_state(j)));
  tk_job_release(j);
  tk_pool_free(p);
}

static int failing_task(void *arg) {
  return tk_job_fail(tk_job_current(), "bad input %d", *(int *)arg);
}

static int code_task(void *arg) {
  (void)arg;
  return TK_ENOMEM;
}

static void job_fails_with_message(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  int in = 7;
  tk_job_t *a, *b;
  assert_ok(tk_pool_submit(p, NULL, failing_task, &in, &a));
  assert_ok(tk_pool_submit(p, NULL, code_task, NULL, &b));
  assert_ok(tk_job_wait(a, 30));
  assert_ok(tk_job_wait(b, 30));
  assert_int_equal(TK_JOB_FAILED, tk_job_state(a));
  assert_string_equal("bad input 7", tk_job_error(a));
  assert_int_equal(TK_JOB_FAILED, tk_job_state(b));
  assert_string_equal("not enough memory", tk_job_error(b));
  assert_null(tk_job_result(a));
  tk_job_release(a);
  tk_job_release(b);
  tk_pool_free(p);
}

static void job_cancel_before_start_never_runs(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_job_t *blocker, *victim;
  atomic_int ran = 0;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &blocker));
  assert_true(gate_wait_arrived(&g, 1));
  assert_ok(tk_pool_submit(p, NULL, (tk_task_fn)noop_task, &ran, &victim));
  assert_int_equal(0, tk_job_cancel(victim));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(victim));
  assert_true(tk_job_is_cancelled(victim));
  assert_string_equal("cancelled", tk_job_error(victim));
  assert_true(tk_job_execution_time(victim) < 0);
  assert_int_equal(TK_EINVAL, tk_job_cancel(victim));
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(1, m.cancelled);
  assert_int_equal(1, m.completed);
  tk_job_release(blocker);
  tk_job_release(victim);
  tk_pool_free(p);
  gate_destroy(&g);
}

typedef struct coop {
  gate started;
  atomic_int saw_cancel;
} coop;

static int cooperative_task(void *arg) {
  coop *c = arg;
  gate_pass(&c->started);  /* the gate is open: just reports arrival */
  while (!tk_cancelled()) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&c->saw_cancel, 1);
  return TK_ECANCELED;
}

static void job_cancel_while_running(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  coop c;
  gate_init(&c.started);
  gate_open(&c.started);
  atomic_init(&c.saw_cancel, 0);
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, cooperative_task, &c, &j));
  assert_true(gate_wait_arrived(&c.started, 1));
  assert_int_equal(TK_EBUSY, tk_job_cancel(j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(j));
  assert_int_equal(1, atomic_load(&c.saw_cancel));
  tk_job_release(j);
  tk_pool_free(p);
  gate_destroy(&c.started);
}

static int fail_after_cancel_task(void *arg) {
  coop *c = arg;
  gate_pass(&c->started);
  tk_token_wait(tk_job_token(tk_job_current()), 30);
  return tk_job_fail(tk_job_current(), "gave up");
}

static void job_failing_after_token_cancel_ends_cancelled(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  coop c;
  gate_init(&c.started);
  gate_open(&c.started);
  tk_token_t *tok;
  assert_ok(tk_token_new(&tok));
  tk_job_opts_t o = {0};
  o.token = tok;
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, &o, fail_after_cancel_task, &c, &j));
  assert_true(gate_wait_arrived(&c.started, 1));
  tk_token_cancel(tok);
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(j));
  assert_string_equal("gave up", tk_job_error(j));
  assert_false(tk_token_is_cancelled(NULL));
  tk_job_release(j);
  tk_token_release(tok);
  tk_pool_free(p);
  gate_destroy(&c.started);
}

static void job_token_cancels_pending_jobs_at_once(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_token_t *tok;
  assert_ok(tk_token_new(&tok));
  tk_job_t *blocker, *js[10];
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &blocker));
  assert_true(gate_wait_arrived(&g, 1));
  tk_job_opts_t o = {0};
  o.token = tok;
  for (int i = 0; i < 10; i++)
    assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &js[i]));
  tk_token_cancel(tok);
  /* Final at once, while the only worker is still blocked. */
  for (int i = 0; i < 10; i++)
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(js[i]));
  /* A job submitted with an already cancelled token ends cancelled too. */
  tk_job_t *late;
  assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &late));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(late));
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(11, m.cancelled);
  assert_int_equal(12, m.submitted);
  for (int i = 0; i < 10; i++) tk_job_release(js[i]);
  tk_job_release(late);
  tk_job_release(blocker);
  tk_token_release(tok);
  tk_pool_free(p);
  gate_destroy(&g);
}

static void job_wait_times_out(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &j));
  double t0 = now_s();
  assert_int_equal(TK_ETIMEDOUT, tk_job_wait(j, 0.05));
  assert_true(now_s() - t0 >= 0.045);
  assert_int_equal(TK_ETIMEDOUT, tk_job_wait(j, 0));
  gate_open(&g);
  assert_ok(tk_job_wait(j, -1));
  tk_job_release(j);
  tk_pool_free(p);
  gate_destroy(&g);
}

static int wait_for_cancel_task(void *arg) {
  (void)arg;
  if (tk_token_wait(tk_job_token(tk_job_current()), 30) != 0) return 0;
  return TK_ECANCELED;
}

static void job_timeout_cancels_its_token(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  tk_job_opts_t o = {0};
  o.timeout = 0.05;
  tk_job_t *j, *quick;
  double t0 = now_s();
  assert_ok(tk_pool_submit(p, &o, wait_for_cancel_task, NULL, &j));
  assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &quick));
  assert_ok(tk_job_wait(j, 30));
  assert_true(now_s() - t0 >= 0.045);
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(j));
  assert_string_equal("timed out after 0.05 s", tk_job_error(j));
  assert_ok(tk_job_wait(quick, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(quick));
  tk_job_release(j);
  tk_job_release(quick);
  /* A timeout too long for nanoseconds saturates (UBSan checks the
  ** conversion); waits that long or NaN mean forever, as negative. */
  o.timeout = 1e300;
  assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &j));
  assert_ok(tk_job_wait(j, 1e300));
  assert_ok(tk_job_wait(j, NAN));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  tk_job_release(j);
  tk_pool_free(p);
}

static int check_current(void *arg) {
  tk_job_t **slot = arg;
  *slot = tk_job_current();
  return 0;
}

static void job_current_inside_and_outside(void **state) {
  (void)state;
  assert_null(tk_job_current());
  assert_false(tk_cancelled());
  tk_pool_t *p = new_pool(1);
  tk_job_t *seen = NULL, *j;
  assert_ok(tk_pool_submit(p, NULL, check_current, &seen, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_ptr_equal(j, seen);
  assert_int_equal(TK_EINVAL, tk_job_set_result(j, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_job_fail(j, "x"));
  tk_job_release(j);
  tk_pool_free(p);
}

static void job_outlives_pool(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  int in = 4;
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, result_task, &in, &j));
  tk_pool_free(p);
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  assert_int_equal(8, *(int *)tk_job_result(j));
  tk_job_release(j);
}

static void count_free(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

static void job_arg_free_runs_once_ran_or_not(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  atomic_int freed = 0;
  tk_job_opts_t o = {0};
  o.arg_free = count_free;
  tk_job_t *blocker, *ran, *never;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &blocker));
  assert_ok(tk_pool_submit(p, &o, noop_task, &freed, &ran));
  assert_ok(tk_pool_submit(p, &o, noop_task, &freed, &never));
  assert_int_equal(0, tk_job_cancel(never));
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(0, atomic_load(&freed));  /* handles still held */
  tk_job_release(ran);
  tk_job_release(never);
  /* The queue may still hold the cancelled job's entry until a worker
  ** drops it; after shutdown the workers have. */
  tk_pool_shutdown(p, 1, 0);
  assert_int_equal(2, atomic_load(&freed));
  /* A failed submit leaves the argument to the caller. */
  assert_int_equal(TK_ESHUTDOWN, tk_pool_submit(p, &o, noop_task, &freed, NULL));
  assert_int_equal(2, atomic_load(&freed));
  tk_job_release(blocker);
  tk_pool_free(p);
  gate_destroy(&g);
}

static void job_bad_input(void **state) {
  (void)state;
  assert_int_equal(TK_EINVAL, tk_job_wait(NULL, 0));
  assert_int_equal(TK_EINVAL, tk_job_cancel(NULL));
  assert_null(tk_job_error(NULL));
  assert_null(tk_job_token(NULL));
  assert_string_equal("unknown", tk_job_state_name((tk_job_state_t)42));
  assert_string_equal("timed out", tk_strerror(TK_ETIMEDOUT));
  assert_string_equal("ETIMEDOUT", tk_err_name(TK_ETIMEDOUT));
  assert_string_equal("unknown error", tk_strerror(12345));
  tk_job_release(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(job_completes_with_result),
      cmocka_unit_test(job_fails_with_message),
      cmocka_unit_test(job_cancel_before_start_never_runs),
      cmocka_unit_test(job_cancel_while_running),
      cmocka_unit_test(job_failing_after_token_cancel_ends_cancelled),
      cmocka_unit_test(job_token_cancels_pending_jobs_at_once),
      cmocka_unit_test(job_wait_times_out),
      cmocka_unit_test(job_timeout_cancels_its_token),
      cmocka_unit_test(job_current_inside_and_outside),
      cmocka_unit_test(job_outlives_pool),
      cmocka_unit_test(job_arg_free_runs_once_ran_or_not),
      cmocka_unit_test(job_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
