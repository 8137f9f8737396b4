/*
** park.h - a striped table of mutex+condvar pairs keyed by address.
** Objects that are waited on rarely (jobs, tokens) borrow a bucket instead
** of carrying a mutex and a condvar each, which keeps them small and cheap
** to create. Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_PARK_H
#define TK_PARK_H

#include <pthread.h>

#include "tk_common.h"

typedef struct tk__bucket {
  pthread_mutex_t mu;
  pthread_cond_t cv;             /* CLOCK_MONOTONIC */
  char pad[TK_CACHELINE];        /* keeps neighbouring buckets apart */
} tk__bucket;

/* The bucket of an address; always the same one for the same address. */
TK_INTERNAL tk__bucket *tk__park_bucket(const void *addr);

/* With b->mu held: waits for a broadcast or the deadline (ns,
** TK__NO_DEADLINE for none). Returns TK_ETIMEDOUT once the deadline
** passed, else 0; callers re-check their condition either way (spurious
** wake-ups happen). */
TK_INTERNAL int tk__bucket_wait(tk__bucket *b, uint64_t deadline);

/* Blocking regions (tk_pool_block_begin/end) belong to the pool, above
** the waits that need them (jobs', tokens', these condvars'): the pool
** hands them down here when it starts, so nothing below calls up into
** it. Before any pool exists no thread is a worker, and both do nothing. */
TK_INTERNAL void tk__set_block_hooks(int (*begin)(void), void (*end)(void));
TK_INTERNAL int tk__block_begin(void);
TK_INTERNAL void tk__block_end(void);

/* Initialises a condvar on CLOCK_MONOTONIC (shared by pool and timer). */
TK_INTERNAL int tk__cond_init(pthread_cond_t *cv);
/* Timed wait on a CLOCK_MONOTONIC condvar; same return as tk__bucket_wait. */
TK_INTERNAL int tk__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                              uint64_t deadline);
/* The same for a wait that may hold a worker (one its task cannot suspend
** for): a blocking region (tk__block_begin) while it waits, so that a
** spare takes jobs meanwhile. mu stays held: it comes before the pool's
** own mutex. */
TK_INTERNAL int tk__cond_wait_blocking(pthread_cond_t *cv, pthread_mutex_t *mu,
                                       uint64_t deadline);

#endif
