/*
** group.c - thread groups: the forest, their tasks and the jobs they list,
** joins, events, idle watches and activity (group.h has the layout and
** the locking).
** See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "park.h"

/* A registration of tk_group_on_idle: on its group's list until it has
** fired or is taken off. */
typedef struct idle_watch {
  struct idle_watch *next;       /* on the group's list (tk__tree_mu) */
  struct idle_watch *fire_next;  /* on the list its firing thread calls */
  uint64_t id;
  tk_cancel_fn fn;
  void *arg;
  struct tk_group *g;            /* holds a reference */
  int firing;                    /* tk__tree_mu; by `firer` */
  pthread_t firer;
} idle_watch;

pthread_mutex_t tk__tree_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tree_cv;   /* joins: some count went down */
static pthread_once_t tree_once = PTHREAD_ONCE_INIT;
tk_group_t *tk__roots_head;
static tk_group_t *roots_tail;
static unsigned long group_seq;
static uint64_t activity;        /* tk__tree_mu */
static uint64_t idle_seq;        /* tk__tree_mu: the last idle watch's id */

static void init_cv(void) {
  tk__cond_init(&tree_cv);
  TK_HG_RELEASE(&tree_once);
}

/* With tk__tree_mu held: appends g to a parent's children or to the roots. */
static void link_group(tk_group_t *g) {
  tk_group_t **head = g->parent ? &g->parent->child_head : &tk__roots_head;
  tk_group_t **tail = g->parent ? &g->parent->child_tail : &roots_tail;
  g->sib_prev = *tail;
  g->sib_next = NULL;
  if (*tail) (*tail)->sib_next = g;
  else *head = g;
  *tail = g;
}

static void unlink_group(tk_group_t *g) {
  tk_group_t **head = g->parent ? &g->parent->child_head : &tk__roots_head;
  tk_group_t **tail = g->parent ? &g->parent->child_tail : &roots_tail;
  if (g->sib_prev) g->sib_prev->sib_next = g->sib_next;
  else *head = g->sib_next;
  if (g->sib_next) g->sib_next->sib_prev = g->sib_prev;
  else *tail = g->sib_prev;
}

tk_group_t *tk_job_group(tk_job_t *job) {
  tk__job_ext *x = job ? tk__job_ext_peek(job) : NULL;
  if (x == NULL) return NULL;
  pthread_mutex_lock(&tk__tree_mu);
  tk_group_t *g = x->group;
  /* A group whose last reference just went is still listed until its
  ** release gets tk__tree_mu: it must not be brought back. */
  if (g != NULL && !tk__try_retain(&g->refs)) g = NULL;
  pthread_mutex_unlock(&tk__tree_mu);
  return g;
}

int tk_group_new(tk_pool_t *pool, const tk_group_opts_t *opts,
                 tk_group_t **out) {
  static const tk_group_opts_t defaults;
  if (out != NULL) *out = NULL;
  if (opts == NULL) opts = &defaults;
  if (pool == NULL || out == NULL || opts->max_concurrent < 0) return TK_EINVAL;
  TK_ONCE(&tree_once, init_cv);
  tk_group_t *g = tk__calloc(1, sizeof *g);
  if (g == NULL) return TK_ENOMEM;
  tk__atomic_init(&g->refs, 1);
  g->pool = pool;
  g->daemon = opts->daemon != 0;
  g->max = opts->max_concurrent;
  g->data = opts->data;
  g->data_free = opts->data_free;
  if (!g->daemon) g->parent = tk_job_group(tk_job_current());
  int rc = g->parent ? tk_token_new_child(g->parent->event, &g->event)
                     : tk_token_new(&g->event);
  char gen[32];
  pthread_mutex_lock(&tk__tree_mu);
  unsigned long n = ++group_seq;
  pthread_mutex_unlock(&tk__tree_mu);
  snprintf(gen, sizeof gen, "group-%lu", n);
  if (rc == 0 && (g->name = tk__strdup(opts->name ? opts->name : gen)) == NULL)
    rc = TK_ENOMEM;
  if (rc != 0) {
    tk_token_release(g->event);
    tk_group_release(g->parent);
    tk__free(g);
    return rc;
  }
  pthread_mutex_lock(&tk__tree_mu);
  link_group(g);
  pthread_mutex_unlock(&tk__tree_mu);
  *out = g;
  return 0;
}

