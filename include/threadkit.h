/*
** threadkit.h - the public C API of threadkit: pools, jobs, tokens.
** See LICENSE for copyright and licence.
**
** Conventions. Every fallible function returns int: 0 on success or a
** negative TK_E* code (tk_strerror() explains it). Times are in seconds as
** double; a negative timeout means "wait forever", 0 means "do not wait";
** a wait of NaN waits forever too, and times beyond ~31 years count as
** that long. Objects are opaque. Refcounted objects (job, token) are
** released with _release; every handle an API call hands out carries one
** reference that the caller owns. Unless a comment says otherwise, every
** function is thread-safe.
**
** NULL. Every function takes NULL for any pointer argument without
** crashing: a function that returns int returns TK_EINVAL (unless its
** comment says otherwise), _retain and _release ignore it, and a getter
** returns a neutral value its comment gives (0, NULL, a time < 0...).
** A NULL group means the roots of the forest only where a comment says so.
*/
#ifndef THREADKIT_H
#define THREADKIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TK_API __attribute__((visibility("default")))
#else
#define TK_API
#endif

/* The version, in this one place: the Makefile reads these three for the
** shared library's name and the pkg-config files. */
#define TK_VERSION_MAJOR 0
#define TK_VERSION_MINOR 1
#define TK_VERSION_PATCH 0
#define TK_VERSION_STR_(n) #n
#define TK_VERSION_XSTR_(n) TK_VERSION_STR_(n)
#define TK_VERSION_STRING                                       \
  TK_VERSION_XSTR_(TK_VERSION_MAJOR) "." TK_VERSION_XSTR_(TK_VERSION_MINOR) \
  "." TK_VERSION_XSTR_(TK_VERSION_PATCH)

/* {====================================================== errors */

#define TK_ERRNO_MAP(XX)                                  \
  XX(EINVAL, -1, "invalid argument")                      \
  XX(ENOMEM, -2, "not enough memory")                     \
  XX(ETIMEDOUT, -3, "timed out")                          \
  XX(ECANCELED, -4, "operation canceled")                 \
  XX(ESHUTDOWN, -5, "pool is shut down")                  \
  XX(EFULL, -6, "queue is full")                          \
  XX(EBUSY, -7, "resource busy")                          \
  XX(ENOENT, -8, "no such entry")                         \
  XX(ESYS, -9, "system call failed")                      \
  XX(EFAILED, -10, "task failed")

typedef enum {
#define XX(name, code, msg) TK_##name = code,
  TK_ERRNO_MAP(XX)
#undef XX
} tk_errno_t;

/* "invalid argument" for TK_EINVAL; "unknown error" for any other code. */
TK_API const char *tk_strerror(int err);
/* "EINVAL" for TK_EINVAL; "UNKNOWN" for any other code. */
TK_API const char *tk_err_name(int err);
/* After a call returned TK_ESYS on this thread: which system call failed
** and why ("pthread_create: Resource temporarily unavailable"); NULL if
** none failed on this thread yet. */
TK_API const char *tk_system_error(void);

/* }====================================================== */

/* {====================================================== allocator */

/* Replaces the allocator used for every core allocation. Call it before
** any other threadkit function; NULL restores malloc/realloc/free.
** Not thread-safe. Returns TK_EINVAL when only some functions are given.
** Blocks kept for reuse (jobs are carved from 64 KiB blocks) go back to
** the old allocator first. */
typedef void *(*tk_malloc_fn)(size_t size);
typedef void *(*tk_realloc_fn)(void *ptr, size_t size);
typedef void (*tk_free_fn)(void *ptr);
TK_API int tk_replace_allocator(tk_malloc_fn m, tk_realloc_fn r, tk_free_fn f);
/* Memory from the allocator in use (the one tk_replace_allocator set): for
** a layer on top of threadkit whose memory should follow the host's
** allocator as the core's does, or that hands the core memory to free.
** tk_malloc returns NULL without memory (and may for size 0); tk_free
** ignores NULL; tk_strdup returns a copy of s, or NULL for NULL or
** without memory. */
TK_API void *tk_malloc(size_t size);
TK_API void tk_free(void *ptr);
TK_API char *tk_strdup(const char *s);

/* }====================================================== */

/* {====================================================== slabs */

/* A slab hands out objects of one size, carved from 64 KiB blocks that
** hold nothing else: for objects made and freed by the hundred thousand
** (threadkit's jobs are), which malloc would scatter between a program's
** other objects. A block goes back to the allocator once its last object
** is freed, but for one spare block per slab. A slab must have static
** storage duration (tk_replace_allocator walks every slab that made a
** block, to give its spare back): define it at file scope with
** TK_SLAB_INIT; its fields are private. Any thread may allocate from and
** free into any slab. Under AddressSanitizer (or built with TK_SLAB_OFF)
** every object is a malloc of its own, so that the tools see it. */
struct tk__block;
typedef struct tk_slab {
  pthread_mutex_t mu;
  size_t size;
  struct tk__block *partial;     /* blocks with room; mu */
  struct tk__block *spare;       /* an empty block kept; mu */
  struct tk_slab *next_slab;     /* on the list of every slab */
  int listed;                    /* on that list; mu */
} tk_slab_t;

