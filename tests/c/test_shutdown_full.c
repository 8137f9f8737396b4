/*
** test_shutdown_full.c - a bounded pool that is full, with one of its
** tasks suspended in a wait, refuses a submit and then shuts down: every
** way of ending that (resume first, shutdown first, a cancelling shutdown,
** resume and shutdown racing) must finish. A hang fails the test through
** a watchdog instead of stalling the run.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

#ifndef WATCHDOG_S
#define WATCHDOG_S 60  /* generous: a loaded machine, or a sanitizer */
#endif

static void resume_cb(void *arg) { tk_job_resume(arg); }

/* Waits, suspended, until `tok` or its own token is cancelled; a second
** run finishes. The test keeps a reference on the job, so a late resume
** never finds it freed. */
typedef struct waiter {
  tk_token_t *tok;
  atomic_int calls;
} waiter;

static int waiting_task(void *arg) {
  waiter *w = arg;
  tk_job_t *me = tk_job_current();
  if (atomic_fetch_add(&w->calls, 1) == 0) {
    tk_token_on_cancel(w->tok, resume_cb, me, NULL);
    tk_token_on_cancel(tk_job_token(me), resume_cb, me, NULL);
    return TK_SUSPEND;
  }
  return tk_cancelled() ? TK_ECANCELED : 0;
}

/* One worker, capacity 2: the waiting task suspended, a gated task holding
** the worker, two tasks queued (the queue full), a fifth refused. */
typedef struct full_pool {
  tk_pool_t *pool;
  gate g;
  waiter w;
  tk_job_t *waiting, *gated, *queued[2];
} full_pool;

static void fill(full_pool *f) {
  tk_pool_opts_t o = {0};
  o.workers = 1;
  o.capacity = 2;
  assert_ok(tk_pool_new(&o, &f->pool));
  gate_init(&f->g);
  assert_ok(tk_token_new(&f->w.tok));
  atomic_init(&f->w.calls, 0);
  assert_ok(tk_pool_submit(f->pool, NULL, waiting_task, &f->w, &f->waiting));
  assert_ok(tk_pool_submit(f->pool, NULL, gate_task, &f->g, &f->gated));
  /* The only worker reached the gate: the waiting task is parked. */
  assert_true(gate_wait_arrived(&f->g, 1));
  assert_int_equal(1, atomic_load(&f->w.calls));
  for (int i = 0; i < 2; i++)
    assert_ok(tk_pool_submit(f->pool, NULL, noop_task, NULL, &f->queued[i]));
  tk_job_t *refused = NULL;
  assert_int_equal(TK_EFULL,
                   tk_pool_submit(f->pool, NULL, noop_task, NULL, &refused));
  assert_null(refused);
}

static void release_all(full_pool *f) {
  tk_job_release(f->waiting);
  tk_job_release(f->gated);
  for (int i = 0; i < 2; i++) tk_job_release(f->queued[i]);
  assert_ok(tk_pool_free(f->pool));
  tk_token_release(f->w.tok);
  gate_destroy(&f->g);
}

/* A shutdown on a thread of its own, so that a hang fails the test. */
typedef struct shutter {
  tk_pool_t *pool;
  int cancel_pending;
  int rc;
  pthread_t th;
} shutter;

static void *shut_main(void *arg) {
  shutter *s = arg;
  s->rc = tk_pool_shutdown(s->pool, 1, s->cancel_pending);
  return NULL;
}

static void shut_start(shutter *s, tk_pool_t *pool, int cancel_pending) {
  s->pool = pool;
  s->cancel_pending = cancel_pending;
  s->rc = -1;
  assert_ok(pthread_create(&s->th, NULL, shut_main, s));
}

static void shut_finish(shutter *s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += WATCHDOG_S;
  if (pthread_timedjoin_np(s->th, NULL, &ts) != 0)
    fail_msg("tk_pool_shutdown did not return within %d s", WATCHDOG_S);
  assert_ok(s->rc);
}

