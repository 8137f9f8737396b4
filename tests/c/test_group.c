/*
** test_group.c - groups: the tree, events, limits, joins, the capacity
** race, listing children while they go. See LICENSE for copyright and licence.
*/
#include "tk_test.h"

typedef struct maker {
  tk_group_t *made;              /* the group the task created */
  int daemon;
} maker;

static tk_pool_t *the_pool;

/* A task that creates a group: its parent should be the task's group. */
static int make_group_task(void *arg) {
  maker *m = arg;
  tk_group_opts_t o = {0};
  o.daemon = m->daemon;
  o.name = m->daemon ? "daemon" : "child";
  return tk_group_new(the_pool, &o, &m->made);
}

static void group_tree_follows_the_creating_task(void **state) {
  (void)state;
  the_pool = new_pool(2);
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.name = "top";
  assert_ok(tk_group_new(the_pool, &o, &g));
  assert_null(tk_group_parent(g));
  assert_string_equal("top", tk_group_name(g));
  maker child = {NULL, 0}, daemon = {NULL, 1};
  tk_job_t *a, *b;
  assert_ok(tk_group_submit(g, NULL, make_group_task, &child, &a));
  assert_ok(tk_group_submit(g, NULL, make_group_task, &daemon, &b));
  assert_ok(tk_group_join(g, 30));
  tk_group_t *p = tk_group_parent(child.made);
  assert_ptr_equal(g, p);
  tk_group_release(p);
  assert_null(tk_group_parent(daemon.made));  /* a daemon is a root */
  tk_group_t *kids[4];
  assert_int_equal(1, tk_group_children(g, kids, 4));
  assert_ptr_equal(child.made, kids[0]);
  tk_group_release(kids[0]);
  /* A generated name when none is given. */
  tk_group_t *anon;
  assert_ok(tk_group_new(the_pool, NULL, &anon));
  assert_non_null(strstr(tk_group_name(anon), "group-"));
  /* Events: down, never up; not into daemons. */
  tk_group_set_event(child.made);
  assert_true(tk_group_event_is_set(child.made));
  assert_false(tk_group_event_is_set(g));
  tk_group_set_event(g);
  assert_true(tk_group_event_is_set(g));
  assert_false(tk_group_event_is_set(daemon.made));
  tk_job_release(a);
  tk_job_release(b);
  tk_group_release(anon);
  tk_group_release(child.made);
  tk_group_release(daemon.made);
  tk_group_release(g);
  tk_pool_free(the_pool);
}

typedef struct conc {
  atomic_int now, peak, ran;
} conc;

static int count_concurrency(void *arg) {
  conc *c = arg;
  int n = atomic_fetch_add(&c->now, 1) + 1;
  int peak = atomic_load(&c->peak);
  while (n > peak && !atomic_compare_exchange_weak(&c->peak, &peak, n)) {}
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL);
  atomic_fetch_sub(&c->now, 1);
  atomic_fetch_add(&c->ran, 1);
  return 0;
}

static void group_max_concurrent_limits_in_flight(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(4);
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.max_concurrent = 2;
  assert_ok(tk_group_new(p, &o, &g));
  conc c = {0, 0, 0};
  for (int i = 0; i < 30; i++)
    assert_ok(tk_group_submit(g, NULL, count_concurrency, &c, NULL));
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(30, atomic_load(&c.ran));
  assert_true(atomic_load(&c.peak) <= 2);
  assert_int_equal(2, tk_group_max_concurrent(g));
  size_t pending, running, done;
  tk_group_counts(g, &pending, &running, &done);
  assert_int_equal(0, pending + running);
  assert_int_equal(30, done);
  tk_group_release(g);
  tk_pool_free(p);
}

static int wait_for_event(void *arg) {
  atomic_int *woke = arg;
  tk_token_wait(tk_job_token(tk_job_current()), 30);
  atomic_fetch_add(woke, 1);
  return tk_cancelled() ? TK_ECANCELED : 0;
}

