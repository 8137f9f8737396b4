/*
** test_pool.c - priority order, wait_all, shutdown, capacity, hooks,
** fire-and-forget, metrics, bad input. See LICENSE for copyright and licence.
*/
#include "tk_test.h"

typedef struct order_log {
  pthread_mutex_t mu;
  int seen[2048];
  int n;
} order_log;

typedef struct order_item {
  order_log *log;
  int value;
} order_item;

static int log_task(void *arg) {
  order_item *it = arg;
  pthread_mutex_lock(&it->log->mu);
  it->log->seen[it->log->n++] = it->value;
  pthread_mutex_unlock(&it->log->mu);
  return 0;
}

static void pool_priority_order_fifo_ties(void **state) {
  (void)state;
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.paused = 1;
  tk_pool_t *p;
  assert_ok(tk_pool_new(&po, &p));
  order_log log = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
  static order_item items[1000];
  srand(42);
  for (int i = 0; i < 1000; i++) {
    int prio = rand() % 7 - 3;  /* beyond the named five too */
    items[i].log = &log;
    items[i].value = (prio + 3) * 10000 + i;
    tk_job_opts_t o = {0};
    o.priority = prio;
    assert_ok(tk_pool_submit(p, &o, log_task, &items[i], NULL));
  }
  assert_ok(tk_pool_resume(p));
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(1000, log.n);
  for (int i = 1; i < 1000; i++) {
    int a = log.seen[i - 1], b = log.seen[i];
    /* priority descending, then submission order ascending */
    assert_true(b / 10000 < a / 10000 ||
                (b / 10000 == a / 10000 && b % 10000 > a % 10000));
  }
  tk_pool_free(p);
}

static void pool_wait_all_timeout(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 2;
  assert_ok(tk_pool_new(&po, &p));
  assert_ok(tk_pool_wait_all(p, 0));  /* nothing to wait for */
  gate g;
  gate_init(&g);
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, NULL));
  double t0 = now_s();
  assert_int_equal(TK_ETIMEDOUT, tk_pool_wait_all(p, 0.05));
  assert_true(now_s() - t0 >= 0.045);
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_free(p);
  gate_destroy(&g);
}

static void pool_shutdown_cancel_pending(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 2;
  assert_ok(tk_pool_new(&po, &p));
  gate g;
  gate_init(&g);
  tk_job_t *blockers[2], *queued[100];
  for (int i = 0; i < 2; i++)
    assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &blockers[i]));
  assert_true(gate_wait_arrived(&g, 2));
  for (int i = 0; i < 100; i++)
    assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &queued[i]));
  assert_ok(tk_pool_shutdown(p, 0, 1));
  for (int i = 0; i < 100; i++) {
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(queued[i]));
    assert_string_equal("pool shut down", tk_job_error(queued[i]));
  }
  assert_int_equal(TK_ESHUTDOWN, tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  gate_open(&g);
  assert_ok(tk_pool_shutdown(p, 1, 1));  /* nothing left to cancel: waits */
  assert_ok(tk_pool_wait_all(p, 30));
  for (int i = 0; i < 2; i++)
    assert_int_equal(TK_JOB_COMPLETED, tk_job_state(blockers[i]));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(102, m.submitted);
  assert_int_equal(100, m.cancelled);
  assert_int_equal(2, m.completed);
  assert_int_equal(0, m.pending + m.running);
  for (int i = 0; i < 100; i++) tk_job_release(queued[i]);
  for (int i = 0; i < 2; i++) tk_job_release(blockers[i]);
  tk_pool_free(p);
  gate_destroy(&g);
}

/* A shutdown that lets queued work run can be followed by one that
** cancels it (tklua's Ctrl-C does this to a pool closing on its own). */
static void pool_second_shutdown_cancels_what_the_first_let_run(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  gate g;
  gate_init(&g);
  tk_job_t *blocker, *queued[10];
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, &blocker));
  assert_true(gate_wait_arrived(&g, 1));
  for (int i = 0; i < 10; i++)
    assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &queued[i]));
  assert_ok(tk_pool_shutdown(p, 0, 0));
  assert_int_equal(TK_JOB_PENDING, tk_job_state(queued[0]));
  assert_ok(tk_pool_shutdown(p, 0, 1));
  for (int i = 0; i < 10; i++)
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(queued[i]));
  gate_open(&g);
  assert_ok(tk_pool_shutdown(p, 1, 0));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(blocker));
  for (int i = 0; i < 10; i++) tk_job_release(queued[i]);
  tk_job_release(blocker);
  tk_pool_free(p);
  gate_destroy(&g);
}

