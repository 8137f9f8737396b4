/*
** lcycles.c - the cycle collector of channels and shared tables.
** See LICENSE for copyright and licence.
**
** A value stored in a container (a channel's item, a shared table's
** entry) holds a reference to each container it names, so `s.me = s`,
** `c:push(c)` or `a.b = b; b.a = a` make cycles whose counts never reach
** zero. This finds them by trial deletion, as CPython's collector does,
** started from candidates as in Bacon and Rajan's synchronous collector:
**
** - Candidates. A release that leaves a container referenced makes it a
**   candidate: the releasing reference is not dropped but becomes the
**   candidate list's (the BUF flag says it has one), so a candidate can
**   never be freed under the collector. Releases of a candidate drop
**   their reference and set DIRTY. The last holder's release still frees
**   at once; a candidate that only the list holds any more lets its
**   stored values go at once too (its shell waits for the collector).
** - Collection (one at a time, under collect_mu; any thread, at a safe
**   point: creating a container once enough candidates came, and a
**   state's close). It takes the candidates, then walks everything their
**   stored values reach, freezing each container: under its lock, taken
**   with trylock (the collector never waits for a container's lock, so
**   no lock order can deadlock; a container it cannot lock is left out,
**   its references counted as outside ones, and a candidate it cannot
**   lock stays a candidate), it sets the container's frozen flag, and
**   lets the lock go. Until the end of the collection, whoever would
**   change a frozen container's stored values, or copy a reference out of
**   them, waits under its lock (tkl_gc_thaw), so no stored value changes
**   meanwhile; the collector holds one container lock at a time.
**   Each container's count, less the candidate list's reference, less
**   one per reference from the stored values of containers in the walk,
**   is what holds it from outside: Lua boxes, values in flight (a task's
**   arguments, a popped item being decoded, a copy being read), and
**   containers left out. Those with some, and all they reach, are alive;
**   the rest can only be reached from each other, and are garbage.
**   A reference can only be copied by its holder, and the only holders of
**   garbage are the frozen containers: none can appear while the walk
**   holds them frozen. The count and the clearing of DIRTY are one atomic
**   operation, so a release after the count was read is seen: such a
**   candidate stays one.
** - Freeing. Each garbage container gets (or keeps) one reference of the
**   collector's; its stored values are taken out (nobody else can reach
**   it); every container thaws; then the values are freed (the cycle breaks, other
**   objects they name are released normally), and the collector's
**   references, now the only ones, free the containers.
** - Pace. A collection starts once the candidates reach a threshold: the
**   number of live containers the last one walked, at least 1024, so that
**   its cost is paid for by as many releases.
** Tokens, jobs, pools and groups in stored values are plain references:
** a cycle through one of them (a job whose result holds a channel that
** holds the job) is not found.
*/
#include <pthread.h>
#include <stdlib.h>

#include "buffer.h"
#include "ctx.h"
#include "handles.h"
#include "lcycles.h"
#include "lopen.h"

enum { BUF = 1, DIRTY = 2 };
#define FLAGS (TKL_GC_ONE - 1)
#define COUNT(v) ((v) / TKL_GC_ONE)

/* The collector's view of a container during a collection. */
enum { S_NONE, S_IN, S_OUT, S_BUSY_ROOT };

#define MIN_THRESHOLD 1024

static pthread_mutex_t cand_mu = PTHREAD_MUTEX_INITIALIZER;
static tkl_gcobj *cands;          /* cand_mu */
static size_t ncands;             /* cand_mu */
static size_t threshold = MIN_THRESHOLD;  /* cand_mu */
static atomic_int wanted;

static pthread_mutex_t collect_mu = PTHREAD_MUTEX_INITIALIZER;
/* Thawing: taken after a container's mu, never before one. */
static pthread_mutex_t thaw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thaw_cv = PTHREAD_COND_INITIALIZER;
static unsigned round_no;         /* collect_mu */
static atomic_size_t live;

void tkl_gc_init(tkl_gcobj *o, const tkl_gctype *type) {
  atomic_init(&o->rc, TKL_GC_ONE);
  pthread_mutex_init(&o->mu, NULL);
  atomic_init(&o->frozen, 0);
  o->type = type;
  o->cand_next = o->set_next = o->stack_next = NULL;
  o->taken = NULL;
  o->gc_refs = 0;
  o->round = 0;
  o->state = S_NONE;
  o->reachable = 0;
  atomic_fetch_add(&live, 1);
}

size_t tkl_gc_live(void) { return atomic_load(&live); }