static void group_event_wakes_running_and_cancels_waiting(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.max_concurrent = 1;
  assert_ok(tk_group_new(p, &o, &g));
  atomic_int woke = 0;
  tk_job_t *first, *rest[5];
  assert_ok(tk_group_submit(g, NULL, wait_for_event, &woke, &first));
  for (int i = 0; i < 5; i++)
    assert_ok(tk_group_submit(g, NULL, wait_for_event, &woke, &rest[i]));
  /* The first waits on a worker; the rest wait in the group, not on one. */
  tk_pool_metrics_t m;
  for (int i = 0; i < 30000; i++) {
    tk_pool_metrics(p, &m);
    if (m.running == 1) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(1, m.running);
  double t0 = now_s();
  tk_group_set_event(g);
  assert_ok(tk_group_join(g, 30));
  assert_true(now_s() - t0 < 5);
  assert_int_equal(1, atomic_load(&woke));  /* only the running one ran */
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(first));
  for (int i = 0; i < 5; i++) {
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(rest[i]));
    assert_true(tk_job_execution_time(rest[i]) < 0);  /* never started */
    tk_job_release(rest[i]);
  }
  /* Tasks added after the event end cancelled too. */
  tk_job_t *late;
  assert_ok(tk_group_submit(g, NULL, wait_for_event, &woke, &late));
  assert_ok(tk_job_wait(late, 30));
  assert_int_equal(TK_JOB_CANCELLED, tk_job_state(late));
  tk_job_release(late);
  tk_job_release(first);
  tk_group_release(g);
  tk_pool_free(p);
}

typedef struct adder {
  tk_group_t *g;
  int n;
  atomic_int *ran;
} adder;

static int count_task(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

static void *add_many(void *arg) {
  adder *a = arg;
  for (int i = 0; i < a->n; i++)
    assert_ok(tk_group_submit(a->g, NULL, count_task, a->ran, NULL));
  return NULL;
}

static void group_capacity_race_loses_nothing(void **state) {
  (void)state;
  /* Four threads add while tasks finish and free slots: every task runs
  ** exactly once and the join sees them all. */
  tk_pool_t *p = new_pool(2);
  for (int round = 0; round < 20; round++) {
    tk_group_t *g;
    tk_group_opts_t o = {0};
    o.max_concurrent = 3;
    assert_ok(tk_group_new(p, &o, &g));
    atomic_int ran = 0;
    adder a = {g, (int)stress_scale(2000), &ran};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, add_many, &a);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    assert_ok(tk_group_join(g, 60));
    assert_int_equal(4 * a.n, atomic_load(&ran));
    tk_group_release(g);
  }
  tk_pool_free(p);
}

/* Children that come and go while another thread lists them: a group
** whose last reference just went stays linked until its release takes the
** tree lock, and listing must not revive it (TSan and ASan watch this). */
static _Atomic(tk_job_t *) last_job;
static atomic_int listed_one;    /* the lister has seen a child, or gave up */

static int make_and_drop_child(void *arg) {
  (void)arg;
  tk_group_t *child;
  tk_group_opts_t o = {0};
  o.name = "short-lived";
  int rc = tk_group_new(the_pool, &o, &child);
  if (rc != 0) return rc;
  tk_job_t *job = NULL;
  rc = tk_group_submit(child, NULL, noop_task, NULL, &job);
  if (rc == 0) tk_job_release(atomic_exchange(&last_job, job));
  /* The first children wait to be listed: the race is run at least once
  ** whatever the scheduling (valgrind runs one thread at a time), and
  ** however long the lister takes to submit them all (a deadline here ran
  ** out under TSan on a loaded machine before listing began). */
  while (!atomic_load(&listed_one)) sched_yield();
  tk_group_release(child);
  return rc;
}

