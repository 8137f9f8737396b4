/*
** test_quiet.c - quiet jobs (tk__pool_submit_quiet): the job stays out of
** the pool's metrics, the calls it reports count as jobs of their own.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"
#include "job.h"

/* Reports three calls as a runner would: two completed, one failed. */
static int three_calls(void *arg) {
  (void)arg;
  uint64_t t = 1000;  /* made-up times: 1 us queued, 2 us running */
  for (int i = 0; i < 3; i++) {
    tk__pool_count_taken();
    tk__pool_count_run(i < 2 ? TK_JOB_COMPLETED : TK_JOB_FAILED, t,
                       t + 1000, t + 3000);
  }
  return 0;
}

static void quiet_job_counts_its_calls_not_itself(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_pool_metrics_t m;
  tk__pool_count_submitted(p, 3);
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(3, m.submitted);
  assert_int_equal(3, m.pending);  /* calls not yet taken */
  assert_ok(tk__pool_submit_quiet(p, NULL, three_calls, NULL));
  assert_ok(tk_pool_wait_all(p, 30));
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(3, m.submitted);
  assert_int_equal(2, m.completed);
  assert_int_equal(1, m.failed);
  assert_int_equal(0, m.cancelled);
  assert_int_equal(0, m.pending);
  assert_int_equal(0, m.running);
  assert_true(fabs(m.mean_execution_time - 2e-6) < 1e-9);
  assert_true(fabs(m.mean_queue_wait - 1e-6) < 1e-9);
  assert_ok(tk_pool_free(p));
}

static int count_task(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

static void quiet_job_cancelled_while_queued_is_not_counted(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  atomic_int ran = 0;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, NULL));
  assert_true(gate_wait_arrived(&g, 1));
  assert_false(tk__pool_has_queued(p));
  tk__pool_count_submitted(p, 2);
  assert_ok(tk__pool_submit_quiet(p, NULL, count_task, &ran));
  assert_true(tk__pool_has_queued(p));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(1 + 2, m.submitted);  /* the gate's job, two calls */
  assert_int_equal(2, m.pending);
  /* A cancelling shutdown: the quiet job never runs; its calls are
  ** reported dropped, as its runner's clean-up would. */
  assert_ok(tk_pool_shutdown(p, 0, 1));
  tk__pool_count_dropped(p, 2);
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(0, atomic_load(&ran));
  assert_int_equal(1, m.completed);
  assert_int_equal(2, m.cancelled);
  assert_int_equal(0, m.pending);
  assert_ok(tk_pool_free(p));
  gate_destroy(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(quiet_job_counts_its_calls_not_itself),
      cmocka_unit_test(quiet_job_cancelled_while_queued_is_not_counted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
