/*
** token.h - the token's layout, so an owner (a job) can embed a token.
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_TOKEN_H
#define TK_TOKEN_H

#include <pthread.h>

#include "timer.h"

typedef struct tk__cb_node tk__cb_node;
struct tk__cb_node {
  tk__cb_node *next, *prev;      /* list of the token it is registered on */
  tk_cancel_fn fn;               /* user callback, or NULL for a child link */
  tk_cancel_fn dispose;          /* run if dropped without running fn */
  void *arg;
  uint64_t id;                   /* 0 for a child link */
  tk_token_t *child;             /* set for a child link */
  int linked;                    /* still in the list (guarded by the lock) */
};

/* The owner of an embedded token (a job embeds its own): the token's
** references are the owner's, and the owner hears of its cancellation
** first, before anything registered on the token. */
typedef struct tk__token_owner_ops {
  void (*retain)(void *owner);
  int (*try_retain)(void *owner);  /* 0 once the owner is being freed */
  void (*release)(void *owner);
  void (*cancelled)(void *owner);
} tk__token_owner_ops;

/* Fields under "lock" are guarded by the park bucket of the token. */
struct tk_token {
  atomic_int refs;               /* unused when owner != NULL */
  atomic_int cancelled;          /* 0 -> 1 once, under lock */
  void *owner;                   /* embedded in it: refs are its refs */
  const tk__token_owner_ops *owner_ops;
  tk__cb_node *head, *tail;      /* lock: callbacks not run yet */
  uint64_t running_id;           /* lock: id of the callback running now */
  pthread_t runner;              /* lock: thread running the callbacks */
  uint64_t next_id;              /* lock */
  _Atomic(tk_token_t *) parent;  /* holds a reference while set; atomic
                                    because a job may start (and look up
                                    its ancestors) while being linked */
  tk__cb_node link;              /* our node in the parent's list */
  tk__timer_entry deadline;
  int has_deadline;              /* lock: holds a timer use */
  tk_token_t *cancel_up;         /* while it is cancelled: the token whose
                                    cancellation reached it (tk_token_cancel) */
};

/* Initialises a token embedded in `owner`, which ops act on. */
TK_INTERNAL void tk__token_init_embedded(tk_token_t *t, void *owner,
                                         const tk__token_owner_ops *ops);
/* Makes t a child of parent (retains parent). Returns 1 if the parent is
** already cancelled: the caller then cancels t when it is ready to. */
TK_INTERNAL int tk__token_link(tk_token_t *t, tk_token_t *parent);
/* The first half of tk__token_link, for a job's token before the job is
** queued: t's chain reaches parent (tk__token_chain_cancelled sees it)
** before t is on parent's list; tk__token_link then only lists it. */
TK_INTERNAL void tk__token_set_parent(tk_token_t *t, tk_token_t *parent);
/* 1 if t or any of its ancestors is cancelled: a cancellation that is
** still on its way down to t counts too. */
TK_INTERNAL int tk__token_chain_cancelled(const tk_token_t *t);
/* Tears down an embedded token (unlink, disarm) without freeing it. */
TK_INTERNAL void tk__token_fini(tk_token_t *t);

#endif