static void group_listing_children_while_they_go(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  the_pool = p;
  tk_group_t *parent;
  assert_ok(tk_group_new(p, NULL, &parent));
  long n = stress_scale(20000);
  for (long i = 0; i < n; i++)
    assert_ok(tk_group_submit(parent, NULL, make_and_drop_child, NULL, NULL));
  size_t seen = 0;
  double give_up = now_s() + 60;
  while (tk_group_join(parent, 0) == TK_ETIMEDOUT) {
    if (now_s() > give_up) atomic_store(&listed_one, 1);  /* fails below */
    tk_group_t *kids[64];
    size_t got = tk_group_children(parent, kids, 64);
    for (size_t i = 0; i < got; i++) {
      assert_string_equal("short-lived", tk_group_name(kids[i]));
      tk_group_release(kids[i]);
      seen++;
      atomic_store(&listed_one, 1);
    }
    tk_job_t *job = atomic_exchange(&last_job, NULL);
    tk_group_t *g = tk_job_group(job);
    if (g != NULL) {
      assert_string_equal("short-lived", tk_group_name(g));
      tk_group_release(g);
    }
    tk_job_release(job);
    sched_yield();  /* under valgrind, one thread runs at a time */
  }
  atomic_store(&listed_one, 1);
  tk_job_release(atomic_exchange(&last_job, NULL));
  assert_ok(tk_group_join(parent, 60));
  /* Every child went with its last reference. */
  assert_int_equal(0, tk_group_child_count(parent));
  assert_true(seen > 0);
  tk_group_release(parent);
  tk_pool_free(p);
}

/* A task that makes a child group, gives it a task and lets it go. */
static int make_child_and_let_go(void *arg) {
  (void)arg;
  tk_group_t *child;
  int rc = tk_group_new(the_pool, NULL, &child);
  if (rc != 0) return rc;
  rc = tk_group_submit(child, NULL, noop_task, NULL, NULL);
  tk_group_release(child);
  return rc;
}

/* Once a join returns, a child group that no one holds is gone: its hold
** on itself ends with its last task, before the join can see it done. */
static void group_join_sees_let_go_children_gone(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  the_pool = p;
  tk_group_t *parent;
  assert_ok(tk_group_new(p, NULL, &parent));
  long n = stress_scale(1000);
  for (long i = 0; i < n; i++) {
    assert_ok(tk_group_submit(parent, NULL, make_child_and_let_go, NULL, NULL));
    assert_ok(tk_group_join(parent, 60));
    assert_int_equal(0, tk_group_child_count(parent));
  }
  tk_group_release(parent);
  tk_pool_free(p);
}

typedef struct joiner {
  tk_group_t *g;
  int rc;
} joiner;

static int join_from_inside(void *arg) {
  joiner *j = arg;
  j->rc = tk_group_join(j->g, 1);
  return 0;
}

static int sleeper(void *arg) {
  struct timespec ts = {0, (long)(intptr_t)arg};
  nanosleep(&ts, NULL);
  return 0;
}

static void group_join(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  assert_ok(tk_group_join(g, 0));  /* nothing to wait for */
  assert_ok(tk_group_submit(g, NULL, sleeper, (void *)(intptr_t)200000000, NULL));
  assert_int_equal(TK_ETIMEDOUT, tk_group_join(g, 0.01));
  assert_ok(tk_group_join(g, 30));
  joiner j = {g, 0};
  tk_job_t *jj;
  assert_ok(tk_group_submit(g, NULL, join_from_inside, &j, &jj));
  assert_ok(tk_job_wait(jj, 30));
  assert_int_equal(TK_EBUSY, j.rc);  /* a clear error, not a deadlock */
  /* A group takes new tasks after a join. */
  atomic_int ran = 0;
  assert_ok(tk_group_submit(g, NULL, count_task, &ran, NULL));
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(1, atomic_load(&ran));
  tk_job_release(jj);
  tk_group_release(g);
  tk_pool_free(p);
}

static int failing_task(void *arg) {
  (void)arg;
  return tk_job_fail(tk_job_current(), "no");
}

