/*
** ltrace.c - tracing: tk.trace_start(path) / tk.trace_stop() and tklua's
** --trace write a Chrome trace-event JSON file (Perfetto, chrome://tracing):
** a track per thread of each pool (its workers, and the spares that take
** jobs while workers block), named after the pool; a slice per run of a
** task (a task that waits and is resumed ran in parts, each on the track
** of the thread that ran it, linked by flow arrows); flow arrows for
** dependencies; instant events for cancellations and group events. Off,
** it costs one atomic load per run and one per job (the core's run and
** finish hooks are unset).
** See LICENSE for copyright and licence.
*/
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lopen.h"
#include "ltask.h"
#include "ltrace.h"
#include "lwait.h"
#include "tkl_runtime.h"

/* What is recorded, in the order it happened (under tr_mu): a run of a
** task that suspended (RUN), and a job that became final (END), which
** carries its last run. A job's records all come before its END, and its
** address is not reused before (the job lives until then): reading them
** in order tells each job its runs, even from a slab that reuses
** addresses. */
enum { REC_RUN, REC_END };

typedef struct rec {
  const void *id;                /* the job */
  char *name;                    /* END, and RUN (for a job unfinished at
                                    trace_stop) */
  char *error, *group;           /* END */
  const void **deps;             /* END: its dependencies */
  int ndeps;
  int kind;
  int tid;                       /* the track it ran on; END: where it
                                    ended, 0 for a job that never ran or
                                    ended off the pool's threads */
  int state, priority;           /* END */
  uint64_t start, end;           /* monotonic ns. RUN: the run. END:
                                    first start (0: never ran), finish */
  uint64_t last_start;           /* END: start of its last run, 0 if not
                                    seen */
  size_t next;                   /* at trace_stop: the job's next RUN + 1 */
} rec;

typedef struct mark {
  char *what;
  uint64_t t;
} mark;

/* A pool that ran something during the trace, and a thread of one. */
typedef struct tpool {
  const void *pool;
  char name[32];
  int nth;                       /* 1 + earlier pools of the same name */
} tpool;

typedef struct track {
  int pool;                      /* index into pools */
  int index;                     /* the thread's (tk_worker_index) */
  int workers;                   /* its pool's */
} track;                         /* its tid: its position + 1 */

static pthread_mutex_t tr_mu = PTHREAD_MUTEX_INITIALIZER;
static rec *recs;                /* tr_mu */
static size_t nrecs, caprecs;
static mark *marks;
static size_t nmarks, capmarks;
static tpool *pools;
static int npools;
static size_t cappools;
static track *tracks;
static int ntracks;
static size_t captracks;
static unsigned trace_gen;       /* one more at each trace_start */
static FILE *trace_out;           /* opened at start: a bad path fails early */
static uint64_t trace_t0;
static int tracing;              /* tr_mu */

/* This thread's track in trace trace_gen (a thread stays in its pool). */
static _Thread_local struct {
  unsigned gen;
  int tid;
} my_track;

/* The last run of a job that is about to end on this thread: the run
** hook leaves it here for the finish hook, called next on this thread. */
static _Thread_local struct {
  const void *job;
  uint64_t start, end;
} last_run;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* With tr_mu: 1 when the array a of n elements (room for cap) has room
** for one more, made by doubling cap (to `first` from 0); 0 without
** memory (a is kept). A macro: the arrays are of several types. */
static void *grow_tmp;           /* tr_mu */
#define ROOM_FOR(a, n, cap, first)                                        \
  ((n) < (cap) ||                                                         \
   ((grow_tmp = realloc((a), ((cap) ? (cap) * 2 : (first)) * sizeof *(a))) \
        != NULL &&                                                        \
    ((a) = grow_tmp, (cap) = (cap) ? (cap) * 2 : (first), 1)))

