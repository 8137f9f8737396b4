/*
** pool_metrics.c - a snapshot of a pool's counts and percentiles.
** See LICENSE for copyright and licence.
*/
#include <string.h>

#include "pool_layout.h"

/* The q-quantile (0..1) of a histogram, as seconds: the geometric middle
** of the bucket it falls in. */
static double quantile(const uint64_t *h, uint64_t total, double q) {
  if (total == 0) return 0;
  uint64_t want = (uint64_t)((double)total * q), seen = 0;
  if (want >= total) want = total - 1;
  for (int b = 0; b < TK__HIST; b++) {
    seen += h[b];
    if (seen > want) return (double)(1ull << b) * 1.41421356 / 1e9;
  }
  return 0;
}

int tk_pool_metrics(tk_pool_t *pool, tk_pool_metrics_t *m) {
  if (pool == NULL || m == NULL) return TK_EINVAL;
  memset(m, 0, sizeof *m);
  uint64_t exec_ns = 0, wait_ns = 0, ran = 0, taken = 0;
  tk__pool_lock(pool);
  uint64_t calls = atomic_load_explicit(&pool->calls_submitted,
                                        memory_order_relaxed);
  m->submitted = pool->submitted - pool->quiet_submitted + calls;
  m->peak_pending = pool->peak_pending;
  m->cancelled = pool->cancelled;
  m->schedules = pool->nhooks;
  uint64_t he[TK__HIST] = {0}, hw[TK__HIST] = {0};
  int n = tk__pool_nslots(pool);  /* spares count what they ran too */
  for (int i = 0; i < n; i++) {
    worker *w = tk__pool_worker_at(pool, i);
    for (int b = 0; w != NULL && b < TK__HIST; b++) {
      he[b] += atomic_load_explicit(&w->hist_exec[b], memory_order_relaxed);
      hw[b] += atomic_load_explicit(&w->hist_wait[b], memory_order_relaxed);
    }
  }
  m->uptime = (double)(tk__now_ns() - pool->born) / 1e9;
  for (int i = 0; i < n; i++) {
    worker *w = tk__pool_worker_at(pool, i);
    if (w == NULL) continue;
    m->completed += atomic_load_explicit(&w->completed, memory_order_relaxed);
    m->failed += atomic_load_explicit(&w->failed, memory_order_relaxed);
    m->cancelled += atomic_load_explicit(&w->cancelled, memory_order_relaxed);
    ran += atomic_load_explicit(&w->ran, memory_order_relaxed);
    exec_ns += atomic_load_explicit(&w->exec_ns, memory_order_relaxed);
    wait_ns += atomic_load_explicit(&w->wait_ns, memory_order_relaxed);
    taken += atomic_load_explicit(&w->calls_taken, memory_order_relaxed);
  }
  /* Calls not yet taken by a quiet job count as pending (taken is read
  ** after calls: a call is never taken before it is counted). */
  int64_t pending = pool->pending - pool->quiet_pending + (int64_t)calls -
                    (int64_t)pool->calls_dropped - (int64_t)taken;
  m->pending = pending > 0 ? (uint64_t)pending : 0;
  m->spares = pool->active_spares;
  tk__pool_unlock(pool);
  /* The counts are read one after another while jobs move on: a job may
  ** be counted final by its worker before it leaves `busy`, or before the
  ** drain that counts its submit. So a snapshot balances by construction:
  ** `running` is what is neither final nor pending, and no count exceeds
  ** what was submitted. At quiescence every count is exact. */
  uint64_t finals = m->completed + m->failed + m->cancelled;
  if (finals > m->submitted) m->submitted = finals;
  if (m->pending > m->submitted - finals) m->pending = m->submitted - finals;
  m->running = m->submitted - finals - m->pending;
  m->workers = pool->nworkers;
  m->total_execution_time = (double)exec_ns / 1e9;
  m->mean_execution_time = ran ? m->total_execution_time / (double)ran : 0;
  m->mean_queue_wait = ran ? (double)wait_ns / 1e9 / (double)ran : 0;
  m->p50_execution_time = quantile(he, ran, 0.5);
  m->p99_execution_time = quantile(he, ran, 0.99);
  m->p50_queue_wait = quantile(hw, ran, 0.5);
  m->p99_queue_wait = quantile(hw, ran, 0.99);
  return 0;
}

