/*
** test_queue.c - queues of calls (tk_queue_*): calls run in push order, at
** most one runner per worker takes them, a call may suspend, a cancelling
** shutdown ends the calls not started, and both the queue's metrics and
** the pool's count calls (not runners) and balance.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

#include <unistd.h>

#define N 200

/* A call of the tests: the caller's object, with the tk_call_t inside. */
typedef struct my_call {
  tk_call_t call;
  int index;
  int runs;                      /* times run was called */
} my_call;

typedef struct call_log {
  atomic_int ended;
  atomic_int running, most_running;
  int order[N];                  /* indices in the order they ended */
  int state[N];
  char *error[N];
  int suspend_first;             /* call 0 suspends once */
  _Atomic(tk_job_t *) suspended; /* its runner's job, retained */
  int sleep_us;
  pthread_mutex_t mu;
} log_t;

static my_call *mine(tk_call_t *c) {
  return (my_call *)((char *)c - offsetof(my_call, call));
}

static int run(tk_call_t *c, void *data) {
  log_t *lg = data;
  my_call *m = mine(c);
  m->runs++;
  int now = atomic_fetch_add(&lg->running, 1) + 1;
  int most = atomic_load(&lg->most_running);
  while (now > most && !atomic_compare_exchange_weak(&lg->most_running,
                                                     &most, now)) {}
  if (lg->sleep_us > 0) usleep((useconds_t)lg->sleep_us);
  atomic_fetch_sub(&lg->running, 1);
  if (m->index == 0 && lg->suspend_first && m->runs == 1) {
    tk_job_t *job = tk_job_current();
    tk_job_retain(job);
    atomic_store(&lg->suspended, job);
    return TK_SUSPEND;
  }
  if (m->index % 10 == 7) return tk_job_fail(tk_job_current(), "bad %d",
                                             m->index);
  if (m->index % 10 == 8) return -99;
  return 0;
}

static void end(tk_call_t *c, void *data) {
  log_t *lg = data;
  pthread_mutex_lock(&lg->mu);
  int k = atomic_load(&lg->ended);
  lg->order[k] = mine(c)->index;
  lg->state[mine(c)->index] = c->state;
  lg->error[mine(c)->index] = c->error;
  atomic_store(&lg->ended, k + 1);
  pthread_mutex_unlock(&lg->mu);
}

static void log_init(log_t *lg) {
  memset(lg, 0, sizeof *lg);
  pthread_mutex_init(&lg->mu, NULL);
}

static void log_free(log_t *lg, int n) {
  for (int i = 0; i < n; i++) tk_free(lg->error[i]);
  pthread_mutex_destroy(&lg->mu);
}

static int wait_ended(log_t *lg, int n) {
  for (int i = 0; i < 30000 && atomic_load(&lg->ended) < n; i++) usleep(1000);
  return atomic_load(&lg->ended) == n;
}

static tk_queue_t *new_queue(tk_pool_t *p, log_t *lg) {
  tk_queue_opts_t o = {0};
  o.name = "calls";
  o.run = run;
  o.end = end;
  o.data = lg;
  tk_queue_t *q = NULL;
  assert_ok(tk_queue_new(p, &o, &q));
  return q;
}

static void check_balance(tk_queue_t *q, tk_pool_t *p, uint64_t jobs) {
  tk_queue_metrics_t qm;
  assert_ok(tk_queue_metrics(q, &qm));
  assert_int_equal(qm.submitted,
                   qm.completed + qm.failed + qm.cancelled + qm.pending);
  tk_pool_metrics_t pm;
  assert_ok(tk_pool_metrics(p, &pm));
  assert_int_equal(qm.submitted + jobs, pm.submitted);  /* runners: none */
  assert_int_equal(pm.submitted, pm.completed + pm.failed + pm.cancelled +
                                     pm.running + pm.pending);
}

