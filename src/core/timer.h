/*
** timer.h - the one timer thread shared by every deadline and timeout.
** Entries are intrusive: they live inside the token or job they belong to,
** so arming a timer never allocates except to grow the heap.
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_TIMER_H
#define TK_TIMER_H

#include "tk_common.h"

typedef struct tk__timer_entry tk__timer_entry;
struct tk__timer_entry {
  uint64_t when;                          /* deadline, monotonic ns */
  uint64_t seq;                           /* ties fire in arming order */
  size_t idx;                             /* heap slot; SIZE_MAX: unarmed */
  /* Called under the timer lock when the entry is due: must be quick and
  ** must not block. Returning 0 skips `fire` (the owner is being freed);
  ** typically a try-retain of the owner. */
  int (*claim)(tk__timer_entry *e);
  /* Called without locks after a successful claim; releases what claim
  ** took. */
  void (*fire)(tk__timer_entry *e);
};

/* The timer thread runs while anyone holds it: pools hold it for their
** lifetime, tokens while they have a deadline. Acquire fails only with
** TK_ENOMEM or TK_ESYS. */
TK_INTERNAL int tk__timer_acquire(void);
TK_INTERNAL void tk__timer_release(void);

TK_INTERNAL void tk__timer_entry_init(tk__timer_entry *e,
                                      int (*claim)(tk__timer_entry *),
                                      void (*fire)(tk__timer_entry *));
/* Arms (or re-arms) e to fire at `when`. The caller holds the timer.
** TK_ENOMEM if the heap cannot grow. */
TK_INTERNAL int tk__timer_arm(tk__timer_entry *e, uint64_t when);
/* Disarms e if armed. After it returns, e will not be claimed again; a fire
** already claimed may still be running and holds its own reference. */
TK_INTERNAL void tk__timer_disarm(tk__timer_entry *e);

#endif
