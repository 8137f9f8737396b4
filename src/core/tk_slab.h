/*
** tk_slab.h - fixed-size objects carved from blocks (slab.c). Private to
** src/core and the Lua layer. See LICENSE for copyright and licence.
*/
#ifndef TK_SLAB_H
#define TK_SLAB_H

#include <pthread.h>
#include <stddef.h>

#if defined(__GNUC__)
#define TK_SLAB_API __attribute__((visibility("hidden")))
#else
#define TK_SLAB_API
#endif

struct tk__block;

/* Objects of `size` bytes. Define with TK__SLAB(size) at file scope. */
typedef struct tk__slab {
  pthread_mutex_t mu;
  size_t size;
  struct tk__block *partial;     /* blocks with room; mu */
  struct tk__block *spare;       /* an empty block kept; mu */
  struct tk__slab *next_slab;    /* on the list of every slab */
  int listed;                    /* on that list; mu */
} tk__slab;

#define TK__SLAB(bytes) {PTHREAD_MUTEX_INITIALIZER, (bytes), NULL, NULL, NULL, 0}

/* A new object (uninitialised, 16-byte aligned), or NULL without memory. */
TK_SLAB_API void *tk__slab_alloc(tk__slab *s);
/* Frees an object of s (NULL is ignored); any thread may. */
TK_SLAB_API void tk__slab_free(tk__slab *s, void *p);
/* Gives every slab's spare block back to the allocator
** (tk_replace_allocator does, before it changes allocators). */
TK_SLAB_API void tk__slab_trim_all(void);

#endif
