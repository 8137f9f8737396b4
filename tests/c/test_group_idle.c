/*
** test_group_idle.c - tk_group_on_idle and tk_group_off_idle: a watch
** fires once, when the group and its subgroups have no unfinished task
** (what tk_group_join waits for), on the thread that ended the last one;
** one taken off never fires. See LICENSE for copyright and licence.
*/
#include "tk_test.h"

#include <unistd.h>

typedef struct watch {
  atomic_int fired;
  atomic_int worker;             /* tk_worker_index() where it fired */
  atomic_int entered;            /* slow_watch: inside the callback */
  atomic_int left;               /* slow_watch: about to return */
  tk_group_t *g;
  uint64_t id;                   /* its registration (for off from fn) */
  int off_rc;                    /* what tk_group_off_idle said in fn */
} watch;

static void watch_init(watch *w) {
  memset(w, 0, sizeof *w);
  atomic_init(&w->fired, 0);
  atomic_init(&w->worker, -2);
  atomic_init(&w->entered, 0);
  atomic_init(&w->left, 0);
}

static void count_watch(void *arg) {
  watch *w = arg;
  atomic_store(&w->worker, tk_worker_index());
  atomic_fetch_add(&w->fired, 1);
}

static void off_in_watch(void *arg) {
  watch *w = arg;
  w->off_rc = tk_group_off_idle(w->g, w->id);
  atomic_fetch_add(&w->fired, 1);
}

static void slow_watch(void *arg) {
  watch *w = arg;
  atomic_store(&w->entered, 1);
  usleep(50 * 1000);
  atomic_store(&w->left, 1);
  atomic_fetch_add(&w->fired, 1);
}

/* Waits (30 s at most) until *flag is set. */
static int wait_flag(atomic_int *flag) {
  for (int i = 0; i < 30000 && !atomic_load(flag); i++) usleep(1000);
  return atomic_load(flag);
}

static void idle_group_fires_at_once(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  watch w;
  watch_init(&w);
  uint64_t id = 7;
  assert_ok(tk_group_on_idle(g, count_watch, &w, &id));
  assert_int_equal(1, atomic_load(&w.fired));
  assert_int_equal(0, id);
  assert_int_equal(-1, atomic_load(&w.worker));  /* here, not on a worker */
  assert_int_equal(TK_ENOENT, tk_group_off_idle(g, id));
  tk_group_release(g);
  tk_pool_free(p);
}

/* A task of g that makes a subgroup of g with a task held at a gate. */
typedef struct nest {
  tk_pool_t *pool;
  gate *gt;
  tk_group_t *child;
} nest;

static int make_child(void *arg) {
  nest *n = arg;
  if (tk_group_new(n->pool, NULL, &n->child) != 0) return TK_EFAILED;
  return tk_group_submit(n->child, NULL, gate_task, n->gt, NULL);
}

static void fires_once_when_subgroups_are_done(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  gate gt;
  gate_init(&gt);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  nest n = {p, &gt, NULL};
  tk_job_t *maker;
  assert_ok(tk_group_submit(g, NULL, make_child, &n, &maker));
  assert_ok(tk_job_wait(maker, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(maker));
  assert_true(gate_wait_arrived(&gt, 1));
  watch w;
  watch_init(&w);
  uint64_t id = 0;
  assert_ok(tk_group_on_idle(g, count_watch, &w, &id));
  assert_true(id != 0);
  /* g's own task is over, its subgroup's is not: g is not idle. */
  assert_int_equal(TK_ETIMEDOUT, tk_group_join(g, 0.05));
  assert_int_equal(0, atomic_load(&w.fired));
  gate_open(&gt);
  assert_ok(tk_group_join(g, 30));
  assert_true(wait_flag(&w.fired));
  assert_true(atomic_load(&w.worker) >= 0);  /* where the last task ended */
  /* Once: more work and another idle call nothing. */
  assert_ok(tk_group_submit(g, NULL, noop_task, NULL, NULL));
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(1, atomic_load(&w.fired));
  assert_int_equal(TK_ENOENT, tk_group_off_idle(g, id));
  tk_job_release(maker);
  tk_group_release(n.child);
  tk_group_release(g);
  tk_pool_free(p);
  gate_destroy(&gt);
}

static void taken_off_never_fires(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate gt;
  gate_init(&gt);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  assert_ok(tk_group_submit(g, NULL, gate_task, &gt, NULL));
  watch kept, dropped;
  watch_init(&kept);
  watch_init(&dropped);
  uint64_t kept_id, dropped_id;
  assert_ok(tk_group_on_idle(g, count_watch, &dropped, &dropped_id));
  assert_ok(tk_group_on_idle(g, count_watch, &kept, &kept_id));
  assert_true(kept_id != dropped_id);
  assert_ok(tk_group_off_idle(g, dropped_id));
  assert_int_equal(TK_ENOENT, tk_group_off_idle(g, dropped_id));
  assert_int_equal(TK_ENOENT, tk_group_off_idle(g, 0));
  gate_open(&gt);
  assert_ok(tk_group_join(g, 30));
  assert_true(wait_flag(&kept.fired));
  assert_int_equal(0, atomic_load(&dropped.fired));
  tk_group_release(g);
  tk_pool_free(p);
  gate_destroy(&gt);
}

/* The registration keeps its group: the caller may let go of it. */
static void watch_keeps_its_group(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate gt;
  gate_init(&gt);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  assert_ok(tk_group_submit(g, NULL, gate_task, &gt, NULL));
  watch w;
  watch_init(&w);
  w.g = g;
  assert_ok(tk_group_on_idle(g, off_in_watch, &w, &w.id));
  tk_group_release(g);
  gate_open(&gt);
  assert_true(wait_flag(&w.fired));
  assert_int_equal(TK_ENOENT, w.off_rc);  /* from fn itself: no wait */
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_free(p);
  gate_destroy(&gt);
}

static void off_waits_for_a_running_watch(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate gt;
  gate_init(&gt);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  assert_ok(tk_group_submit(g, NULL, gate_task, &gt, NULL));
  watch w;
  watch_init(&w);
  uint64_t id;
  assert_ok(tk_group_on_idle(g, slow_watch, &w, &id));
  gate_open(&gt);
  assert_true(wait_flag(&w.entered));
  assert_int_equal(TK_ENOENT, tk_group_off_idle(g, id));
  assert_int_equal(1, atomic_load(&w.left));  /* it returned first */
  tk_group_release(g);
  tk_pool_free(p);
  gate_destroy(&gt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(idle_group_fires_at_once),
      cmocka_unit_test(fires_once_when_subgroups_are_done),
      cmocka_unit_test(taken_off_never_fires),
      cmocka_unit_test(watch_keeps_its_group),
      cmocka_unit_test(off_waits_for_a_running_watch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