static void pool_shutdown_runs_queued_jobs(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 1;
  assert_ok(tk_pool_new(&po, &p));
  gate g;
  gate_init(&g);
  tk_job_t *js[50];
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, NULL));
  assert_true(gate_wait_arrived(&g, 1));
  for (int i = 0; i < 50; i++)
    assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, &js[i]));
  assert_ok(tk_pool_shutdown(p, 0, 0));
  gate_open(&g);
  assert_ok(tk_pool_shutdown(p, 1, 0));
  for (int i = 0; i < 50; i++) {
    assert_int_equal(TK_JOB_COMPLETED, tk_job_state(js[i]));
    tk_job_release(js[i]);
  }
  assert_ok(tk_pool_wait_all(p, 0));
  tk_pool_free(p);
  gate_destroy(&g);
}

static void post_count(void *arg, int status) {
  atomic_int *c = arg;
  atomic_fetch_add(&c[status == 0 ? 0 : 1], 1);
}

static void pool_post_and_batch(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 2;
  assert_ok(tk_pool_new(&po, &p));
  atomic_int counts[2] = {0, 0};
  for (int i = 0; i < 1000; i++)
    assert_ok(tk_pool_post(p, TK_NORMAL, post_count, counts));
  void *args[500];
  for (int i = 0; i < 500; i++) args[i] = counts;
  assert_ok(tk_pool_post_batch(p, TK_LOW, post_count, args, 500));
  assert_ok(tk_pool_wait_all(p, 30));
  assert_int_equal(1500, atomic_load(&counts[0]));
  assert_int_equal(0, atomic_load(&counts[1]));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(1500, m.submitted);
  assert_int_equal(1500, m.completed);
  tk_pool_free(p);
}

static void pool_post_cancelled_by_shutdown_gets_status(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.paused = 1;
  assert_ok(tk_pool_new(&po, &p));
  atomic_int counts[2] = {0, 0};
  for (int i = 0; i < 20; i++)
    assert_ok(tk_pool_post(p, TK_NORMAL, post_count, counts));
  assert_ok(tk_pool_shutdown(p, 1, 1));
  assert_int_equal(0, atomic_load(&counts[0]));
  assert_int_equal(20, atomic_load(&counts[1]));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(20, m.cancelled);
  assert_int_equal(TK_ESHUTDOWN, tk_pool_post(p, 0, post_count, counts));
  tk_pool_free(p);
}

static void pool_bounded_reject(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.capacity = 3;
  assert_ok(tk_pool_new(&po, &p));
  gate g;
  gate_init(&g);
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, NULL));
  assert_true(gate_wait_arrived(&g, 1));  /* running: no longer pending */
  for (int i = 0; i < 3; i++)
    assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  assert_int_equal(TK_EFULL, tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  assert_int_equal(TK_EFULL, tk_pool_post(p, 0, post_count, NULL));
  tk_job_opts_t o = {0};
  o.block_timeout = 0.05;  /* blocks a while even though the pool rejects */
  double t0 = now_s();
  assert_int_equal(TK_ETIMEDOUT, tk_pool_submit(p, &o, noop_task, NULL, NULL));
  assert_true(now_s() - t0 >= 0.045);
  gate_open(&g);
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(4, m.submitted);
  assert_int_equal(3, m.peak_pending);
  tk_pool_free(p);
  gate_destroy(&g);
}

typedef struct opener {
  gate *g;
  tk_pool_t *p;
} opener;