/* The resume lands while the worker is busy and the queue full. */
static void full_resume_then_shutdown(void **state) {
  (void)state;
  full_pool f;
  fill(&f);
  assert_ok(tk_token_cancel(f.w.tok));
  gate_open(&f.g);
  assert_ok(tk_pool_wait_all(f.pool, WATCHDOG_S));
  shutter s;
  shut_start(&s, f.pool, 0);
  shut_finish(&s);
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(f.waiting));
  assert_int_equal(2, atomic_load(&f.w.calls));
  for (int i = 0; i < 2; i++)
    assert_int_equal(TK_JOB_COMPLETED, tk_job_state(f.queued[i]));
  release_all(&f);
}

/* The shutdown waits for the suspended task; its resume comes later. */
static void full_shutdown_then_resume(void **state) {
  (void)state;
  full_pool f;
  fill(&f);
  shutter s;
  shut_start(&s, f.pool, 0);
  while (!tk_pool_is_shutdown(f.pool)) sched_yield();
  assert_int_equal(TK_ESHUTDOWN,
                   tk_pool_submit(f.pool, NULL, noop_task, NULL, NULL));
  gate_open(&f.g);
  /* The queued tasks run; the shutdown still waits for the suspended one. */
  assert_ok(tk_job_wait(f.queued[1], WATCHDOG_S));
  assert_int_equal(TK_JOB_RUNNING, tk_job_state(f.waiting));
  assert_ok(tk_token_cancel(f.w.tok));
  shut_finish(&s);
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(f.waiting));
  assert_int_equal(2, atomic_load(&f.w.calls));
  release_all(&f);
}

/* A cancelling shutdown drops the queued tasks and ends the wait. */
static void full_cancelling_shutdown(void **state) {
  (void)state;
  full_pool f;
  fill(&f);
  shutter s;
  shut_start(&s, f.pool, 1);
  while (tk_job_state(f.queued[1]) != TK_JOB_CANCELLED) sched_yield();
  gate_open(&f.g);
  shut_finish(&s);
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(f.waiting));
  assert_int_equal(2, atomic_load(&f.w.calls));
  for (int i = 0; i < 2; i++)
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(f.queued[i]));
  release_all(&f);
}

/* The resume and the shutdown race, with the worker free: no gate holds
** it, so the suspend, the resume and the close meet in every order. */
static void *cancel_main(void *arg) {
  tk_token_cancel(arg);
  return NULL;
}

static void full_resume_races_shutdown(void **state) {
  (void)state;
  long rounds = stress_scale(300);
  for (long r = 0; r < rounds; r++) {
    tk_pool_opts_t o = {0};
    o.workers = 1;
    o.capacity = 2;
    tk_pool_t *p;
    assert_ok(tk_pool_new(&o, &p));
    waiter w;
    assert_ok(tk_token_new(&w.tok));
    atomic_init(&w.calls, 0);
    tk_job_t *waiting;
    assert_ok(tk_pool_submit(p, NULL, waiting_task, &w, &waiting));
    /* Fill what room there is; a refusal or not, both are fine here. */
    for (int i = 0; i < 3; i++) tk_pool_submit(p, NULL, noop_task, NULL, NULL);
    pthread_t canceller;
    assert_ok(pthread_create(&canceller, NULL, cancel_main, w.tok));
    int cancelling = r % 3 == 2;
    shutter s;
    shut_start(&s, p, cancelling);
    shut_finish(&s);
    pthread_join(canceller, NULL);
    /* A cancelling shutdown may catch the waiting task before it starts. */
    int calls = atomic_load(&w.calls);
    assert_true(calls == 2 || (cancelling && calls == 0));
    tk_job_release(waiting);
    assert_ok(tk_pool_free(p));
    tk_token_release(w.tok);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_resume_then_shutdown),
      cmocka_unit_test(full_shutdown_then_resume),
      cmocka_unit_test(full_cancelling_shutdown),
      cmocka_unit_test(full_resume_races_shutdown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