static void calls_run_and_end_in_order(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  log_t lg;
  log_init(&lg);
  tk_queue_t *q = new_queue(p, &lg);
  my_call calls[N];
  for (int i = 0; i < N; i++) {
    calls[i] = (my_call){.index = i};
    assert_ok(tk_queue_push(q, &calls[i].call));
  }
  assert_true(wait_ended(&lg, N));
  assert_ok(tk_pool_wait_all(p, 30));
  for (int i = 0; i < N; i++) {
    assert_int_equal(i, lg.order[i]);  /* one worker: one after the other */
    int want = i % 10 == 7 || i % 10 == 8 ? TK_JOB_FAILED : TK_JOB_COMPLETED;
    assert_int_equal(want, lg.state[i]);
    assert_true(calls[i].call.finished >= calls[i].call.submitted);
  }
  assert_string_equal("bad 17", lg.error[17]);  /* its tk_job_fail */
  assert_string_equal(tk_strerror(-99), lg.error[18]);
  assert_null(lg.error[0]);
  tk_queue_metrics_t qm;
  assert_ok(tk_queue_metrics(q, &qm));
  assert_int_equal(N, qm.submitted);
  assert_int_equal(N / 10 * 2, qm.failed);
  assert_int_equal(N - N / 10 * 2, qm.completed);
  assert_int_equal(0, qm.pending);
  check_balance(q, p, 0);
  tk_pool_metrics_t pm;
  assert_ok(tk_pool_metrics(p, &pm));
  assert_int_equal(N / 10 * 2, pm.failed);
  tk_queue_release(q);
  tk_pool_free(p);
  log_free(&lg, N);
}

static void at_most_one_runner_per_worker(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  log_t lg;
  log_init(&lg);
  lg.sleep_us = 200;
  tk_queue_t *q = new_queue(p, &lg);
  my_call calls[N];
  for (int i = 0; i < N; i++) {
    calls[i] = (my_call){.index = i};
    assert_ok(tk_queue_push(q, &calls[i].call));
    tk_queue_metrics_t qm;
    assert_ok(tk_queue_metrics(q, &qm));
    assert_true(qm.runners <= 2);
    check_balance(q, p, 0);
  }
  assert_true(wait_ended(&lg, N));
  assert_true(atomic_load(&lg.most_running) <= 2);
  assert_ok(tk_pool_wait_all(p, 30));
  check_balance(q, p, 0);
  tk_queue_release(q);
  tk_pool_free(p);
  log_free(&lg, N);
}

/* Call 0 suspends: the calls behind it go on meanwhile (another runner
** takes the queue), and it ends once its runner's job is resumed. */
static void a_suspended_call_lets_the_others_run(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  log_t lg;
  log_init(&lg);
  lg.suspend_first = 1;
  tk_queue_t *q = new_queue(p, &lg);
  my_call calls[20];
  for (int i = 0; i < 20; i++) {
    calls[i] = (my_call){.index = i};
    assert_ok(tk_queue_push(q, &calls[i].call));
  }
  assert_true(wait_ended(&lg, 19));
  tk_queue_metrics_t qm;
  assert_ok(tk_queue_metrics(q, &qm));
  assert_int_equal(1, qm.pending);  /* the suspended one */
  check_balance(q, p, 0);
  tk_job_t *job = atomic_load(&lg.suspended);
  assert_non_null(job);
  assert_ok(tk_job_resume(job));
  assert_true(wait_ended(&lg, 20));
  assert_int_equal(0, lg.order[19]);
  assert_int_equal(TK_JOB_COMPLETED, lg.state[0]);
  assert_int_equal(2, calls[0].runs);
  assert_ok(tk_pool_wait_all(p, 30));
  assert_ok(tk_queue_metrics(q, &qm));
  assert_int_equal(0, qm.pending);
  check_balance(q, p, 0);
  tk_job_release(job);
  tk_queue_release(q);
  tk_pool_free(p);
  log_free(&lg, 20);
}

