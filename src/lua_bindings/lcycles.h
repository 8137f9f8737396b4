/*
** lcycles.h - containers (channels, shared tables) and the collector of their
** reference cycles.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LCYCLES_H
#define TKL_LCYCLES_H

#include <pthread.h>
#include <stdatomic.h>

#include "buffer.h"
#include "tkl_common.h"

/* Channels and shared tables are containers (lcycles.c): the values they
** store hold references, so they can hold each other, or themselves, in
** cycles that no count ever brings to zero. A cycle collector finds them.
** Each container starts with this header; the count's low bits are the
** collector's flags (the count itself is rc / TKL_GC_ONE). */
typedef struct tkl_gcobj tkl_gcobj;
typedef struct tkl_gctype {
  /* With the object's mu held: calls fn on every stored value. */
  void (*each)(tkl_gcobj *o, void (*fn)(const tkl_buf *b, void *ud),
               void *ud);
  /* With mu held (or the object unreachable): takes every stored value
  ** out, to be let go with drop without any lock. */
  void *(*take)(tkl_gcobj *o);
  void (*drop)(void *taken);
  /* Frees the object, which stores nothing any more. */
  void (*free)(tkl_gcobj *o);
} tkl_gctype;

struct tkl_gcobj {
  atomic_long rc;                /* references * TKL_GC_ONE | flags */
  pthread_mutex_t mu;            /* the container's own lock */
  atomic_int frozen;             /* its stored values are being walked:
                                    nothing may change them, nor copy
                                    their references (tkl_gc_thaw) */
  const tkl_gctype *type;
  tkl_gcobj *cand_next;          /* on the candidate list (lcycles.c) */
  /* The collector's own, under its lock: */
  tkl_gcobj *set_next, *stack_next;
  void *taken;
  long gc_refs;
  unsigned round;
  unsigned char state, reachable;
};
#define TKL_GC_ONE 4L

TKL_INTERNAL void tkl_gc_init(tkl_gcobj *o, const tkl_gctype *type);
TKL_INTERNAL void tkl_gc_retain(tkl_gcobj *o);
/* With o's mu held, before changing its stored values or copying one:
** waits while the collector walks them (it never waits for mu). */
TKL_INTERNAL void tkl_gc_thaw_slow(tkl_gcobj *o);
static inline void tkl_gc_thaw(tkl_gcobj *o) {
  if (atomic_load_explicit(&o->frozen, memory_order_acquire))
    tkl_gc_thaw_slow(o);
}
/* Lets one reference go: frees the object with its last, else makes it a
** candidate (its cycle may have lost its last outside holder). Never
** takes a lock but the object's own (and the candidate list's). */
TKL_INTERNAL void tkl_gc_release(tkl_gcobj *o);
/* Collects the garbage cycles among containers when enough candidates
** came (from a safe point: this thread holds no container's lock). */
TKL_INTERNAL void tkl_gc_maybe_collect(void);
/* Collects now, whatever the number of candidates (a state's close). */
TKL_INTERNAL void tkl_gc_collect(void);
/* Containers alive in the process (tests). */
TKL_INTERNAL size_t tkl_gc_live(void);

#endif
