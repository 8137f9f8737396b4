/*
** test_null.c - every public function of threadkit.h called with NULL for
** each pointer it takes: an error code or the documented neutral value,
** never a crash. (threadkit_lua.h, the Lua layer's API, is tested in
** test_embed.c and the CLI specs.) docs_spec checks that every
** function the header declares is called here.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

static void never_called(void *arg) {
  (void)arg;
  fail_msg("a callback ran for a NULL object");
}

static void null_tokens(void **state) {
  (void)state;
  assert_int_equal(TK_EINVAL, tk_token_new(NULL));
  tk_token_t *child;
  assert_int_equal(TK_EINVAL, tk_token_new_child(NULL, &child));
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  assert_int_equal(TK_EINVAL, tk_token_new_child(t, NULL));
  assert_int_equal(TK_EINVAL, tk_token_set_deadline(NULL, 1));
  tk_token_retain(NULL);
  tk_token_release(NULL);
  assert_int_equal(TK_EINVAL, tk_token_cancel(NULL));
  assert_int_equal(0, tk_token_is_cancelled(NULL));
  assert_int_equal(TK_EINVAL, tk_token_wait(NULL, 0));
  uint64_t id = 7;
  assert_int_equal(TK_EINVAL, tk_token_on_cancel(NULL, never_called, NULL, &id));
  assert_int_equal(TK_EINVAL, tk_token_on_cancel(t, NULL, NULL, &id));
  assert_ok(tk_token_on_cancel(t, never_called, NULL, NULL));  /* id optional */
  assert_int_equal(TK_EINVAL,
                   tk_token_on_cancel_ex(NULL, never_called, never_called, NULL, &id));
  assert_int_equal(TK_EINVAL, tk_token_on_cancel_ex(t, NULL, NULL, NULL, &id));
  assert_int_equal(TK_EINVAL, tk_token_off_cancel(NULL, 1));
  tk_token_release(t);  /* its callback is dropped, never run */
}

