/*
** test_suspend.c - TK_SUSPEND / tk_job_resume: a waiting task frees its
** worker and resumes on the same one; tk_job_on_finish.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"
#include "job.h"

static void resume_cb(void *arg) { tk_job_resume(arg); }

/* Sleeps `secs` without holding the worker: the first call arms a token
** deadline whose callback resumes the job; the second call finishes. */
typedef struct sleeper {
  double secs;
  int calls;
  int worker_first, worker_second;
  tk_token_t *tok;
} sleeper;

static int sleep_task(void *arg) {
  sleeper *s = arg;
  if (s->calls++ == 0) {
    s->worker_first = tk_worker_index();
    tk_token_new(&s->tok);
    tk_token_on_cancel(s->tok, resume_cb, tk_job_current(), NULL);
    tk_token_set_deadline(s->tok, s->secs);
    return TK_SUSPEND;
  }
  s->worker_second = tk_worker_index();
  tk_token_release(s->tok);
  return 0;
}

static void suspend_frees_the_worker(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  sleeper s = {0.3, 0, -1, -1, NULL};
  tk_job_t *sl, *other;
  assert_ok(tk_pool_submit(p, NULL, sleep_task, &s, &sl));
  /* The only worker is free while the sleeper waits. */
  assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &other));
  assert_ok(tk_job_wait(other, 30));
  assert_int_equal(TK_JOB_RUNNING, tk_job_state(sl));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_true(m.running >= 1);  /* the suspended job counts as running */
  assert_ok(tk_pool_wait_all(p, 30));  /* waits for the suspended job */
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(sl));
  assert_int_equal(2, s.calls);
  assert_int_equal(s.worker_first, s.worker_second);
  assert_true(tk_job_execution_time(sl) >= 0.25);
  tk_job_release(sl);
  tk_job_release(other);
  tk_pool_free(p);
}

static void suspend_ten_sleepers_on_two_workers(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  sleeper s[10];
  tk_job_t *j[10];
  double t0 = now_s();
  for (int i = 0; i < 10; i++) {
    s[i] = (sleeper){0.2, 0, -1, -1, NULL};
    assert_ok(tk_pool_submit(p, NULL, sleep_task, &s[i], &j[i]));
  }
  assert_ok(tk_pool_wait_all(p, 30));
  double dt = now_s() - t0;
  /* Ten 0.2 s waits on two workers: concurrent, not 1 s in a row. */
  assert_true(dt < 0.9);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j[i]));
    assert_int_equal(s[i].worker_first, s[i].worker_second);
    tk_job_release(j[i]);
  }
  tk_pool_free(p);
}

static int early_resume_task(void *arg) {
  int *calls = arg;
  if ((*calls)++ == 0) {
    tk_job_resume(tk_job_current());  /* before returning TK_SUSPEND */
    return TK_SUSPEND;
  }
  return 0;
}

static void suspend_resume_before_return(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  int calls = 0;
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, early_resume_task, &calls, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  assert_int_equal(2, calls);
  assert_int_equal(TK_EINVAL, tk_job_resume(j));  /* finished */
  tk_job_release(j);
  tk_pool_free(p);
}

static int wait_for_token_task(void *arg) {
  atomic_int *calls = arg;
  tk_job_t *me = tk_job_current();
  if (atomic_fetch_add(calls, 1) == 0) {
    tk_token_on_cancel(tk_job_token(me), resume_cb, me, NULL);
    return TK_SUSPEND;
  }
  return tk_cancelled() ? TK_ECANCELED : 0;
}

static void suspend_shutdown_cancels_suspended(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  atomic_int calls[3] = {0, 0, 0};
  tk_job_t *j[3];
  for (int i = 0; i < 3; i++)
    assert_ok(tk_pool_submit(p, NULL, wait_for_token_task, &calls[i], &j[i]));
  /* Wait until all three are parked. */
  for (int spins = 0; spins < 30000; spins++) {
    tk_pool_metrics_t m;
    tk_pool_metrics(p, &m);
    if (m.running == 3 && atomic_load(&calls[0]) + atomic_load(&calls[1]) +
                              atomic_load(&calls[2]) == 3)
      break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  assert_ok(tk_pool_shutdown(p, 1, 1));
  for (int i = 0; i < 3; i++) {
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(j[i]));
    assert_int_equal(2, atomic_load(&calls[i]));
    tk_job_release(j[i]);
  }
  tk_pool_free(p);
}

static void count_cb(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

static void job_on_finish_runs_once(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_job_t *j;
  atomic_int calls = 0;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &j));
  assert_ok(tk_job_on_finish(j, count_cb, &calls));
  assert_ok(tk_job_on_finish(j, count_cb, &calls));
  assert_int_equal(0, atomic_load(&calls));
  gate_open(&g);
  assert_ok(tk_job_wait(j, 30));
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(2, atomic_load(&calls));
  assert_ok(tk_job_on_finish(j, count_cb, &calls));  /* final: at once */
  assert_int_equal(3, atomic_load(&calls));
  assert_int_equal(TK_EINVAL, tk_job_on_finish(j, NULL, NULL));
  tk_job_release(j);
  tk_pool_free(p);
  gate_destroy(&g);
}

/* tk_pool_submit_watched registers a watch the caller keeps, before the
** job is queued: called once however the job ends, never freed by the
** core, and never called when the submit fails. */
static void job_watched_submit_notifies_once(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_job_t *busy, *queued, *ran, *refused;
  tk_job_watch_t n1, n2, n3;  /* on the stack: freeing one would crash */
  atomic_int calls1 = 0, calls2 = 0, calls3 = 0;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &busy));
  assert_ok(tk_pool_submit_watched(p, NULL, noop_task, NULL, &queued, &n1,
                                   count_cb, &calls1));
  assert_ok(tk_job_cancel(queued));  /* while it waits behind the gate */
  assert_int_equal(1, atomic_load(&calls1));
  assert_ok(tk_pool_submit_watched(p, NULL, noop_task, NULL, &ran, &n2,
                                   count_cb, &calls2));
  assert_int_equal(0, atomic_load(&calls2));
  gate_open(&g);
  assert_ok(tk_job_wait(ran, 30));
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(1, atomic_load(&calls2));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(ran));
  assert_int_equal(1, atomic_load(&calls1));
  assert_ok(tk_pool_shutdown(p, 1, 0));
  assert_int_equal(TK_ESHUTDOWN,
                   tk_pool_submit_watched(p, NULL, noop_task, NULL, &refused,
                                          &n3, count_cb, &calls3));
  assert_null(refused);
  assert_int_equal(0, atomic_load(&calls3));
  tk_job_release(busy);
  tk_job_release(queued);
  tk_job_release(ran);
  tk_pool_free(p);
  gate_destroy(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(suspend_frees_the_worker),
      cmocka_unit_test(suspend_ten_sleepers_on_two_workers),
      cmocka_unit_test(suspend_resume_before_return),
      cmocka_unit_test(suspend_shutdown_cancels_suspended),
      cmocka_unit_test(job_on_finish_runs_once),
      cmocka_unit_test(job_watched_submit_notifies_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
