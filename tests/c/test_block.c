/*
** test_block.c - a task that blocks its worker (tk_pool_block_begin, and
** threadkit's own blocking waits) does not starve its pool: a spare thread
** runs the queue meanwhile. See LICENSE for copyright and licence.
*/
#include "tk_test.h"

#include <sched.h>

/* {====================================================== helpers */

/* A task that submits `inner` to its own pool and blocks in tk_job_wait
** for it: on one worker, only a spare can run it. */
typedef struct waiter {
  tk_pool_t *pool;
  int rc;                        /* tk_job_wait's */
  int inner_ran;
} waiter;

static int inner_task(void *arg) {
  ((waiter *)arg)->inner_ran = 1;
  return 0;
}

static int wait_for_inner(void *arg) {
  waiter *w = arg;
  tk_job_t *inner;
  w->rc = tk_pool_submit(w->pool, NULL, inner_task, w, &inner);
  if (w->rc != 0) return w->rc;
  w->rc = tk_job_wait(inner, 10);  /* bounded: a starved pool times out */
  tk_job_release(inner);
  return 0;
}

/* The pool's spares once `want` of them take jobs (a spare retires as it
** next looks for work), or after 30 s. */
static int spares_once(tk_pool_t *p, int want) {
  tk_pool_metrics_t m;
  for (double t0 = now_s(); now_s() - t0 < 30; sched_yield()) {
    tk_pool_metrics(p, &m);
    if (m.spares == want) break;
  }
  return m.spares;
}

/* }====================================================== */

static void block_job_wait_in_a_task_does_not_starve_its_pool(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  waiter w = {p, -1, 0};
  tk_job_t *job;
  assert_ok(tk_pool_submit(p, NULL, wait_for_inner, &w, &job));
  assert_ok(tk_job_wait(job, 30));
  assert_ok(w.rc);
  assert_int_equal(1, w.inner_ran);
  tk_job_release(job);
  assert_ok(tk_pool_free(p));
}

/* Submits `n` jobs to its own bounded, blocking pool of one worker. */
typedef struct filler {
  tk_pool_t *pool;
  int n;
  int rc;                        /* the first failing submit's, or 0 */
  atomic_int ran;
} filler;

static int count_run(void *arg) {
  atomic_fetch_add(&((filler *)arg)->ran, 1);
  return 0;
}

static int fill_own_pool(void *arg) {
  filler *f = arg;
  tk_job_opts_t o = {0};
  o.block_timeout = 10;  /* bounded: a starved pool times out */
  for (int i = 0; i < f->n && f->rc == 0; i++)
    f->rc = tk_pool_submit(f->pool, &o, count_run, f, NULL);
  return 0;
}

static void block_bounded_submit_from_its_own_worker_gets_room(void **state) {
  (void)state;
  tk_pool_opts_t o = {0};
  o.workers = 1;
  o.capacity = 1;
  o.block_on_full = 1;
  tk_pool_t *p;
  assert_ok(tk_pool_new(&o, &p));
  filler f = {p, 5, 0, 0};
  tk_job_t *job;
  assert_ok(tk_pool_submit(p, NULL, fill_own_pool, &f, &job));
  assert_ok(tk_job_wait(job, 30));
  assert_ok(f.rc);
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(5, atomic_load(&f.ran));
  tk_job_release(job);
  assert_ok(tk_pool_free(p));
}

/* {====================================================== the API */

/* Blocks in a region until `open` lets it go (a gate of the test's own,
** which threadkit knows nothing of): only a spare can run what opens it. */
typedef struct blocker {
  gate *open;
  int begin_rc;
  int spares_inside;             /* metrics.spares while blocked */
  tk_pool_t *pool;
} blocker;

static int block_on_gate(void *arg) {
  blocker *b = arg;
  b->begin_rc = tk_pool_block_begin();
  tk_pool_metrics_t m;
  tk_pool_metrics(b->pool, &m);
  b->spares_inside = m.spares;
  gate_pass(b->open);
  tk_pool_block_end();
  return 0;
}

typedef struct opener {
  gate *open;
  int worker;                    /* tk_worker_index where it ran */
} opener;

static int open_gate(void *arg) {
  opener *o = arg;
  o->worker = tk_worker_index();
  gate_open(o->open);
  return 0;
}

static atomic_int inits, finis;

static int count_init(void *data, int index, void **worker_data) {
  (void)data;
  (void)index;
  (void)worker_data;
  atomic_fetch_add(&inits, 1);
  return 0;
}

static void count_fini(void *data, int index, void *worker_data) {
  (void)data;
  (void)index;
  (void)worker_data;
  atomic_fetch_add(&finis, 1);
}

