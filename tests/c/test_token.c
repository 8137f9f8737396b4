/*
** test_token.c - cancellation tokens: exactly-once callbacks, children,
** deadlines, waits. See LICENSE for copyright and licence.
*/
#include "tk_test.h"

static void count_cb(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

static void token_cancel_idempotent(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  assert_false(tk_token_is_cancelled(t));
  assert_int_equal(0, tk_token_cancel(t));
  assert_true(tk_token_is_cancelled(t));
  assert_int_equal(TK_ECANCELED, tk_token_cancel(t));
  tk_token_release(t);
}

typedef struct race {
  tk_token_t *t;
  pthread_barrier_t *start;
  atomic_int *wins;
} race;

static void *cancel_racer(void *arg) {
  race *r = arg;
  pthread_barrier_wait(r->start);
  if (tk_token_cancel(r->t) == 0) atomic_fetch_add(r->wins, 1);
  return NULL;
}

static void token_callbacks_once_with_8_racing_cancels(void **state) {
  (void)state;
  for (int round = 0; round < 200; round++) {
    tk_token_t *t;
    assert_ok(tk_token_new(&t));
    atomic_int calls = 0, wins = 0;
    for (int i = 0; i < 10; i++)
      assert_ok(tk_token_on_cancel(t, count_cb, &calls, NULL));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 8);
    pthread_t th[8];
    race r = {t, &start, &wins};
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, cancel_racer, &r);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(1, atomic_load(&wins));
    assert_int_equal(10, atomic_load(&calls));
    tk_token_release(t);
  }
}

static void token_register_after_cancel_runs_at_once(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  tk_token_cancel(t);
  atomic_int calls = 0;
  uint64_t id = 99;
  assert_ok(tk_token_on_cancel(t, count_cb, &calls, &id));
  assert_int_equal(1, atomic_load(&calls));
  assert_int_equal(0, id);
  tk_token_release(t);
}

typedef struct rereg {
  tk_token_t *t;
  tk_token_t *other;
  atomic_int inner;
} rereg;

static void inner_cb(void *arg) { atomic_fetch_add(&((rereg *)arg)->inner, 1); }

static void reregistering_cb(void *arg) {
  rereg *r = arg;
  /* Registering on the token being cancelled runs at once, no deadlock. */
  tk_token_on_cancel(r->t, inner_cb, r, NULL);
  /* Cancelling another token from a callback works too. */
  tk_token_cancel(r->other);
}

static void token_callback_reregisters_and_cancels_another(void **state) {
  (void)state;
  rereg r = {NULL, NULL, 0};
  assert_ok(tk_token_new(&r.t));
  assert_ok(tk_token_new(&r.other));
  atomic_int other_calls = 0;
  assert_ok(tk_token_on_cancel(r.other, count_cb, &other_calls, NULL));
  assert_ok(tk_token_on_cancel(r.t, reregistering_cb, &r, NULL));
  tk_token_cancel(r.t);
  assert_int_equal(1, atomic_load(&r.inner));
  assert_true(tk_token_is_cancelled(r.other));
  assert_int_equal(1, atomic_load(&other_calls));
  tk_token_release(r.t);
  tk_token_release(r.other);
}

static int order[4];
static atomic_int order_n;
static void record_cb(void *arg) {
  order[atomic_fetch_add(&order_n, 1)] = (int)(intptr_t)arg;
}

static void token_callbacks_run_in_registration_order(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  atomic_store(&order_n, 0);
  for (intptr_t i = 0; i < 4; i++)
    assert_ok(tk_token_on_cancel(t, record_cb, (void *)i, NULL));
  tk_token_cancel(t);
  for (int i = 0; i < 4; i++) assert_int_equal(i, order[i]);
  tk_token_release(t);
}

static void token_off_cancel(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  atomic_int a = 0, b = 0;
  uint64_t ida, idb;
  assert_ok(tk_token_on_cancel(t, count_cb, &a, &ida));
  assert_ok(tk_token_on_cancel(t, count_cb, &b, &idb));
  assert_int_not_equal(0, ida);
  assert_int_equal(0, tk_token_off_cancel(t, ida));
  assert_int_equal(TK_ENOENT, tk_token_off_cancel(t, ida));
  tk_token_cancel(t);
  assert_int_equal(0, atomic_load(&a));
  assert_int_equal(1, atomic_load(&b));
  assert_int_equal(TK_ENOENT, tk_token_off_cancel(t, idb));
  assert_int_equal(TK_EINVAL, tk_token_off_cancel(t, 0));
  tk_token_release(t);
}

static void token_uncancelled_release_frees_callbacks(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  atomic_int calls = 0;
  assert_ok(tk_token_on_cancel(t, count_cb, &calls, NULL));
  tk_token_release(t);  /* leak checkers verify the node is freed */
  assert_int_equal(0, atomic_load(&calls));
}

