/*
** test_slab.c - fixed-size objects from blocks: every object distinct,
** aligned and whole; blocks go back once empty (one spare kept, trimmed
** when the allocator is set); a failed block is a NULL, not a crash; many
** threads at once. See LICENSE for copyright and licence.
*/
#include "tk_test.h"
#include "tk_hg.h"
#include "tk_slab.h"

static atomic_long live, mallocs;
static atomic_int fail_next;

static void *count_malloc(size_t n) {
  if (atomic_exchange(&fail_next, 0)) return NULL;
  void *p = malloc(n);
  if (p != NULL) {
    atomic_fetch_add(&live, 1);
    atomic_fetch_add(&mallocs, 1);
  }
  return p;
}

static void *count_realloc(void *ptr, size_t n) {
  void *p = realloc(ptr, n);
  if (p != NULL && ptr == NULL) atomic_fetch_add(&live, 1);
  return p;
}

static void count_free(void *p) {
  if (p != NULL) atomic_fetch_sub(&live, 1);
  free(p);
}

static int setup(void **state) {
  (void)state;
  atomic_store(&live, 0);
  atomic_store(&mallocs, 0);
  return tk_replace_allocator(count_malloc, count_realloc, count_free);
}

static int teardown(void **state) {
  (void)state;
  return tk_replace_allocator(NULL, NULL, NULL);
}

/* Whether objects come from blocks: under ASan each is a malloc. */
static int slab_is_on(tk_slab_t *s) {
  long before = atomic_load(&mallocs);
  void *a = tk__slab_alloc(s), *b = tk__slab_alloc(s);
  int on = atomic_load(&mallocs) - before < 2;
  tk__slab_free(s, a);
  tk__slab_free(s, b);
  return on;
}

#define N 5000

static void slab_objects_are_distinct_aligned_and_whole(void **state) {
  (void)state;
  static tk_slab_t s = TK_SLAB_INIT(100);
  static unsigned char *obj[N];
  for (int i = 0; i < N; i++) {
    obj[i] = tk__slab_alloc(&s);
    assert_non_null(obj[i]);
    assert_int_equal(0, (uintptr_t)obj[i] % 16);
    memset(obj[i], i & 0xff, 100);
  }
  for (int i = 0; i < N; i++)  /* no object overlaps another */
    for (int k = 0; k < 100; k++) assert_int_equal(i & 0xff, obj[i][k]);
  /* Freed out of order, objects come back for reuse. */
  for (int i = 0; i < N; i += 2) tk__slab_free(&s, obj[i]);
  for (int i = 0; i < N; i += 2) {
    obj[i] = tk__slab_alloc(&s);
    assert_non_null(obj[i]);
  }
  for (int i = N - 1; i >= 0; i--) tk__slab_free(&s, obj[i]);
  if (slab_is_on(&s)) assert_int_equal(1, atomic_load(&live));  /* a spare */
  /* Setting the allocator gives the spare back. */
  assert_ok(tk_replace_allocator(count_malloc, count_realloc, count_free));
  assert_int_equal(0, atomic_load(&live));
}

static void slab_one_at_a_time_reuses_its_block(void **state) {
  (void)state;
  static tk_slab_t s = TK_SLAB_INIT(64);
  if (!slab_is_on(&s)) skip();
  long before = atomic_load(&mallocs);
  for (int i = 0; i < 10000; i++) tk__slab_free(&s, tk__slab_alloc(&s));
  assert_int_equal(0, atomic_load(&mallocs) - before);
  /* Many blocks' worth, then all freed: one block is left, as the spare. */
  static void *obj[N];
  for (int i = 0; i < N; i++) assert_non_null(obj[i] = tk__slab_alloc(&s));
  assert_true(atomic_load(&live) > 2);
  for (int i = 0; i < N; i++) tk__slab_free(&s, obj[i]);
  assert_int_equal(1, atomic_load(&live));
  tk__slab_trim_all();
  assert_int_equal(0, atomic_load(&live));
}

static void slab_without_memory_gives_null(void **state) {
  (void)state;
  static tk_slab_t s = TK_SLAB_INIT(32);
  atomic_store(&fail_next, 1);
  assert_null(tk__slab_alloc(&s));
  void *p = tk__slab_alloc(&s);  /* the next block can be had */
  assert_non_null(p);
  tk__slab_free(&s, p);
  tk__slab_free(&s, NULL);
  tk__slab_trim_all();
  assert_int_equal(0, atomic_load(&live));
}

/* Threads allocate and free, some objects freed by another thread than
** the one that made them (as jobs are), through the public calls a host
** uses. */
static tk_slab_t shared_slab = TK_SLAB_INIT(48);
static _Atomic(void *) handoff[64];
static atomic_int churn_bad;     /* cmocka's asserts are for the main thread */

static void *churn(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  void *mine[32] = {0};
  for (int round = 0; round < 20000; round++) {
    int k = round % 32;
    if (mine[k] != NULL) {
      if (*(uintptr_t *)mine[k] != id) atomic_store(&churn_bad, 1);
      /* Every other one goes to another thread to free (helgrind is told
      ** of the order the exchange gives: it does not see atomics). */
      void *old = mine[k];
      if (round & 1) {
        TK_HG_RELEASE(&handoff[round % 64]);
        old = atomic_exchange(&handoff[round % 64], mine[k]);
        TK_HG_ACQUIRE(&handoff[round % 64]);
      }
      if (old != NULL) tk_slab_free(&shared_slab, old);
    }
    mine[k] = tk_slab_alloc(&shared_slab);
    if (mine[k] == NULL) {
      atomic_store(&churn_bad, 1);
      break;
    }
    *(uintptr_t *)mine[k] = id;
  }
  for (int k = 0; k < 32; k++) tk_slab_free(&shared_slab, mine[k]);
  return NULL;
}

static void slab_many_threads(void **state) {
  (void)state;
  pthread_t th[4];
  for (int i = 0; i < 64; i++) TK_HG_ATOMIC(&handoff[i]);
  for (uintptr_t i = 0; i < 4; i++)
    assert_int_equal(0, pthread_create(&th[i], NULL, churn, (void *)i));
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  assert_int_equal(0, atomic_load(&churn_bad));
  for (int i = 0; i < 64; i++) {
    TK_HG_ACQUIRE(&handoff[i]);
    tk_slab_free(&shared_slab, atomic_exchange(&handoff[i], NULL));
  }
  tk__slab_trim_all();
  assert_int_equal(0, atomic_load(&live));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(slab_objects_are_distinct_aligned_and_whole,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(slab_one_at_a_time_reuses_its_block,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(slab_without_memory_gives_null, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(slab_many_threads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