static void block_region_runs_the_queue_on_a_spare_that_retires(void **state) {
  (void)state;
  atomic_store(&inits, 0);
  atomic_store(&finis, 0);
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.worker_init = count_init;
  po.worker_fini = count_fini;
  tk_pool_t *p;
  assert_ok(tk_pool_new(&po, &p));
  for (int round = 0; round < 3; round++) {
    gate g;
    gate_init(&g);
    blocker b = {&g, -1, -1, p};
    opener o = {&g, -1};
    tk_job_t *bj, *oj;
    assert_ok(tk_pool_submit(p, NULL, block_on_gate, &b, &bj));
    assert_ok(tk_pool_submit(p, NULL, open_gate, &o, &oj));
    assert_ok(tk_job_wait(bj, 30));
    assert_ok(tk_job_wait(oj, 30));
    assert_ok(b.begin_rc);
    assert_int_equal(1, b.spares_inside);
    assert_int_equal(1, o.worker);  /* the spare: indices go on from 1 */
    assert_ok(tk_pool_wait_all(p, 30));
    assert_int_equal(0, spares_once(p, 0));  /* the worker is back */
    tk_job_release(bj);
    tk_job_release(oj);
    gate_destroy(&g);
  }
  /* One spare, made once, used again: its hooks ran once each. */
  assert_int_equal(2, atomic_load(&inits));
  assert_ok(tk_pool_free(p));
  assert_int_equal(2, atomic_load(&finis));
}

/* Regions nest: the inner ones count as nothing more. */
static int nested_regions(void *arg) {
  tk_pool_t *p = arg;
  tk_pool_block_begin();
  tk_pool_block_begin();
  tk_pool_metrics_t m;
  tk_pool_metrics(p, &m);
  tk_pool_block_end();
  tk_pool_block_end();
  return m.spares == 1 ? 0 : TK_EFAILED;
}

static void block_regions_nest_and_do_nothing_off_a_worker(void **state) {
  (void)state;
  assert_ok(tk_pool_block_begin());  /* not a worker: nothing to do */
  tk_pool_block_end();
  tk_pool_block_end();  /* unbalanced off a worker: still nothing */
  tk_pool_t *p = new_pool(1);
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, nested_regions, p, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  tk_job_release(j);
  assert_ok(tk_pool_free(p));
}

/* Without spares, a task that would wait for room in its own full pool,
** where no other thread can make it, fails at once. */
typedef struct lone {
  tk_pool_t *pool;
  int begin_rc, submit_rc[2];
  double took;
} lone;

static int lone_worker_blocks(void *arg) {
  lone *l = arg;
  l->begin_rc = tk_pool_block_begin();
  tk_pool_block_end();
  tk_job_opts_t o = {0};
  o.block_timeout = 10;
  double t0 = now_s();
  for (int i = 0; i < 2; i++)
    l->submit_rc[i] = tk_pool_submit(l->pool, &o, noop_task, NULL, NULL);
  l->took = now_s() - t0;
  return 0;
}

static void block_without_spares_a_full_own_pool_fails_at_once(void **state) {
  (void)state;
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.capacity = 1;
  po.block_on_full = 1;
  po.max_spares = -1;
  tk_pool_t *p;
  assert_ok(tk_pool_new(&po, &p));
  lone l = {p, 0, {-1, -1}, 0};
  tk_job_t *j;
  assert_ok(tk_pool_submit(p, NULL, lone_worker_blocks, &l, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_EBUSY, l.begin_rc);
  assert_ok(l.submit_rc[0]);
  assert_int_equal(TK_EBUSY, l.submit_rc[1]);
  assert_true(l.took < 5);  /* at once, not after block_timeout */
  tk_job_release(j);
  assert_ok(tk_pool_free(p));
}

/* A job suspended on a spare resumes there, after the spare retired. */
static void resume_job(void *arg) { tk_job_resume(arg); }

typedef struct on_spare {
  gate *open;
  tk_token_t *wake;
  int calls;
  int worker[2];
} on_spare;

static int suspend_on_spare(void *arg) {
  on_spare *s = arg;
  s->worker[s->calls] = tk_worker_index();
  if (s->calls++ > 0) return 0;
  tk_token_on_cancel(s->wake, resume_job, tk_job_current(), NULL);
  gate_open(s->open);
  return TK_SUSPEND;
}

static void block_a_job_suspended_on_a_spare_resumes_there(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  blocker b = {&g, -1, -1, p};
  on_spare s = {&g, NULL, 0, {-1, -1}};
  assert_ok(tk_token_new(&s.wake));
  tk_job_t *bj, *sj;
  assert_ok(tk_pool_submit(p, NULL, block_on_gate, &b, &bj));
  assert_ok(tk_pool_submit(p, NULL, suspend_on_spare, &s, &sj));
  assert_ok(tk_job_wait(bj, 30));
  assert_int_equal(0, spares_once(p, 0));  /* the worker is back */
  assert_int_equal(TK_JOB_RUNNING, tk_job_state(sj));
  tk_token_cancel(s.wake);
  assert_ok(tk_job_wait(sj, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(sj));
  assert_int_equal(2, s.calls);
  assert_int_equal(1, s.worker[0]);
  assert_int_equal(1, s.worker[1]);
  tk_job_release(bj);
  tk_job_release(sj);
  tk_token_release(s.wake);
  gate_destroy(&g);
  assert_ok(tk_pool_free(p));
}

/* }====================================================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(block_job_wait_in_a_task_does_not_starve_its_pool),
      cmocka_unit_test(block_bounded_submit_from_its_own_worker_gets_room),
      cmocka_unit_test(block_region_runs_the_queue_on_a_spare_that_retires),
      cmocka_unit_test(block_regions_nest_and_do_nothing_off_a_worker),
      cmocka_unit_test(block_without_spares_a_full_own_pool_fails_at_once),
      cmocka_unit_test(block_a_job_suspended_on_a_spare_resumes_there),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
