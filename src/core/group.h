/*
** group.h - the layout of thread groups, shared by group.c (the forest,
** tasks, joins, events) and group_list.c (listings and counts). Private to
** src/core. See LICENSE for copyright and licence.
**
** One mutex (tk__tree_mu) guards the whole forest: the links between
** groups, every group's lists and counters, and the jobs' group pointers.
** Groups are not on the hot path of a task; one lock keeps the tree
** consistent without lock ordering between groups. Events are tokens: a
** child group's event is a child token of its parent's, and a task's
** token a child of its group's event, so setting an event reaches exactly
** the subtree.
*/
#ifndef TK_GROUP_H
#define TK_GROUP_H

#include <pthread.h>

#include "job.h"

/* A task's place in its group. */
enum { WAITING, GRANTED, FINISHED };

struct idle_watch;

typedef struct gnode {
  tk_job_t *job;                 /* holds a reference */
  struct tk_group *g;
  int state;
  struct gnode *wnext, *wprev;   /* waiting list, by priority then FIFO */
} gnode;

struct tk_group {
  atomic_int refs;
  char *name;
  tk_pool_t *pool;
  struct tk_group *parent;       /* holds a reference; NULL for a root */
  int daemon, max;
  tk_token_t *event;             /* owned */
  void *data;
  void (*data_free)(void *);
  /* tk__tree_mu: */
  struct tk_group *child_head, *child_tail, *sib_next, *sib_prev;
  /* The tasks it lists, in submission order: nodes[0..joined) are those
  ** the last successful join waited for, the rest came after it (see
  ** forget_joined). */
  gnode **nodes;
  size_t nnodes, capnodes, joined;
  /* Over the group's whole life (metrics, stats, the tree). */
  size_t submitted, completed, failed, cancelled;
  gnode *wait_head, *wait_tail;  /* tasks waiting for a slot */
  int running;                   /* granted and not finished */
  size_t outstanding;            /* own tasks not finished */
  size_t subtree;                /* own and descendants' not finished */
  struct idle_watch *idle;       /* to call once subtree is 0 */
};

/* Guards every group and the links between them. */
TK_INTERNAL extern pthread_mutex_t tk__tree_mu;
/* The first root of the forest (tk__tree_mu). */
TK_INTERNAL extern tk_group_t *tk__roots_head;

#endif