void tk_group_retain(tk_group_t *g) {
  if (g != NULL) atomic_fetch_add(&g->refs, 1);
}

/* With tk__tree_mu held, after g's last reference went: takes it out of the
** tree and out of its jobs, so nothing can find it any more. */
static void forget_locked(tk_group_t *g) {
  unlink_group(g);
  for (size_t i = 0; i < g->nnodes; i++) {
    tk__job_ext *x = tk__job_ext_peek(g->nodes[i]->job);
    if (x != NULL && x->group == g) x->group = NULL;
  }
}

/* Without tk__tree_mu: frees a forgotten group. */
static void free_group(tk_group_t *g) {
  for (size_t i = 0; i < g->nnodes; i++) {
    tk_job_release(g->nodes[i]->job);
    tk__free(g->nodes[i]);
  }
  tk__free(g->nodes);
  tk_token_release(g->event);
  tk_group_release(g->parent);
  if (g->data_free != NULL) g->data_free(g->data);
  tk__free(g->name);
  tk__free(g);
}

void tk_group_release(tk_group_t *g) {
  if (g == NULL || !tk__ref_drop(&g->refs)) return;
  pthread_mutex_lock(&tk__tree_mu);
  forget_locked(g);
  pthread_mutex_unlock(&tk__tree_mu);
  free_group(g);
}

void *tk_group_data(const tk_group_t *g) { return g ? g->data : NULL; }

size_t tk_group_daemon_unfinished(void) {
  size_t n = 0;
  pthread_mutex_lock(&tk__tree_mu);
  for (tk_group_t *g = tk__roots_head; g != NULL; g = g->sib_next)
    if (g->daemon) n += g->subtree;
  pthread_mutex_unlock(&tk__tree_mu);
  return n;
}

/* With tk__tree_mu held: queues n to wait for a slot, behind every waiting
** task of the same or a higher priority. */
static void wait_insert(tk_group_t *g, gnode *n) {
  int prio = tk_job_priority(n->job);
  gnode *at = g->wait_tail;
  while (at != NULL && tk_job_priority(at->job) < prio) at = at->wprev;
  n->wprev = at;
  n->wnext = at ? at->wnext : g->wait_head;
  if (n->wnext) n->wnext->wprev = n;
  else g->wait_tail = n;
  if (at) at->wnext = n;
  else g->wait_head = n;
}

static void wait_unlink(tk_group_t *g, gnode *n) {
  if (n->wprev) n->wprev->wnext = n->wnext;
  else g->wait_head = n->wnext;
  if (n->wnext) n->wnext->wprev = n->wprev;
  else g->wait_tail = n->wprev;
  n->wnext = n->wprev = NULL;
}

/* With tk__tree_mu held, g just became idle: its watches go onto *fire, for
** this thread to call once it lets go of tk__tree_mu. */
static void claim_idle(tk_group_t *g, idle_watch **fire) {
  for (idle_watch *w = g->idle; w != NULL; w = w->next) {
    if (w->firing) continue;  /* another thread's, from an earlier idle */
    w->firing = 1;
    w->firer = pthread_self();
    w->fire_next = *fire;
    *fire = w;
  }
}

static void idle_unlink(idle_watch *w) {
  idle_watch **at = &w->g->idle;
  while (*at != w) at = &(*at)->next;
  *at = w->next;
}

/* Without tk__tree_mu: calls the watches claim_idle gathered, then takes them
** off their groups (tk_group_off_idle waits for that while one runs). */
static void fire_idle(idle_watch *fire) {
  if (fire == NULL) return;
  for (idle_watch *w = fire; w != NULL; w = w->fire_next) w->fn(w->arg);
  pthread_mutex_lock(&tk__tree_mu);
  for (idle_watch *w = fire; w != NULL; w = w->fire_next) idle_unlink(w);
  pthread_cond_broadcast(&tree_cv);
  pthread_mutex_unlock(&tk__tree_mu);
  while (fire != NULL) {
    idle_watch *w = fire;
    fire = w->fire_next;
    tk_group_release(w->g);
    tk__free(w);
  }
}

