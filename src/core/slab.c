/*
** slab.c - fixed-size objects carved from 64 KiB blocks.
** See LICENSE for copyright and licence.
**
** Jobs and Lua tasks are made and freed by the hundred thousand, in an
** order the Lua collector picks. Taken from malloc they end up scattered
** between the submitting state's own objects, and every later sweep of
** that state walks cold memory. Here they live in blocks of their own,
** apart from the rest of the heap. A block goes back to the allocator
** once its last object is freed, except one spare per slab (so that a
** loop which makes and frees one object at a time does not allocate a
** block each time); tk__slab_trim_all gives the spares back too. The
** price: a block lives as long as any of its objects, so a few long-kept
** jobs can hold blocks of otherwise freed ones (as malloc's heap cannot
** shrink past them either, but here that room serves only jobs and
** tasks).
**
** Under AddressSanitizer, or with TK_SLAB_OFF (make valgrind), every
** object is its own malloc: the tools then see each one, its overruns and
** its leaks.
*/
#include <pthread.h>
#include <string.h>

#include "tk_common.h"
#include "tk_slab.h"

#if defined(__SANITIZE_ADDRESS__) && !defined(TK_SLAB_OFF)
#define TK_SLAB_OFF 1
#endif
#if defined(__has_feature) && !defined(TK_SLAB_OFF)
#if __has_feature(address_sanitizer)
#define TK_SLAB_OFF 1
#endif
#endif

#ifdef TK_SLAB_OFF

void *tk__slab_alloc(tk_slab_t *s) { return tk__malloc(s->size); }

void tk__slab_free(tk_slab_t *s, void *p) {
  (void)s;
  tk__free(p);
}

void tk__slab_trim_all(void) {}

#else

#define BLOCK_BYTES (64 * 1024)
#define ALIGN 16

struct tk__block {
  struct tk__block *next, *prev;   /* on the slab's list of partial blocks */
  tk_slab_t *slab;
  void *free;                      /* freed objects, linked through them */
  unsigned used, carved, cap;      /* live, ever handed out, room */
};

/* Each object follows a header naming its block. */
typedef struct {
  struct tk__block *block;
  char pad[ALIGN - sizeof(struct tk__block *)];
} header;

TK_STATIC_ASSERT(sizeof(header) == ALIGN);

static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static tk_slab_t *all;              /* every slab that ever made a block */

static size_t stride(const tk_slab_t *s) {
  return sizeof(header) + ((s->size + ALIGN - 1) & ~(size_t)(ALIGN - 1));
}

static char *first_object(struct tk__block *b) {
  return (char *)b + ((sizeof *b + ALIGN - 1) & ~(size_t)(ALIGN - 1));
}

static void unlink_block(tk_slab_t *s, struct tk__block *b) {
  if (b->prev != NULL) b->prev->next = b->next;
  else s->partial = b->next;
  if (b->next != NULL) b->next->prev = b->prev;
  b->next = b->prev = NULL;
}

static void push_block(tk_slab_t *s, struct tk__block *b) {
  b->prev = NULL;
  b->next = s->partial;
  if (s->partial != NULL) s->partial->prev = b;
  s->partial = b;
}

static struct tk__block *new_block(tk_slab_t *s) {
  struct tk__block *b = tk__malloc(BLOCK_BYTES);
  if (b == NULL) return NULL;
  b->next = b->prev = NULL;
  b->slab = s;
  b->free = NULL;
  b->used = b->carved = 0;
  b->cap = (unsigned)((BLOCK_BYTES - (size_t)(first_object(b) - (char *)b)) /
                      stride(s));
  if (!s->listed) {
    /* Onto the list tk__slab_trim_all walks. Slabs are never taken off,
    ** and next_slab is set before the slab is published: the trim reads
    ** the head under all_mu, then walks without it. */
    s->listed = 1;
    pthread_mutex_lock(&all_mu);
    s->next_slab = all;
    all = s;
    pthread_mutex_unlock(&all_mu);
  }
  return b;
}

void *tk__slab_alloc(tk_slab_t *s) {
  pthread_mutex_lock(&s->mu);
  struct tk__block *b = s->partial;
  if (b == NULL) {
    if (s->spare != NULL) {
      b = s->spare;
      s->spare = NULL;
    } else if ((b = new_block(s)) == NULL) {
      pthread_mutex_unlock(&s->mu);
      return NULL;
    }
    push_block(s, b);
  }
  header *h;
  if (b->free != NULL) {
    h = b->free;
    b->free = *(void **)(h + 1);
  } else {
    h = (header *)(first_object(b) + (size_t)b->carved++ * stride(s));
  }
  if (++b->used == b->cap) unlink_block(s, b);  /* full: off the list */
  pthread_mutex_unlock(&s->mu);
  h->block = b;
  return h + 1;
}

void tk__slab_free(tk_slab_t *s, void *p) {
  if (p == NULL) return;
  header *h = (header *)p - 1;
  struct tk__block *b = h->block, *gone = NULL;
  tk_assert(b->slab == s);
  pthread_mutex_lock(&s->mu);
  if (b->used == b->cap) push_block(s, b);  /* was full: has room again */
  *(void **)p = b->free;
  b->free = h;
  if (--b->used == 0) {
    unlink_block(s, b);
    if (s->spare == NULL) s->spare = b;
    else gone = b;
  }
  pthread_mutex_unlock(&s->mu);
  tk__free(gone);
}

void tk__slab_trim_all(void) {
  pthread_mutex_lock(&all_mu);
  tk_slab_t *head = all;
  pthread_mutex_unlock(&all_mu);
  for (tk_slab_t *s = head; s != NULL; s = s->next_slab) {
    pthread_mutex_lock(&s->mu);
    struct tk__block *b = s->spare;
    s->spare = NULL;
    pthread_mutex_unlock(&s->mu);
    tk__free(b);
  }
}

#endif

void *tk_slab_alloc(tk_slab_t *s) { return s ? tk__slab_alloc(s) : NULL; }

void tk_slab_free(tk_slab_t *s, void *p) {
  if (s != NULL) tk__slab_free(s, p);
}
