/*
** demo.c - a small task graph on threadkit's C core: fetch -> parse ->
** aggregate with priorities, a cancelled branch, a failure that cancels
** its dependents, a token deadline, and the pool's metrics.
** See LICENSE for copyright and licence.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threadkit.h"

static void pause_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int fetch(void *arg) {
  const char *src = arg;
  pause_ms(20);
  if (strcmp(src, "mirror-b") == 0)
    return tk_job_fail(tk_job_current(), "%s: connection refused", src);
  int *bytes = malloc(sizeof *bytes);
  if (bytes == NULL) return TK_ENOMEM;
  *bytes = (int)strlen(src) * 100;
  tk_job_set_result(tk_job_current(), bytes, free);
  return 0;
}

static int parse(void *arg) {
  (void)arg;
  pause_ms(10);
  return 0;
}

static int slow_report(void *arg) {
  (void)arg;
  /* Cooperative: checks its token while it works. */
  for (int i = 0; i < 200; i++) {
    if (tk_cancelled()) return TK_ECANCELED;
    pause_ms(5);
  }
  return 0;
}

static void show(const char *label, tk_job_t *j) {
  const char *err = tk_job_error(j);
  printf("  %-22s %-9s %s%s%s\n", label, tk_job_state_name(tk_job_state(j)),
         err ? "(" : "", err ? err : "", err ? ")" : "");
}

int main(void) {
  tk_pool_t *pool;
  tk_pool_opts_t po = {.workers = 2, .name = "demo"};
  if (tk_pool_new(&po, &pool) != 0) return 1;
  printf("threadkit %s demo: a task graph on a 2-worker pool\n",
         TK_VERSION_STRING);

  static char mirror_a[] = "mirror-a", mirror_b[] = "mirror-b";
  tk_job_opts_t o = {.priority = TK_HIGH, .name = "fetch mirror-a"};
  tk_job_t *fa, *fb, *pa, *pb, *agg, *report;
  tk_pool_submit(pool, &o, fetch, mirror_a, &fa);
  o.name = "fetch mirror-b";
  tk_pool_submit(pool, &o, fetch, mirror_b, &fb);

  tk_job_opts_t d = {.name = "parse a", .after = &fa, .n_after = 1};
  tk_pool_submit(pool, &d, parse, NULL, &pa);
  d.name = "parse b";
  d.after = &fb;
  tk_pool_submit(pool, &d, parse, NULL, &pb);
  tk_job_t *both[] = {pa, pb};
  d.name = "aggregate";
  d.after = both;
  d.n_after = 2;
  tk_pool_submit(pool, &d, parse, NULL, &agg);

  /* A low-priority report whose token has a 50 ms deadline. */
  tk_token_t *deadline;
  tk_token_new(&deadline);
  tk_token_set_deadline(deadline, 0.05);
  tk_job_opts_t r = {.priority = TK_LOW, .name = "report",
                     .token = deadline};
  tk_pool_submit(pool, &r, slow_report, NULL, &report);

  tk_pool_wait_all(pool, -1);
  printf("what happened:\n");
  show("fetch mirror-a", fa);
  show("fetch mirror-b", fb);
  show("parse a", pa);
  show("parse b", pb);
  show("aggregate", agg);
  show("report (50 ms budget)", report);
  printf("  mirror-a gave %d bytes in %.1f ms\n", *(int *)tk_job_result(fa),
         tk_job_execution_time(fa) * 1e3);

  tk_pool_metrics_t m;
  tk_pool_metrics(pool, &m);
  printf("metrics: submitted %llu, completed %llu, failed %llu, "
         "cancelled %llu, mean run %.1f ms\n",
         (unsigned long long)m.submitted, (unsigned long long)m.completed,
         (unsigned long long)m.failed, (unsigned long long)m.cancelled,
         m.mean_execution_time * 1e3);
  tk_job_t *all[] = {fa, fb, pa, pb, agg, report};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) tk_job_release(all[i]);
  tk_token_release(deadline);
  return tk_pool_free(pool) == 0 ? 0 : 1;
}