/* A cancelling shutdown ends the calls not started, cancelled; a push on
** a shut-down pool ends its call at once. */
static void cancelling_shutdown_ends_the_queued_calls(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, NULL));
  assert_true(gate_wait_arrived(&g, 1));
  log_t lg;
  log_init(&lg);
  tk_queue_t *q = new_queue(p, &lg);
  my_call calls[6];
  for (int i = 0; i < 5; i++) {
    calls[i] = (my_call){.index = i};
    assert_ok(tk_queue_push(q, &calls[i].call));
  }
  check_balance(q, p, 1);
  assert_ok(tk_pool_shutdown(p, 0, 1));
  assert_true(wait_ended(&lg, 5));
  calls[5] = (my_call){.index = 5};
  assert_ok(tk_queue_push(q, &calls[5].call));
  assert_int_equal(6, atomic_load(&lg.ended));  /* before push returned */
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  for (int i = 0; i < 6; i++) {
    assert_int_equal(0, calls[i].runs);
    assert_int_equal(TK_JOB_CANCELLED, lg.state[i]);
    assert_string_equal("pool shut down", lg.error[i]);
  }
  tk_queue_metrics_t qm;
  assert_ok(tk_queue_metrics(q, &qm));
  assert_int_equal(6, qm.cancelled);
  assert_int_equal(0, qm.pending);
  check_balance(q, p, 1);
  tk_pool_metrics_t pm;
  assert_ok(tk_pool_metrics(p, &pm));
  assert_int_equal(1, pm.completed);  /* the gate's job */
  assert_int_equal(6, pm.cancelled);
  tk_queue_release(q);
  tk_pool_free(p);
  gate_destroy(&g);
  log_free(&lg, 6);
}

/* The owner may let go of the queue with calls in it: they still run. */
/* A shutdown that waits runs every call queued before it, even when its
** runner would give its worker up to another job meanwhile (a call's
** slice ends while the pool's queue holds that job). */
static void waiting_shutdown_runs_the_queued_calls(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  log_t lg;
  log_init(&lg);
  lg.sleep_us = 100;  /* 200 calls: some 20 ms, many slices */
  tk_queue_t *q = new_queue(p, &lg);
  static my_call calls[N];
  for (int i = 0; i < N; i++) {
    calls[i] = (my_call){.index = i};
    assert_ok(tk_queue_push(q, &calls[i].call));
  }
  assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  assert_ok(tk_pool_shutdown(p, 1, 0));
  assert_true(wait_ended(&lg, N));
  for (int i = 0; i < N; i++) {
    assert_int_equal(1, calls[i].runs);
    assert_int_not_equal(TK_JOB_CANCELLED, lg.state[i]);
  }
  tk_queue_release(q);
  tk_pool_free(p);
  log_free(&lg, N);
}

static void released_queue_runs_its_calls(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  log_t lg;
  log_init(&lg);
  tk_queue_t *q = new_queue(p, &lg);
  my_call calls[N];
  for (int i = 0; i < N; i++) {
    calls[i] = (my_call){.index = i};
    assert_ok(tk_queue_push(q, &calls[i].call));
  }
  tk_queue_release(q);
  assert_true(wait_ended(&lg, N));
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t pm;
  assert_ok(tk_pool_metrics(p, &pm));
  assert_int_equal(N, pm.submitted);
  assert_int_equal(N, pm.completed + pm.failed);
  tk_pool_free(p);
  log_free(&lg, N);
}

static void bad_arguments(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_queue_opts_t o = {0};
  tk_queue_t *q = (tk_queue_t *)&q;
  assert_int_equal(TK_EINVAL, tk_queue_new(p, &o, &q));  /* no run, end */
  assert_null(q);
  o.run = run;
  assert_int_equal(TK_EINVAL, tk_queue_new(p, &o, &q));  /* no end */
  tk_pool_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(calls_run_and_end_in_order),
      cmocka_unit_test(at_most_one_runner_per_worker),
      cmocka_unit_test(a_suspended_call_lets_the_others_run),
      cmocka_unit_test(cancelling_shutdown_ends_the_queued_calls),
      cmocka_unit_test(waiting_shutdown_runs_the_queued_calls),
      cmocka_unit_test(released_queue_runs_its_calls),
      cmocka_unit_test(bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