/* A task of the group ended: free its slot, let the next one in, and
** count it out of its group and every ancestor. */
static void on_finish(void *arg) {
  gnode *n = arg;
  tk_group_t *g = n->g;
  tk_job_t *open[16];
  size_t nopen = 0;
  pthread_mutex_lock(&tk__tree_mu);
  if (n->state == WAITING) wait_unlink(g, n);
  else if (n->state == GRANTED) g->running--;
  n->state = FINISHED;
  switch (tk_job_state(n->job)) {  /* final: set before this is called */
    case TK_JOB_COMPLETED: g->completed++; break;
    case TK_JOB_FAILED: g->failed++; break;
    default: g->cancelled++; break;
  }
  idle_watch *fire = NULL;
  for (tk_group_t *x = g; x != NULL; x = x->parent)
    if (--x->subtree == 0 && x->idle != NULL) claim_idle(x, &fire);
  int last = --g->outstanding == 0;
  /* Once the event is set, waiting tasks are being cancelled: letting one
  ** in now could start it before its own token hears of the event. */
  int closed = tk_token_is_cancelled(g->event);
  while (!closed && g->wait_head != NULL && g->running < g->max &&
         nopen < 16) {
    gnode *w = g->wait_head;
    wait_unlink(g, w);
    w->state = GRANTED;
    g->running++;
    tk_job_retain(w->job);
    open[nopen++] = w->job;
  }
  /* The group's hold on itself ends in the same hold of tk__tree_mu as its
  ** count: a join that sees the count done must not still list it. */
  int gone = last && tk__ref_drop(&g->refs);
  if (gone) forget_locked(g);
  activity++;
  pthread_cond_broadcast(&tree_cv);
  pthread_mutex_unlock(&tk__tree_mu);
  for (size_t i = 0; i < nopen; i++) {
    tk_job_open(open[i]);
    tk_job_release(open[i]);
  }
  fire_idle(fire);
  if (gone) free_group(g);
}

int tk_group_submit(tk_group_t *g, const tk_job_opts_t *opts, tk_task_fn fn,
                    void *arg, tk_job_t **out) {
  if (out != NULL) *out = NULL;
  if (g == NULL || fn == NULL) return TK_EINVAL;
  if (opts != NULL && (opts->token != NULL || opts->gated)) return TK_EINVAL;
  tk_job_opts_t o;
  if (opts != NULL) o = *opts;
  else memset(&o, 0, sizeof o);
  o.token = g->event;
  /* Always gated: the job must not start before the group has counted it
  ** and it knows its group (a join from inside it must see that). */
  o.gated = 1;
  gnode *n = tk__calloc(1, sizeof *n);
  tk__dep_node *done = tk__malloc(sizeof *done);  /* for on_finish below */
  if (n == NULL || done == NULL) {
    tk__free(n);
    tk__free(done);
    return TK_ENOMEM;
  }
  tk_job_t *job;
  int rc = tk_pool_submit(g->pool, &o, fn, arg, &job);
  if (rc != 0) {
    tk__free(n);
    tk__free(done);
    return rc;
  }
  n->job = job;  /* the group keeps the reference submit gave */
  n->g = g;
  int grant;
  pthread_mutex_lock(&tk__tree_mu);
  if (g->nnodes == g->capnodes) {
    size_t cap = g->capnodes ? g->capnodes * 2 : 16;
    gnode **nodes = tk__realloc(g->nodes, cap * sizeof *nodes);
    if (nodes == NULL) {
      pthread_mutex_unlock(&tk__tree_mu);
      tk_job_cancel(job);
      tk_job_open(job);
      tk_job_release(job);
      tk__free(n);
      tk__free(done);
      return TK_ENOMEM;
    }
    g->nodes = nodes;
    g->capnodes = cap;
  }
  g->nodes[g->nnodes++] = n;
  g->submitted++;
  tk__job_ext_peek(job)->group = g;
  if (g->outstanding++ == 0) tk_group_retain(g);  /* alive while it works */
  for (tk_group_t *x = g; x != NULL; x = x->parent) x->subtree++;
  grant = g->max == 0 || g->running < g->max;
  if (grant) {
    n->state = GRANTED;
    g->running++;
  } else {
    n->state = WAITING;
    wait_insert(g, n);
  }
  pthread_mutex_unlock(&tk__tree_mu);
  /* After it is listed: a job that already ended is counted out at once. */
  tk__job_on_finish_node(job, done, on_finish, n);
  if (grant) tk_job_open(job);
  if (out != NULL) {
    tk_job_retain(job);
    *out = job;
  }
  return 0;
}