/* A group that runs tasks all its life, joined after each round, lists
** the round its last join waited for and the tasks since, not every task
** it ran; its totals still count every task. */
static void group_join_forgets_the_round_before(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  tk_group_t *g;
  assert_ok(tk_group_new(p, NULL, &g));
  enum { ROUND = 100, ROUNDS = 50 };
  tk_job_t *first;
  assert_ok(tk_group_submit(g, NULL, noop_task, NULL, &first));
  for (int i = 1; i < ROUND; i++)
    assert_ok(tk_group_submit(g, NULL, noop_task, NULL, NULL));
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(ROUND, tk_group_job_count(g));
  tk_group_t *own = tk_job_group(first);
  assert_ptr_equal(g, own);
  tk_group_release(own);
  for (int r = 1; r < ROUNDS; r++) {
    for (int i = 0; i < ROUND; i++)
      assert_ok(tk_group_submit(g, NULL, r % 2 ? failing_task : noop_task,
                                NULL, NULL));
    /* Before the join, the last round and this one are listed. */
    assert_int_equal(2 * ROUND, tk_group_job_count(g));
    assert_ok(tk_group_join(g, 30));
    assert_int_equal(ROUND, tk_group_job_count(g));
    assert_ok(tk_group_join(g, 0));  /* nothing new: nothing forgotten */
    assert_int_equal(ROUND, tk_group_job_count(g));
  }
  /* A forgotten job lives on for whoever holds it, with no group. */
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(first));
  assert_null(tk_job_group(first));
  size_t submitted, completed, failed, cancelled, pending, running, done;
  tk_group_totals(g, &submitted, &completed, &failed, &cancelled);
  assert_int_equal(ROUND * ROUNDS, submitted);
  assert_int_equal(ROUND * (ROUNDS / 2), completed);
  assert_int_equal(ROUND * (ROUNDS / 2), failed);
  assert_int_equal(0, cancelled);
  tk_group_counts(g, &pending, &running, &done);
  assert_int_equal(0, pending + running);
  assert_int_equal(ROUND * ROUNDS, done);
  tk_job_release(first);
  tk_group_release(g);
  tk_pool_free(p);
}

static void group_clear_pending_and_bad_input(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.max_concurrent = 1;
  assert_ok(tk_group_new(p, &o, &g));
  gate gt;
  gate_init(&gt);
  assert_ok(tk_group_submit(g, NULL, gate_task, &gt, NULL));
  assert_true(gate_wait_arrived(&gt, 1));
  atomic_int ran = 0;
  for (int i = 0; i < 4; i++)
    assert_ok(tk_group_submit(g, NULL, count_task, &ran, NULL));
  assert_int_equal(4, tk_group_clear_pending(g));
  gate_open(&gt);
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(0, atomic_load(&ran));
  tk_job_t *jobs[8];
  size_t n = tk_group_jobs(g, jobs, 8);
  assert_int_equal(5, n);
  assert_int_equal(TK_JOB_COMPLETED, tk_job_state(jobs[0]));
  for (size_t i = 0; i < n; i++) tk_job_release(jobs[i]);

  o.max_concurrent = -1;
  tk_group_t *bad;
  assert_int_equal(TK_EINVAL, tk_group_new(p, &o, &bad));
  assert_int_equal(TK_EINVAL, tk_group_new(NULL, NULL, &bad));
  tk_token_t *t;
  tk_token_new(&t);
  tk_job_opts_t jo = {0};
  jo.token = t;
  assert_int_equal(TK_EINVAL, tk_group_submit(g, &jo, count_task, &ran, NULL));
  tk_token_release(t);
  tk_pool_shutdown(p, 1, 0);
  assert_int_equal(TK_ESHUTDOWN, tk_group_submit(g, NULL, count_task, &ran, NULL));
  tk_group_release(g);
  tk_pool_free(p);
  gate_destroy(&gt);
}

/* {====================================================== adding meanwhile */

/* A thread that adds `n` pending tasks to a group when asked, for the
** tests of listing and clearing while the group grows. */
typedef struct meanwhile {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tk_group_t *g;
  atomic_int *ran;
  int n;
  int asked, done, quit;
} meanwhile;

static void *meanwhile_main(void *arg) {
  meanwhile *a = arg;
  pthread_mutex_lock(&a->mu);
  for (;;) {
    while (!a->asked && !a->quit) pthread_cond_wait(&a->cv, &a->mu);
    if (a->quit) break;
    a->asked = 0;
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < a->n; i++)
      tk_group_submit(a->g, NULL, count_task, a->ran, NULL);
    pthread_mutex_lock(&a->mu);
    a->done++;
    pthread_cond_broadcast(&a->cv);
  }
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

