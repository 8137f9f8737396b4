/*
** tk_test.h - shared helpers for the C tests: cmocka, gates, counters.
** See LICENSE for copyright and licence.
*/
#ifndef TK_TEST_H
#define TK_TEST_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threadkit.h"

#define assert_ok(expr) assert_int_equal(0, (expr))

/* A gate: tasks block in gate_pass until the test opens it. Lets a test
** hold workers busy without sleeping. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
  int arrived;                   /* tasks that reached the gate */
} gate;

static inline void gate_init(gate *g) {
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->open = 0;
  g->arrived = 0;
}

static inline void gate_destroy(gate *g) {
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

static inline void gate_pass(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->arrived++;
  pthread_cond_broadcast(&g->cv);
  while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static inline void gate_open(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* Waits until n tasks arrived at the gate (generous 30 s bound). */
static inline int gate_wait_arrived(gate *g, int n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 30;
  int ok = 1;
  pthread_mutex_lock(&g->mu);
  while (g->arrived < n && ok)
    ok = pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0;
  ok = g->arrived >= n;
  pthread_mutex_unlock(&g->mu);
  return ok;
}

static inline int gate_task(void *arg) {
  gate_pass(arg);
  return 0;
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int noop_task(void *arg) {
  (void)arg;
  return 0;
}

/* A pool of `workers` threads; the test fails if it cannot be made. */
static inline tk_pool_t *new_pool(int workers) {
  tk_pool_opts_t o = {0};
  o.workers = workers;
  tk_pool_t *p = NULL;
  assert_int_equal(0, tk_pool_new(&o, &p));
  return p;
}

/* Scales loop counts down under valgrind (TK_STRESS_SCALE=20 divides). */
static inline long stress_scale(long n) {
  const char *s = getenv("TK_STRESS_SCALE");
  long d = s ? atol(s) : 1;
  return d > 1 ? n / d : n;
}

#endif
