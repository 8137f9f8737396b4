/*
** lruntime.c - what tklua asks of the process's pools: wait for the live
** ones, cancel them, print every pool's and group's figures (--stats,
** tk.stats). See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "lcallbacks.h"
#include "lopen.h"
#include "ltask.h"
#include "pool.h"
#include "tkl_runtime.h"

/* Waits until the live pools hold no work but daemon groups' (tklua, at the
** end of a script), running L's fired on_cancel callbacks meanwhile;
** returns how many daemon tasks are left. Daemon work
** never ends on its own, so it is counted, not waited for: a round sums
** every pool's unfinished jobs, waits a slice on a pool with more than
** daemon work, and the wait ends after two rounds that saw nothing but
** daemon work and no new submit anywhere. Ends early on Ctrl-C. */
size_t tkl_wait_live_pools(lua_State *L) {
  uint64_t last_submitted = UINT64_MAX;
  size_t daemon = 0;
  while (!tkl_interrupted()) {
    tkl_run_callbacks(L, NULL);  /* the main state's, fired meanwhile */
    size_t n;
    tkl_pool **all = tkl_live_pools(&n);
    daemon = tk_group_daemon_unfinished();
    uint64_t unfinished = 0, submitted = 0;
    tkl_pool *busy = NULL;
    for (size_t i = 0; i < n; i++) {
      tk_pool_metrics_t m;
      tk_pool_metrics(all[i]->pool, &m);
      unfinished += m.pending + m.running;
      submitted += m.submitted;
      if (busy == NULL && m.pending + m.running > 0) busy = all[i];
    }
    int calm = unfinished <= daemon;
    if (!calm && busy != NULL) tk_pool_wait_all(busy->pool, 0.05);
    tkl_live_pools_free(all, n);
    if (calm && submitted == last_submitted) break;
    last_submitted = calm ? submitted : UINT64_MAX;
  }
  return daemon;
}

/* Cancels everything in every live pool (tklua on Ctrl-C, at the end of a
** failed script, and for daemon work at the end of any script). On_cancel
** callbacks run here and may submit or make pools: no lock is held. */
void tkl_cancel_live_pools(void) {
  size_t n;
  tkl_pool **all = tkl_live_pools(&n);
  for (size_t i = 0; i < n; i++) tk_pool_shutdown(all[i]->pool, 0, 1);
  tkl_live_pools_free(all, n);
}

