/*
** test_deps.c - dependencies: chains, diamonds, failure propagation,
** shutdown with waiting jobs. See LICENSE for copyright and licence.
*/
#include "tk_test.h"

typedef struct trace {
  pthread_mutex_t mu;
  char order[64];
  int n;
} trace;

typedef struct step {
  trace *tr;
  char name;
} step;

static int step_task(void *arg) {
  step *s = arg;
  pthread_mutex_lock(&s->tr->mu);
  s->tr->order[s->tr->n++] = s->name;
  pthread_mutex_unlock(&s->tr->mu);
  return 0;
}

static int pos(const trace *tr, char c) {
  for (int i = 0; i < tr->n; i++)
    if (tr->order[i] == c) return i;
  return -1;
}

static void deps_diamond(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  for (int round = 0; round < 100; round++) {
    trace tr = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
    step a = {&tr, 'a'}, b = {&tr, 'b'}, c = {&tr, 'c'}, d = {&tr, 'd'};
    tk_job_t *ja, *jb, *jc, *jd;
    assert_ok(tk_pool_submit(p, NULL, step_task, &a, &ja));
    tk_job_opts_t o = {0};
    o.after = &ja;
    o.n_after = 1;
    assert_ok(tk_pool_submit(p, &o, step_task, &b, &jb));
    assert_ok(tk_pool_submit(p, &o, step_task, &c, &jc));
    tk_job_t *bc[] = {jb, jc};
    o.after = bc;
    o.n_after = 2;
    assert_ok(tk_pool_submit(p, &o, step_task, &d, &jd));
    assert_ok(tk_job_wait(jd, 30));
    assert_int_equal(TK_JOB_COMPLETED, tk_job_state(jd));
    assert_int_equal(4, tr.n);
    assert_true(pos(&tr, 'a') < pos(&tr, 'b'));
    assert_true(pos(&tr, 'a') < pos(&tr, 'c'));
    assert_true(pos(&tr, 'b') < pos(&tr, 'd'));
    assert_true(pos(&tr, 'c') < pos(&tr, 'd'));
    tk_job_release(ja);
    tk_job_release(jb);
    tk_job_release(jc);
    tk_job_release(jd);
  }
  tk_pool_free(p);
}

typedef struct chain_state {
  atomic_int next;
  atomic_int bad;
} chain_state;

typedef struct link_arg {
  chain_state *cs;
  int index;
} link_arg;

static int link_task(void *arg) {
  link_arg *l = arg;
  int expected = l->index;
  if (!atomic_compare_exchange_strong(&l->cs->next, &expected, l->index + 1))
    atomic_store(&l->cs->bad, 1);
  return 0;
}

static void deps_long_chain(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  enum { N = 10000 };
  static link_arg args[N];
  static tk_job_t *jobs[N];
  chain_state cs;
  atomic_init(&cs.next, 0);
  atomic_init(&cs.bad, 0);
  for (int i = 0; i < N; i++) {
    args[i].cs = &cs;
    args[i].index = i;
    tk_job_opts_t o = {0};
    if (i > 0) {
      o.after = &jobs[i - 1];
      o.n_after = 1;
    }
    /* High priority must not let a job overtake its dependency. */
    o.priority = i % 2 ? TK_HIGHEST : TK_LOWEST;
    assert_ok(tk_pool_submit(p, &o, link_task, &args[i], &jobs[i]));
  }
  assert_ok(tk_job_wait(jobs[N - 1], 60));
  assert_int_equal(N, atomic_load(&cs.next));
  assert_int_equal(0, atomic_load(&cs.bad));
  for (int i = 0; i < N; i++) tk_job_release(jobs[i]);
  tk_pool_free(p);
}

static int fail_task(void *arg) {
  (void)arg;
  return tk_job_fail(tk_job_current(), "boom");
}

static void deps_failure_cancels_dependents(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  atomic_int ran = 0;
  tk_job_opts_t fo = {0};
  fo.name = "fetch";
  tk_job_t *fetch, *parse, *agg, *unnamed_dep, *after_unnamed;
  assert_ok(tk_pool_submit(p, &fo, fail_task, NULL, &fetch));
  tk_job_opts_t o = {0};
  o.after = &fetch;
  o.n_after = 1;
  o.name = "parse";
  assert_ok(tk_pool_submit(p, &o, (tk_task_fn)noop_task, &ran, &parse));
  o.after = &parse;
  o.name = "aggregate";
  assert_ok(tk_pool_submit(p, &o, (tk_task_fn)noop_task, &ran, &agg));
  assert_ok(tk_job_wait(agg, 30));
  assert_int_equal(TK_JOB_FAILED, tk_job_state(fetch));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(parse));
  assert_string_equal("dependency 'fetch' failed", tk_job_error(parse));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(agg));
  assert_string_equal("dependency 'parse' was cancelled", tk_job_error(agg));

  /* An unnamed dependency is named by its position in `after`. */
  tk_job_t *ok_job;
  assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &ok_job));
  assert_ok(tk_pool_submit(p, NULL, fail_task, NULL, &unnamed_dep));
  tk_job_t *two[] = {ok_job, unnamed_dep};
  tk_job_opts_t uo = {0};
  uo.after = two;
  uo.n_after = 2;
  assert_ok(tk_pool_submit(p, &uo, noop_task, NULL, &after_unnamed));
  assert_ok(tk_job_wait(after_unnamed, 30));
  assert_string_equal("dependency #2 failed", tk_job_error(after_unnamed));

  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(6, m.submitted);
  assert_int_equal(2, m.failed);
  assert_int_equal(3, m.cancelled);
  assert_int_equal(1, m.completed);
  tk_job_release(fetch);
  tk_job_release(parse);
  tk_job_release(agg);
  tk_job_release(ok_job);
  tk_job_release(unnamed_dep);
  tk_job_release(after_unnamed);
  tk_pool_free(p);
}