/* With tr_mu, on the thread that runs or ends `job`: the tid of this
** thread's track, registered on first use; 0 off the pool's threads or
** without memory. */
static int track_here(const tk_job_t *job) {
  if (my_track.gen == trace_gen && my_track.tid > 0) return my_track.tid;
  int index = tk_worker_index();
  if (index < 0) return 0;
  const tk_pool_t *pool = tk_job_pool(job);
  const char *name = tk_pool_name(pool);
  int pi = -1, nth = 1;
  for (int i = 0; i < npools; i++) {
    if (strcmp(pools[i].name, name) != 0) continue;
    if (pools[i].pool == pool) pi = i;  /* an address reused with the same
                                           name shares the tracks: the
                                           first pool's threads are gone */
    nth++;
  }
  if (pi < 0) {
    if (!ROOM_FOR(pools, (size_t)npools, cappools, 8)) return 0;
    pi = npools++;
    pools[pi].pool = pool;
    snprintf(pools[pi].name, sizeof pools[pi].name, "%s", name);
    pools[pi].nth = nth;
  }
  int tid = 0;
  for (int i = 0; i < ntracks && tid == 0; i++)
    if (tracks[i].pool == pi && tracks[i].index == index) tid = i + 1;
  if (tid == 0) {
    if (!ROOM_FOR(tracks, (size_t)ntracks, captracks, 16)) return 0;
    tracks[ntracks].pool = pi;
    tracks[ntracks].index = index;
    tracks[ntracks].workers = tk_pool_workers(pool);
    tid = ++ntracks;
  }
  my_track.gen = trace_gen;
  my_track.tid = tid;
  return tid;
}

/* The core's run hook: a run that suspended is recorded; the last run
** waits for on_finish, which comes next on this thread. */
static void on_run(tk_job_t *job, uint64_t start, uint64_t end,
                   int suspended) {
  if (!suspended) {
    last_run.job = job;
    last_run.start = start;
    last_run.end = end;
    return;
  }
  char *name = dup_or_null(tk_job_name(job));
  pthread_mutex_lock(&tr_mu);
  int kept = tracing && ROOM_FOR(recs, nrecs, caprecs, 1024);
  if (kept) {
    rec *r = &recs[nrecs++];
    memset(r, 0, sizeof *r);
    r->kind = REC_RUN;
    r->id = job;
    r->name = name;
    r->start = start;
    r->end = end;
    r->tid = track_here(job);
  }
  pthread_mutex_unlock(&tr_mu);
  if (!kept) free(name);
}

static void on_finish(tk_job_t *job) {
  rec r;
  memset(&r, 0, sizeof r);
  r.kind = REC_END;
  r.id = job;
  r.name = dup_or_null(tk_job_name(job));
  r.error = dup_or_null(tk_job_error(job));
  tk_group_t *g = tk_job_group(job);
  r.group = g ? dup_or_null(tk_group_name(g)) : NULL;
  tk_group_release(g);
  r.state = tk_job_state(job);
  r.priority = tk_job_priority(job);
  uint64_t started;
  tk_job_times_ns(job, NULL, &started, &r.end);
  if (tk_job_execution_time(job) >= 0) r.start = started;
  if (last_run.job == job && last_run.end == r.end) {
    r.last_start = last_run.start;
    last_run.job = NULL;
  }
  tkl_task *t = tkl_task_of(job);
  tkl_task_extra *x = t != NULL ? tkl_task_extra_peek(t) : NULL;
  if (x != NULL && x->nafter > 0 &&
      (r.deps = malloc((size_t)x->nafter * sizeof *r.deps)) != NULL) {
    for (int i = 0; i < x->nafter; i++) r.deps[i] = x->after[i];
    r.ndeps = x->nafter;
  }
  pthread_mutex_lock(&tr_mu);
  int kept = tracing && ROOM_FOR(recs, nrecs, caprecs, 1024);
  if (kept) {
    r.tid = r.start > 0 ? track_here(job) : 0;
    recs[nrecs++] = r;
  }
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
  if (tracing && ROOM_FOR(marks, nmarks, capmarks, 64)) {
    marks[nmarks].what = strdup(what);
    marks[nmarks].t = tk_now_ns();
    if (marks[nmarks].what != NULL) nmarks++;
  }
  pthread_mutex_unlock(&tr_mu);
}