static void meanwhile_start(meanwhile *a, tk_group_t *g, atomic_int *ran, int n) {
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  a->g = g;
  a->ran = ran;
  a->n = n;
  a->asked = a->done = a->quit = 0;
  assert_ok(pthread_create(&a->thread, NULL, meanwhile_main, a));
}

/* Asks for one round of additions and waits (30 s at most) until it is
** done: the additions happen on the meanwhile's thread, between whatever the
** caller did before and after. Returns 0 if they did not finish. */
static int meanwhile_add_now(meanwhile *a) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 30;
  pthread_mutex_lock(&a->mu);
  int want = a->done + 1, ok = 1;
  a->asked = 1;
  pthread_cond_broadcast(&a->cv);
  while (a->done < want && ok)
    ok = pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0;
  ok = a->done >= want;
  pthread_mutex_unlock(&a->mu);
  return ok;
}

static void meanwhile_stop(meanwhile *a) {
  pthread_mutex_lock(&a->mu);
  a->quit = 1;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  pthread_join(a->thread, NULL);
  pthread_mutex_destroy(&a->mu);
  pthread_cond_destroy(&a->cv);
}

/* The core's allocator, for the tests (installed in main before any other
** call): plain malloc, but the first allocation the armed thread makes
** runs the meanwhile first, so that tasks arrive in the middle of whatever
** the core was doing on that thread. */
static meanwhile *_Atomic add_on_alloc;
static pthread_t add_on_alloc_thread;

static void maybe_add(void) {
  meanwhile *a = atomic_load(&add_on_alloc);
  if (a != NULL && pthread_equal(pthread_self(), add_on_alloc_thread) &&
      atomic_compare_exchange_strong(&add_on_alloc, &a, NULL))
    meanwhile_add_now(a);
}

static void *hook_malloc(size_t n) {
  maybe_add();
  return malloc(n);
}

static void *hook_realloc(void *p, size_t n) {
  maybe_add();
  return realloc(p, n);
}

static void arm_add_on_alloc(meanwhile *a) {
  add_on_alloc_thread = pthread_self();
  atomic_store(&add_on_alloc, a);
}

/* tk_group_clear_pending lists the group's jobs and must not read past
** what it listed when tasks are added meanwhile (AddressSanitizer sees
** any read past its array). */
static void group_clear_pending_while_tasks_are_added(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.max_concurrent = 1;
  assert_ok(tk_group_new(p, &o, &g));
  gate gt;
  gate_init(&gt);
  assert_ok(tk_group_submit(g, NULL, gate_task, &gt, NULL));  /* holds the slot */
  assert_true(gate_wait_arrived(&gt, 1));
  atomic_int ran = 0;
  for (int i = 0; i < 4; i++)
    assert_ok(tk_group_submit(g, NULL, count_task, &ran, NULL));
  meanwhile a;
  meanwhile_start(&a, g, &ran, 64);
  arm_add_on_alloc(&a);
  int cleared = tk_group_clear_pending(g);
  assert_null(atomic_load(&add_on_alloc));  /* the meanwhile ran meanwhile */
  /* The four, and perhaps some of those added meanwhile; never more. */
  assert_true(cleared >= 4 && cleared <= 4 + 64);
  assert_int_equal(4 + 64 - cleared, tk_group_clear_pending(g));
  gate_open(&gt);
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(0, atomic_load(&ran));
  meanwhile_stop(&a);
  tk_group_release(g);
  tk_pool_free(p);
  gate_destroy(&gt);
}

/* A thread that adds `n` tasks to a group, and root groups, one after
** the other, for listing while the forest grows for real. */
typedef struct grower {
  tk_pool_t *pool;
  tk_group_t *g;
  atomic_int *ran;
  long n;
  atomic_int done;
} grower;

static void *grow_main(void *arg) {
  grower *w = arg;
  tk_group_t *roots[16];
  int nroots = 0;
  for (long i = 0; i < w->n; i++) {
    tk_group_submit(w->g, NULL, count_task, w->ran, NULL);
    if (nroots < 16 && tk_group_new(w->pool, NULL, &roots[nroots]) == 0)
      nroots++;
  }
  for (int i = 0; i < nroots; i++) tk_group_release(roots[i]);
  atomic_store(&w->done, 1);
  return NULL;
}

