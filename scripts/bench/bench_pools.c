/*
** bench_pools.c - threadkit's pool against peers, side by side in one run:
**   W1  N no-op fire-and-forget jobs, one submitter, 2 workers, until all ran
**   W2  the same with job handles, then waiting on every handle (threadkit)
**   W3  wake-up latency of an idle pool (p50, p99) and idle CPU use
**   W4  1000 jobs of random priority behind a gate, 1 worker: exact order?
** Peers: GLib GThreadPool (unsorted, sorted), libuv uv_queue_work
** (UV_THREADPOOL_SIZE=2), naive mutex+condvar pools (FIFO, heap).
** Medians of ROUNDS rounds, backends interleaved within each round.
** See LICENSE for copyright and licence.
*/
#define _GNU_SOURCE
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "naive_pool.h"
#include "threadkit.h"

#define ROUNDS 5
#define W3_SAMPLES 300

static long N = 1000000;         /* W1/W2 jobs; BENCH_N overrides */
static long N_SORTED = 0;        /* 0: same as N; BENCH_N_SORTED sets it */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* {====================================================== the job body */

typedef struct event {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int set;
} event;

typedef struct ctx {
  atomic_long done;
  long n;
  event ev;                      /* set by the job that makes done == n */
  double started;                /* W3: when the job started */
  int *log;                      /* W4: values in run order */
  atomic_int logn;
  event gate;                    /* W4: the first job waits here */
} ctx;

typedef struct item {
  ctx *c;
  int prio;
  long seq;                      /* W4: -1 marks the gate job */
} item;

static void ev_init(event *e) {
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  e->set = 0;
}

static void ev_set(event *e) {
  pthread_mutex_lock(&e->mu);
  e->set = 1;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

static void ev_wait(event *e) {
  pthread_mutex_lock(&e->mu);
  while (!e->set) pthread_cond_wait(&e->cv, &e->mu);
  pthread_mutex_unlock(&e->mu);
}

static void ctx_init(ctx *c, long n) {
  memset(c, 0, sizeof *c);
  c->n = n;
  ev_init(&c->ev);
  ev_init(&c->gate);
}

static void body(void *arg) {
  item *it = arg;
  ctx *c = it->c;
  if (it->seq == -1) ev_wait(&c->gate);
  if (c->log != NULL && it->seq >= 0)
    c->log[atomic_fetch_add(&c->logn, 1)] = it->prio * 1000000 + (int)it->seq;
  if (c->n == 1) c->started = now();
  if (atomic_fetch_add_explicit(&c->done, 1, memory_order_acq_rel) + 1 == c->n)
    ev_set(&c->ev);
}

/* }====================================================== */

/* {====================================================== backends */

typedef struct backend {
  const char *name;
  int sorted;                    /* honours priorities */
  void *(*create)(int workers);
  void (*post)(void *p, item *it);
  void (*reap)(void *p);         /* libuv: run the loop's after-callbacks */
  void (*destroy)(void *p);
  long max_n;                    /* cap on W1 size (0: none) */
} backend;

static void tk_body(void *arg, int status) {
  (void)status;
  body(arg);
}
static void *tk_create(int w) {
  tk_pool_opts_t o = {.workers = w, .name = "bench"};
  tk_pool_t *p;
  return tk_pool_new(&o, &p) == 0 ? p : NULL;
}
static void tk_post(void *p, item *it) { tk_pool_post(p, it->prio, tk_body, it); }
static void no_reap(void *p) { (void)p; }
static void tk_destroy(void *p) { tk_pool_free(p); }

static void *naive_fifo_create(int w) { return naive_new(w, 0); }
static void *naive_heap_create(int w) { return naive_new(w, 1); }
static void naive_do_post(void *p, item *it) {
  naive_post(p, it->prio, body, it);
}
static void naive_destroy(void *p) { naive_free(p); }

static void glib_body(gpointer data, gpointer user) {
  (void)user;
  body(data);
}
static gint glib_cmp(gconstpointer a, gconstpointer b, gpointer user) {
  (void)user;
  const item *x = a, *y = b;
  if (x->seq == -1) return -1;  /* the gate job stays first */
  if (y->seq == -1) return 1;
  if (x->prio != y->prio) return x->prio > y->prio ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}
static void *glib_create(int w) {
  return g_thread_pool_new(glib_body, NULL, w, TRUE, NULL);
}
static void *glib_sorted_create(int w) {
  GThreadPool *p = g_thread_pool_new(glib_body, NULL, w, TRUE, NULL);
  g_thread_pool_set_sort_function(p, glib_cmp, NULL);
  return p;
}
static void glib_post(void *p, item *it) { g_thread_pool_push(p, it, NULL); }
static void glib_destroy(void *p) { g_thread_pool_free(p, FALSE, TRUE); }

typedef struct uvpool {
  uv_loop_t loop;
  uv_work_t *reqs;
  long nreq, cap;
} uvpool;
static void uv_work(uv_work_t *r) { body(r->data); }
static void uv_after(uv_work_t *r, int status) {
  (void)r;
  (void)status;
}
static void *uv_create(int w) {
  (void)w;  /* libuv's pool is process-wide: UV_THREADPOOL_SIZE=2 */
  uvpool *u = calloc(1, sizeof *u);
  uv_loop_init(&u->loop);
  return u;
}
static void uv_post(void *p, item *it) {
  uvpool *u = p;
  if (u->nreq == u->cap) {
    /* Requests must stay put until reaped: grow in fresh blocks. */
    u->cap = u->cap ? u->cap * 2 : 1024;
    u->reqs = calloc((size_t)u->cap, sizeof *u->reqs);
    u->nreq = 0;
    /* old blocks are kept alive by the loop until reap; leak-free below */
  }
  uv_work_t *r = &u->reqs[u->nreq++];
  r->data = it;
  uv_queue_work(&u->loop, r, uv_work, uv_after);
}
static void uv_reap(void *p) {
  uvpool *u = p;
  uv_run(&u->loop, UV_RUN_DEFAULT);
}
static void uv_destroy(void *p) {
  uvpool *u = p;
  uv_loop_close(&u->loop);
  free(u);
}

static backend backends[] = {
    {"threadkit", 1, tk_create, tk_post, no_reap, tk_destroy, 0},
    {"naive-fifo", 0, naive_fifo_create, naive_do_post, no_reap, naive_destroy, 0},
    {"naive-heap", 1, naive_heap_create, naive_do_post, no_reap, naive_destroy, 0},
    {"glib", 0, glib_create, glib_post, no_reap, glib_destroy, 0},
    {"glib-sorted", 1, glib_sorted_create, glib_post, no_reap, glib_destroy, 1},
    {"libuv", 0, uv_create, uv_post, uv_reap, uv_destroy, 0},
};
#define NB ((int)(sizeof backends / sizeof backends[0]))

/* }====================================================== */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The libuv backend leaks its request blocks on growth; keep them all. */
static void **uv_blocks;
static long uv_nblocks;

/* W1: jobs/s for one backend. */
static double w1(backend *b) {
  long n = b->max_n ? N_SORTED : N;
  void *p = b->create(2);
  ctx c;
  ctx_init(&c, n);
  item it = {&c, TK_NORMAL, 0};
  double t0 = now();
  for (long i = 0; i < n; i++) b->post(p, &it);
  b->reap(p);
  ev_wait(&c.ev);
  double dt = now() - t0;
  if (b->post == uv_post) {
    uvpool *u = p;
    uv_blocks = realloc(uv_blocks, (size_t)(uv_nblocks + 1) * sizeof *uv_blocks);
    uv_blocks[uv_nblocks++] = u->reqs;
  }
  b->destroy(p);
  return (double)n / dt;
}

static int tk_noop(void *arg) {
  (void)arg;
  return 0;
}

/* W2: threadkit with handles: submit N, wait on each, release. */
static double w2(void) {
  tk_pool_t *p = tk_create(2);
  tk_job_t **jobs = malloc((size_t)N * sizeof *jobs);
  double t0 = now();
  for (long i = 0; i < N; i++) tk_pool_submit(p, NULL, tk_noop, NULL, &jobs[i]);
  for (long i = 0; i < N; i++) {
    tk_job_wait(jobs[i], -1);
    tk_job_release(jobs[i]);
  }
  double dt = now() - t0;
  free(jobs);
  tk_pool_free(p);
  return (double)N / dt;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* W3: latency samples (us) of single jobs posted to an idle pool. */
static void w3(backend *b, double *p50, double *p99, double *idle_cpu) {
  void *p = b->create(2);
  double lat[W3_SAMPLES];
  for (int i = 0; i < W3_SAMPLES; i++) {
    pause_s(0.002);  /* let the workers go idle */
    ctx c;
    ctx_init(&c, 1);
    item it = {&c, TK_NORMAL, 0};
    double t0 = now();
    b->post(p, &it);
    ev_wait(&c.ev);
    lat[i] = (c.started - t0) * 1e6;
    b->reap(p);
  }
  *p99 = (qsort(lat, W3_SAMPLES, sizeof *lat, cmp_double),
          lat[W3_SAMPLES * 99 / 100]);
  *p50 = lat[W3_SAMPLES / 2];
  double c0 = cpu_seconds(), t0 = now();
  pause_s(0.5);
  *idle_cpu = (cpu_seconds() - c0) / (now() - t0) * 100;
  b->destroy(p);
}

/* W4: 1 worker, a gate job, then 1000 random priorities. Returns the number
** of adjacent pairs out of (priority desc, submission asc) order. */
static long w4(backend *b, double *secs) {
  enum { M = 1000 };
  void *p = b->create(1);
  ctx c;
  ctx_init(&c, M + 1);
  int log[M];
  c.log = log;
  item gate = {&c, 100, -1}, items[M];
  b->post(p, &gate);
  srand(99);
  for (int i = 0; i < M; i++) {
    items[i] = (item){&c, rand() % 5 - 2, i};
  }
  double t0 = now();
  for (int i = 0; i < M; i++) b->post(p, &items[i]);
  ev_set(&c.gate);
  b->reap(p);
  ev_wait(&c.ev);
  *secs = now() - t0;
  long bad = 0;
  for (int i = 1; i < M; i++) {
    int pa = (log[i - 1] + 3000000) / 1000000, pb = (log[i] + 3000000) / 1000000;
    int sa = (log[i - 1] + 3000000) % 1000000, sb = (log[i] + 3000000) % 1000000;
    if (pb > pa || (pb == pa && sb < sa)) bad++;
  }
  b->destroy(p);
  return bad;
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  setenv("UV_THREADPOOL_SIZE", "2", 1);
  if (getenv("BENCH_N")) N = atol(getenv("BENCH_N"));
  if (getenv("BENCH_N_SORTED")) N_SORTED = atol(getenv("BENCH_N_SORTED"));
  if (N_SORTED <= 0 || N < N_SORTED) N_SORTED = N;
  double r1[NB][ROUNDS], r2[ROUNDS];
  printf("threadkit bench: %ld jobs, %d rounds, medians (GLib sorted: %ld jobs)\n",
         N, ROUNDS, N_SORTED);
  for (int r = 0; r < ROUNDS; r++) {
    for (int k = 0; k < NB; k++) r1[k][r] = w1(&backends[k]);
    r2[r] = w2();
    fprintf(stderr, "  round %d done\n", r + 1);
  }
  double tk1 = median(r1[0], ROUNDS);
  printf("\nW1 fire-and-forget, 1 submitter, 2 workers\n");
  printf("  %-12s %12s %14s\n", "pool", "jobs/s", "threadkit is");
  for (int k = 0; k < NB; k++) {
    double m = median(r1[k], ROUNDS);
    printf("  %-12s %12.0f %13.2fx\n", backends[k].name, m, tk1 / m);
  }
  printf("\nW2 threadkit with handles, then waiting on each: %.0f jobs/s "
         "(goal 3000000)\n", median(r2, ROUNDS));

  printf("\nW3 wake-up latency of an idle pool (%d samples)\n", W3_SAMPLES);
  printf("  %-12s %10s %10s %12s\n", "pool", "p50 us", "p99 us", "idle CPU %");
  for (int k = 0; k < NB; k++) {
    double a, b, c;
    w3(&backends[k], &a, &b, &c);
    printf("  %-12s %10.1f %10.1f %12.2f\n", backends[k].name, a, b, c);
  }

  printf("\nW4 1000 random priorities behind a gate, 1 worker\n");
  printf("  %-12s %16s %10s\n", "pool", "out of order", "ms");
  for (int k = 0; k < NB; k++) {
    double s;
    long bad = w4(&backends[k], &s);
    printf("  %-12s %16ld %10.2f%s\n", backends[k].name, bad, s * 1e3,
           backends[k].sorted ? "" : "   (no priorities)");
  }
  for (long i = 0; i < uv_nblocks; i++) free(uv_blocks[i]);
  free(uv_blocks);
  return 0;
}
