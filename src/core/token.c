/*
** token.c - cancellation tokens: exactly-once callbacks, children, deadlines.
** See LICENSE for copyright and licence.
*/
#include "park.h"
#include "token.h"

static int claim_deadline(tk__timer_entry *e);
static void fire_deadline(tk__timer_entry *e);

static void init_common(tk_token_t *t) {
  tk__atomic_init(&t->refs, 1);
  tk__atomic_init(&t->cancelled, 0);
  t->owner = NULL;
  t->owner_ops = NULL;
  t->head = t->tail = NULL;
  t->running_id = 0;
  t->next_id = 0;
  tk__atomic_init(&t->parent, NULL);
  t->link.linked = 0;
  t->has_deadline = 0;
  tk__timer_entry_init(&t->deadline, claim_deadline, fire_deadline);
}

void tk__token_init_embedded(tk_token_t *t, void *owner,
                             const tk__token_owner_ops *ops) {
  init_common(t);
  t->owner = owner;
  t->owner_ops = ops;
}

static int try_retain(tk_token_t *t) {
  if (t->owner != NULL) return t->owner_ops->try_retain(t->owner);
  return tk__try_retain(&t->refs);
}

static void append(tk_token_t *t, tk__cb_node *n) {
  n->next = NULL;
  n->prev = t->tail;
  if (t->tail) t->tail->next = n;
  else t->head = n;
  t->tail = n;
  n->linked = 1;
}

static void unlink_node(tk_token_t *t, tk__cb_node *n) {
  if (n->prev) n->prev->next = n->next;
  else t->head = n->next;
  if (n->next) n->next->prev = n->prev;
  else t->tail = n->prev;
  n->next = n->prev = NULL;
  n->linked = 0;
}

int tk_token_new(tk_token_t **out) {
  if (out == NULL) return TK_EINVAL;
  tk_token_t *t = tk__malloc(sizeof *t);
  if (t == NULL) return TK_ENOMEM;
  init_common(t);
  *out = t;
  return 0;
}

void tk__token_set_parent(tk_token_t *t, tk_token_t *parent) {
  tk_token_retain(parent);
  atomic_store_explicit(&t->parent, parent, memory_order_release);
}

int tk__token_link(tk_token_t *t, tk_token_t *parent) {
  if (atomic_load_explicit(&t->parent, memory_order_relaxed) != parent)
    tk__token_set_parent(t, parent);
  t->link.fn = NULL;
  t->link.dispose = NULL;
  t->link.arg = NULL;
  t->link.id = 0;
  t->link.child = t;
  tk__bucket *b = tk__park_bucket(parent);
  pthread_mutex_lock(&b->mu);
  int already = atomic_load_explicit(&parent->cancelled, memory_order_relaxed);
  if (!already) append(parent, &t->link);
  pthread_mutex_unlock(&b->mu);
  return already;
}

int tk_token_new_child(tk_token_t *parent, tk_token_t **out) {
  if (parent == NULL || out == NULL) return TK_EINVAL;
  int rc = tk_token_new(out);
  if (rc == 0 && tk__token_link(*out, parent)) tk_token_cancel(*out);
  return rc;
}

/* tk__token_fini but for the parent's reference, which it returns (or
** NULL): a chain of tokens is let go in a loop, not a recursion as deep as
** the chain. */
static tk_token_t *fini_keep_parent(tk_token_t *t) {
  tk_token_t *parent = atomic_load_explicit(&t->parent, memory_order_relaxed);
  if (parent != NULL) {
    tk__bucket *b = tk__park_bucket(parent);
    pthread_mutex_lock(&b->mu);
    /* If the parent already popped our link it either retained us (then we
    ** are not being freed) or failed to and skipped us: nothing to wait for. */
    if (t->link.linked) unlink_node(parent, &t->link);
    pthread_mutex_unlock(&b->mu);
    atomic_store_explicit(&t->parent, NULL, memory_order_relaxed);
  }
  if (t->has_deadline) {
    tk__timer_disarm(&t->deadline);
    tk__timer_release();
    t->has_deadline = 0;
  }
  /* Callbacks of a token that is freed uncancelled never run; their
  ** dispose functions do. */
  tk__cb_node *n = t->head;
  while (n != NULL) {
    tk__cb_node *next = n->next;
    if (n->dispose != NULL) n->dispose(n->arg);
    tk__free(n);
    n = next;
  }
  t->head = t->tail = NULL;
  return parent;
}