int tk_group_set_event(tk_group_t *g) {
  if (g == NULL) return TK_EINVAL;
  tk_token_cancel(g->event);
  return 0;
}

int tk_group_event_is_set(const tk_group_t *g) {
  return g != NULL && tk_token_is_cancelled(g->event);
}

tk_token_t *tk_group_event(tk_group_t *g) { return g ? g->event : NULL; }

/* With tk__tree_mu held, every task of g finished (a join succeeded): the
** tasks the previous successful join waited for are forgotten, and those
** after it become the ones this join waited for. Without it a group that
** runs tasks all its life would keep every job it ever ran. A join with
** nothing new since the last one forgets nothing, so joins at once from
** several threads all see the same list. The forgotten nodes are
** returned in *dropped (n of them, to free without tk__tree_mu: releasing a
** job may free what holds a group), or NULL when there are none. */
static gnode **forget_joined(tk_group_t *g, size_t *n) {
  *n = 0;
  if (g->nnodes == g->joined) return NULL;
  size_t drop = g->joined;
  gnode **dropped = NULL;
  if (drop > 0 && (dropped = tk__malloc(drop * sizeof *dropped)) == NULL)
    return NULL;  /* without memory: forgotten at a later join */
  for (size_t i = 0; i < drop; i++) {
    dropped[i] = g->nodes[i];
    /* The job may outlive the group: it must not point to it. */
    tk__job_ext *x = tk__job_ext_peek(dropped[i]->job);
    if (x != NULL && x->group == g) x->group = NULL;
  }
  memmove(g->nodes, g->nodes + drop, (g->nnodes - drop) * sizeof *g->nodes);
  g->nnodes -= drop;
  g->joined = g->nnodes;
  /* A large round leaves no large array behind. */
  if (g->capnodes > 64 && g->nnodes < g->capnodes / 4) {
    size_t cap = g->nnodes * 2 > 16 ? g->nnodes * 2 : 16;
    gnode **smaller = tk__realloc(g->nodes, cap * sizeof *smaller);
    if (smaller != NULL) {
      g->nodes = smaller;
      g->capnodes = cap;
    }
  }
  *n = drop;
  return dropped;
}

static void free_dropped(gnode **dropped, size_t n) {
  for (size_t i = 0; i < n; i++) {
    tk_job_release(dropped[i]->job);
    tk__free(dropped[i]);
  }
  tk__free(dropped);
}

int tk_group_join(tk_group_t *g, double timeout) {
  if (g == NULL) return TK_EINVAL;
  TK_ONCE(&tree_once, init_cv);
  tk__job_ext *x = tk_job_current() ? tk__job_ext_peek(tk_job_current()) : NULL;
  uint64_t deadline = tk__deadline(timeout);
  int rc = 0;
  pthread_mutex_lock(&tk__tree_mu);
  for (tk_group_t *a = x ? x->group : NULL; a != NULL; a = a->parent) {
    if (a == g) {
      pthread_mutex_unlock(&tk__tree_mu);
      return TK_EBUSY;  /* one of its own tasks: it would wait for itself */
    }
  }
  int region = g->subtree > 0 && timeout != 0;
  if (region) {  /* on a worker: a spare meanwhile (pool mu comes first) */
    pthread_mutex_unlock(&tk__tree_mu);
    tk_pool_block_begin();
    pthread_mutex_lock(&tk__tree_mu);
  }
  while (g->subtree > 0) {
    if (tk__cond_wait(&tree_cv, &tk__tree_mu, deadline) == TK_ETIMEDOUT &&
        g->subtree > 0) {
      rc = TK_ETIMEDOUT;
      break;
    }
  }
  size_t ndropped = 0;
  gnode **dropped = rc == 0 ? forget_joined(g, &ndropped) : NULL;
  pthread_mutex_unlock(&tk__tree_mu);
  if (region) tk_pool_block_end();
  free_dropped(dropped, ndropped);
  return rc;
}

