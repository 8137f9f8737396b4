/*
** code.c - the bytecode of the functions that travel, interned once per
** process. See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "code.h"

/* lua_dump's sink: a C buffer, not a luaL_Buffer, whose growth would push
** a box onto the stack above the function being dumped. */
typedef struct dump_buf {
  char *data;
  size_t len, cap;
} dump_buf;

static int writer(lua_State *L, const void *p, size_t sz, void *ud) {
  dump_buf *d = ud;
  (void)L;
  if (sz > d->cap - d->len) {
    size_t cap = d->cap ? d->cap : 1024;
    while (cap - d->len < sz) {
      if (cap > SIZE_MAX / 2) return 1;
      cap *= 2;
    }
    char *grown = realloc(d->data, cap);
    if (grown == NULL) return 1;  /* lua_dump stops and returns 1 */
    d->data = grown;
    d->cap = cap;
  }
  memcpy(d->data + d->len, p, sz);
  d->len += sz;
  return 0;
}

/* Every distinct bytecode gets a process-wide id, so that a worker finds
** its compiled copy by an integer instead of hashing the bytecode. Ids go
** by content: closures of one function literal (a new one each time the
** literal runs) share an id, so workers reuse their compiled copy.
** A decoder loads only bytecode this process produced (a forged or
** damaged buffer is refused, never handed to Lua's undump).
**
** Code is freed once nothing can name it any more: every buffer that
** names an id holds a reference to its code, and so does each state's
** cache of its last plain functions (tkl_ctx fn_code). Code whose last
** reference goes is idle: it stays findable (by content and by id, so
** that a function sent again and again, one task at a time, keeps its id
** and the workers' compiled copies) until more than IDLE_MAX entries or
** IDLE_BYTES bytes are idle, when the longest idle is freed. Ids are
** never given out again, so the workers' caches by id (weak, they let
** closures go) never mistake a new function for a freed one, and a forged
** id of freed code is refused as one never given out. */
struct tkl_code {
  struct tkl_code *next;         /* in its content bucket */
  struct tkl_code *next_id;      /* in its id bucket */
  struct tkl_code *idle_prev, *idle_next;  /* on the idle list */
  /* Taken without produced_mu only by a holder of a reference; the one
  ** that drops it to 0, and any taken from 0, under produced_mu (see
  ** tkl_code_release), so that the idle list always knows. */
  atomic_size_t refs;
  int idle;                      /* on the idle list (refs == 0) */
  lua_Integer id;
  size_t len;
  uint64_t hash;
  char code[];                   /* a copy, to tell collisions apart */
};

#define PRODUCED_BUCKETS 4096    /* power of two */
#define IDLE_MAX 1024            /* idle code kept for a function sent again */
#define IDLE_BYTES (1 << 20)
static pthread_mutex_t produced_mu = PTHREAD_MUTEX_INITIALIZER;
/* All produced_mu: */
static tkl_code *buckets[PRODUCED_BUCKETS];     /* by content hash */
static tkl_code *id_buckets[PRODUCED_BUCKETS];  /* by id */
static lua_Integer last_id;
static tkl_code *idle_head, *idle_tail;         /* oldest first */
static size_t nidle, idle_bytes;

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 14695981039346656037u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211u;
  return h;
}

static tkl_code **id_bucket(lua_Integer id) {
  return &id_buckets[(size_t)id & (PRODUCED_BUCKETS - 1)];
}

/* With produced_mu: takes c off the idle list. */
static void idle_unlink(tkl_code *c) {
  if (c->idle_prev) c->idle_prev->idle_next = c->idle_next;
  else idle_head = c->idle_next;
  if (c->idle_next) c->idle_next->idle_prev = c->idle_prev;
  else idle_tail = c->idle_prev;
  c->idle_prev = c->idle_next = NULL;
  c->idle = 0;
  nidle--;
  idle_bytes -= c->len;
}

/* With produced_mu: forgets idle c and frees it. */
static void free_idle(tkl_code *c) {
  idle_unlink(c);
  tkl_code **pp = &buckets[c->hash & (PRODUCED_BUCKETS - 1)];
  while (*pp != c) pp = &(*pp)->next;
  *pp = c->next;
  for (pp = id_bucket(c->id); *pp != c; pp = &(*pp)->next_id) {}
  *pp = c->next_id;
  free(c);
}

/* With produced_mu: another reference to c, which may be idle. */
static void retain_locked(tkl_code *c) {
  if (atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed) == 0)
    idle_unlink(c);
}

void tkl_code_retain(tkl_code *c) {
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void tkl_code_release(tkl_code *c) {
  if (c == NULL) return;
  /* Not the last reference: no lock (a task's function, on the hot path,
  ** is also held by its sender's cache). */
  size_t n = atomic_load_explicit(&c->refs, memory_order_relaxed);
  while (n > 1)
    if (atomic_compare_exchange_weak_explicit(&c->refs, &n, n - 1,
                                              memory_order_acq_rel,
                                              memory_order_relaxed))
      return;
  pthread_mutex_lock(&produced_mu);
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
    c->idle = 1;
    c->idle_prev = idle_tail;
    c->idle_next = NULL;
    if (idle_tail) idle_tail->idle_next = c;
    else idle_head = c;
    idle_tail = c;
    nidle++;
    idle_bytes += c->len;
    while (nidle > IDLE_MAX || idle_bytes > IDLE_BYTES) free_idle(idle_head);
  }
  pthread_mutex_unlock(&produced_mu);
}

/* The code of this bytecode with a reference for the caller, new if it is
** not known; NULL when there is no memory for it. */
static tkl_code *intern_bytecode(const char *code, size_t n) {
  uint64_t h = hash_bytes(code, n);
  tkl_code *found = NULL;
  pthread_mutex_lock(&produced_mu);
  tkl_code **head = &buckets[h & (PRODUCED_BUCKETS - 1)];
  for (tkl_code *e = *head; e != NULL && found == NULL; e = e->next)
    if (e->hash == h && e->len == n && memcmp(e->code, code, n) == 0)
      found = e;
  if (found != NULL) {
    retain_locked(found);
  } else if ((found = malloc(sizeof *found + n)) != NULL) {
    memset(found, 0, sizeof *found);
    atomic_init(&found->refs, 1);
    found->id = ++last_id;
    found->len = n;
    found->hash = h;
    memcpy(found->code, code, n);
    found->next = *head;
    *head = found;
    tkl_code **ib = id_bucket(found->id);
    found->next_id = *ib;
    *ib = found;
  }
  pthread_mutex_unlock(&produced_mu);
  return found;
}

tkl_code *tkl_code_find(lua_Integer id) {
  tkl_code *found = NULL;
  pthread_mutex_lock(&produced_mu);
  for (tkl_code *e = *id_bucket(id); e != NULL; e = e->next_id) {
    if (e->id == id) {
      found = e;
      retain_locked(e);
      break;
    }
  }
  pthread_mutex_unlock(&produced_mu);
  return found;
}


tkl_code *tkl_code_dump(lua_State *L, int idx) {
  dump_buf d = {NULL, 0, 0};
  lua_pushvalue(L, idx);
  int failed = lua_dump(L, writer, &d, 0);
  lua_pop(L, 1);
  tkl_code *c = failed ? NULL : intern_bytecode(d.data, d.len);
  free(d.data);
  return c;
}

lua_Integer tkl_code_id(const tkl_code *c) { return c->id; }

const char *tkl_code_bytes(const tkl_code *c, size_t *len) {
  *len = c->len;
  return c->code;
}