static void *open_later(void *arg) {
  opener *o = arg;
  /* Opens the gate once the submitter is blocked for room. */
  while (1) {
    tk_pool_metrics_t m;
    tk_pool_metrics(o->p, &m);
    if (m.pending == 2) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  gate_open(o->g);
  return NULL;
}

static void pool_bounded_block(void **state) {
  (void)state;
  tk_pool_t *p;
  tk_pool_opts_t po = {0};
  po.workers = 1;
  po.capacity = 2;
  po.block_on_full = 1;
  assert_ok(tk_pool_new(&po, &p));
  gate g;
  gate_init(&g);
  assert_ok(tk_pool_submit(p, NULL, gate_task, &g, NULL));
  assert_true(gate_wait_arrived(&g, 1));
  for (int i = 0; i < 2; i++)
    assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  tk_job_opts_t jo = {0};
  jo.block_timeout = -1;  /* never block: rejected when full */
  assert_int_equal(TK_EFULL, tk_pool_submit(p, &jo, noop_task, NULL, NULL));
  opener o = {&g, p};
  pthread_t th;
  pthread_create(&th, NULL, open_later, &o);
  /* These block until the worker frees slots. */
  for (int i = 0; i < 8; i++)
    assert_ok(tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  pthread_join(th, NULL);
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_metrics_t m;
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(11, m.completed);
  assert_true(m.peak_pending <= 2);
  tk_pool_free(p);
  gate_destroy(&g);
}

typedef struct hooks {
  atomic_int inits, finis;
  int slots[4];
} hooks;

static int hook_init(void *data, int index, void **worker_data) {
  hooks *h = data;
  atomic_fetch_add(&h->inits, 1);
  *worker_data = &h->slots[index];
  return 0;
}

static void hook_fini(void *data, int index, void *worker_data) {
  hooks *h = data;
  assert_ptr_equal(&h->slots[index], worker_data);
  atomic_fetch_add(&h->finis, 1);
}

static int use_worker_data(void *arg) {
  (void)arg;
  int *slot = tk_worker_data();
  (*slot)++;  /* only this worker touches its slot */
  return tk_worker_index() >= 0 ? 0 : TK_EINVAL;
}

static int failing_init(void *data, int index, void **worker_data) {
  (void)data;
  (void)worker_data;
  return index == 1 ? TK_ENOMEM : 0;
}

static void pool_worker_hooks(void **state) {
  (void)state;
  hooks h = {0};
  tk_pool_opts_t po = {0};
  po.workers = 4;
  po.name = "hooked";
  po.worker_init = hook_init;
  po.worker_fini = hook_fini;
  po.data = &h;
  tk_pool_t *p;
  assert_ok(tk_pool_new(&po, &p));
  assert_int_equal(4, atomic_load(&h.inits));
  assert_int_equal(4, tk_pool_workers(p));
  for (int i = 0; i < 400; i++)
    assert_ok(tk_pool_submit(p, NULL, use_worker_data, NULL, NULL));
  assert_ok(tk_pool_wait_all(p, 30));
  tk_pool_free(p);
  assert_int_equal(4, atomic_load(&h.finis));
  assert_int_equal(400, h.slots[0] + h.slots[1] + h.slots[2] + h.slots[3]);
  assert_int_equal(-1, tk_worker_index());
  assert_null(tk_worker_data());

  po.worker_init = failing_init;
  po.worker_fini = NULL;
  assert_int_equal(TK_ENOMEM, tk_pool_new(&po, &p));
}

static void pool_default_workers_is_cpu_count(void **state) {
  (void)state;
  tk_pool_t *p;
  assert_ok(tk_pool_new(NULL, &p));
  assert_true(tk_pool_workers(p) >= 1);
  tk_pool_free(p);
}

static int shutdown_from_task(void *arg) {
  tk_pool_t *p = arg;
  if (tk_pool_wait_all(p, 1) != TK_EBUSY) return TK_EINVAL;
  if (tk_pool_free(p) != TK_EBUSY) return TK_EINVAL;
  return 0;
}

static void pool_bad_input(void **state) {
  (void)state;
  tk_pool_t *p = NULL;
  tk_pool_opts_t po = {0};
  po.workers = -1;
  assert_int_equal(TK_EINVAL, tk_pool_new(&po, &p));
  assert_null(p);
  po.workers = 100000;
  assert_int_equal(TK_EINVAL, tk_pool_new(&po, &p));
  po.workers = 1;
  po.capacity = SIZE_MAX;
  assert_int_equal(TK_EINVAL, tk_pool_new(&po, &p));
  assert_int_equal(TK_EINVAL, tk_pool_new(NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_submit(NULL, NULL, noop_task, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_post(NULL, 0, post_count, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_wait_all(NULL, 0));
  assert_int_equal(TK_EINVAL, tk_pool_shutdown(NULL, 1, 1));
  assert_int_equal(TK_EINVAL, tk_pool_metrics(NULL, NULL));
  assert_int_equal(0, tk_pool_free(NULL));

  po.capacity = 0;
  assert_ok(tk_pool_new(&po, &p));
  tk_job_t *j = (tk_job_t *)1;
  assert_int_equal(TK_EINVAL, tk_pool_submit(p, NULL, NULL, NULL, &j));
  assert_null(j);
  tk_job_opts_t o = {0};
  o.n_after = 1;  /* with after == NULL */
  assert_int_equal(TK_EINVAL, tk_pool_submit(p, &o, noop_task, NULL, NULL));
  o.n_after = 0;
  o.timeout = -1;
  assert_int_equal(TK_EINVAL, tk_pool_submit(p, &o, noop_task, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_pool_post_batch(p, 0, post_count, NULL, 3));
  assert_ok(tk_pool_submit(p, NULL, shutdown_from_task, p, &j));
  assert_ok(tk_job_wait(j, 30));
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(j));
  tk_job_release(j);
  assert_ok(tk_pool_shutdown(p, 1, 0));
  assert_ok(tk_pool_shutdown(p, 1, 0));  /* double shutdown is fine */
  assert_int_equal(TK_ESHUTDOWN, tk_pool_submit(p, NULL, noop_task, NULL, NULL));
  tk_pool_free(p);
}

typedef struct {
  tk_pool_t *pool;
  long n;
} feeder;

static void post_nothing(void *arg, int status) {
  (void)arg;
  (void)status;
}

static void *feed(void *arg) {
  feeder *f = arg;
  for (long i = 0; i < f->n; i++)
    while (tk_pool_post(f->pool, 0, post_nothing, NULL) != 0) {}
  return NULL;
}

/* Snapshots taken while jobs come and go balance: submitted = completed +
** failed + cancelled + running + pending (they overshot by up to the
** worker count, one snapshot in ten); at quiescence each count is exact. */
static void pool_metrics_balance_under_load(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  feeder f = {p, stress_scale(200000)};
  pthread_t th;
  assert_int_equal(0, pthread_create(&th, NULL, feed, &f));
  tk_pool_metrics_t m;
  long snapshots = 0, unbalanced = 0;
  for (;;) {
    assert_ok(tk_pool_metrics(p, &m));
    snapshots++;
    if (m.submitted != m.completed + m.failed + m.cancelled + m.running +
                           m.pending)
      unbalanced++;
    if (m.submitted == (uint64_t)f.n && m.completed == (uint64_t)f.n) break;
  }
  pthread_join(th, NULL);
  assert_int_equal(0, unbalanced);
  assert_true(snapshots > 1);
  assert_ok(tk_pool_wait_all(p, 30));
  assert_ok(tk_pool_metrics(p, &m));
  assert_int_equal(f.n, m.submitted);
  assert_int_equal(f.n, m.completed);
  assert_int_equal(0, m.running);
  assert_int_equal(0, m.pending);
  tk_pool_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pool_metrics_balance_under_load),
      cmocka_unit_test(pool_priority_order_fifo_ties),
      cmocka_unit_test(pool_wait_all_timeout),
      cmocka_unit_test(pool_shutdown_cancel_pending),
      cmocka_unit_test(pool_second_shutdown_cancels_what_the_first_let_run),
      cmocka_unit_test(pool_shutdown_runs_queued_jobs),
      cmocka_unit_test(pool_post_and_batch),
      cmocka_unit_test(pool_post_cancelled_by_shutdown_gets_status),
      cmocka_unit_test(pool_bounded_reject),
      cmocka_unit_test(pool_bounded_block),
      cmocka_unit_test(pool_worker_hooks),
      cmocka_unit_test(pool_default_workers_is_cpu_count),
      cmocka_unit_test(pool_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