/* Checks a count-then-list of g's jobs and of the roots: what was written
** fits the array sized by the count, and every entry is a real object. */
static void list_once(tk_group_t *g) {
  size_t cap = tk_group_job_count(g);
  tk_job_t **jobs = malloc((cap ? cap : 1) * sizeof *jobs);
  assert_non_null(jobs);
  size_t n = tk_group_jobs(g, jobs, cap);
  assert_true(n <= cap);
  for (size_t i = 0; i < n; i++) {
    assert_true(tk_job_state(jobs[i]) <= TK_JOB_CANCELLED);
    tk_job_release(jobs[i]);
  }
  free(jobs);
  cap = tk_group_child_count(NULL);
  tk_group_t **roots = malloc((cap ? cap : 1) * sizeof *roots);
  assert_non_null(roots);
  n = tk_group_children(NULL, roots, cap);
  assert_true(n <= cap);
  for (size_t i = 0; i < n; i++) {
    assert_non_null(tk_group_name(roots[i]));
    tk_group_release(roots[i]);
  }
  free(roots);
}

/* Listing writes at most the capacity it is given: jobs and groups added
** between the count and the listing (on purpose, then for real from
** another thread) are never written past the array. */
static void group_listing_while_tasks_and_groups_are_added(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(1);
  tk_group_t *g;
  tk_group_opts_t o = {0};
  o.max_concurrent = 1;
  assert_ok(tk_group_new(p, &o, &g));
  gate gt;
  gate_init(&gt);
  assert_ok(tk_group_submit(g, NULL, gate_task, &gt, NULL));  /* holds the slot */
  assert_true(gate_wait_arrived(&gt, 1));
  atomic_int ran = 0;
  /* On purpose: 64 tasks arrive between the count and the listing. */
  meanwhile a;
  meanwhile_start(&a, g, &ran, 64);
  size_t cap = tk_group_job_count(g);
  assert_int_equal(1, cap);
  assert_true(meanwhile_add_now(&a));
  tk_job_t *one;
  assert_int_equal(1, tk_group_jobs(g, &one, cap));
  tk_job_release(one);
  assert_int_equal(65, tk_group_job_count(g));
  assert_int_equal(0, tk_group_jobs(g, NULL, 65));
  assert_int_equal(0, tk_group_jobs(g, &one, 0));
  meanwhile_stop(&a);
  /* For real: another thread adds while this one lists and clears. */
  grower w = {p, g, &ran, stress_scale(4000), 0};
  pthread_t th;
  assert_ok(pthread_create(&th, NULL, grow_main, &w));
  do {
    list_once(g);
    assert_true(tk_group_clear_pending(g) >= 0);
  } while (!atomic_load(&w.done));
  pthread_join(th, NULL);
  assert_true(tk_group_clear_pending(g) >= 0);
  gate_open(&gt);
  assert_ok(tk_group_join(g, 30));
  assert_int_equal(0, atomic_load(&ran));  /* every added task was cleared */
  tk_group_release(g);
  tk_pool_free(p);
  gate_destroy(&gt);
}

/* }====================================================== */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(group_tree_follows_the_creating_task),
      cmocka_unit_test(group_max_concurrent_limits_in_flight),
      cmocka_unit_test(group_event_wakes_running_and_cancels_waiting),
      cmocka_unit_test(group_capacity_race_loses_nothing),
      cmocka_unit_test(group_listing_children_while_they_go),
      cmocka_unit_test(group_join_sees_let_go_children_gone),
      cmocka_unit_test(group_join),
      cmocka_unit_test(group_join_forgets_the_round_before),
      cmocka_unit_test(group_clear_pending_and_bad_input),
      cmocka_unit_test(group_clear_pending_while_tasks_are_added),
      cmocka_unit_test(group_listing_while_tasks_and_groups_are_added),
  };
  /* Before any other call (see tk_replace_allocator). */
  if (tk_replace_allocator(hook_malloc, hook_realloc, free) != 0) return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
