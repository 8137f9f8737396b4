/*
** naive_pool.h - the baseline every textbook shows: one mutex, one condvar,
** a signal per submit. FIFO (ring) or priority (binary heap) queue.
** Benchmark peer only. See LICENSE for copyright and licence.
*/
#ifndef NAIVE_POOL_H
#define NAIVE_POOL_H

#include <pthread.h>

typedef struct naive_item {
  int prio;
  unsigned long seq;
  void (*fn)(void *);
  void *arg;
} naive_item;

typedef struct naive_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  naive_item *items;
  size_t head, count, cap;
  unsigned long seq;
  int heap;                      /* 1: priority heap, 0: FIFO ring */
  int stop;
  int nthreads;
  pthread_t *threads;
} naive_pool;

naive_pool *naive_new(int workers, int heap);
void naive_post(naive_pool *p, int prio, void (*fn)(void *), void *arg);
void naive_free(naive_pool *p);

#endif
