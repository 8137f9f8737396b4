/*
** ltrace.c - tracing: tk.trace_start(path) / tk.trace_stop() and tklua's
** --trace write a Chrome trace-event JSON file (Perfetto, chrome://tracing):
** a track per worker, a slice per task, flow arrows for dependencies,
** instant events for cancellations and group events. Off, it costs one
** atomic load per job (the core's finish hook is unset).
** See LICENSE for copyright and licence.
*/
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tkl.h"

typedef struct rec {
  const void *id;                /* the job */
  char *name, *error, *group;
  int tid;                       /* worker index + 1; 0: ended off-worker */
  int state, priority;
  double start, end;             /* monotonic seconds; start 0: never ran */
  const void **deps;
  int ndeps;
} rec;

typedef struct mark {
  char *what;
  double t;
} mark;

static pthread_mutex_t tr_mu = PTHREAD_MUTEX_INITIALIZER;
static rec *recs;                /* tr_mu */
static size_t nrecs, caprecs;
static mark *marks;
static size_t nmarks, capmarks;
static FILE *trace_out;           /* opened at start: a bad path fails early */
static double trace_t0;
static int tracing;              /* tr_mu */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void on_finish(tk_job_t *job) {
  rec r;
  memset(&r, 0, sizeof r);
  r.id = job;
  r.name = dup_or_null(tk_job_name(job));
  r.error = dup_or_null(tk_job_error(job));
  tk_group_t *g = tk_job_group(job);
  r.group = g ? dup_or_null(tk_group_name(g)) : NULL;
  tk_group_release(g);
  r.state = tk_job_state(job);
  r.priority = tk_job_priority(job);
  r.start = tk_job_execution_time(job) >= 0 ? tk_job_started_at(job) : 0;
  r.end = tk_job_finished_at(job);
  r.tid = r.start > 0 ? tk_worker_index() + 1 : 0;
  tkl_task *t = tkl_task_of(job);
  tkl_task_extra *x = t != NULL ? tkl_task_extra_peek(t) : NULL;
  if (x != NULL && x->nafter > 0 &&
      (r.deps = malloc((size_t)x->nafter * sizeof *r.deps)) != NULL) {
    for (int i = 0; i < x->nafter; i++) r.deps[i] = x->after[i];
    r.ndeps = x->nafter;
  }
  pthread_mutex_lock(&tr_mu);
  if (tracing && nrecs == caprecs) {
    size_t cap = caprecs ? caprecs * 2 : 1024;
    rec *n = realloc(recs, cap * sizeof *n);
    if (n != NULL) {
      recs = n;
      caprecs = cap;
    }
  }
  int kept = tracing && nrecs < caprecs;
  if (kept) recs[nrecs++] = r;
  pthread_mutex_unlock(&tr_mu);
  if (!kept) {
    free(r.name);
    free(r.error);
    free(r.group);
    free(r.deps);
  }
}

/* A group event, from the Lua layer (set_event_for_child_tasks and a
** condition that held). */
void tkl_trace_mark(const char *what) {
  pthread_mutex_lock(&tr_mu);
  if (tracing && nmarks == capmarks) {
    size_t cap = capmarks ? capmarks * 2 : 64;
    mark *n = realloc(marks, cap * sizeof *n);
    if (n != NULL) {
      marks = n;
      capmarks = cap;
    }
  }
  if (tracing && nmarks < capmarks) {
    marks[nmarks].what = strdup(what);
    marks[nmarks].t = tkl_now();
    if (marks[nmarks].what != NULL) nmarks++;
  }
  pthread_mutex_unlock(&tr_mu);
}

