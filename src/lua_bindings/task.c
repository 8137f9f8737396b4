/*
** task.c - a Lua task's memory: one allocation (from a slab when small)
** with its function and arguments, the extra part few tasks need, and
** their free. See LICENSE for copyright and licence.
*/
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "ltask.h"
#include "lwait.h"
#include "pool.h"

/* Tasks whose function and arguments fit in TASK_INLINE bytes (most) come
** from a slab (tk_slab_t: apart from the submitting state's objects);
** those with TKL_TASK_ROOM bytes of room for their caller (lwork.c) from
** a slab of their own. */
#define TASK_INLINE 64
static tk_slab_t task_slab = TK_SLAB_INIT(sizeof(tkl_task) + TASK_INLINE);
static tk_slab_t roomy_slab =
    TK_SLAB_INIT(sizeof(tkl_task) + TKL_TASK_ROOM + TASK_INLINE);
enum { FROM_MALLOC, FROM_TASK_SLAB, FROM_ROOMY_SLAB };

tkl_task *tkl_task_new_room(tkl_pool *pool, tkl_buf *in, size_t room) {
  /* One allocation: the task, its room, then a copy of its function and
  ** arguments. */
  int small = in->len <= TASK_INLINE;
  tk_slab_t *slab = room > 0 ? &roomy_slab : &task_slab;
  tkl_task *t = small ? tk_slab_alloc(slab)
                      : malloc(sizeof *t + room + in->len);
  if (t == NULL) return NULL;
  memset(t, 0, sizeof *t);
  t->from_slab = !small ? FROM_MALLOC
                 : room > 0 ? FROM_ROOMY_SLAB : FROM_TASK_SLAB;
  t->pool = pool;
  tkl_pool_retain(pool);
  tkl_blob_take(&t->in, in, (char *)(t + 1) + room, in->len);  /* fits */
  t->co_ref = LUA_NOREF;
  return t;
}

tkl_task *tkl_task_new(tkl_pool *pool, tkl_buf *in) {
  return tkl_task_new_room(pool, in, 0);
}

tkl_task_extra *tkl_task_extra_peek(const tkl_task *t) {
  return atomic_load_explicit(&((tkl_task *)t)->extra, memory_order_acquire);
}

tkl_task_extra *tkl_task_extra_get(tkl_task *t) {
  tkl_task_extra *x = tkl_task_extra_peek(t);
  if (x == NULL && (x = calloc(1, sizeof *x)) != NULL)
    atomic_store_explicit(&t->extra, x, memory_order_release);
  return x;
}

/* Extra parts to free on this thread, and whether one is being freed: a
** task holds its dependencies, whose tasks hold theirs, so freeing the
** last of a chain of 100 000 jobs would recurse as deep. The outermost
** free frees them in a loop instead. */
static _Thread_local tkl_task_extra *extras_to_free;
static _Thread_local int freeing_extras;

static void free_extra(tkl_task_extra *x) {
  x->next_free = extras_to_free;
  extras_to_free = x;
  if (freeing_extras) return;
  freeing_extras = 1;
  while ((x = extras_to_free) != NULL) {
    extras_to_free = x->next_free;
    free(x->traceback);
    for (int i = 0; i < x->nafter; i++) tk_job_release(x->after[i]);
    free(x->after);
    for (int i = 0; i < x->nerrors; i++) free(x->attempt_errors[i]);
    free(x->attempt_errors);
    free(x);
  }
  freeing_extras = 0;
}

void tkl_task_free(void *arg) {
  tkl_task *t = arg;
  if (t == NULL) return;
  tkl_blob_free(&t->in);
  tkl_blob_free(&t->out);
  tkl_task_extra *x = tkl_task_extra_peek(t);
  if (x != NULL) free_extra(x);
  tkl_pool_release(t->pool);
  if (t->from_slab == FROM_TASK_SLAB) tk_slab_free(&task_slab, t);
  else if (t->from_slab == FROM_ROOMY_SLAB) tk_slab_free(&roomy_slab, t);
  else free(t);
}
