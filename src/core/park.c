/*
** park.c - striped mutex+condvar buckets and monotonic condvar helpers.
** See LICENSE for copyright and licence.
*/
#include <errno.h>
#include <stdlib.h>

#include "park.h"

#define NBUCKETS 64  /* power of two */

static tk__bucket buckets[NBUCKETS];
static _Atomic(int (*)(void)) block_begin_hook;
static _Atomic(void (*)(void)) block_end_hook;

void tk__set_block_hooks(int (*begin)(void), void (*end)(void)) {
  atomic_store_explicit(&block_end_hook, end, memory_order_release);
  atomic_store_explicit(&block_begin_hook, begin, memory_order_release);
}

int tk__block_begin(void) {
  int (*begin)(void) =
      atomic_load_explicit(&block_begin_hook, memory_order_acquire);
  return begin != NULL ? begin() : 0;
}

void tk__block_end(void) {
  void (*end)(void) =
      atomic_load_explicit(&block_end_hook, memory_order_acquire);
  if (end != NULL) end();
}
static pthread_once_t buckets_once = PTHREAD_ONCE_INIT;

int tk__cond_init(pthread_cond_t *cv) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) return TK_ESYS;
  int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0) rc = pthread_cond_init(cv, &attr);
  pthread_condattr_destroy(&attr);
  return rc == 0 ? 0 : TK_ESYS;
}

int tk__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline) {
  if (deadline == TK__NO_DEADLINE) {
    pthread_cond_wait(cv, mu);
    return 0;
  }
  if (tk__now_ns() >= deadline) return TK_ETIMEDOUT;
  struct timespec ts = tk__timespec(deadline);
  if (pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT) return TK_ETIMEDOUT;
  return 0;
}

int tk__cond_wait_blocking(pthread_cond_t *cv, pthread_mutex_t *mu,
                           uint64_t deadline) {
  tk__block_begin();
  int rc = tk__cond_wait(cv, mu, deadline);
  tk__block_end();
  return rc;
}

static void init_buckets(void) {
  for (int i = 0; i < NBUCKETS; i++) {
    /* A bucket that cannot be made is a broken process: nothing to return
    ** the error to from pthread_once, and it cannot happen with Linux's
    ** pthreads, whose init functions do not allocate. */
    if (pthread_mutex_init(&buckets[i].mu, NULL) != 0 ||
        tk__cond_init(&buckets[i].cv) != 0)
      abort();
  }
  TK_HG_RELEASE(&buckets_once);
}

tk__bucket *tk__park_bucket(const void *addr) {
  TK_ONCE(&buckets_once, init_buckets);
  uintptr_t h = (uintptr_t)addr;
  h ^= h >> 17;
  h *= UINT64_C(0x9E3779B97F4A7C15);
  return &buckets[(h >> 32) & (NBUCKETS - 1)];
}

int tk__bucket_wait(tk__bucket *b, uint64_t deadline) {
  return tk__cond_wait(&b->cv, &b->mu, deadline);
}