void tkl_gc_thaw_slow(tkl_gcobj *o) {
  pthread_mutex_lock(&thaw_mu);
  while (atomic_load(&o->frozen)) pthread_cond_wait(&thaw_cv, &thaw_mu);
  pthread_mutex_unlock(&thaw_mu);
}

void tkl_gc_retain(tkl_gcobj *o) {
  atomic_fetch_add_explicit(&o->rc, TKL_GC_ONE, memory_order_relaxed);
}

/* The object is unreachable and stores nothing: it goes. */
static void free_shell(tkl_gcobj *o) {
  pthread_mutex_destroy(&o->mu);
  o->type->free(o);
  atomic_fetch_sub(&live, 1);
}

/* With the last reference: nobody else can reach o. */
static void destroy(tkl_gcobj *o) {
  o->type->drop(o->type->take(o));
  free_shell(o);
}

/* Lets o's stored values go (o is reachable from nothing but the
** candidate list, or the collector). */
static void drop_values(tkl_gcobj *o) {
  pthread_mutex_lock(&o->mu);
  tkl_gc_thaw(o);
  void *taken = o->type->take(o);
  pthread_mutex_unlock(&o->mu);
  o->type->drop(taken);
}

static void add_candidate(tkl_gcobj *o) {
  pthread_mutex_lock(&cand_mu);
  o->cand_next = cands;
  cands = o;
  if (++ncands >= threshold) atomic_store(&wanted, 1);
  pthread_mutex_unlock(&cand_mu);
}

void tkl_gc_release(tkl_gcobj *o) {
  long v = atomic_load(&o->rc);
  int dropped = 0;
  for (;;) {
    if (v & BUF) {
      if (COUNT(v) == 2 && !dropped) {
        /* Ours and the list's: nothing else can reach o, whose values go
        ** now rather than at the next collection. */
        drop_values(o);
        dropped = 1;
        v = atomic_load(&o->rc);
        continue;
      }
      /* The list keeps one: the count stays above zero. */
      if (atomic_compare_exchange_weak(&o->rc, &v,
                                       (v - TKL_GC_ONE) | DIRTY))
        return;
    } else if (COUNT(v) > 1) {
      /* Ours becomes the candidate list's. */
      if (atomic_compare_exchange_weak(&o->rc, &v, v | BUF)) {
        add_candidate(o);
        return;
      }
    } else {
      destroy(o);  /* the last: nobody can take another */
      return;
    }
  }
}

/* {====================================================== collection */

typedef struct walk {
  tkl_gcobj *set;                /* every container frozen (S_IN) */
  tkl_gcobj *stack;
  size_t nset;
} walk;

static void push(walk *w, tkl_gcobj *o) {
  o->stack_next = w->stack;
  w->stack = o;
}

static tkl_gcobj *pop(walk *w) {
  tkl_gcobj *o = w->stack;
  if (o != NULL) w->stack = o->stack_next;
  return o;
}

static int is_container(const tkl_ref *r) {
  return r->ptr != NULL && !r->weak &&
         (r->kind == TKL_K_CHANNEL || r->kind == TKL_K_SHARED);
}

/* Brings o into the walk, frozen, with its count (less the candidate
** list's reference when it is a candidate of this collection); or leaves
** it out when its lock is busy. */
static void enter(walk *w, tkl_gcobj *o, int root) {
  o->round = round_no;
  o->reachable = 0;
  if (pthread_mutex_trylock(&o->mu) != 0) {
    o->state = root ? S_BUSY_ROOT : S_OUT;
    return;
  }
  o->state = S_IN;
  atomic_store(&o->frozen, 1);
  pthread_mutex_unlock(&o->mu);
  long v = root ? atomic_fetch_and(&o->rc, ~(long)DIRTY)
                : atomic_load(&o->rc);
  o->gc_refs = COUNT(v) - (root ? 1 : 0);
  o->set_next = w->set;
  w->set = o;
  w->nset++;
  push(w, o);
}

/* Each reference from a stored value of a container in the walk is an
** inside one. */
static void subtract(const tkl_buf *b, void *ud) {
  walk *w = ud;
  for (size_t i = 0; i < b->nrefs; i++) {
    if (!is_container(&b->refs[i])) continue;
    tkl_gcobj *m = b->refs[i].ptr;
    if (m->round != round_no) enter(w, m, 0);
    if (m->state == S_IN) m->gc_refs--;
  }
}

