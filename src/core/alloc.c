/*
** alloc.c - the replaceable allocator behind every core allocation.
** See LICENSE for copyright and licence.
*/
#include <stdlib.h>
#include <string.h>

#include "tk_common.h"
#include "tk_slab.h"

static tk_malloc_fn use_malloc = malloc;
static tk_realloc_fn use_realloc = realloc;
static tk_free_fn use_free = free;

int tk_replace_allocator(tk_malloc_fn m, tk_realloc_fn r, tk_free_fn f) {
  /* Set only while no thread of threadkit's runs, which helgrind cannot
  ** always tell after joins (ThreadSanitizer can, and is clean here). */
  TK_HG_ATOMIC(&use_malloc);
  TK_HG_ATOMIC(&use_realloc);
  TK_HG_ATOMIC(&use_free);
  tk__slab_trim_all();  /* spare blocks go back to the allocator they came from */
  if (m == NULL && r == NULL && f == NULL) {
    use_malloc = malloc;
    use_realloc = realloc;
    use_free = free;
    return 0;
  }
  if (m == NULL || r == NULL || f == NULL) return TK_EINVAL;
  use_malloc = m;
  use_realloc = r;
  use_free = f;
  return 0;
}

void *tk__malloc(size_t size) { return use_malloc(size); }

void *tk__calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) return NULL;
  void *p = use_malloc(n * size);
  if (p != NULL) memset(p, 0, n * size);
  return p;
}

void *tk__realloc(void *ptr, size_t size) { return use_realloc(ptr, size); }

void tk__free(void *ptr) {
  if (ptr != NULL) use_free(ptr);
}

char *tk__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = tk__malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

void *tk_malloc(size_t size) { return tk__malloc(size); }

void tk_free(void *ptr) { tk__free(ptr); }

char *tk_strdup(const char *s) { return s ? tk__strdup(s) : NULL; }