/* Starts recording into a file opened now, so that a bad path fails here,
** not after the work. 0, TK_EBUSY while a trace records, or TK_ESYS with
** errno set when the file cannot be opened. */
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
  trace_t0 = tk_now_ns();
  trace_gen++;
  tracing = 1;
  pthread_mutex_unlock(&tr_mu);
  tk_set_run_hook(on_run);
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

/* Writes ns nanoseconds as microseconds, exactly (3 decimals). */
static void put_us(FILE *f, int64_t ns) {
  uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  fprintf(f, "%s%llu.%03llu", ns < 0 ? "-" : "", (unsigned long long)(a / 1000),
          (unsigned long long)(a % 1000));
}

/* A timestamp of the trace. */
static void put_ts(FILE *f, uint64_t t) {
  put_us(f, (int64_t)(t - trace_t0));
}

/* What trace_stop knows of each job address as it reads the records in
** order: the runs of the job at that address not yet ended (RUN record
** indices + 1, chained through rec.next), and where the last job there
** that ran ended (the start of its dependents' arrows). An open-addressing
** table, so that the whole pass is linear in the number of records. */
typedef struct jslot {
  const void *id;                /* NULL: empty */
  size_t first, last;            /* its open runs, indices + 1; 0: none */
  int ran;                       /* the last job there ran: */
  int src_tid;                   /* its last part's track */
  uint64_t src_start, src_end;   /* and times */
} jslot;

typedef struct jtable {
  jslot *slot;
  size_t mask;
} jtable;

static size_t job_hash(const void *job) {
  uint64_t h = (uint64_t)(uintptr_t)job * 0x9e3779b97f4a7c15u;
  return (size_t)(h >> 17);
}

/* NULL without memory: the trace is then written without runs' parts nor
** arrows. */
static void jtable_init(jtable *t) {
  size_t cap = 16;
  while (cap < 2 * nrecs) cap *= 2;
  t->slot = calloc(cap, sizeof *t->slot);
  t->mask = cap - 1;
}

/* The slot of `job`, made if `add`, else NULL if none. */
static jslot *jtable_find(jtable *t, const void *job, int add) {
  if (t->slot == NULL) return NULL;
  size_t k = job_hash(job) & t->mask;
  while (t->slot[k].id != NULL && t->slot[k].id != job) k = (k + 1) & t->mask;
  if (t->slot[k].id == NULL) {
    if (!add) return NULL;
    t->slot[k].id = job;
  }
  return &t->slot[k];
}

typedef struct writer {
  FILE *f;
  long flow;                     /* flow arrow ids given */
} writer;

/* A flow arrow from the end of [.., from_end] on from_tid to `to` on
** to_tid (the slice that starts there). */
static void arrow(writer *w, const char *cat, const char *name, int from_tid,
                  uint64_t from_start, uint64_t from_end, int to_tid,
                  uint64_t to) {
  FILE *f = w->f;
  w->flow++;
  /* Inside the slice it leaves, so that it binds to it. */
  uint64_t at = from_end > from_start ? from_end - 1 : from_end;
  fprintf(f, ",\n{\"ph\": \"s\", \"cat\": \"%s\", \"name\": \"%s\", "
             "\"id\": %ld, \"pid\": 1, \"tid\": %d, \"ts\": ",
          cat, name, w->flow, from_tid);
  put_ts(f, at);
  fprintf(f, "}");
  fprintf(f, ",\n{\"ph\": \"f\", \"bp\": \"e\", \"cat\": \"%s\", "
             "\"name\": \"%s\", \"id\": %ld, \"pid\": 1, \"tid\": %d, "
             "\"ts\": ",
          cat, name, w->flow, to_tid);
  put_ts(f, to);
  fprintf(f, "}");
}

