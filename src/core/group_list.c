/*
** group_list.c - what a group tells of itself: its name, parent and
** children, its tasks by state and over its life. See LICENSE for copyright and
** licence.
*/
#include "group.h"

const char *tk_group_name(const tk_group_t *g) { return g ? g->name : NULL; }

tk_group_t *tk_group_parent(tk_group_t *g) {
  if (g == NULL || g->parent == NULL) return NULL;
  tk_group_retain(g->parent);
  return g->parent;
}

int tk_group_max_concurrent(const tk_group_t *g) { return g ? g->max : 0; }

size_t tk_group_child_count(tk_group_t *g) {
  size_t count = 0;
  pthread_mutex_lock(&tk__tree_mu);
  for (tk_group_t *c = g ? g->child_head : tk__roots_head; c; c = c->sib_next)
    if (atomic_load(&c->refs) > 0) count++;  /* not one being freed */
  pthread_mutex_unlock(&tk__tree_mu);
  return count;
}

size_t tk_group_children(tk_group_t *g, tk_group_t **out, size_t n) {
  size_t written = 0;
  if (out == NULL) return 0;
  pthread_mutex_lock(&tk__tree_mu);
  for (tk_group_t *c = g ? g->child_head : tk__roots_head; c && written < n;
       c = c->sib_next) {
    /* Skip a group being freed (see tk_job_group). */
    if (tk__try_retain(&c->refs)) out[written++] = c;
  }
  pthread_mutex_unlock(&tk__tree_mu);
  return written;
}

void tk_group_counts(tk_group_t *g, size_t *pending, size_t *running,
                     size_t *done) {
  size_t p = 0, r = 0, d = 0;
  if (g != NULL) {
    pthread_mutex_lock(&tk__tree_mu);
    /* Unfinished tasks are always listed (a join forgets finished ones
    ** only); the finished are counted over the group's life, and so are
    ** jobs just final that the group has not counted out yet. */
    d = g->completed + g->failed + g->cancelled;
    for (size_t i = 0; i < g->nnodes; i++) {
      tk_job_state_t st = tk_job_state(g->nodes[i]->job);
      if (st == TK_JOB_PENDING) p++;
      else if (st == TK_JOB_RUNNING) r++;
      else if (g->nodes[i]->state != FINISHED) d++;
    }
    pthread_mutex_unlock(&tk__tree_mu);
  }
  if (pending) *pending = p;
  if (running) *running = r;
  if (done) *done = d;
}

void tk_group_totals(tk_group_t *g, size_t *submitted, size_t *completed,
                     size_t *failed, size_t *cancelled) {
  size_t s = 0, c = 0, f = 0, x = 0;
  if (g != NULL) {
    pthread_mutex_lock(&tk__tree_mu);
    s = g->submitted;
    c = g->completed;
    f = g->failed;
    x = g->cancelled;
    pthread_mutex_unlock(&tk__tree_mu);
  }
  if (submitted) *submitted = s;
  if (completed) *completed = c;
  if (failed) *failed = f;
  if (cancelled) *cancelled = x;
}