static void null_jobs(void **state) {
  (void)state;
  tk_job_retain(NULL);
  tk_job_release(NULL);
  assert_int_equal(TK_JOB_INVALID, tk_job_state(NULL));
  assert_string_equal("unknown", tk_job_state_name(TK_JOB_INVALID));
  assert_int_equal(TK_EINVAL, tk_job_wait(NULL, 0));
  assert_int_equal(TK_EINVAL, tk_job_cancel(NULL));
  assert_null(tk_job_token(NULL));
  assert_int_equal(0, tk_job_is_cancelled(NULL));
  assert_int_equal(0, tk_job_timed_out(NULL));
  assert_int_equal(0, tk_job_priority(NULL));
  assert_null(tk_job_name(NULL));
  assert_null(tk_job_error(NULL));
  assert_null(tk_job_result(NULL));
  tk_task_fn fn = noop_task;
  assert_null(tk_job_arg(NULL, &fn));
  assert_null(fn);
  assert_null(tk_job_arg(NULL, NULL));
  assert_true(tk_job_execution_time(NULL) < 0);
  assert_true(tk_job_queue_wait(NULL) < 0);
  assert_true(tk_job_submitted_at(NULL) == 0);
  assert_true(tk_job_started_at(NULL) == 0);
  assert_true(tk_job_finished_at(NULL) == 0);
  assert_null(tk_job_current());  /* outside tasks */
  assert_int_equal(TK_EINVAL, tk_job_set_result(NULL, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_job_fail(NULL, "%s", "x"));
  assert_int_equal(0, tk_cancelled());
  assert_int_equal(TK_EINVAL, tk_job_resume(NULL));
  assert_int_equal(TK_EINVAL, tk_job_open(NULL));
  tk_set_finish_hook(NULL);
  assert_int_equal(TK_EINVAL, tk_job_on_finish(NULL, never_called, NULL));
  assert_null(tk_job_group(NULL));
  /* A real job with NULL for its other pointers. */
  tk_pool_t *p = new_pool(1);
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_EINVAL, tk_job_on_finish(j, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_job_fail(j, NULL));
  assert_null(tk_job_arg(j, NULL));  /* its argument, NULL; no fn asked */
  tk_job_release(j);
  tk_pool_free(p);
}

static void null_pools(void **state) {
  (void)state;
  assert_int_equal(TK_EINVAL, tk_pool_new(NULL, NULL));
  tk_pool_t *p;
  assert_ok(tk_pool_new(NULL, &p));  /* NULL options: the defaults */
  assert_int_equal(0, tk_pool_free(NULL));
  tk_job_t *j = (tk_job_t *)&j;
  assert_int_equal(TK_EINVAL, tk_pool_submit(NULL, NULL, noop_task, NULL, &j));
  assert_null(j);  /* *out is cleared on failure */
  assert_int_equal(TK_EINVAL, tk_pool_submit(p, NULL, NULL, NULL, NULL));
  tk_job_opts_t o = {0};
  o.n_after = 1;  /* and after == NULL */
  assert_int_equal(TK_EINVAL, tk_pool_submit(p, &o, noop_task, NULL, NULL));
  tk_job_t *none[1] = {NULL};
  o.after = none;
  assert_int_equal(TK_EINVAL, tk_pool_submit(p, &o, noop_task, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_post(NULL, 0, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_post(p, 0, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_post_batch(NULL, 0, NULL, NULL, 0));
  assert_int_equal(TK_EINVAL, tk_pool_post_batch(p, 0, NULL, NULL, 0));
  assert_int_equal(TK_EINVAL, tk_pool_resume(NULL));
  assert_int_equal(TK_EINVAL, tk_pool_wait_all(NULL, 0));
  assert_int_equal(TK_EINVAL, tk_pool_shutdown(NULL, 1, 1));
  tk_pool_metrics_t m;
  assert_int_equal(TK_EINVAL, tk_pool_metrics(NULL, &m));
  assert_int_equal(TK_EINVAL, tk_pool_metrics(p, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_workers(NULL));
  assert_int_equal(1, tk_pool_is_shutdown(NULL));
  assert_null(tk_pool_name(NULL));
  assert_null(tk_job_pool(NULL));
  uint64_t sub = 1, start = 1, fin = 1;
  tk_job_times_ns(NULL, &sub, &start, &fin);
  assert_true(sub == 0 && start == 0 && fin == 0);
  tk_job_times_ns(NULL, NULL, NULL, NULL);
  assert_true(tk_now_ns() > 0);
  tk_set_run_hook(NULL);  /* none: the default */
  assert_int_equal(0, tk_token_sole_holder(NULL));
  tk_pool_block_begin();  /* off a worker: nothing to do, nothing to undo */
  tk_pool_block_end();
  assert_int_equal(-1, tk_worker_index());  /* outside workers */
  assert_null(tk_worker_data());
  assert_ok(tk_pool_free(p));
}

static int never_run(tk_call_t *call, void *data) {
  (void)call;
  (void)data;
  fail_msg("a call ran for a NULL queue");
  return 0;
}

static void never_ended(tk_call_t *call, void *data) {
  (void)call;
  (void)data;
  fail_msg("a call ended for a NULL queue");
}

static void null_queues(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_queue_opts_t o = {0};
  o.run = never_run;
  o.end = never_ended;
  tk_queue_t *q = (tk_queue_t *)&q;
  assert_int_equal(TK_EINVAL, tk_queue_new(NULL, &o, &q));
  assert_null(q);
  assert_int_equal(TK_EINVAL, tk_queue_new(p, NULL, &q));
  assert_int_equal(TK_EINVAL, tk_queue_new(p, &o, NULL));
  tk_call_t call;
  assert_int_equal(TK_EINVAL, tk_queue_push(NULL, &call));
  assert_ok(tk_queue_new(p, &o, &q));
  assert_int_equal(TK_EINVAL, tk_queue_push(q, NULL));
  tk_queue_metrics_t m;
  assert_int_equal(TK_EINVAL, tk_queue_metrics(NULL, &m));
  assert_int_equal(TK_EINVAL, tk_queue_metrics(q, NULL));
  assert_ok(tk_queue_metrics(q, &m));
  assert_int_equal(0, m.submitted);
  tk_queue_release(q);
  tk_queue_release(NULL);
  /* The watched submit: NULL for each pointer. */
  tk_job_watch_t watch;
  tk_job_t *j = (tk_job_t *)&j;
  assert_int_equal(TK_EINVAL, tk_pool_submit_watched(NULL, NULL, noop_task,
                                                     NULL, &j, &watch,
                                                     never_called, NULL));
  assert_null(j);
  assert_int_equal(TK_EINVAL, tk_pool_submit_watched(p, NULL, NULL, NULL, &j,
                                                     &watch, never_called,
                                                     NULL));
  assert_int_equal(TK_EINVAL, tk_pool_submit_watched(p, NULL, noop_task,
                                                     NULL, &j, NULL,
                                                     never_called, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_submit_watched(p, NULL, noop_task,
                                                     NULL, &j, &watch, NULL,
                                                     NULL));
  assert_ok(tk_pool_free(p));
}

static void null_schedules(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_schedule_opts_t o = {0};
  o.delay = 60;
  tk_schedule_t *s = (tk_schedule_t *)&s;
  assert_int_equal(TK_EINVAL, tk_pool_schedule(NULL, &o, noop_task, NULL, &s));
  assert_null(s);
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, NULL, noop_task, NULL, &s));
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, NULL, NULL, &s));
  assert_int_equal(TK_EINVAL, tk_pool_schedule(p, &o, noop_task, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_schedule_cancel(NULL));
  tk_schedule_release(NULL);
  assert_int_equal(0, tk_schedule_active(NULL));
  assert_int_equal(0, tk_schedule_runs(NULL));
  assert_int_equal(0, tk_schedule_missed(NULL));
  tk_pool_free(p);
}

static void null_groups(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_group_t *g = (tk_group_t *)&g;
  assert_int_equal(TK_EINVAL, tk_group_new(NULL, NULL, &g));
  assert_null(g);
  assert_int_equal(TK_EINVAL, tk_group_new(p, NULL, NULL));
  tk_group_retain(NULL);
  tk_group_release(NULL);
  tk_job_t *j = (tk_job_t *)&j;
  assert_int_equal(TK_EINVAL, tk_group_submit(NULL, NULL, noop_task, NULL, &j));
  assert_null(j);
  assert_int_equal(TK_EINVAL, tk_group_set_event(NULL));
  assert_int_equal(0, tk_group_event_is_set(NULL));
  assert_null(tk_group_event(NULL));
  assert_int_equal(TK_EINVAL, tk_group_join(NULL, 0));
  assert_int_equal(TK_EINVAL, tk_group_clear_pending(NULL));
  uint64_t idle_id = 7;
  assert_int_equal(TK_EINVAL, tk_group_on_idle(NULL, never_called, NULL,
                                               &idle_id));
  assert_int_equal(0, idle_id);
  assert_int_equal(TK_EINVAL, tk_group_off_idle(NULL, 1));
  assert_int_equal(0, tk_group_daemon_unfinished());  /* takes no group */
  assert_null(tk_group_name(NULL));
  assert_null(tk_group_parent(NULL));
  assert_int_equal(0, tk_group_max_concurrent(NULL));
  assert_null(tk_group_data(NULL));
  assert_int_equal(0, tk_group_job_count(NULL));
  tk_job_t *jobs[2];
  assert_int_equal(0, tk_group_jobs(NULL, jobs, 2));
  size_t pending = 9, running = 9, done = 9;
  tk_group_counts(NULL, &pending, &running, &done);
  assert_int_equal(0, pending + running + done);
  tk_group_counts(NULL, NULL, NULL, NULL);
  size_t submitted = 1, completed = 1, failed = 1, cancelled = 1;
  tk_group_totals(NULL, &submitted, &completed, &failed, &cancelled);
  assert_int_equal(0, submitted + completed + failed + cancelled);
  tk_group_totals(NULL, NULL, NULL, NULL, NULL);
  /* A NULL group in the listings means the roots of the forest. */
  assert_ok(tk_group_new(p, NULL, &g));
  assert_int_equal(1, tk_group_child_count(NULL));
  tk_group_t *roots[2];
  assert_int_equal(1, tk_group_children(NULL, roots, 2));
  assert_ptr_equal(g, roots[0]);
  tk_group_release(roots[0]);
  assert_int_equal(0, tk_group_children(NULL, NULL, 2));
  assert_int_equal(0, tk_group_children(g, NULL, 2));
  assert_int_equal(TK_EINVAL, tk_group_submit(g, NULL, NULL, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_group_on_idle(g, NULL, NULL, NULL));
  assert_ok(tk_group_submit(g, NULL, noop_task, NULL, NULL));
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(0, tk_group_jobs(g, NULL, 2));
  tk_group_counts(g, NULL, NULL, NULL);
  tk_group_release(g);
  /* Neither takes a pointer; here so that every function is called. */
  uint64_t seen = tk_group_activity();
  tk_group_poke();
  assert_ok(tk_group_wait_activity(seen, 30));
  tk_pool_free(p);
}

static void null_errors_and_allocator(void **state) {
  (void)state;
  assert_non_null(tk_strerror(0));
  assert_string_equal("unknown error", tk_strerror(12345));
  assert_string_equal("UNKNOWN", tk_err_name(12345));
  assert_null(tk_system_error());  /* nothing failed on this thread */
  assert_int_equal(TK_EINVAL, tk_replace_allocator(malloc, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_replace_allocator(NULL, realloc, free));
  tk_free(NULL);
  assert_null(tk_strdup(NULL));
  char *copy = tk_strdup("x");
  assert_string_equal("x", copy);
  tk_free(copy);
  tk_free(tk_malloc(1));  /* takes no pointer */
  assert_null(tk_slab_alloc(NULL));
  tk_slab_free(NULL, NULL);
  tk_slab_free(NULL, &copy);  /* a NULL slab frees nothing */
  static tk_slab_t slab = TK_SLAB_INIT(8);
  tk_slab_free(&slab, NULL);
  assert_true(tk_deadline_ns(-1) == UINT64_MAX);  /* takes no pointer */
}

int main(void) {
  /* NULL, NULL, NULL: the default allocator, before any other call. */
  if (tk_replace_allocator(NULL, NULL, NULL) != 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(null_tokens),
      cmocka_unit_test(null_jobs),
      cmocka_unit_test(null_pools),
      cmocka_unit_test(null_queues),
      cmocka_unit_test(null_schedules),
      cmocka_unit_test(null_groups),
      cmocka_unit_test(null_errors_and_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
