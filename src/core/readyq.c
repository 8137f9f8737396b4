/*
** readyq.c - FIFO rings per priority level, levels sorted descending.
** See LICENSE for copyright and licence.
*/
#include <string.h>

#include "readyq.h"

/* Empty levels beyond this many are dropped, so that pop scans few. */
#define KEEP_LEVELS 8

void tk__readyq_init(tk__readyq *q) {
  memset(q, 0, sizeof *q);
}

void tk__readyq_free(tk__readyq *q) {
  for (size_t i = 0; i < q->nlevels; i++) tk__free(q->levels[i].ring);
  tk__free(q->levels);
  memset(q, 0, sizeof *q);
}

/* Index of the level for prio, creating it if needed; SIZE_MAX on ENOMEM. */
static size_t level_of(tk__readyq *q, int prio) {
  if (q->hint < q->nlevels && q->levels[q->hint].prio == prio) return q->hint;
  size_t lo = 0, hi = q->nlevels;
  while (lo < hi) {  /* first level whose prio <= the one sought */
    size_t mid = (lo + hi) / 2;
    if (q->levels[mid].prio > prio) lo = mid + 1;
    else hi = mid;
  }
  if (lo < q->nlevels && q->levels[lo].prio == prio) return q->hint = lo;
  if (q->nlevels == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 8;
    tk__level *l = tk__realloc(q->levels, cap * sizeof *l);
    if (l == NULL) return SIZE_MAX;
    q->levels = l;
    q->cap = cap;
  }
  memmove(&q->levels[lo + 1], &q->levels[lo],
          (q->nlevels - lo) * sizeof *q->levels);
  memset(&q->levels[lo], 0, sizeof *q->levels);
  q->levels[lo].prio = prio;
  q->nlevels++;
  return q->hint = lo;
}

static int grow(tk__level *l, size_t need) {
  if (need <= l->cap) return 0;
  size_t cap = l->cap ? l->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2 / sizeof(tk__task)) return TK_ENOMEM;
    cap *= 2;
  }
  tk__task *r = tk__malloc(cap * sizeof *r);
  if (r == NULL) return TK_ENOMEM;
  /* Unwrap the old ring into the start of the new one. */
  size_t first = l->cap - l->head < l->count ? l->cap - l->head : l->count;
  if (l->count > 0) {
    memcpy(r, l->ring + l->head, first * sizeof *r);
    memcpy(r + first, l->ring, (l->count - first) * sizeof *r);
  }
  tk__free(l->ring);
  l->ring = r;
  l->cap = cap;
  l->head = 0;
  return 0;
}

int tk__readyq_reserve(tk__readyq *q, int prio, size_t n) {
  size_t i = level_of(q, prio);
  if (i == SIZE_MAX) return TK_ENOMEM;
  tk__level *l = &q->levels[i];
  if (n > SIZE_MAX - l->count) return TK_ENOMEM;
  return grow(l, l->count + n);
}

int tk__readyq_push(tk__readyq *q, int prio, const tk__task *t) {
  size_t i = level_of(q, prio);
  if (i == SIZE_MAX) return TK_ENOMEM;
  tk__level *l = &q->levels[i];
  if (l->count == l->cap && grow(l, l->count + 1) != 0) return TK_ENOMEM;
  l->ring[(l->head + l->count) & (l->cap - 1)] = *t;
  l->count++;
  q->total++;
  return 0;
}

int tk__readyq_pop(tk__readyq *q, tk__task *t) {
  if (q->total == 0) return 0;
  size_t i = 0;
  while (q->levels[i].count == 0) i++;
  tk__level *l = &q->levels[i];
  *t = l->ring[l->head];
  l->head = (l->head + 1) & (l->cap - 1);
  l->count--;
  q->total--;
  if (l->count == 0 && q->nlevels > KEEP_LEVELS) {
    tk__free(l->ring);
    memmove(&q->levels[i], &q->levels[i + 1],
            (q->nlevels - i - 1) * sizeof *q->levels);
    q->nlevels--;
    q->hint = 0;
  }
  return 1;
}