/* The initializer of a slab of objects of `bytes` bytes. */
#define TK_SLAB_INIT(bytes) \
  {PTHREAD_MUTEX_INITIALIZER, (bytes), NULL, NULL, NULL, 0}

/* A new object of the slab's size, uninitialised and 16-byte aligned;
** NULL without memory, and for NULL. */
TK_API void *tk_slab_alloc(tk_slab_t *s);
/* Gives back an object that tk_slab_alloc(s) returned. A NULL s or p is
** ignored. */
TK_API void tk_slab_free(tk_slab_t *s, void *p);

/* }====================================================== */

/* {====================================================== priorities */

/* Any int is a priority; higher runs first, equal priorities run FIFO. */
enum {
  TK_LOWEST = -2,
  TK_LOW = -1,
  TK_NORMAL = 0,
  TK_HIGH = 1,
  TK_HIGHEST = 2
};

/* }====================================================== */

typedef struct tk_pool tk_pool_t;
typedef struct tk_job tk_job_t;
typedef struct tk_token tk_token_t;

/* {====================================================== tokens */

/* Cooperative cancellation. A token starts not cancelled; tk_token_cancel
** sets it once and for all and runs each registered callback exactly once,
** outside any lock, on the cancelling thread. */
typedef void (*tk_cancel_fn)(void *arg);

/* Creates a token (one reference, owned by the caller). */
TK_API int tk_token_new(tk_token_t **out);
/* Creates a token that is cancelled when `parent` is (at once if it is
** already). The child keeps no reference to the parent alive. */
TK_API int tk_token_new_child(tk_token_t *parent, tk_token_t **out);
/* Arms a deadline: the token cancels itself `seconds` from now (0: at
** once, in the calling thread). A token has at most one deadline; a later
** call replaces it. TK_EINVAL if seconds < 0. */
TK_API int tk_token_set_deadline(tk_token_t *t, double seconds);
/* NULL is ignored. */
TK_API void tk_token_retain(tk_token_t *t);
/* Drops one reference; the last one frees the token. NULL is ignored. */
TK_API void tk_token_release(tk_token_t *t);
/* Cancels the token. Returns 0 when this call cancelled it, TK_ECANCELED
** when it already was (nothing runs twice). */
TK_API int tk_token_cancel(tk_token_t *t);
/* One atomic load. NULL reads as "not cancelled". */
TK_API int tk_token_is_cancelled(const tk_token_t *t);
/* Blocks until cancelled (0) or the timeout passes (TK_ETIMEDOUT). */
TK_API int tk_token_wait(tk_token_t *t, double timeout);
/* 1 if nothing but the caller's one reference can ever cancel t: a token
** of its own (not a job's), without parent or deadline, not cancelled, and
** with no other reference (so none can be taken); else 0, and for NULL.
** A holder that would keep something alive only to run it on
** cancellation may let it go then. */
TK_API int tk_token_sole_holder(tk_token_t *t);
/* Registers fn(arg) to run on cancellation. If the token already is
** cancelled, fn runs at once on this thread and *id (if given) is 0.
** Otherwise *id receives a non-zero handle for tk_token_off_cancel. */
TK_API int tk_token_on_cancel(tk_token_t *t, tk_cancel_fn fn, void *arg,
                              uint64_t *id);
/* Like tk_token_on_cancel, plus `dispose` (may be NULL): run instead of fn
** when the registration ends without fn running (tk_token_off_cancel, or
** the token freed uncancelled), so that arg can always be reclaimed. */
TK_API int tk_token_on_cancel_ex(tk_token_t *t, tk_cancel_fn fn,
                                 tk_cancel_fn dispose, void *arg,
                                 uint64_t *id);
/* Unregisters a callback. 0: it was removed and will never run.
** TK_ENOENT: it already ran, or is running now (in which case this call
** waits for it to return, unless called from that callback itself). */
TK_API int tk_token_off_cancel(tk_token_t *t, uint64_t id);

/* }====================================================== */

/* {====================================================== jobs */

typedef enum {
  TK_JOB_PENDING = 0,
  TK_JOB_RUNNING = 1,
  TK_JOB_COMPLETED = 2,
  TK_JOB_FAILED = 3,
  TK_JOB_CANCELLED = 4,
  TK_JOB_INVALID = -1         /* not a job: tk_job_state(NULL) */
} tk_job_state_t;

/* A task. Return 0 to complete, anything else to fail (tk_job_fail gives
** the failure a message; without one the message is tk_strerror(rc)).
** A task that fails after its token was cancelled, or returns TK_ECANCELED,
** ends CANCELLED. Returning TK_SUSPEND instead frees the worker without
** ending the job: see tk_job_resume. */
typedef int (*tk_task_fn)(void *arg);