void tk__token_fini(tk_token_t *t) { tk_token_release(fini_keep_parent(t)); }

void tk_token_retain(tk_token_t *t) {
  if (t == NULL) return;
  if (t->owner != NULL) t->owner_ops->retain(t->owner);
  else atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void tk_token_release(tk_token_t *t) {
  while (t != NULL) {
    if (t->owner != NULL) {
      t->owner_ops->release(t->owner);
      return;
    }
    if (!tk__ref_drop(&t->refs)) return;
    tk_token_t *parent = fini_keep_parent(t);
    tk__free(t);
    t = parent;  /* its reference was ours */
  }
}

int tk_token_sole_holder(tk_token_t *t) {
  if (t == NULL || t->owner != NULL ||
      atomic_load_explicit(&t->parent, memory_order_acquire) != NULL)
    return 0;
  tk__bucket *b = tk__park_bucket(t);
  pthread_mutex_lock(&b->mu);
  int only = !t->has_deadline &&
             !atomic_load_explicit(&t->cancelled, memory_order_relaxed) &&
             atomic_load_explicit(&t->refs, memory_order_acquire) == 1;
  pthread_mutex_unlock(&b->mu);
  return only;
}

int tk__token_chain_cancelled(const tk_token_t *t) {
  /* Parents are stable: a child holds a reference to its parent. */
  for (; t != NULL; t = atomic_load_explicit(&((tk_token_t *)t)->parent,
                                              memory_order_acquire))
    if (atomic_load_explicit(&t->cancelled, memory_order_acquire)) return 1;
  return 0;
}

int tk_token_is_cancelled(const tk_token_t *t) {
  return t != NULL &&
         atomic_load_explicit(&t->cancelled, memory_order_acquire) != 0;
}

/* Marks t cancelled and wakes its waiters; 0 if it already was. */
static int mark_cancelled(tk_token_t *t) {
  tk__bucket *b = tk__park_bucket(t);
  pthread_mutex_lock(&b->mu);
  if (atomic_load_explicit(&t->cancelled, memory_order_relaxed)) {
    pthread_mutex_unlock(&b->mu);
    return 0;
  }
  atomic_store_explicit(&t->cancelled, 1, memory_order_release);
  t->runner = pthread_self();
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  /* The owner first (a pending job whose token is cancelled ends at once),
  ** before anything registered on the token hears about it. */
  if (t->owner != NULL) t->owner_ops->cancelled(t->owner);
  return 1;
}

/* Cancelling runs t's callbacks in registration order, and a child's whole
** cancellation where the child was listed: depth first, as a recursion
** would, but with the path kept in the tokens themselves (cancel_up), so a
** chain of a million children needs no stack. Every token on the path
** after t is retained. */
int tk_token_cancel(tk_token_t *t) {
  if (t == NULL) return TK_EINVAL;
  if (!mark_cancelled(t)) return TK_ECANCELED;
  t->cancel_up = NULL;
  tk_token_t *cur = t;
  while (cur != NULL) {
    /* Callbacks run one at a time, never under the lock, so each may
    ** register, unregister or cancel freely. */
    tk__bucket *b = tk__park_bucket(cur);
    pthread_mutex_lock(&b->mu);
    tk__cb_node *n = cur->head;
    if (n == NULL) {  /* cur is done */
      int had_deadline = cur->has_deadline;
      pthread_mutex_unlock(&b->mu);
      if (had_deadline) tk__timer_disarm(&cur->deadline);
      tk_token_t *up = cur->cancel_up;
      if (cur != t) tk_token_release(cur);
      cur = up;
      continue;
    }
    unlink_node(cur, n);
    if (n->child != NULL) {
      tk_token_t *child = n->child;
      int alive = try_retain(child);  /* else being freed: skip it */
      pthread_mutex_unlock(&b->mu);
      if (alive && mark_cancelled(child)) {
        child->cancel_up = cur;
        cur = child;
      } else if (alive) {
        tk_token_release(child);
      }
      continue;
    }
    cur->running_id = n->id;
    pthread_mutex_unlock(&b->mu);
    n->fn(n->arg);
    tk__free(n);
    pthread_mutex_lock(&b->mu);
    cur->running_id = 0;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
  }
  return 0;
}

int tk_token_wait(tk_token_t *t, double timeout) {
  if (t == NULL) return TK_EINVAL;
  if (tk_token_is_cancelled(t)) return 0;
  if (timeout == 0) return TK_ETIMEDOUT;
  uint64_t deadline = tk__deadline(timeout);
  tk__bucket *b = tk__park_bucket(t);
  int rc = 0;
  tk__block_begin();  /* on a worker: a spare meanwhile (before the
                         bucket: pool mu comes first) */
  pthread_mutex_lock(&b->mu);
  while (!atomic_load_explicit(&t->cancelled, memory_order_relaxed)) {
    if (tk__bucket_wait(b, deadline) == TK_ETIMEDOUT) {
      rc = TK_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&b->mu);
  tk__block_end();
  return rc;
}

int tk_token_on_cancel(tk_token_t *t, tk_cancel_fn fn, void *arg,
                       uint64_t *id) {
  return tk_token_on_cancel_ex(t, fn, NULL, arg, id);
}

int tk_token_on_cancel_ex(tk_token_t *t, tk_cancel_fn fn, tk_cancel_fn dispose,
                          void *arg, uint64_t *id) {
  if (t == NULL || fn == NULL) return TK_EINVAL;
  if (id != NULL) *id = 0;
  if (tk_token_is_cancelled(t)) {
    fn(arg);
    return 0;
  }
  tk__cb_node *n = tk__malloc(sizeof *n);
  if (n == NULL) return TK_ENOMEM;
  n->fn = fn;
  n->dispose = dispose;
  n->arg = arg;
  n->child = NULL;
  tk__bucket *b = tk__park_bucket(t);
  pthread_mutex_lock(&b->mu);
  int already = atomic_load_explicit(&t->cancelled, memory_order_relaxed);
  if (!already) {
    n->id = ++t->next_id;
    append(t, n);
    if (id != NULL) *id = n->id;
  }
  pthread_mutex_unlock(&b->mu);
  if (already) {
    /* Cancelled between the check and the lock: run it here, once. */
    tk__free(n);
    fn(arg);
  }
  return 0;
}

int tk_token_off_cancel(tk_token_t *t, uint64_t id) {
  if (t == NULL || id == 0) return TK_EINVAL;
  tk__bucket *b = tk__park_bucket(t);
  int rc = TK_ENOENT;
  tk__cb_node *found = NULL;
  pthread_mutex_lock(&b->mu);
  for (tk__cb_node *n = t->head; n != NULL; n = n->next) {
    if (n->id == id) {
      unlink_node(t, n);
      found = n;
      rc = 0;
      break;
    }
  }
  if (rc != 0) {
    /* Running now: wait until it returned, unless we are inside it. */
    while (t->running_id == id && !pthread_equal(t->runner, pthread_self()))
      tk__bucket_wait(b, TK__NO_DEADLINE);
  }
  pthread_mutex_unlock(&b->mu);
  if (found != NULL) {
    if (found->dispose != NULL) found->dispose(found->arg);
    tk__free(found);
  }
  return rc;
}

/* {====================================================== deadlines */

static int claim_deadline(tk__timer_entry *e) {
  return try_retain(tk_container_of(e, tk_token_t, deadline));
}

static void fire_deadline(tk__timer_entry *e) {
  tk_token_t *t = tk_container_of(e, tk_token_t, deadline);
  tk_token_cancel(t);
  tk_token_release(t);
}

int tk_token_set_deadline(tk_token_t *t, double seconds) {
  if (t == NULL || !(seconds >= 0)) return TK_EINVAL;
  if (seconds == 0) return tk_token_cancel(t);  /* due now: no timer's lag */
  if (tk_token_is_cancelled(t)) return 0;
  tk__bucket *b = tk__park_bucket(t);
  pthread_mutex_lock(&b->mu);
  int need = !t->has_deadline;
  pthread_mutex_unlock(&b->mu);
  if (need) {
    int rc = tk__timer_acquire();
    if (rc != 0) return rc;
    pthread_mutex_lock(&b->mu);
    if (t->has_deadline) need = 0;  /* lost a race: give ours back */
    else t->has_deadline = 1;
    pthread_mutex_unlock(&b->mu);
    if (!need) tk__timer_release();
  }
  return tk__timer_arm(&t->deadline, tk__deadline(seconds));
}

/* }====================================================== */
