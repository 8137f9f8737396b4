/*
** naive_pool.c - the mutex+condvar pool used as a benchmark baseline.
** See LICENSE for copyright and licence.
*/
#include <stdlib.h>

#include "naive_pool.h"

static int before(const naive_item *a, const naive_item *b) {
  return a->prio > b->prio || (a->prio == b->prio && a->seq < b->seq);
}

static void heap_push(naive_pool *p, naive_item it) {
  size_t i = p->count++;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!before(&it, &p->items[up])) break;
    p->items[i] = p->items[up];
    i = up;
  }
  p->items[i] = it;
}

static naive_item heap_pop(naive_pool *p) {
  naive_item top = p->items[0], last = p->items[--p->count];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= p->count) break;
    if (c + 1 < p->count && before(&p->items[c + 1], &p->items[c])) c++;
    if (!before(&p->items[c], &last)) break;
    p->items[i] = p->items[c];
    i = c;
  }
  if (p->count > 0) p->items[i] = last;
  return top;
}

static void grow(naive_pool *p) {
  size_t cap = p->cap ? p->cap * 2 : 1024;
  naive_item *n = malloc(cap * sizeof *n);
  for (size_t i = 0; i < p->count; i++)
    n[i] = p->heap ? p->items[i] : p->items[(p->head + i) % p->cap];
  free(p->items);
  p->items = n;
  p->cap = cap;
  p->head = 0;
}

static void *run(void *arg) {
  naive_pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->count == 0 && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    if (p->count == 0) break;
    naive_item it;
    if (p->heap) {
      it = heap_pop(p);
    } else {
      it = p->items[p->head];
      p->head = (p->head + 1) % p->cap;
      p->count--;
    }
    pthread_mutex_unlock(&p->mu);
    it.fn(it.arg);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

naive_pool *naive_new(int workers, int heap) {
  naive_pool *p = calloc(1, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->heap = heap;
  p->nthreads = workers;
  p->threads = calloc((size_t)workers, sizeof *p->threads);
  for (int i = 0; i < workers; i++)
    pthread_create(&p->threads[i], NULL, run, p);
  return p;
}

void naive_post(naive_pool *p, int prio, void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&p->mu);
  if (p->count == p->cap) grow(p);
  naive_item it = {prio, p->seq++, fn, arg};
  if (p->heap) heap_push(p, it);
  else p->items[(p->head + p->count++) % p->cap] = it;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void naive_free(naive_pool *p) {
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  free(p->threads);
  free(p->items);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}