/* The REPL after Ctrl-C stopped all work (tk_lua_stop_all): waits up to
** `timeout` s in all for the live pools' stopped tasks to end, closes those
** pools and forgets the default one. 0 if a task still ran at the end. */
int tkl_settle_stop(lua_State *L, double timeout) {
  uint64_t deadline = tk_deadline_ns(timeout);
  int settled = 1;
  size_t n;
  tkl_pool **all = tkl_live_pools(&n);
  for (size_t i = 0; i < n; i++) {
    uint64_t now = tk_now_ns();
    double left = now < deadline ? (double)(deadline - now) / 1e9 : 0;
    if (tk_pool_wait_all(all[i]->pool, left) != 0) settled = 0;
    tkl_pool_shut(all[i], 1, 0);
  }
  tkl_live_pools_free(all, n);
  tkl_forget_default_pool(L);
  return settled;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Mean, p50 and p99 (ms) of n values, sorted in place. */
static void summary(double *v, size_t n, double out[3]) {
  out[0] = out[1] = out[2] = 0;
  if (n == 0) return;
  qsort(v, n, sizeof *v, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i];
  out[0] = sum / (double)n * 1e3;
  /* Nearest rank: the smallest value with at least q of them at or below. */
  size_t r50 = (n + 1) / 2, r99 = (size_t)((double)n * 0.99 + 0.999999);
  out[1] = v[(r50 ? r50 : 1) - 1] * 1e3;
  out[2] = v[(r99 ? r99 : 1) - 1] * 1e3;
}

static void print_group(FILE *f, tk_group_t *g, int depth) {
  size_t n = tk_group_job_count(g);
  tk_job_t **jobs = malloc((n ? n : 1) * sizeof *jobs);
  double *run = malloc((n ? n : 1) * sizeof *run);
  double *wait = malloc((n ? n : 1) * sizeof *wait);
  if (jobs == NULL || run == NULL || wait == NULL) {
    free(jobs);
    free(run);
    free(wait);
    return;
  }
  size_t got = tk_group_jobs(g, jobs, n);  /* <= n */
  size_t c[5] = {0, 0, 0, 0, 0}, nr = 0, nw = 0;
  for (size_t i = 0; i < got; i++) {
    c[tk_job_state(jobs[i])]++;
    double e = tk_job_execution_time(jobs[i]), q = tk_job_queue_wait(jobs[i]);
    if (e >= 0) run[nr++] = e;
    if (q >= 0) wait[nw++] = q;
    tk_job_release(jobs[i]);
  }
  /* Finished tasks over the group's life (its joins forget old ones);
  ** the times are those of the tasks it still lists. */
  tk_group_totals(g, NULL, &c[2], &c[3], &c[4]);
  double rs[3], ws[3];
  summary(run, nr, rs);
  summary(wait, nw, ws);
  fprintf(f, "  %*s%-*s %7zu %7zu %9zu %6zu %9zu  %7.2f %7.2f %7.2f  %7.2f %7.2f %7.2f\n",
          depth * 2, "", 20 - depth * 2, tk_group_name(g), c[0], c[1], c[2],
          c[3], c[4], ws[0], ws[1], ws[2], rs[0], rs[1], rs[2]);
  free(jobs);
  free(run);
  free(wait);
  size_t nk = tk_group_child_count(g);
  tk_group_t **kids = malloc((nk ? nk : 1) * sizeof *kids);
  if (kids == NULL) return;
  size_t gk = tk_group_children(g, kids, nk);  /* <= nk */
  for (size_t i = 0; i < gk; i++) {
    print_group(f, kids[i], depth + 1);
    tk_group_release(kids[i]);
  }
  free(kids);
}

static void print_pool(FILE *f, const char *name, const tk_pool_metrics_t *m) {
  fprintf(f, "  %-20s %7d %9llu %9llu %6llu %9llu %6llu %9.0f  %7.2f %7.2f %7.2f  %7.2f %7.2f %7.2f\n",
          name, m->workers, (unsigned long long)m->submitted,
          (unsigned long long)m->completed, (unsigned long long)m->failed,
          (unsigned long long)m->cancelled, (unsigned long long)m->peak_pending,
          m->uptime > 0 ? (double)(m->completed + m->failed) / m->uptime : 0,
          m->mean_queue_wait * 1e3, m->p50_queue_wait * 1e3,
          m->p99_queue_wait * 1e3, m->mean_execution_time * 1e3,
          m->p50_execution_time * 1e3, m->p99_execution_time * 1e3);
}

/* tklua --stats: every pool (closed ones too), then every group still
** alive, as tables. */
void tkl_print_stats(FILE *f) {
  fprintf(f, "threadkit stats (times in ms; pool percentiles within a factor "
             "of 1.4)\n");
  fprintf(f, "  %-20s %7s %9s %9s %6s %9s %6s %9s  %23s  %23s\n", "pool",
          "workers", "submitted", "completed", "failed", "cancelled", "peak",
          "jobs/s", "queue wait mean/p50/p99", "run time mean/p50/p99");
  tkl_closed_pool closed[TKL_MAX_CLOSED];
  size_t nc = tkl_closed_pools(closed);
  for (size_t i = 0; i < nc; i++) print_pool(f, closed[i].name, &closed[i].m);
  size_t nl;
  tkl_pool **all = tkl_live_pools(&nl);
  for (size_t i = 0; i < nl; i++) {
    tk_pool_metrics_t m;
    tk_pool_metrics(all[i]->pool, &m);
    print_pool(f, all[i]->name, &m);
  }
  tkl_live_pools_free(all, nl);
  size_t n = tk_group_child_count(NULL);
  if (n == 0) return;
  fprintf(f, "  %-20s %7s %7s %9s %6s %9s  %23s  %23s\n", "group", "pending",
          "running", "completed", "failed", "cancelled",
          "queue wait mean/p50/p99", "run time mean/p50/p99");
  tk_group_t **roots = malloc(n * sizeof *roots);
  if (roots == NULL) return;
  size_t got = tk_group_children(NULL, roots, n);  /* <= n */
  for (size_t i = 0; i < got; i++) {
    print_group(f, roots[i], 0);
    tk_group_release(roots[i]);
  }
  free(roots);
}

/* tk.stats() --> the --stats table as text */
static int l_stats(lua_State *L) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL) return luaL_error(L, "not enough memory");
  tkl_print_stats(f);
  fclose(f);
  lua_pushlstring(L, text, len);
  free(text);
  return 1;
}

void tkl_open_stats(lua_State *L) {
  lua_pushcfunction(L, l_stats);
  lua_setfield(L, -2, "stats");
}