/* Starts recording into a file opened now, so that a bad path fails here,
** not after the work. 0, TK_EBUSY while a trace records, or TK_ESYS with
** errno set when the file cannot be opened. */
int tkl_trace_start(const char *path);
int tkl_trace_start(const char *path) {
  pthread_mutex_lock(&tr_mu);
  if (tracing) {
    pthread_mutex_unlock(&tr_mu);
    return TK_EBUSY;
  }
  trace_out = fopen(path, "w");
  if (trace_out == NULL) {
    int e = errno;
    pthread_mutex_unlock(&tr_mu);
    errno = e;
    return TK_ESYS;
  }
  trace_t0 = tkl_now();
  tracing = 1;
  pthread_mutex_unlock(&tr_mu);
  tk_set_finish_hook(on_finish);
  return 0;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static double us(double t) { return (t - trace_t0) * 1e6; }

/* Which record a job's flow arrows start from: an open-addressing table
** from job address to the first record of that job that ran, built once
** per trace_stop, so that finding every dependency is linear in the
** number of records (a scan per dependency made long chains quadratic). */
typedef struct ran_index {
  size_t *slot;                  /* record index + 1; 0: empty */
  size_t mask;
} ran_index;

static size_t job_hash(const void *job) {
  uint64_t h = (uint64_t)(uintptr_t)job * 0x9e3779b97f4a7c15u;
  return (size_t)(h >> 17);
}

/* Without memory the index is empty: the trace is written without
** arrows. */
static void ran_index_build(ran_index *ix) {
  size_t cap = 16;
  while (cap < 2 * nrecs) cap *= 2;
  ix->slot = calloc(cap, sizeof *ix->slot);
  ix->mask = cap - 1;
  if (ix->slot == NULL) return;
  for (size_t i = 0; i < nrecs; i++) {
    if (recs[i].start == 0) continue;  /* never ran: no arrow from it */
    size_t k = job_hash(recs[i].id) & ix->mask;
    while (ix->slot[k] != 0 && recs[ix->slot[k] - 1].id != recs[i].id)
      k = (k + 1) & ix->mask;
    if (ix->slot[k] == 0) ix->slot[k] = i + 1;  /* the first one stays */
  }
}

/* The record of `job` that ran, or NULL. */
static const rec *ran_index_find(const ran_index *ix, const void *job) {
  if (ix->slot == NULL) return NULL;
  for (size_t k = job_hash(job) & ix->mask; ix->slot[k] != 0;
       k = (k + 1) & ix->mask)
    if (recs[ix->slot[k] - 1].id == job) return &recs[ix->slot[k] - 1];
  return NULL;
}

/* Writes the file and forgets the events; returns how many were written
** (jobs and marks), or -1 if the file could not be written. */
long tkl_trace_stop(void);
long tkl_trace_stop(void) {
  tk_set_finish_hook(NULL);
  pthread_mutex_lock(&tr_mu);
  if (!tracing) {
    pthread_mutex_unlock(&tr_mu);
    return 0;
  }
  tracing = 0;
  FILE *f = trace_out;
  trace_out = NULL;
  long written = -1;
  if (f != NULL) {
    static const char *const states[] = {"pending", "running", "completed",
                                         "failed", "cancelled"};
    int maxtid = 0;
    for (size_t i = 0; i < nrecs; i++)
      if (recs[i].tid > maxtid) maxtid = recs[i].tid;
    fprintf(f, "{\"traceEvents\": [\n");
    fprintf(f, "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": 1, "
               "\"args\": {\"name\": \"threadkit\"}}");
    fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, "
               "\"tid\": 0, \"args\": {\"name\": \"cancelled / events\"}}");
    for (int t = 1; t <= maxtid; t++)
      fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, "
                 "\"tid\": %d, \"args\": {\"name\": \"worker %d\"}}", t, t - 1);
    long flow = 0;
    ran_index ran;
    ran_index_build(&ran);
    for (size_t i = 0; i < nrecs; i++) {
      rec *r = &recs[i];
      const char *label = r->name ? r->name : "task";
      if (r->start > 0) {
        fprintf(f, ",\n{\"ph\": \"X\", \"cat\": \"job\", \"name\": ");
        json_string(f, label);
        fprintf(f, ", \"pid\": 1, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, "
                   "\"args\": {\"state\": \"%s\", \"priority\": %d",
                r->tid, us(r->start), (r->end - r->start) * 1e6,
                states[r->state], r->priority);
      } else {
        fprintf(f, ",\n{\"ph\": \"i\", \"s\": \"t\", \"cat\": \"cancel\", "
                   "\"name\": ");
        json_string(f, label);
        fprintf(f, ", \"pid\": 1, \"tid\": 0, \"ts\": %.3f, \"args\": "
                   "{\"state\": \"%s\", \"priority\": %d",
                us(r->end), states[r->state], r->priority);
      }
      if (r->group) {
        fprintf(f, ", \"group\": ");
        json_string(f, r->group);
      }
      if (r->error) {
        fprintf(f, ", \"error\": ");
        json_string(f, r->error);
      }
      fprintf(f, "}}");
      /* Flow arrows: from the end of each dependency that ran. */
      for (int d = 0; d < r->ndeps && r->start > 0; d++) {
        const rec *from = ran_index_find(&ran, r->deps[d]);
        if (from == NULL) continue;
        flow++;
        fprintf(f, ",\n{\"ph\": \"s\", \"cat\": \"dep\", \"name\": \"after\", "
                   "\"id\": %ld, \"pid\": 1, \"tid\": %d, \"ts\": %.3f}",
                flow, from->tid, us(from->end) - 0.001);
        fprintf(f, ",\n{\"ph\": \"f\", \"bp\": \"e\", \"cat\": \"dep\", "
                   "\"name\": \"after\", \"id\": %ld, \"pid\": 1, "
                   "\"tid\": %d, \"ts\": %.3f}",
                flow, r->tid, us(r->start));
      }
    }
    free(ran.slot);
    for (size_t i = 0; i < nmarks; i++) {
      fprintf(f, ",\n{\"ph\": \"i\", \"s\": \"g\", \"cat\": \"group\", "
                 "\"name\": ");
      json_string(f, marks[i].what);
      fprintf(f, ", \"pid\": 1, \"tid\": 0, \"ts\": %.3f}", us(marks[i].t));
    }
    fprintf(f, "\n], \"displayTimeUnit\": \"ms\"}\n");
    written = ferror(f) == 0 && fclose(f) == 0 ? (long)(nrecs + nmarks) : -1;
  }
  for (size_t i = 0; i < nrecs; i++) {
    free(recs[i].name);
    free(recs[i].error);
    free(recs[i].group);
    free(recs[i].deps);
  }
  for (size_t i = 0; i < nmarks; i++) free(marks[i].what);
  free(recs);
  free(marks);
  recs = NULL;
  marks = NULL;
  nrecs = caprecs = nmarks = capmarks = 0;
  pthread_mutex_unlock(&tr_mu);
  return written;
}

static int l_trace_start(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int rc = tkl_trace_start(path);
  if (rc == TK_EBUSY) return luaL_error(L, "a trace is already being recorded");
  if (rc != 0)
    return luaL_error(L, "cannot write the trace to %s: %s", path,
                      strerror(errno));
  return 0;
}

static int l_trace_stop(lua_State *L) {
  long n = tkl_trace_stop();
  if (n < 0) return luaL_error(L, "cannot write the trace file");
  lua_pushinteger(L, n);
  return 1;
}

void tkl_open_trace(lua_State *L) {
  lua_pushcfunction(L, l_trace_start);
  lua_setfield(L, -2, "trace_start");
  lua_pushcfunction(L, l_trace_stop);
  lua_setfield(L, -2, "trace_stop");
}