static const char *const states[] = {"pending", "running", "completed",
                                     "failed", "cancelled"};

/* The args of a finished job's event, left open for more. */
static void put_job_args(FILE *f, const rec *r) {
  fprintf(f, ", \"args\": {\"state\": \"%s\", \"priority\": %d",
          states[r->state], r->priority);
  if (r->group) {
    fprintf(f, ", \"group\": ");
    json_string(f, r->group);
  }
  if (r->error) {
    fprintf(f, ", \"error\": ");
    json_string(f, r->error);
  }
}

/* A slice of job r (an END record, or NULL for a job unfinished at
** trace_stop, named `name`): part `part` of `parts`. */
static void slice(writer *w, const rec *r, const char *name, int tid,
                  uint64_t start, uint64_t end, int part, int parts) {
  FILE *f = w->f;
  fprintf(f, ",\n{\"ph\": \"X\", \"cat\": \"job\", \"name\": ");
  json_string(f, name ? name : "task");
  fprintf(f, ", \"pid\": 1, \"tid\": %d, \"ts\": ", tid);
  put_ts(f, start);
  fprintf(f, ", \"dur\": ");
  put_us(f, (int64_t)(end - start));
  if (r == NULL) {
    fprintf(f, ", \"args\": {\"state\": \"running\"");
  } else {
    put_job_args(f, r);
  }
  if (parts > 1) fprintf(f, ", \"run\": \"%d of %d\"", part, parts);
  fprintf(f, "}}");
}

/* The runs of a job (chain from `first`, and a last run [last_start,
** end] on last_tid when last_start is not 0) as slices linked by arrows.
** Sets *tid and *start to where its first run began, *end_tid, *end_start
** and *endp to its last run's. */
static void runs(writer *w, const rec *r, const char *name, size_t first,
                 int last_tid, uint64_t last_start, uint64_t end, int *tid,
                 uint64_t *start, int *end_tid, uint64_t *end_start,
                 uint64_t *endp) {
  int parts = last_start != 0;
  for (size_t i = first; i != 0; i = recs[i - 1].next) parts++;
  int part = 0, prev_tid = 0;
  uint64_t prev_start = 0, prev_end = 0;
  for (size_t i = first;; i = recs[i - 1].next) {
    int t;
    uint64_t s, e;
    if (i != 0) {
      const rec *run = &recs[i - 1];
      t = run->tid;
      s = run->start;
      e = run->end;
      if (name == NULL) name = run->name;
    } else if (last_start != 0) {
      t = last_tid;
      s = last_start;
      e = end;
    } else {
      break;
    }
    part++;
    slice(w, r, name, t, s, e, part, parts);
    if (part == 1) {
      *tid = t;
      *start = s;
    } else {
      arrow(w, "resume", "resumed", prev_tid, prev_start, prev_end, t, s);
    }
    prev_tid = t;
    prev_start = s;
    prev_end = e;
    if (i == 0) break;
  }
  *end_tid = prev_tid;
  *end_start = prev_start;
  *endp = prev_end;
}

