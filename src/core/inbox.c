/*
** inbox.c - the bounded lock-free submission queue.
** See LICENSE for copyright and licence.
*/
#include "inbox.h"

void tk__inbox_init(tk__inbox *b) {
  tk__atomic_init(&b->tail, 0);
  tk__atomic_init(&b->head, 0);
  for (size_t i = 0; i < TK__INBOX_SLOTS; i++) tk__atomic_init(&b->slots[i].seq, i);
}

int tk__inbox_push(tk__inbox *b, int prio, const tk__task *t) {
  size_t pos = atomic_load_explicit(&b->tail, memory_order_relaxed);
  tk__slot *s;
  for (;;) {
    /* A closed tail never equals a slot's seq, so the CAS below cannot
    ** claim a slot once the inbox is closed. */
    if (pos & TK__INBOX_CLOSED) return TK_ESHUTDOWN;
    s = &b->slots[pos & (TK__INBOX_SLOTS - 1)];
    size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)pos;
    if (dif == 0) {
      TK_HG_ACQUIRE(s);  /* the consumer is done with the slot */
      /* seq_cst: pairs with a worker that announces it sleeps, then looks
      ** at the tail (pool.c). */
      if (atomic_compare_exchange_weak_explicit(&b->tail, &pos, pos + 1,
                                                memory_order_seq_cst,
                                                memory_order_relaxed))
        break;
    } else if (dif < 0) {
      return TK_EFULL;
    } else {
      pos = atomic_load_explicit(&b->tail, memory_order_relaxed);
    }
  }
  s->prio = prio;
  s->task = *t;
  TK_HG_RELEASE(s);
  atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
  return 0;
}

int tk__inbox_pop(tk__inbox *b, int *prio, tk__task *t) {
  size_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
  tk__slot *s = &b->slots[pos & (TK__INBOX_SLOTS - 1)];
  size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
  if (seq != pos + 1) return 0;  /* empty, or the producer is mid-write */
  TK_HG_ACQUIRE(s);
  *prio = s->prio;
  *t = s->task;
  TK_HG_RELEASE(s);
  atomic_store_explicit(&s->seq, pos + TK__INBOX_SLOTS, memory_order_release);
  atomic_store_explicit(&b->head, pos + 1, memory_order_release);
  return 1;
}

void tk__inbox_close(tk__inbox *b) {
  atomic_fetch_or_explicit(&b->tail, TK__INBOX_CLOSED, memory_order_seq_cst);
}
