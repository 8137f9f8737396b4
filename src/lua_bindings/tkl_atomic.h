/*
** tkl_atomic.h - reference counts and what helgrind must be told about the
** Lua layer's atomics. Private to src/lua_bindings. See LICENSE for
** copyright and licence.
*/
#ifndef TKL_ATOMIC_H
#define TKL_ATOMIC_H

#include <pthread.h>
#include <stdatomic.h>

/* Helgrind sees neither C11 atomics nor the order they give. In a
** -DTK_HELGRIND build (make helgrind) each release/acquire pair that
** publishes plain data is declared to it; elsewhere these cost nothing. */
#ifdef TK_HELGRIND
#include <valgrind/helgrind.h>
#define TKL_HG_RELEASE(p) ANNOTATE_HAPPENS_BEFORE(p)
#define TKL_HG_ACQUIRE(p) ANNOTATE_HAPPENS_AFTER(p)
#else
#define TKL_HG_RELEASE(p) ((void)(p))
#define TKL_HG_ACQUIRE(p) ((void)(p))
#endif

/* pthread_once, with the order it gives declared to helgrind (which does
** not model it): the init function must end with TKL_HG_RELEASE(o). */
#define TKL_ONCE(o, fn)        \
  do {                         \
    pthread_once((o), (fn));   \
    TKL_HG_ACQUIRE(o);         \
  } while (0)

/* Drops one reference: 1 when it was the last (the caller frees). The
** release/acquire pair orders every holder's writes before the free. */
static inline int tkl_ref_drop(atomic_int *refs) {
  TKL_HG_RELEASE(refs);
  if (atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) != 1) return 0;
  TKL_HG_ACQUIRE(refs);
  return 1;
}

#endif