static void reach(const tkl_buf *b, void *ud) {
  walk *w = ud;
  for (size_t i = 0; i < b->nrefs; i++) {
    if (!is_container(&b->refs[i])) continue;
    tkl_gcobj *m = b->refs[i].ptr;
    if (m->round == round_no && m->state == S_IN && !m->reachable) {
      m->reachable = 1;
      push(w, m);
    }
  }
}

static void collect(void) {
  pthread_mutex_lock(&collect_mu);
  pthread_mutex_lock(&cand_mu);
  tkl_gcobj *roots = cands;
  cands = NULL;
  ncands = 0;
  atomic_store(&wanted, 0);
  pthread_mutex_unlock(&cand_mu);
  if (roots == NULL) {
    pthread_mutex_unlock(&collect_mu);
    return;
  }
  if (++round_no == 0) round_no = 1;  /* 0: never seen */
  walk w = {NULL, NULL, 0};
  /* Every candidate first: a candidate met through another's values is
  ** one all the same (its list reference is not an outside one). */
  for (tkl_gcobj *r = roots; r != NULL; r = r->cand_next) enter(&w, r, 1);
  tkl_gcobj *o;
  while ((o = pop(&w)) != NULL) o->type->each(o, subtract, &w);
  /* What outside references hold is alive, and all it reaches. */
  for (o = w.set; o != NULL; o = o->set_next) {
    if (o->gc_refs > 0 && !o->reachable) {
      o->reachable = 1;
      push(&w, o);
      tkl_gcobj *p;
      while ((p = pop(&w)) != NULL) p->type->each(p, reach, &w);
    }
  }
  /* The garbage: one reference of the collector's each (a candidate's is
  ** the list's), and its values out (it is frozen, and nobody else can
  ** reach it). */
  size_t alive = 0;
  tkl_gcobj *garbage = NULL;
  for (o = w.set; o != NULL; o = o->set_next) {
    if (o->reachable) {
      alive++;
      continue;
    }
    long v = atomic_load(&o->rc);
    if (!(v & BUF)) {
      /* Not a candidate: nobody but the walk can change its count. */
      while (!atomic_compare_exchange_weak(&o->rc, &v,
                                           (v + TKL_GC_ONE) | BUF)) {
      }
    }
    o->taken = o->type->take(o);
    o->stack_next = garbage;
    garbage = o;
  }
  pthread_mutex_lock(&thaw_mu);
  for (o = w.set; o != NULL; o = o->set_next) atomic_store(&o->frozen, 0);
  pthread_cond_broadcast(&thaw_cv);
  pthread_mutex_unlock(&thaw_mu);
  /* The cycles break: the garbage's references to each other go. */
  for (o = garbage; o != NULL; o = o->stack_next) {
    o->type->drop(o->taken);
    o->taken = NULL;
  }
  tkl_gcobj *next;
  /* The candidates that live on let their list reference go, unless a
  ** release came after their count was read (DIRTY) or they could not be
  ** looked at: they stay candidates. */
  for (o = roots; o != NULL; o = next) {
    next = o->cand_next;
    if (o->state == S_IN && !o->reachable) continue;  /* garbage */
    long v = atomic_load(&o->rc);
    for (;;) {
      if (o->state == S_BUSY_ROOT || (v & DIRTY)) {
        add_candidate(o);
        break;
      }
      long nv = (v - TKL_GC_ONE) & ~(long)BUF;
      if (atomic_compare_exchange_weak(&o->rc, &v, nv)) {
        if (COUNT(nv) == 0) destroy(o);
        break;
      }
    }
  }
  for (o = garbage; o != NULL; o = next) {
    next = o->stack_next;
    /* Only the collector's reference is left (and BUF, maybe DIRTY). */
    free_shell(o);
  }
  pthread_mutex_lock(&cand_mu);
  threshold = alive > MIN_THRESHOLD ? alive : MIN_THRESHOLD;
  if (ncands >= threshold) atomic_store(&wanted, 1);
  pthread_mutex_unlock(&cand_mu);
  pthread_mutex_unlock(&collect_mu);
}

void tkl_gc_maybe_collect(void) {
  if (atomic_load_explicit(&wanted, memory_order_relaxed)) collect();
}

void tkl_gc_collect(void) { collect(); }

/* }====================================================== */

/* The state's boxes were finalized before its context (made first): the
** cycles they left go with it. */
static void collect_at_close(lua_State *L, tkl_ctx *c) {
  (void)L;
  (void)c;
  tkl_gc_collect();
}

void tkl_open_cycles(lua_State *L) {
  (void)L;
  tkl_ctx_on_close(TKL_CLOSE_CYCLES, collect_at_close);
}