static void deps_failure_down_a_long_chain(void **state) {
  (void)state;
  /* Cancellation cascades without recursing once per link. */
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  long n = stress_scale(200000);
  tk_job_t **jobs = calloc((size_t)n, sizeof *jobs);
  tk_job_t *head;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &head));
  for (long i = 0; i < n; i++) {
    tk_job_opts_t o = {0};
    o.after = i ? &jobs[i - 1] : &head;
    o.n_after = 1;
    assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &jobs[i]));
  }
  assert_int_equal(0, tk_job_cancel(jobs[0]));
  assert_ok(tk_job_wait(jobs[n - 1], 60));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(jobs[n - 1]));
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 60));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(n, m.cancelled);
  for (long i = 0; i < n; i++) tk_job_release(jobs[i]);
  free(jobs);
  tk_job_release(head);
  tk_pool_free(p);
  gate_destroy(&g);
}

static void deps_already_finished_and_cross_pool(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1), *q = new_pool(1);
  tk_job_t *done, *dep_in_q, *j;
  assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &done));
  assert_ok(tk_job_wait(done, 30));
  assert_ok(tk_pool_submit(q, NULL, noop_task, NULL, &dep_in_q));
  tk_job_t *both[] = {done, dep_in_q};
  tk_job_opts_t o = {0};
  o.after = both;
  o.n_after = 2;
  assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  tk_job_release(done);
  tk_job_release(dep_in_q);
  tk_job_release(j);
  tk_pool_free(p);
  tk_pool_free(q);
}

static void deps_cancel_waiting_dependent(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_job_t *blocker, *dependent;
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &blocker));
  tk_job_opts_t o = {0};
  o.after = &blocker;
  o.n_after = 1;
  assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &dependent));
  assert_int_equal(0, tk_job_cancel(dependent));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(dependent));
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(1, m.cancelled);
  assert_int_equal(1, m.completed);
  tk_job_release(blocker);
  tk_job_release(dependent);
  tk_pool_free(p);
  gate_destroy(&g);
}

static void deps_shutdown_with_waiting_jobs(void **state) {
  (void)state;
  /* The dependency lives in another, paused pool that never runs it. */
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.paused = 1;
  tk_pool_t *stuck, *p = new_pool(1);
  assert_ok(tk_pool_new(&po, &stuck));
  tk_job_t *never, *waiting, *waiting2;
  assert_ok(tk_pool_submit(stuck, NULL, noop_task, NULL, &never));
  tk_job_opts_t o = {0};
  o.after = &never;
  o.n_after = 1;
  assert_ok(tk_pool_submit(p, &o, noop_task, NULL, &waiting));
  assert_ok(tk_pool_shutdown(p, 1, 0));  /* must not hang */
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(waiting));
  assert_string_equal("pool shut down before its dependencies finished",
                      tk_job_error(waiting));
  tk_pool_t *p2 = new_pool(1);
  assert_ok(tk_pool_submit(p2, &o, noop_task, NULL, &waiting2));
  assert_ok(tk_pool_shutdown(p2, 1, 1));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(waiting2));
  assert_ok(tk_pool_wait_all(p, 1));
  assert_ok(tk_pool_wait_all(p2, 1));
  tk_pool_free(stuck);  /* resumes via shutdown: `never` runs */
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(never));
  tk_job_release(never);
  tk_job_release(waiting);
  tk_job_release(waiting2);
  tk_pool_free(p);
  tk_pool_free(p2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(deps_diamond),
      cmocka_unit_test(deps_long_chain),
      cmocka_unit_test(deps_failure_cancels_dependents),
      cmocka_unit_test(deps_failure_down_a_long_chain),
      cmocka_unit_test(deps_already_finished_and_cross_pool),
      cmocka_unit_test(deps_cancel_waiting_dependent),
      cmocka_unit_test(deps_shutdown_with_waiting_jobs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
