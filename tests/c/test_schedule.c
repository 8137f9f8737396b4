/*
** test_schedule.c - schedules: delay, at, every, no overlap, cancel.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

typedef struct counter {
  atomic_int runs, now, peak;
  int work_ms;
} counter;

static int tick(void *arg) {
  counter *c = arg;
  int n = atomic_fetch_add(&c->now, 1) + 1;
  int peak = atomic_load(&c->peak);
  while (n > peak && !atomic_compare_exchange_weak(&c->peak, &peak, n)) {}
  if (c->work_ms > 0) {
    struct timespec ts = {0, (long)c->work_ms * 1000000L};
    nanosleep(&ts, NULL);
  }
  atomic_fetch_sub(&c->now, 1);
  atomic_fetch_add(&c->runs, 1);
  return 0;
}

static void wait_runs(counter *c, int n) {
  for (int i = 0; i < 30000 && atomic_load(&c->runs) < n; i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

static void schedule_delay_runs_once(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  counter c = {0, 0, 0, 0};
  tk_schedule_opts_t o = {0};
  o.delay = 0.05;
  tk_schedule_t *s;
  double t0 = now_s();
  assert_ok(tk_pool_schedule(p, &o, tick, &c, &s));
  tk_pool_metrics_t m;
  tk_pool_metrics(p, &m);
  assert_int_equal(1, m.schedules);
  wait_runs(&c, 1);
  assert_true(now_s() - t0 >= 0.045);
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(1, atomic_load(&c.runs));
  assert_false(tk_schedule_active(s));
  assert_int_equal(TK_EINVAL, tk_schedule_cancel(s));  /* already over */
  tk_pool_metrics(p, &m);
  assert_int_equal(0, m.schedules);
  tk_schedule_release(s);
  tk_pool_free(p);
}

static void schedule_at_a_wall_clock_time(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  counter c = {0, 0, 0, 0};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  tk_schedule_opts_t o = {0};
  tk_schedule_t *s;
  o.at = now - 1;  /* in the past */
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.at = now + 0.05;
  assert_ok(tk_pool_schedule(p, &o, tick, &c, &s));
  wait_runs(&c, 1);
  assert_int_equal(1, atomic_load(&c.runs));
  tk_schedule_release(s);
  tk_pool_free(p);
}

static void schedule_every_and_cancel(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  counter c = {0, 0, 0, 0};
  tk_schedule_opts_t o = {0};
  o.every = 0.01;
  tk_schedule_t *s;
  assert_ok(tk_pool_schedule(p, &o, tick, &c, &s));
  wait_runs(&c, 5);
  assert_true(atomic_load(&c.runs) >= 5);
  assert_ok(tk_schedule_cancel(s));
  assert_ok(tk_pool_wait_all(p, 30));
  int after = atomic_load(&c.runs);
  struct timespec ts = {0, 50000000};
  nanosleep(&ts, NULL);  /* five periods: no more runs may come */
  assert_int_equal(after, atomic_load(&c.runs));
  assert_int_equal(TK_EINVAL, tk_schedule_cancel(s));
  tk_schedule_release(s);
  tk_pool_free(p);
}

static void schedule_never_overlaps_itself(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  counter c = {0, 0, 0, 30};  /* runs take 30 ms, ticks every 10 ms */
  tk_schedule_opts_t o = {0};
  o.every = 0.01;
  tk_schedule_t *s;
  assert_ok(tk_pool_schedule(p, &o, tick, &c, &s));
  wait_runs(&c, 4);
  tk_schedule_cancel(s);
  /* A tick that began before the cancel may still submit its run. */
  wait_runs(&c, (int)tk_schedule_runs(s));
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(1, atomic_load(&c.peak));
  assert_true(tk_schedule_missed(s) > 0);
  assert_int_equal(atomic_load(&c.runs), (int)tk_schedule_runs(s));
  tk_schedule_release(s);
  tk_pool_free(p);
}

static void schedule_ends_at_shutdown_and_bad_input(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  counter c = {0, 0, 0, 0};
  tk_schedule_opts_t o = {0};
  tk_schedule_t *s;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.delay = -1;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.delay = 0.01;
  o.at = 5;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.at = 0;
  o.every = -0.5;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.every = NAN;  /* NaN is no period, and no delay either */
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.every = 0;
  o.delay = NAN;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, tick, &c, &s));
  o.delay = 0.01;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, NULL, &c, &s));
  /* Times too long for nanoseconds saturate (UBSan checks the
  ** conversion): the first tick comes, the next one never. */
  o.every = 1e300;
  assert_ok(tk_pool_schedule(p, &o, tick, &c, &s));
  wait_runs(&c, 1);
  assert_int_equal(1, atomic_load(&c.runs));
  assert_true(tk_schedule_active(s));
  assert_ok(tk_schedule_cancel(s));
  tk_schedule_release(s);
  atomic_store(&c.runs, 0);
  o.every = 0;
  o.delay = 3600;
  assert_ok(tk_pool_schedule(p, &o, tick, &c, &s));
  tk_pool_shutdown(p, 1, 0);
  assert_false(tk_schedule_active(s));
  tk_schedule_t *late;
  assert_int_equal(TK_ESHUTDOWN, tk_pool_schedule(p, &o, tick, &c, &late));
  tk_schedule_release(s);
  tk_pool_free(p);
  assert_int_equal(0, atomic_load(&c.runs));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(schedule_delay_runs_once),
      cmocka_unit_test(schedule_at_a_wall_clock_time),
      cmocka_unit_test(schedule_every_and_cancel),
      cmocka_unit_test(schedule_never_overlaps_itself),
      cmocka_unit_test(schedule_ends_at_shutdown_and_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
