/*
** inbox.h - a bounded lock-free queue through which submitters hand tasks
** to the pool without taking its mutex (after Dmitry Vyukov's bounded MPMC
** queue: a sequence number per slot). Many producers; one consumer at a
** time (the holder of the pool mutex). FIFO in the order producers claimed
** their slots. Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_INBOX_H
#define TK_INBOX_H

#include "readyq.h"

#define TK__INBOX_SLOTS 1024     /* power of two */
/* Set in tail by tk__inbox_close: every later push fails. */
#define TK__INBOX_CLOSED ((size_t)1 << (sizeof(size_t) * 8 - 1))

/* One cache line a slot: a producer filling slot i does not disturb the
** consumer reading slot i - 1. */
typedef struct tk__slot {
  _Alignas(TK_CACHELINE) atomic_size_t seq;  /* pos: free; pos + 1: filled */
  int prio;
  tk__task task;
} tk__slot;

typedef struct tk__inbox {
  _Alignas(TK_CACHELINE) atomic_size_t tail;  /* producers */
  _Alignas(TK_CACHELINE) atomic_size_t head;  /* consumer; read by all */
  _Alignas(TK_CACHELINE) tk__slot slots[TK__INBOX_SLOTS];
} tk__inbox;

TK_INTERNAL void tk__inbox_init(tk__inbox *b);
/* Appends a task; returns 0, TK_EFULL when every slot is taken, or
** TK_ESHUTDOWN once the inbox is closed. */
TK_INTERNAL int tk__inbox_push(tk__inbox *b, int prio, const tk__task *t);
/* Refuses every later push. A push that claimed its slot before still
** lands (the consumer waits for its write). */
TK_INTERNAL void tk__inbox_close(tk__inbox *b);
/* Consumer only: removes the oldest filled task. 0 when none is ready. */
TK_INTERNAL int tk__inbox_pop(tk__inbox *b, int *prio, tk__task *t);

/* Tasks claimed and not yet consumed (may count one still being written). */
static inline size_t tk__inbox_count(tk__inbox *b) {
  return (atomic_load_explicit(&b->tail, memory_order_seq_cst) &
          ~TK__INBOX_CLOSED) -
         atomic_load_explicit(&b->head, memory_order_relaxed);
}

#endif
