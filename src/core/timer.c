/*
** timer.c - a binary min-heap of intrusive entries served by one thread.
** See LICENSE for copyright and licence.
*/
#include <pthread.h>

#include "park.h"
#include "timer.h"

typedef struct timer {
  pthread_mutex_t mu;
  pthread_cond_t cv;            /* signalled when the earliest entry changes */
  pthread_t thread;
  tk__timer_entry **heap;       /* min-heap on (when, seq) */
  size_t n, cap;
  uint64_t seq;
  int stop;                     /* set when the last holder released it */
  int self_free;                /* the thread frees the timer on exit */
} timer;

/* Lock order: global_mu, then a timer's mu. */
static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static timer *current;          /* guarded by global_mu */
static int users;               /* guarded by global_mu */

/* Entries are armed on `current`; it cannot change while users > 0, and
** every owner of an armed entry holds a use. */
static timer *active(void) {
  pthread_mutex_lock(&global_mu);
  timer *t = current;
  pthread_mutex_unlock(&global_mu);
  return t;
}

static int before(const tk__timer_entry *a, const tk__timer_entry *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(timer *t, size_t i, tk__timer_entry *e) {
  t->heap[i] = e;
  e->idx = i;
}

static void sift_up(timer *t, size_t i) {
  tk__timer_entry *e = t->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(e, t->heap[p])) break;
    place(t, i, t->heap[p]);
    i = p;
  }
  place(t, i, e);
}

static void sift_down(timer *t, size_t i) {
  tk__timer_entry *e = t->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= t->n) break;
    if (c + 1 < t->n && before(t->heap[c + 1], t->heap[c])) c++;
    if (!before(t->heap[c], e)) break;
    place(t, i, t->heap[c]);
    i = c;
  }
  place(t, i, e);
}

static void remove_at(timer *t, size_t i) {
  t->heap[i]->idx = SIZE_MAX;
  t->n--;
  if (i == t->n) return;
  place(t, i, t->heap[t->n]);
  sift_down(t, i);
  sift_up(t, t->heap[i]->idx);
}

static void *run(void *arg) {
  timer *t = arg;
  pthread_mutex_lock(&t->mu);
  while (!t->stop) {
    if (t->n == 0) {
      pthread_cond_wait(&t->cv, &t->mu);
      continue;
    }
    tk__timer_entry *e = t->heap[0];
    if (e->when > tk__now_ns()) {
      tk__cond_wait(&t->cv, &t->mu, e->when);
      continue;
    }
    remove_at(t, 0);
    if (!e->claim(e)) continue;
    /* Fire without the lock: a fire may arm or disarm entries. */
    pthread_mutex_unlock(&t->mu);
    e->fire(e);
    pthread_mutex_lock(&t->mu);
  }
  int self_free = t->self_free;
  pthread_mutex_unlock(&t->mu);
  if (self_free) {
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    tk__free(t->heap);
    tk__free(t);
  }
  return NULL;
}

int tk__timer_acquire(void) {
  int rc = 0;
  pthread_mutex_lock(&global_mu);
  if (current == NULL) {
    timer *t = tk__calloc(1, sizeof *t);
    if (t == NULL) {
      rc = TK_ENOMEM;
    } else if (pthread_mutex_init(&t->mu, NULL) != 0) {
      tk__free(t);
      rc = TK_ESYS;
    } else if (tk__cond_init(&t->cv) != 0) {
      pthread_mutex_destroy(&t->mu);
      tk__free(t);
      rc = TK_ESYS;
    } else if ((rc = pthread_create(&t->thread, NULL, run, t)) != 0) {
      pthread_cond_destroy(&t->cv);
      pthread_mutex_destroy(&t->mu);
      tk__free(t);
      rc = tk__sys_failed("pthread_create", rc);
    } else {
      current = t;
    }
  }
  if (rc == 0) users++;
  pthread_mutex_unlock(&global_mu);
  return rc;
}

void tk__timer_release(void) {
  timer *t = NULL;
  pthread_mutex_lock(&global_mu);
  if (--users == 0) {
    t = current;
    current = NULL;
  }
  pthread_mutex_unlock(&global_mu);
  if (t == NULL) return;
  int self = pthread_equal(pthread_self(), t->thread);
  pthread_mutex_lock(&t->mu);
  t->stop = 1;
  /* The last holder can be a fire running on the timer thread itself; it
  ** cannot join itself, so the thread frees its own timer as it exits. */
  t->self_free = self;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (self) {
    pthread_detach(t->thread);
    return;
  }
  pthread_join(t->thread, NULL);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
  tk__free(t->heap);
  tk__free(t);
}

void tk__timer_entry_init(tk__timer_entry *e, int (*claim)(tk__timer_entry *),
                          void (*fire)(tk__timer_entry *)) {
  e->when = 0;
  e->seq = 0;
  e->idx = SIZE_MAX;
  e->claim = claim;
  e->fire = fire;
}

int tk__timer_arm(tk__timer_entry *e, uint64_t when) {
  timer *t = active();
  if (t == NULL) return TK_EINVAL;
  pthread_mutex_lock(&t->mu);
  if (e->idx != SIZE_MAX) remove_at(t, e->idx);
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    tk__timer_entry **h = tk__realloc(t->heap, cap * sizeof *h);
    if (h == NULL) {
      pthread_mutex_unlock(&t->mu);
      return TK_ENOMEM;
    }
    t->heap = h;
    t->cap = cap;
  }
  e->when = when;
  e->seq = t->seq++;
  place(t, t->n++, e);
  sift_up(t, e->idx);
  if (t->heap[0] == e) pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  return 0;
}

void tk__timer_disarm(tk__timer_entry *e) {
  timer *t = active();
  if (t == NULL) return;
  pthread_mutex_lock(&t->mu);
  if (e->idx != SIZE_MAX) remove_at(t, e->idx);
  pthread_mutex_unlock(&t->mu);
}