/* Writes the file and forgets the events; returns how many were written
** (jobs and marks), or -1 if the file could not be written. */
long tkl_trace_stop(void) {
  tk_set_finish_hook(NULL);
  tk_set_run_hook(NULL);
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
    writer w = {f, 0};
    long jobs = 0;
    fprintf(f, "{\"traceEvents\": [\n");
    fprintf(f, "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": 1, "
               "\"args\": {\"name\": \"threadkit\"}}");
    fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, "
               "\"tid\": 0, \"args\": {\"name\": \"cancelled / events\"}}");
    for (int t = 0; t < ntracks; t++) {
      const track *k = &tracks[t];
      const tpool *p = &pools[k->pool];
      char nth[16] = "";
      if (p->nth > 1) snprintf(nth, sizeof nth, " (%d)", p->nth);
      char name[96];
      if (k->index < k->workers)
        snprintf(name, sizeof name, "pool '%s'%s worker %d", p->name, nth,
                 k->index);
      else
        snprintf(name, sizeof name, "pool '%s'%s spare %d", p->name, nth,
                 k->index - k->workers);
      fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, "
                 "\"tid\": %d, \"args\": {\"name\": ", t + 1);
      json_string(f, name);
      fprintf(f, "}}");
      /* Tracks in the order of their pools, then of their threads. */
      fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_sort_index\", "
                 "\"pid\": 1, \"tid\": %d, \"args\": {\"sort_index\": %d}}",
              t + 1, (k->pool + 1) * 10000 + k->index);
    }
    jtable jt;
    jtable_init(&jt);
    for (size_t i = 0; i < nrecs; i++) {
      rec *r = &recs[i];
      jslot *js = jtable_find(&jt, r->id, 1);
      if (r->kind == REC_RUN) {
        r->next = 0;
        if (js == NULL) continue;  /* no memory: no parts */
        if (js->last != 0) recs[js->last - 1].next = i + 1;
        else js->first = i + 1;
        js->last = i + 1;
        continue;
      }
      jobs++;
      if (r->start == 0) {  /* never ran */
        fprintf(f, ",\n{\"ph\": \"i\", \"s\": \"t\", \"cat\": \"cancel\", "
                   "\"name\": ");
        json_string(f, r->name ? r->name : "task");
        fprintf(f, ", \"pid\": 1, \"tid\": 0, \"ts\": ");
        put_ts(f, r->end);
        put_job_args(f, r);
        fprintf(f, "}}");
        if (js != NULL) js->ran = 0;
        continue;
      }
      int tid = r->tid, end_tid = r->tid;
      uint64_t start = r->start, end_start = r->start, end = r->end;
      size_t first = js != NULL ? js->first : 0;
      if (first == 0 && r->last_start == 0)  /* its runs were not seen */
        slice(&w, r, r->name, r->tid, r->start, r->end, 1, 1);
      else
        runs(&w, r, r->name, first, r->tid, r->last_start, r->end, &tid,
             &start, &end_tid, &end_start, &end);
      /* Arrows: from the end of each dependency that ran. */
      for (int d = 0; d < r->ndeps; d++) {
        const jslot *from = jtable_find(&jt, r->deps[d], 0);
        if (from != NULL && from->ran)
          arrow(&w, "dep", "after", from->src_tid, from->src_start,
                from->src_end, tid, start);
      }
      if (js != NULL) {
        js->first = js->last = 0;
        js->ran = 1;
        js->src_tid = end_tid;
        js->src_start = end_start;
        js->src_end = end;
      }
    }
    /* Jobs still running (suspended, most likely) at trace_stop: the
    ** runs they made. */
    for (size_t k = 0; jt.slot != NULL && k <= jt.mask; k++) {
      if (jt.slot[k].id == NULL || jt.slot[k].first == 0) continue;
      int tid, end_tid;
      uint64_t start, end_start, end;
      jobs++;
      runs(&w, NULL, NULL, jt.slot[k].first, 0, 0, 0, &tid, &start, &end_tid,
           &end_start, &end);
    }
    free(jt.slot);
    for (size_t i = 0; i < nmarks; i++) {
      fprintf(f, ",\n{\"ph\": \"i\", \"s\": \"g\", \"cat\": \"group\", "
                 "\"name\": ");
      json_string(f, marks[i].what);
      fprintf(f, ", \"pid\": 1, \"tid\": 0, \"ts\": ");
      put_ts(f, marks[i].t);
      fprintf(f, "}");
    }
    fprintf(f, "\n], \"displayTimeUnit\": \"ms\"}\n");
    written = ferror(f) == 0 && fclose(f) == 0 ? jobs + (long)nmarks : -1;
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
  free(pools);
  free(tracks);
  recs = NULL;
  marks = NULL;
  pools = NULL;
  tracks = NULL;
  nrecs = caprecs = nmarks = capmarks = 0;
  npools = cappools = ntracks = captracks = 0;
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