static void token_children_follow_parent(void **state) {
  (void)state;
  tk_token_t *p, *c, *gc;
  assert_ok(tk_token_new(&p));
  assert_ok(tk_token_new_child(p, &c));
  assert_ok(tk_token_new_child(c, &gc));
  atomic_int calls = 0;
  assert_ok(tk_token_on_cancel(gc, count_cb, &calls, NULL));
  /* Cancelling a child does not touch the parent. */
  tk_token_t *sibling;
  assert_ok(tk_token_new_child(p, &sibling));
  tk_token_cancel(sibling);
  assert_false(tk_token_is_cancelled(p));
  assert_false(tk_token_is_cancelled(c));
  tk_token_cancel(p);
  assert_true(tk_token_is_cancelled(c));
  assert_true(tk_token_is_cancelled(gc));
  assert_int_equal(1, atomic_load(&calls));
  /* A child of a cancelled parent starts cancelled. */
  tk_token_t *late;
  assert_ok(tk_token_new_child(p, &late));
  assert_true(tk_token_is_cancelled(late));
  tk_token_release(late);
  tk_token_release(sibling);
  tk_token_release(gc);
  tk_token_release(c);
  tk_token_release(p);
}

static void token_child_released_before_parent_cancel(void **state) {
  (void)state;
  tk_token_t *p, *c;
  assert_ok(tk_token_new(&p));
  for (int i = 0; i < 100; i++) {
    assert_ok(tk_token_new_child(p, &c));
    tk_token_release(c);  /* unlinks from p */
  }
  assert_int_equal(0, tk_token_cancel(p));
  tk_token_release(p);
}

static void token_wait_timeout_and_wake(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  double t0 = now_s();
  assert_int_equal(TK_ETIMEDOUT, tk_token_wait(t, 0.05));
  assert_true(now_s() - t0 >= 0.045);
  assert_int_equal(TK_ETIMEDOUT, tk_token_wait(t, 0));
  assert_ok(tk_token_set_deadline(t, 0.02));
  assert_int_equal(0, tk_token_wait(t, 30));
  assert_true(tk_token_is_cancelled(t));
  tk_token_release(t);
  /* A deadline of 0 is due at once: cancelled on return, not after the
  ** timer thread's lag. */
  assert_ok(tk_token_new(&t));
  assert_ok(tk_token_set_deadline(t, 0));
  assert_true(tk_token_is_cancelled(t));
  tk_token_release(t);
}