int tk_group_on_idle(tk_group_t *g, tk_cancel_fn fn, void *arg,
                     uint64_t *id) {
  if (id != NULL) *id = 0;
  if (g == NULL || fn == NULL) return TK_EINVAL;
  TK_ONCE(&tree_once, init_cv);
  idle_watch *w = tk__calloc(1, sizeof *w);
  if (w == NULL) return TK_ENOMEM;
  pthread_mutex_lock(&tk__tree_mu);
  if (g->subtree == 0) {
    pthread_mutex_unlock(&tk__tree_mu);
    tk__free(w);
    fn(arg);
    return 0;
  }
  w->fn = fn;
  w->arg = arg;
  w->g = g;
  tk_group_retain(g);  /* a group with tasks has a reference to take */
  w->id = ++idle_seq;
  w->next = g->idle;
  g->idle = w;
  if (id != NULL) *id = w->id;
  pthread_mutex_unlock(&tk__tree_mu);
  return 0;
}

int tk_group_off_idle(tk_group_t *g, uint64_t id) {
  if (g == NULL) return TK_EINVAL;
  TK_ONCE(&tree_once, init_cv);
  pthread_mutex_lock(&tk__tree_mu);
  idle_watch *w;
  for (;;) {
    for (w = g->idle; w != NULL && w->id != id; w = w->next) {}
    if (w == NULL || !w->firing) break;
    if (pthread_equal(w->firer, pthread_self())) break;  /* from fn itself */
    tk__cond_wait(&tree_cv, &tk__tree_mu, TK__NO_DEADLINE);  /* fn runs: wait */
  }
  if (w == NULL || w->firing) {
    pthread_mutex_unlock(&tk__tree_mu);
    return TK_ENOENT;
  }
  idle_unlink(w);
  pthread_mutex_unlock(&tk__tree_mu);
  tk_group_release(g);
  tk__free(w);
  return 0;
}

size_t tk_group_job_count(tk_group_t *g) {
  if (g == NULL) return 0;
  pthread_mutex_lock(&tk__tree_mu);
  size_t count = g->nnodes;
  pthread_mutex_unlock(&tk__tree_mu);
  return count;
}

size_t tk_group_jobs(tk_group_t *g, tk_job_t **out, size_t n) {
  if (g == NULL || out == NULL) return 0;
  pthread_mutex_lock(&tk__tree_mu);
  size_t written = g->nnodes < n ? g->nnodes : n;
  for (size_t i = 0; i < written; i++) {
    tk_job_retain(g->nodes[i]->job);
    out[i] = g->nodes[i]->job;
  }
  pthread_mutex_unlock(&tk__tree_mu);
  return written;
}

int tk_group_clear_pending(tk_group_t *g) {
  if (g == NULL) return TK_EINVAL;
  size_t cap = tk_group_job_count(g);
  tk_job_t **jobs = tk__malloc((cap ? cap : 1) * sizeof *jobs);
  if (jobs == NULL) return TK_ENOMEM;
  size_t n = tk_group_jobs(g, jobs, cap);  /* tasks added meanwhile: left */
  int cleared = 0;
  for (size_t i = 0; i < n; i++) {
    if (tk_job_state(jobs[i]) == TK_JOB_PENDING && tk_job_cancel(jobs[i]) == 0)
      cleared++;
    tk_job_release(jobs[i]);
  }
  tk__free(jobs);
  return cleared;
}

uint64_t tk_group_activity(void) {
  pthread_mutex_lock(&tk__tree_mu);
  uint64_t a = activity;
  pthread_mutex_unlock(&tk__tree_mu);
  return a;
}

void tk_group_poke(void) {
  TK_ONCE(&tree_once, init_cv);
  pthread_mutex_lock(&tk__tree_mu);
  activity++;
  pthread_cond_broadcast(&tree_cv);
  pthread_mutex_unlock(&tk__tree_mu);
}

int tk_group_wait_activity(uint64_t seen, double timeout) {
  TK_ONCE(&tree_once, init_cv);
  uint64_t deadline = tk__deadline(timeout);
  int rc = 0;
  tk_pool_block_begin();  /* on a worker: a spare meanwhile */
  pthread_mutex_lock(&tk__tree_mu);
  while (activity == seen) {
    if (tk__cond_wait(&tree_cv, &tk__tree_mu, deadline) == TK_ETIMEDOUT) {
      rc = activity == seen ? TK_ETIMEDOUT : 0;
      break;
    }
  }
  pthread_mutex_unlock(&tk__tree_mu);
  tk_pool_block_end();
  return rc;
}