/* Task return value: "not finished, wake me later". The job stays RUNNING
** and the worker runs other tasks; after tk_job_resume(job) the same worker
** calls the task function again with the same argument. The task must
** have arranged for someone to call tk_job_resume (a token callback, a
** tk_job_on_finish callback...). Suspended jobs count as running. */
#define TK_SUSPEND 1

/* Options for tk_pool_submit. Zero-initialise, then set what you need. */
typedef struct tk_job_opts {
  int priority;               /* TK_LOWEST..TK_HIGHEST or any int */
  const char *name;           /* copied; NULL for none */
  tk_token_t *token;          /* the job's token is a child of this one */
  tk_job_t *const *after;     /* run only after these jobs all completed */
  size_t n_after;             /* number of entries in `after` */
  double timeout;             /* > 0: cancel the job's token after this many
                                 seconds of running; 0: none */
  double block_timeout;       /* bounded pools: 0 = the pool's on_full rule;
                                 > 0 = block at most this long for room;
                                 < 0 = never block (TK_EFULL at once) */
  void (*arg_free)(void *);   /* if set, called on arg when the job is freed
                                 (whether or not it ran); not on a failed
                                 submit */
  int gated;                  /* 1: the job stays PENDING, on no worker,
                                 until tk_job_open(job) (and its `after`) */
} tk_job_opts_t;

/* NULL is ignored. */
TK_API void tk_job_retain(tk_job_t *job);
/* Drops one reference; the last one frees the job and its result. A job
** may be released while it runs or waits: the pool keeps its own reference.
** Using a handle after releasing it is undefined behaviour. NULL is ok. */
TK_API void tk_job_release(tk_job_t *job);
/* One atomic load; a final state never changes again. TK_JOB_INVALID for
** NULL. */
TK_API tk_job_state_t tk_job_state(const tk_job_t *job);
/* "pending", "running", "completed", "failed" or "cancelled"; "unknown"
** for any other value (TK_JOB_INVALID too). */
TK_API const char *tk_job_state_name(tk_job_state_t state);
/* Blocks until the job is in a final state (0) or TK_ETIMEDOUT. */
TK_API int tk_job_wait(tk_job_t *job, double timeout);
/* Cancels the job. PENDING: it ends CANCELLED at once and never runs (0).
** RUNNING: its token is cancelled and TK_EBUSY is returned; the task decides
** when to stop. Already final: TK_EINVAL. */
TK_API int tk_job_cancel(tk_job_t *job);
/* The job's own token (borrowed; valid while you hold the job). Cancelling
** it cancels the job as tk_job_cancel does. NULL for NULL, or without
** memory for it. */
TK_API tk_token_t *tk_job_token(tk_job_t *job);
/* 1 once the job's token is cancelled or it ended CANCELLED; 0 for NULL. */
TK_API int tk_job_is_cancelled(const tk_job_t *job);
/* 1 once the job's timeout fired (its token was cancelled by it); 0 for
** NULL. */
TK_API int tk_job_timed_out(const tk_job_t *job);
/* The priority it was submitted with; 0 for NULL. */
TK_API int tk_job_priority(const tk_job_t *job);
/* Name given at submit, or NULL (for NULL too). Borrowed. */
TK_API const char *tk_job_name(const tk_job_t *job);
/* Error text of a FAILED or CANCELLED job, else NULL (for NULL too).
** Borrowed, stable once the job is final. */
TK_API const char *tk_job_error(const tk_job_t *job);
/* Result stored by the task with tk_job_set_result (NULL if none, and for
** NULL). Borrowed; read it only once the job is COMPLETED. */
TK_API void *tk_job_result(const tk_job_t *job);
/* The argument given at submit (borrowed); *fn (if fn is not NULL) gets
** the task function, so a layer can recognise its own jobs. NULL (and
** *fn NULL) for NULL. */
TK_API void *tk_job_arg(const tk_job_t *job, tk_task_fn *fn);
/* Seconds the task ran; < 0 if it never started or has not finished, and
** for NULL. */
TK_API double tk_job_execution_time(const tk_job_t *job);
/* Seconds between submit and start (or cancellation); < 0 if still
** queued, and for NULL. */
TK_API double tk_job_queue_wait(const tk_job_t *job);
/* Monotonic timestamps in seconds (0 when the event has not happened, and
** for NULL). */
TK_API double tk_job_submitted_at(const tk_job_t *job);
TK_API double tk_job_started_at(const tk_job_t *job);
TK_API double tk_job_finished_at(const tk_job_t *job);
/* The same three exactly, in monotonic nanoseconds (tk_now_ns's clock),
** into the non-NULL pointers: for tools that line up events, as a tracer
** does. The finish is 0 until the job is final. */
TK_API void tk_job_times_ns(const tk_job_t *job, uint64_t *submitted,
                            uint64_t *started, uint64_t *finished);
