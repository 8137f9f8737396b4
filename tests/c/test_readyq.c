/*
** test_readyq.c - the ready queue: order, FIFO ties, growth, many levels.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"
#include "readyq.h"

static tk__task task_of(uintptr_t v) {
  tk__task t = {NULL, (void *)v, NULL};
  return t;
}

static void readyq_fifo_same_priority(void **state) {
  (void)state;
  tk__readyq q;
  tk__readyq_init(&q);
  for (uintptr_t i = 0; i < 1000; i++) {
    tk__task t = task_of(i);
    assert_ok(tk__readyq_push(&q, 0, &t));
  }
  tk__task t;
  for (uintptr_t i = 0; i < 1000; i++) {
    assert_int_equal(1, tk__readyq_pop(&q, &t));
    assert_int_equal(i, (uintptr_t)t.arg);
  }
  assert_int_equal(0, tk__readyq_pop(&q, &t));
  tk__readyq_free(&q);
}

static void readyq_priority_then_fifo(void **state) {
  (void)state;
  tk__readyq q;
  tk__readyq_init(&q);
  /* value = prio * 1000 + seq; pushes interleave priorities */
  int prios[] = {0, 2, -1, 2, 0, -2, 1, 0, 1, -1};
  for (int round = 0; round < 50; round++)
    for (size_t k = 0; k < TK_ARRAY_SIZE(prios); k++) {
      tk__task t = task_of((uintptr_t)((prios[k] + 2) * 1000 + round));
      assert_ok(tk__readyq_push(&q, prios[k], &t));
    }
  tk__task t;
  uintptr_t last = UINTPTR_MAX;
  int n = 0;
  while (tk__readyq_pop(&q, &t)) {
    uintptr_t v = (uintptr_t)t.arg;
    if (last != UINTPTR_MAX) {
      uintptr_t lp = last / 1000, vp = v / 1000;
      assert_true(vp < lp || (vp == lp && v % 1000 >= last % 1000));
    }
    last = v;
    n++;
  }
  assert_int_equal(500, n);
  tk__readyq_free(&q);
}

static void readyq_wraparound_and_growth(void **state) {
  (void)state;
  tk__readyq q;
  tk__readyq_init(&q);
  uintptr_t next_in = 0, next_out = 0;
  tk__task t;
  /* Push 3, pop 2 repeatedly: the ring wraps and grows while non-empty. */
  for (int i = 0; i < 5000; i++) {
    for (int k = 0; k < 3; k++) {
      tk__task in = task_of(next_in++);
      assert_ok(tk__readyq_push(&q, 1, &in));
    }
    for (int k = 0; k < 2; k++) {
      assert_int_equal(1, tk__readyq_pop(&q, &t));
      assert_int_equal(next_out++, (uintptr_t)t.arg);
    }
  }
  while (tk__readyq_pop(&q, &t)) assert_int_equal(next_out++, (uintptr_t)t.arg);
  assert_int_equal(next_in, next_out);
  tk__readyq_free(&q);
}

static void readyq_many_levels(void **state) {
  (void)state;
  tk__readyq q;
  tk__readyq_init(&q);
  srand(7);
  for (uintptr_t i = 0; i < 3000; i++) {
    int p = rand() % 401 - 200;
    tk__task t = task_of((uintptr_t)(p + 200) * 10000 + i);
    assert_ok(tk__readyq_push(&q, p, &t));
  }
  tk__task t;
  uintptr_t last = UINTPTR_MAX;
  while (tk__readyq_pop(&q, &t)) {
    uintptr_t v = (uintptr_t)t.arg;
    if (last != UINTPTR_MAX) {
      assert_true(v / 10000 < last / 10000 ||
                  (v / 10000 == last / 10000 && v % 10000 > last % 10000));
    }
    last = v;
  }
  assert_true(q.nlevels <= 8);
  tk__readyq_free(&q);
}

static void readyq_reserve_then_push(void **state) {
  (void)state;
  tk__readyq q;
  tk__readyq_init(&q);
  assert_ok(tk__readyq_reserve(&q, 5, 10000));
  for (uintptr_t i = 0; i < 10000; i++) {
    tk__task t = task_of(i);
    assert_ok(tk__readyq_push(&q, 5, &t));
  }
  assert_int_equal(10000, q.total);
  tk__task t;
  while (tk__readyq_pop(&q, &t)) {}
  tk__readyq_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(readyq_fifo_same_priority),
      cmocka_unit_test(readyq_priority_then_fifo),
      cmocka_unit_test(readyq_wraparound_and_growth),
      cmocka_unit_test(readyq_many_levels),
      cmocka_unit_test(readyq_reserve_then_push),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
