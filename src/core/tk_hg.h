/*
** tk_hg.h - what helgrind must be told about threadkit's atomics, and the
** reference drop that tells it. Private to src/core.
** See LICENSE for copyright and licence.
*/
#ifndef TK_HG_H
#define TK_HG_H

#include <pthread.h>
#include <stdatomic.h>

/* Helgrind sees neither C11 atomics nor the order they give. In a
** -DTK_HELGRIND build (make helgrind) atomic fields are left out of its
** checks and each release/acquire pair that publishes plain data is
** declared to it; elsewhere these cost nothing. */
#ifdef TK_HELGRIND
#include <valgrind/helgrind.h>
#define TK_HG_ATOMIC(p) VALGRIND_HG_DISABLE_CHECKING((p), sizeof *(p))
#define TK_HG_RELEASE(p) ANNOTATE_HAPPENS_BEFORE(p)
#define TK_HG_ACQUIRE(p) ANNOTATE_HAPPENS_AFTER(p)
#else
#define TK_HG_ATOMIC(p) ((void)(p))
#define TK_HG_RELEASE(p) ((void)(p))
#define TK_HG_ACQUIRE(p) ((void)(p))
#endif
/* atomic_init that also tells helgrind the field is atomic. */
#define tk__atomic_init(p, v) \
  do {                         \
    atomic_init((p), (v));     \
    TK_HG_ATOMIC(p);           \
  } while (0)

/* pthread_once, with the order it gives declared to helgrind (which does
** not model it): the init function must end with TK_HG_RELEASE(o). */
#define TK_ONCE(o, fn)         \
  do {                         \
    pthread_once((o), (fn));   \
    TK_HG_ACQUIRE(o);          \
  } while (0)

/* Drops one reference: 1 when it was the last (the caller frees). */
static inline int tk__ref_drop(atomic_int *refs) {
  TK_HG_RELEASE(refs);
  if (atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) != 1) return 0;
  TK_HG_ACQUIRE(refs);
  return 1;
}

#endif