static void token_deadline_fires_callbacks(void **state) {
  (void)state;
  tk_token_t *t;
  assert_ok(tk_token_new(&t));
  atomic_int calls = 0;
  assert_ok(tk_token_on_cancel(t, count_cb, &calls, NULL));
  assert_ok(tk_token_set_deadline(t, 0.01));
  assert_ok(tk_token_wait(t, 30));
  /* Callbacks ran on the timer thread, before or soon after the wake. */
  for (int i = 0; i < 3000 && atomic_load(&calls) == 0; i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(1, atomic_load(&calls));
  tk_token_release(t);
}

static void token_deadline_released_before_firing(void **state) {
  (void)state;
  /* Tokens freed with a far deadline pending: the timer must drop them. */
  for (int i = 0; i < 100; i++) {
    tk_token_t *t;
    assert_ok(tk_token_new(&t));
    assert_ok(tk_token_set_deadline(t, 3600));
    assert_ok(tk_token_set_deadline(t, 1800));  /* re-arm replaces */
    tk_token_release(t);
  }
  /* Many deadlines firing in order. */
  tk_token_t *ts[50];
  for (int i = 0; i < 50; i++) {
    assert_ok(tk_token_new(&ts[i]));
    assert_ok(tk_token_set_deadline(ts[i], 0.001 * (50 - i)));
  }
  for (int i = 0; i < 50; i++) {
    assert_ok(tk_token_wait(ts[i], 30));
    tk_token_release(ts[i]);
  }
}

static void token_dispose_when_dropped_unrun(void **state) {
  (void)state;
  atomic_int ran = 0, disposed = 0;
  tk_token_t *t;
  uint64_t id;
  /* Freed uncancelled: dispose, not fn. */
  assert_ok(tk_token_new(&t));
  assert_ok(tk_token_on_cancel_ex(t, count_cb, count_cb, &disposed, NULL));
  tk_token_release(t);
  assert_int_equal(1, atomic_load(&disposed));
  /* Unregistered: dispose. */
  assert_ok(tk_token_new(&t));
  assert_ok(tk_token_on_cancel_ex(t, count_cb, count_cb, &disposed, &id));
  assert_int_equal(0, tk_token_off_cancel(t, id));
  assert_int_equal(2, atomic_load(&disposed));
  /* Cancelled: fn only. */
  assert_ok(tk_token_on_cancel_ex(t, count_cb, count_cb, &ran, NULL));
  tk_token_cancel(t);
  tk_token_release(t);
  assert_int_equal(1, atomic_load(&ran));
  assert_int_equal(2, atomic_load(&disposed));
}

static int count_run(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

/* A job submitted with a token cancelled beforehand never runs, even when
** a polling worker takes it the moment it is queued (before the submit
** links it to the token: it ran, a few times in a hundred, then). */
static void token_cancelled_before_submit_never_runs(void **state) {
  (void)state;
  tk_pool_t *p = new_pool(2);
  tk_token_t *tok;
  assert_ok(tk_token_new(&tok));
  assert_ok(tk_token_cancel(tok));
  atomic_int ran = 0;
  tk_job_opts_t o = {.token = tok};
  for (long i = 0; i < stress_scale(20000); i++) {
    tk_job_t *j;
    assert_ok(tk_pool_submit(p, &o, count_run, &ran, &j));
    assert_ok(tk_job_wait(j, 30));
    assert_int_equal(TK_JOB_CANCELLED, tk_job_state(j));
    tk_job_release(j);
  }
  assert_int_equal(0, atomic_load(&ran));
  tk_token_release(tok);
  tk_pool_free(p);
}


/* A chain of children as long as a program may build (a token per level of
** a recursion, say): cancelling its root and letting it go take no stack
** per level (both recursed once per level: a stack overflow at 200 000). */
static void token_deep_chain_cancel_and_release(void **state) {
  (void)state;
  long n = stress_scale(300000);
  tk_token_t *root, *t;
  assert_ok(tk_token_new(&root));
  tk_token_t *leaf = root;
  atomic_int calls = 0;
  for (long i = 0; i < n; i++) {
    assert_ok(tk_token_new_child(leaf, &t));
    assert_ok(tk_token_on_cancel(t, count_cb, &calls, NULL));
    if (leaf != root) tk_token_release(leaf);  /* its child holds it */
    leaf = t;
  }
  assert_ok(tk_token_cancel(root));
  assert_int_equal(n, atomic_load(&calls));
  assert_true(tk_token_is_cancelled(leaf));
  tk_token_release(root);
  tk_token_release(leaf);  /* frees the whole chain, leaf first */
  /* And uncancelled: freed from the leaf up. */
  assert_ok(tk_token_new(&root));
  leaf = root;
  for (long i = 0; i < n; i++) {
    assert_ok(tk_token_new_child(leaf, &t));
    if (leaf != root) tk_token_release(leaf);
    leaf = t;
  }
  tk_token_release(root);
  tk_token_release(leaf);
}

static void token_bad_input(void **state) {
  (void)state;
  tk_token_t *t;
  assert_int_equal(TK_EINVAL, tk_token_new(NULL));
  assert_int_equal(TK_EINVAL, tk_token_new_child(NULL, &t));
  assert_int_equal(TK_EINVAL, tk_token_cancel(NULL));
  assert_int_equal(TK_EINVAL, tk_token_wait(NULL, 0));
  assert_false(tk_token_is_cancelled(NULL));
  assert_ok(tk_token_new(&t));
  assert_int_equal(TK_EINVAL, tk_token_on_cancel(t, NULL, NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_token_set_deadline(t, -1));
  assert_int_equal(TK_EINVAL, tk_token_set_deadline(t, NAN));
  /* Too long for nanoseconds: saturates (UBSan checks the conversion). */
  assert_ok(tk_token_set_deadline(t, 1e300));
  assert_int_equal(TK_ETIMEDOUT, tk_token_wait(t, 0.01));
  assert_false(tk_token_is_cancelled(t));
  tk_token_release(t);
  tk_token_release(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(token_cancel_idempotent),
      cmocka_unit_test(token_callbacks_once_with_8_racing_cancels),
      cmocka_unit_test(token_register_after_cancel_runs_at_once),
      cmocka_unit_test(token_callback_reregisters_and_cancels_another),
      cmocka_unit_test(token_callbacks_run_in_registration_order),
      cmocka_unit_test(token_off_cancel),
      cmocka_unit_test(token_uncancelled_release_frees_callbacks),
      cmocka_unit_test(token_children_follow_parent),
      cmocka_unit_test(token_child_released_before_parent_cancel),
      cmocka_unit_test(token_wait_timeout_and_wake),
      cmocka_unit_test(token_deadline_fires_callbacks),
      cmocka_unit_test(token_deadline_released_before_firing),
      cmocka_unit_test(token_dispose_when_dropped_unrun),
      cmocka_unit_test(token_cancelled_before_submit_never_runs),
      cmocka_unit_test(token_deep_chain_cancel_and_release),
      cmocka_unit_test(token_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