TK_API uint64_t tk_now_ns(void);
/* The longest wait, in seconds (~31 years): threadkit counts every longer
** time as this long, so that no time converts out of range, and a wait
** this long never ends. */
#define TK_LONGEST_WAIT 1e9
/* The tk_now_ns time `timeout` seconds from now, for a wait until a
** deadline: UINT64_MAX (never) for a negative or NaN timeout, or one of
** TK_LONGEST_WAIT or more. */
TK_API uint64_t tk_deadline_ns(double timeout);
/* The pool the job was submitted to (borrowed), NULL for NULL. */
TK_API tk_pool_t *tk_job_pool(const tk_job_t *job);

/* The job whose task runs on this thread (borrowed), or NULL outside tasks
** and inside fire-and-forget tasks. */
TK_API tk_job_t *tk_job_current(void);
/* For the running task only: stores a result; `free_fn` (may be NULL) is
** called on it when the job is freed. TK_EINVAL outside the job's task. */
TK_API int tk_job_set_result(tk_job_t *job, void *result,
                             void (*free_fn)(void *));
/* For the running task only: sets the failure message (printf format).
** Returns TK_EFAILED so a task can `return tk_job_fail(job, "...")`. */
TK_API int tk_job_fail(tk_job_t *job, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Shorthand for tk_job_is_cancelled(tk_job_current()); 0 outside tasks. */
TK_API int tk_cancelled(void);
/* Wakes a job whose task returned TK_SUSPEND: it runs again on the worker
** that ran it. Safe from any thread, including before the task has
** returned TK_SUSPEND (it then runs again at once). TK_EINVAL if the job is
** not running. */
TK_API int tk_job_resume(tk_job_t *job);
/* Opens the gate of a job submitted with `gated`: it may run now (once its
** dependencies completed). TK_EINVAL if it has no gate or it was opened. */
TK_API int tk_job_open(tk_job_t *job);
/* Sets a function called whenever any job becomes final, on the thread
** that ends it (NULL: none). For tracing; one atomic load per job when
** unset. */
TK_API void tk_set_finish_hook(void (*hook)(tk_job_t *job));
/* Sets a function called after each run of a task on the thread that ran
** it, with the run's monotonic start and end (ns): with suspended 1 when
** the task suspended (TK_SUSPEND, it runs again later), else 0 just before
** the job becomes final, before the finish hook. Not for a job that never
** runs. NULL: none (one atomic load per run). For tracing. */
typedef void (*tk_run_hook_fn)(tk_job_t *job, uint64_t start, uint64_t end,
                               int suspended);
TK_API void tk_set_run_hook(tk_run_hook_fn hook);
/* Runs fn(arg) once when the job is final, on the thread that ends it (at
** once on this thread if it already is). TK_ENOMEM: fn will not run. */
TK_API int tk_job_on_finish(tk_job_t *job, tk_cancel_fn fn, void *arg);

/* }====================================================== */

/* {====================================================== pools */

/* Per-worker hooks: init runs on each worker thread before its first job
** and may store a per-worker pointer in *worker_data; fini runs on the same
** thread when it exits. A failing init (non-zero) makes tk_pool_new fail. */
typedef int (*tk_worker_init_fn)(void *pool_data, int index,
                                 void **worker_data);
typedef void (*tk_worker_fini_fn)(void *pool_data, int index,
                                  void *worker_data);

typedef struct tk_pool_opts {
  int workers;                /* 0: number of online CPUs */
  const char *name;           /* thread names "<name>-<i>"; default "tk" */
  size_t capacity;            /* max pending jobs; 0 = unbounded */
  int block_on_full;          /* bounded: 1 = submit blocks for room,
                                 0 = submit fails with TK_EFULL */
  int paused;                 /* 1: workers start only at tk_pool_resume */
  tk_worker_init_fn worker_init;
  tk_worker_fini_fn worker_fini;
  void *data;                 /* passed to the hooks */
  int max_spares;             /* spare threads at most, taking jobs in place
                                 of workers that block (tk_pool_block_begin);
                                 0: 64; < 0: none */
} tk_pool_opts_t;

typedef struct tk_pool_metrics {
  uint64_t submitted;         /* jobs accepted */
  uint64_t completed;
  uint64_t failed;
  uint64_t cancelled;
  uint64_t running;           /* now (including suspended jobs); every
                                 snapshot balances: submitted = completed +
                                 failed + cancelled + running + pending */
  uint64_t pending;           /* now: queued or waiting for dependencies */
  uint64_t peak_pending;
  int workers;
  double total_execution_time;  /* seconds, over finished runs */
  double mean_execution_time;
  double mean_queue_wait;       /* over jobs that started */
  uint64_t schedules;           /* active schedules (tk_pool_schedule) */
  /* Percentiles from log2 histograms: within a factor of sqrt(2). */
  double p50_execution_time, p99_execution_time;
  double p50_queue_wait, p99_queue_wait;
  double uptime;                /* seconds since tk_pool_new */
  int spares;                   /* now: spare threads in place of blocked
                                   workers (tk_pool_block_begin) */
} tk_pool_metrics_t;

/* The most workers a pool may have (and spares it may add). */
#define TK_MAX_WORKERS 4096

/* Creates a pool and starts its workers (opts may be NULL). Errors:
** TK_EINVAL for workers < 0 or > TK_MAX_WORKERS or an absurd capacity,
** TK_ENOMEM, TK_ESYS when threads cannot be created, or what worker_init
** returned. */
TK_API int tk_pool_new(const tk_pool_opts_t *opts, tk_pool_t **out);
/* Shuts down (wait, not cancelling), joins the workers and frees the pool.
** Job handles stay valid. Must not be called from one of its own workers
** (TK_EBUSY). NULL is ignored (0). */
TK_API int tk_pool_free(tk_pool_t *pool);
/* Submits fn(arg). On success *out (if not NULL) receives a job handle the
** caller must release. Errors: TK_EINVAL, TK_ENOMEM, TK_ESHUTDOWN, TK_EFULL,
** TK_ETIMEDOUT (blocked for room too long). On error fn never runs. */
TK_API int tk_pool_submit(tk_pool_t *pool, const tk_job_opts_t *opts,
                          tk_task_fn fn, void *arg, tk_job_t **out);
/* Fire-and-forget: the cheapest way in. fn(arg, 0) runs on a worker, or
** fn(arg, TK_ECANCELED) runs instead if the job is cancelled by a shutdown
** before it starts: exactly one of the two, once. */
typedef void (*tk_post_fn)(void *arg, int status);
TK_API int tk_pool_post(tk_pool_t *pool, int priority, tk_post_fn fn,
                        void *arg);
/* Posts n jobs fn(args[i], ...) under one lock. All or nothing. */
TK_API int tk_pool_post_batch(tk_pool_t *pool, int priority, tk_post_fn fn,
                              void *const *args, size_t n);
/* The memory of one tk_job_on_finish registration, given by the caller
** of tk_pool_submit_watched. Its fields are private. */
typedef struct tk_job_watch {
  void *reserved[5];
} tk_job_watch_t;
/* tk_pool_submit, with on_finish(finish_arg) registered as by
** tk_job_on_finish but before the job is queued (no worker has touched it
** yet, so it costs no cache miss) and in `watch`, which the caller
** provides and keeps untouched until on_finish is called (from then on it
** may reuse it): no allocation. On a failed submit on_finish never runs.
** TK_EINVAL for a NULL watch or on_finish; else as tk_pool_submit. */
TK_API int tk_pool_submit_watched(tk_pool_t *pool, const tk_job_opts_t *opts,
                                  tk_task_fn fn, void *arg, tk_job_t **out,
                                  tk_job_watch_t *watch,
                                  tk_cancel_fn on_finish, void *finish_arg);
/* Starts a pool created with `paused`. Idempotent. */
TK_API int tk_pool_resume(tk_pool_t *pool);
/* Blocks until no job of the pool is pending or running (0) or the timeout
** passes (TK_ETIMEDOUT). Calling it from a worker of the pool: TK_EBUSY. */
TK_API int tk_pool_wait_all(tk_pool_t *pool, double timeout);
/* Stops accepting jobs. cancel_pending: every job not started ends
** CANCELLED (counted) before this returns; else queued jobs still run.
** wait: block until the workers have exited. Later calls return 0; one
** with cancel_pending still cancels what the first left queued. */
TK_API int tk_pool_shutdown(tk_pool_t *pool, int wait, int cancel_pending);
TK_API int tk_pool_metrics(tk_pool_t *pool, tk_pool_metrics_t *out);
/* 1 once tk_pool_shutdown was called (its submits fail with TK_ESHUTDOWN),
** and for NULL; else 0. */
TK_API int tk_pool_is_shutdown(const tk_pool_t *pool);
/* The number of workers; TK_EINVAL for NULL. */
TK_API int tk_pool_workers(const tk_pool_t *pool);
/* The name it was made with (borrowed), NULL for NULL. */
TK_API const char *tk_pool_name(const tk_pool_t *pool);

/* On a worker thread: its index and the pointer its init hook stored.
** Elsewhere: -1 and NULL. Spares (below) have the indices from `workers`
** on, and run the init and fini hooks too. */
TK_API int tk_worker_index(void);
TK_API void *tk_worker_data(void);

/* Blocking inside a task. A task that must wait with its worker held (for
** something it cannot suspend for: TK_SUSPEND) brackets the wait with
** these, so that the pool does not starve: while the region lasts, a
** spare thread takes jobs in the worker's place (started on first need,
** parked once the workers are back, at most max_spares at once), and the
** pool keeps `workers` threads taking jobs. Regions nest (the outermost
** counts) and end on the thread that began them; elsewhere than on a
** worker they do nothing. threadkit's own waits are regions already when
** they block a worker: tk_job_wait, tk_token_wait, tk_group_join,
** tk_group_wait_activity, tk_pool_wait_all, and a submit waiting for
** room in a bounded pool (which fails at once with TK_EBUSY, rather than
** wait, when the pool is the worker's own and no thread of it is left to
** make the room). tk_pool_block_begin returns 0, or TK_EBUSY when no
** thread of the pool is left to take jobs (no spare may be added): the
** caller may still wait, for something outside the pool, or give up;
** either way it calls tk_pool_block_end. */
TK_API int tk_pool_block_begin(void);
TK_API void tk_pool_block_end(void);

/* }====================================================== */

/* {====================================================== queues */

/* A queue of calls, run in the order they were pushed, drained by runner
** jobs on a pool: for many small calls of one kind, each of which would
** cost a job of its own (a job, its queueing, wake-ups, its states). A
** call is memory the caller embeds in an object of its own (tk_call_t):
** the queue allocates nothing per call and takes no lock to push one.
**
** Up to one runner per worker of the pool takes calls: one starts with
** the first call, and more while calls pile up. A runner takes the oldest
** call, runs it to its end, and takes the next; it ends when the queue
** stays empty for a moment, and gives its worker up (queueing a runner
** again, behind them) when other jobs of the pool have waited for a worker
** for about a millisecond. With one runner at a time calls run one after
** the other; with more they start in order and may overlap. A call that
** suspends (returns TK_SUSPEND: it may wait, see tk_job_resume) suspends
** its runner's job, tk_job_current() inside run, after handing the queue
** to another runner; tk_job_resume on that job runs the call again. Calls
** count in the pool's metrics as jobs of their own (their queue wait from
** the push, their run time); runners do not count. */
typedef struct tk_queue tk_queue_t;

/* A call. The queue writes every field: the caller only embeds it (and
** recovers its own object from the pointer, e.g. with offsetof). */
typedef struct tk_call {
  void *link;                 /* private: the queue's */
  uint64_t submitted;         /* tk_queue_push's time (tk_now_ns clock) */
  uint64_t finished;          /* when it ended */
  int state;                  /* how: TK_JOB_COMPLETED, _FAILED or
                                 _CANCELLED */
  char *error;                /* FAILED: the message its run gave
                                 tk_job_fail(tk_job_current(), ...), else
                                 tk_strerror of what run returned;
                                 CANCELLED: why. Owned by end (tk_free);
                                 NULL for COMPLETED, or without memory */
} tk_call_t;

/* Runs a call on a runner: 0 completes it, TK_SUSPEND suspends it (run is
** called again after tk_job_resume(tk_job_current())), TK_ECANCELED
** cancels it, anything else fails it. */
typedef int (*tk_call_run_fn)(tk_call_t *call, void *data);
/* A call ended (state, error and finished are set), on the thread that
** ended it: exactly once for every call pushed, whether it ran or not.
** From then on the call's memory is the caller's again. */
typedef void (*tk_call_end_fn)(tk_call_t *call, void *data);

typedef struct tk_queue_opts {
  int priority;               /* of its runners, as a job's */
  const char *name;           /* copied: names its runners' jobs */
  tk_call_run_fn run;         /* required */
  tk_call_end_fn end;         /* required */
  void *data;                 /* passed to run and end */
} tk_queue_opts_t;

typedef struct tk_queue_metrics {
  uint64_t submitted;         /* calls pushed */
  uint64_t completed;
  uint64_t failed;
  uint64_t cancelled;         /* at a cancelling shutdown, or by run */
  uint64_t pending;           /* now: pushed, not ended (waiting, running
                                 or suspended): every snapshot balances,
                                 submitted = completed + failed +
                                 cancelled + pending */
  int runners;                /* now: runners taking calls */
} tk_queue_metrics_t;

/* Creates a queue on `pool` (one reference, the caller's). The pool must
** outlive the queue's calls. TK_EINVAL for a NULL pool, opts, opts->run or
** opts->end; TK_ENOMEM. */
TK_API int tk_queue_new(tk_pool_t *pool, const tk_queue_opts_t *opts,
                        tk_queue_t **out);
/* Appends a call. Not thread-safe for one queue: push from one thread at
** a time (pushes to different queues may run at once). Returns 0, and end
** is then called once for it, maybe before this returns (a call that
** cannot be run, on a pool shut down, ends CANCELLED); TK_EINVAL for a
** NULL q or call. At a cancelling shutdown of the pool (tk_pool_shutdown
** with cancel_pending) the calls not started end CANCELLED. */
TK_API int tk_queue_push(tk_queue_t *q, tk_call_t *call);
/* Drops the caller's reference: calls pushed before still run (or end
** cancelled), and the queue goes with its last runner. NULL is ignored. */
TK_API void tk_queue_release(tk_queue_t *q);
/* Counts of the queue's calls (as the pool's metrics count jobs). */
TK_API int tk_queue_metrics(tk_queue_t *q, tk_queue_metrics_t *out);

/* }====================================================== */

/* {====================================================== schedules */

/* A schedule submits fn as a job at a time, once or periodically, driven
** by the shared timer (no thread of its own, no polling). A periodic
** schedule never overlaps itself: a tick that comes while the previous
** run is still going is skipped and counted as missed. */
typedef struct tk_schedule tk_schedule_t;

typedef struct tk_schedule_opts {
  double delay;               /* > 0: first run this many seconds from now */
  double at;                  /* > 0: first run at this time (seconds since
                                 the epoch); in the past: TK_EINVAL */
  double every;               /* > 0: run again every this many seconds (at
                                 least 1e-9: a shorter one is TK_EINVAL) */
  int priority;
  const char *name;           /* copied; names every run's job */
  void *(*tick_arg)(void *arg);  /* if set: each run's argument is
                                    tick_arg(arg), freed by tick_arg_free */
  void (*tick_arg_free)(void *);
  void (*arg_free)(void *);   /* called on arg when the schedule is freed */
} tk_schedule_opts_t;

/* Creates a schedule (one reference, the caller's). Exactly one of delay
** and at, or neither with every (first run after one period). TK_EINVAL
** for zero or negative times, a time in the past, or nothing to go by. */
TK_API int tk_pool_schedule(tk_pool_t *pool, const tk_schedule_opts_t *opts,
                            tk_task_fn fn, void *arg, tk_schedule_t **out);
/* Stops further runs (a run already started goes on). 0, or TK_EINVAL if
** it was already over (cancelled, one-shot done, pool shut down). */
TK_API int tk_schedule_cancel(tk_schedule_t *s);
/* Drops the caller's reference (an active schedule goes on). NULL is
** ignored. */
TK_API void tk_schedule_release(tk_schedule_t *s);
/* 1 while more runs are to come; the runs submitted so far; the ticks
** skipped because the previous run was still going. 0 for NULL. */
TK_API int tk_schedule_active(tk_schedule_t *s);
TK_API uint64_t tk_schedule_runs(tk_schedule_t *s);
TK_API uint64_t tk_schedule_missed(tk_schedule_t *s);

/* }====================================================== */

/* {====================================================== groups */

/* A group is a node in a forest: its tasks, a concurrency limit, an event,
** and a join. A new group's parent is the group of the job running on the
** creating thread (none outside tasks); a daemon group is always a root.
** Setting a group's event cancels the tokens of its tasks and sets the
** events of its descendants (never ancestors or siblings); its tasks that
** have not started end CANCELLED without running. Groups are refcounted;
** a group with unfinished tasks keeps itself alive. Thread-safe. */
typedef struct tk_group tk_group_t;

typedef struct tk_group_opts {
  const char *name;           /* copied; NULL: a generated "group-N" */
  int max_concurrent;         /* tasks in flight at once; 0 = unlimited */
  int daemon;                 /* 1: a new root, out of reach of its
                                 creator's events and joins */
  void *data;                 /* for the caller (tk_group_data) */
  void (*data_free)(void *);  /* called on data when the group is freed */
} tk_group_opts_t;

/* Creates a group on `pool` (one reference, the caller's). TK_EINVAL for a
** NULL pool or a negative max_concurrent. */
TK_API int tk_group_new(tk_pool_t *pool, const tk_group_opts_t *opts,
                        tk_group_t **out);
/* NULL is ignored by both. */
TK_API void tk_group_retain(tk_group_t *g);
TK_API void tk_group_release(tk_group_t *g);
/* Submits a task to the group (opts as tk_pool_submit, but opts->token and
** opts->gated must be unset: the group's event is the job's parent token,
** and the group holds the gate). Beyond max_concurrent, the job waits in
** the group (PENDING, FIFO within priority) and holds no worker. */
TK_API int tk_group_submit(tk_group_t *g, const tk_job_opts_t *opts,
                           tk_task_fn fn, void *arg, tk_job_t **out);
/* Sets the event of g and of its descendants. Idempotent. */
TK_API int tk_group_set_event(tk_group_t *g);
/* 1 once g's event is set; 0 for NULL. */
TK_API int tk_group_event_is_set(const tk_group_t *g);
/* The group's event (borrowed): a token cancelled when the event is set.
** NULL for NULL. */
TK_API tk_token_t *tk_group_event(tk_group_t *g);
/* Waits until every task of g and of its descendants is final (0), or
** TK_ETIMEDOUT. TK_EBUSY when called from a task of g or of a descendant
** (it would wait for itself). A join that returns 0 is where the group
** forgets old tasks: it lets go of the tasks the previous successful join
** waited for, and keeps those submitted since (the ones it waited for),
** so a group joined now and then holds one round of tasks, not every task
** it ran. A join with no task submitted since the last one forgets
** nothing. A forgotten job lives on while someone holds it, with no group
** (tk_job_group gives NULL). */
TK_API int tk_group_join(tk_group_t *g, double timeout);
/* Registers fn(arg) to run once g is idle: once every task of g and of
** its descendants is final, which is what tk_group_join waits for. If g
** is idle already, fn runs at once on this thread and *id (if given) is
** 0; otherwise *id receives a non-zero handle for tk_group_off_idle, and
** fn runs once, on the thread that ended the task that made g idle
** (outside any lock of threadkit's), even if tasks are submitted to g
** again later. A registration keeps g alive until fn has run or it is
** taken off. Unlike a join, it forgets no task (see tk_group_join): a
** caller that wants that calls tk_group_join(g, 0) once fn ran.
** TK_EINVAL for a NULL g or fn, TK_ENOMEM (fn will not run). */
TK_API int tk_group_on_idle(tk_group_t *g, tk_cancel_fn fn, void *arg,
                            uint64_t *id);
/* Takes off a registration of tk_group_on_idle. 0: it was taken off and
** fn will never run. TK_ENOENT: fn already ran, or runs now (this call
** then waits for it to return, unless called from fn itself), or the id
** is not g's. TK_EINVAL for a NULL g. */
TK_API int tk_group_off_idle(tk_group_t *g, uint64_t id);
/* Tasks of daemon groups and of their descendants that are not final: the
** work a process may leave unfinished when it ends (tklua waits for all
** work but this). */
TK_API size_t tk_group_daemon_unfinished(void);
/* Cancels g's tasks that have not started; returns how many (>= 0), or
** TK_EINVAL / TK_ENOMEM. A task submitted while it runs may be left. */
TK_API int tk_group_clear_pending(tk_group_t *g);
/* Borrowed name; the parent (a new reference, or NULL for a root); the
** limit (0: none); opts->data. NULL, NULL, 0 and NULL for a NULL g. */
TK_API const char *tk_group_name(const tk_group_t *g);
TK_API tk_group_t *tk_group_parent(tk_group_t *g);
TK_API int tk_group_max_concurrent(const tk_group_t *g);
TK_API void *tk_group_data(const tk_group_t *g);
/* Listing a group. Children and jobs may be added (and children go) at
** any moment, so a count and a listing taken one after the other need not
** agree: the count only sizes an array, and a listing returns how many
** entries it WROTE, at most the capacity given. Only out[0..returned)
** is valid; returned == n means there may be more (a larger array lists
** them). The usual way:
**
**   size_t cap = tk_group_job_count(g);
**   tk_job_t **jobs = malloc((cap ? cap : 1) * sizeof *jobs);
**   size_t n = tk_group_jobs(g, jobs, cap);    // n <= cap
**   ... use and release jobs[0..n) ...
*/
/* How many children g has now (for g == NULL, how many roots the forest
** has); 0 for a group without children. */
TK_API size_t tk_group_child_count(tk_group_t *g);
/* Writes new references to the first (at most n) of g's children (for
** g == NULL, of the roots of the forest), in creation order, into out,
** and returns how many it wrote (<= n). 0 when out is NULL or n is 0. */
TK_API size_t tk_group_children(tk_group_t *g, tk_group_t **out, size_t n);
/* How many jobs g lists (0 for NULL): every unfinished task, the tasks
** its last successful join waited for, and those submitted since (see
** tk_group_join). */
TK_API size_t tk_group_job_count(tk_group_t *g);
/* Writes new references to the first (at most n) of the jobs g lists, in
** submission order, into out, and returns how many it wrote (<= n). 0
** when g or out is NULL or n is 0. */
TK_API size_t tk_group_jobs(tk_group_t *g, tk_job_t **out, size_t n);
/* Counts of g's own tasks: pending and running now, done (final) over
** the group's whole life, forgotten ones included (any pointer may be
** NULL; all 0 for a NULL g). */
TK_API void tk_group_counts(tk_group_t *g, size_t *pending, size_t *running,
                            size_t *done);
/* Over the group's whole life: tasks submitted, and those that ended
** completed, failed, cancelled (any pointer may be NULL; all 0 for a NULL
** g). */
TK_API void tk_group_totals(tk_group_t *g, size_t *submitted,
                            size_t *completed, size_t *failed,
                            size_t *cancelled);
/* The group of a job (a new reference), or NULL (for NULL too, and for
** a job its group forgot, see tk_group_join). */
TK_API tk_group_t *tk_job_group(tk_job_t *job);
/* Activity: a counter that moves whenever a task of any group ends or
** someone calls tk_group_poke (the Lua layer does on shared table and
** channel writes), for waiting on a condition without spinning. */
TK_API uint64_t tk_group_activity(void);
TK_API void tk_group_poke(void);
/* Blocks until the activity counter differs from `seen` (0) or the
** timeout passes (TK_ETIMEDOUT). */
TK_API int tk_group_wait_activity(uint64_t seen, double timeout);

/* }====================================================== */

#ifdef __cplusplus
}
#endif
#endif
