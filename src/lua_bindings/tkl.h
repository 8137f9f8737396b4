/*
** tkl.h - shared declarations of the threadkit Lua module.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_H
#define TKL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "tkl_atomic.h"
#include "tkl_common.h"
#include "lwait.h"

#define TK_POOL_MT "threadkit.pool"
#define TK_JOB_MT "threadkit.job"
#define TK_TOKEN_MT "threadkit.token"
#define TK_CHANNEL_MT "threadkit.channel"
#define TK_SHARED_MT "threadkit.shared"
#define TK_GROUP_MT "threadkit.group"

/* Registry keys of the module's per-state tables (their addresses). */
TKL_INTERNAL extern const char tkl_key_boxes, tkl_key_cfuncs, tkl_key_cnames,
    tkl_key_dumpids, tkl_key_loads, tkl_key_retry, tkl_key_anchors;

/* {====================================================== buffers */

/* The interned bytecode of a function (transfer.c): functions travel as
** its id. Every buffer that names an id holds a reference to its code, and
** so does each sending state's cache of its last plain functions, so that
** no code a buffer may still be decoded with is ever freed; code nothing
** holds is freed (the least recently idle beyond a bound), and its id is
** never given out again. */
typedef struct tkl_code tkl_code;
/* Another reference, for a holder of one (a buffer being copied, a cache
** slot). */
TKL_INTERNAL void tkl_code_retain(tkl_code *c);
TKL_INTERNAL void tkl_code_release(tkl_code *c);  /* NULL is ignored */

/* The room a reused buffer (a state's scratch) keeps between values: one
** that grew past it for a large value gives that memory back. */
#define TKL_BUF_KEEP ((size_t)64 * 1024)

/* A growable byte buffer. Handles (jobs, tokens, ...) written into it hold
** a reference each, listed in refs so that a buffer that is never decoded
** can still give them back; so does the code of each function it names,
** listed in codes. */
typedef struct tkl_buf {
  unsigned char *data;
  int borrowed;                  /* data lives elsewhere: not ours to free */
  size_t len, cap;
  size_t pos;                    /* read position while decoding */
  struct tkl_ref *refs;          /* handles still owned by the buffer */
  size_t nrefs, caprefs;
  /* The code the buffer holds: with ncodes <= 1, codes is that code
  ** itself (a task's one function costs no allocation), else an array of
  ** capcodes. */
  void *codes;
  size_t ncodes, capcodes;
} tkl_buf;

typedef struct tkl_ref {
  int kind;                      /* TKL_K_* */
  int weak;                      /* holds no reference (see transfer.c) */
  void *ptr;
} tkl_ref;

enum { TKL_K_JOB = 1, TKL_K_TOKEN, TKL_K_CHANNEL, TKL_K_SHARED, TKL_K_POOL,
       TKL_K_GROUP };

/* The userdata of every threadkit object in a state. */
typedef struct tkl_box {
  const void *tag;               /* tkl_box_tag(kind): tells our boxes apart
                                    without a metatable lookup */
  int kind;
  int owner;                     /* pools: 1 for the box tk.pool made
                                    (its <close> shuts the pool down), -1
                                    in one of the pool's own workers'
                                    states (it holds no handle) */
  void *ptr;                     /* NULL once released (__gc / __close) */
} tkl_box;

/* Encoded values kept in a task: the bytes (in the task's own room, or
** allocated) and the handle references they hold; half a tkl_buf's size,
** which is for encoding and decoding. */
typedef struct tkl_blob {
  unsigned char *data;
  tkl_ref *refs;
  void *codes;                   /* as a tkl_buf's */
  size_t len;
  unsigned nrefs;
  unsigned ncodes : 31;
  unsigned borrowed : 1;         /* data is the task's room */
} tkl_blob;

TKL_INTERNAL void tkl_buf_init(tkl_buf *b);
/* Frees the bytes and releases every handle and code the buffer still
** owns. */
TKL_INTERNAL void tkl_buf_free(tkl_buf *b);
/* Empties b for reuse: releases its handles and code, keeps its room up
** to TKL_BUF_KEEP. */
TKL_INTERNAL void tkl_buf_clear(tkl_buf *b);
TKL_INTERNAL tkl_buf *tkl_buf_new(void);
TKL_INTERNAL void tkl_buf_delete(void *b);  /* tkl_buf_free + free */
/* Moves src's bytes and handle references into dst: into `space` if they
** fit in `room` bytes, else into a new block. src keeps its capacity,
** empty. 0, or TK_ENOMEM (src intact). */
TKL_INTERNAL int tkl_blob_take(tkl_blob *dst, tkl_buf *src, void *space,
                               size_t room);
/* Frees the bytes and releases every handle the blob holds. */
TKL_INTERNAL void tkl_blob_free(tkl_blob *b);
/* Moves the bytes of src into dst: into `space` (borrowed) if they fit in
** `room` bytes, else into a new exact-size block (src's own block when it
** is past TKL_BUF_KEEP: a large value is not copied, and src keeps no room
** of its size); the handle references move too. src keeps its capacity up
** to TKL_BUF_KEEP, empty. 0, or TK_ENOMEM (src intact). */
TKL_INTERNAL int tkl_buf_move(tkl_buf *dst, tkl_buf *src, void *space,
                              size_t room);
/* Makes dst a copy of src (retaining its handles). 0, or TK_ENOMEM. */
TKL_INTERNAL int tkl_buf_copy(tkl_buf *dst, const tkl_buf *src);

/* }====================================================== */

/* {====================================================== context */

typedef struct tkl_fired tkl_fired;

/* A state's module context (ctx.c): what submitting needs, reached through
** upvalue 1 of the functions that submit instead of registry lookups. */
#define TKL_FN_SLOTS 8
typedef struct tkl_ctx {
  const void *tag;               /* private address: a context, nothing
                                    else, even dressed by the debug library */
  tkl_buf scratch;               /* see tkl_scratch */
  /* The plain functions (no upvalue but _ENV) this state sent last, by
  ** closure address, with their ids (transfer.c). User values anchor the
  ** closures, so a listed address cannot be reused by another object. */
  const void *fn[TKL_FN_SLOTS];
  lua_Integer fn_id[TKL_FN_SLOTS];
  tkl_code *fn_code[TKL_FN_SLOTS];  /* a reference each: a buffer that
                                       names the id takes one more */
  int fn_nup[TKL_FN_SLOTS];
  /* The cached closures this state decoded last, by function id, with
  ** registry references (worker states: tkl_decode_blob_ctx). */
  lua_Integer dec_id[TKL_FN_SLOTS];
  int dec_ref[TKL_FN_SLOTS];
  struct tkl_pool *default_pool; /* the default pool, held by this state
                                    once it used it (lpool.c) */
  tkl_fired *fired;              /* on_cancel callbacks to run here, once
                                    one was registered (lcallbacks.c) */
  int trim_floor_kb;             /* worker states: the heap after the last
                                    collection tkl_state_trim made */
} tkl_ctx;
/* Its user values: the cached closures, then each handle kind's
** metatable. */
#define TKL_UV_FN(slot) (1 + (slot))
#define TKL_UV_MT(kind) (TKL_FN_SLOTS + (kind))
#define TKL_CTX_NUV (TKL_FN_SLOTS + TKL_K_GROUP)

/* Makes this state's context (module open). */
TKL_INTERNAL void tkl_open_ctx(lua_State *L);
/* Pushes this state's context (a registry lookup) and returns it. */
TKL_INTERNAL tkl_ctx *tkl_ctx_push(lua_State *L);
/* Its scratch buffer, emptied (see tkl_scratch). */
TKL_INTERNAL tkl_buf *tkl_ctx_scratch(tkl_ctx *c);
/* After a worker's task: collects the state's garbage at once when its
** heap has grown past twice what it was after the last such collection
** (and past a few MiB), so that a large value a task decoded or made
** does not stay in an idle worker (a task's path makes few of the calls
** that drive the collector). */
TKL_INTERNAL void tkl_state_trim(lua_State *L, tkl_ctx *c);

/* }====================================================== */

/* {====================================================== transfer */

/* A task's arguments or results: as many as a Lua call takes, and more
** refused where they are copied (tkl_check_count), before the coder's own
** limit, which leaves room for the function and a retry runner's two. */
#define TKL_MAX_VALUES 10000
/* Raises "too many <what> to copy (n, at most 10000)" for n over it. */
TKL_INTERNAL void tkl_check_count(lua_State *L, int n, const char *what);

/* Encodes the n values on top of L's stack (below them nothing is
** touched) into b. `what` names them for error messages: "argument" gives
** "argument #2", "result" gives "result #1", a name gives "upvalue ...".
** Raises a Lua error naming where a value cannot be copied. */
TKL_INTERNAL void tkl_encode(lua_State *L, int first, int n, tkl_buf *b,
                             const char *what);
/* The same with the state's context at index ctx (absolute or upvalue;
** 0: look it up), saving its lookup. */
TKL_INTERNAL void tkl_encode_ctx(lua_State *L, int ctx, int first, int n,
                                 tkl_buf *b, const char *what);
/* Decodes every value of b onto L's stack; returns how many. Each handle
** gets a reference of its own (b keeps its own, so b can be decoded again).
** Raises a Lua error on a malformed buffer. */
TKL_INTERNAL int tkl_decode(lua_State *L, tkl_buf *b);
/* The same for a task's blob (which keeps its references). */
TKL_INTERNAL int tkl_decode_blob(lua_State *L, const tkl_blob *b);
/* The same with L's state's context c, whose last decoded closures it
** finds without a table lookup (a worker decoding its tasks). */
TKL_INTERNAL int tkl_decode_blob_ctx(lua_State *L, const tkl_blob *b,
                                     tkl_ctx *c);

/* }====================================================== */

/* {====================================================== handles */

/* Pushes the box of a C object (creating it, or reusing the state's box
** for the same object so that == holds). Takes over one reference. */
TKL_INTERNAL void tkl_push_handle(lua_State *L, int kind, void *ptr);
/* Pushes the box of an object this state just made (takes over one
** reference); cheaper than tkl_push_handle. */
TKL_INTERNAL void tkl_push_new_handle(lua_State *L, int kind, void *ptr);
/* The same with the state's context at index ctx (absolute or upvalue;
** 0: look it up). */
TKL_INTERNAL void tkl_push_new_handle_ctx(lua_State *L, int ctx, int kind,
                                          void *ptr);
/* The object in box idx if it is of `kind`, else NULL. */
TKL_INTERNAL void *tkl_test_handle(lua_State *L, int idx, int kind);
TKL_INTERNAL void *tkl_check_handle(lua_State *L, int idx, int kind);
/* The job at idx, entry i of the list `list` given as argument arg: raises
** "list[i] is not a job", or "... is a released job" for a job box closed
** or collected. */
TKL_INTERNAL tk_job_t *tkl_check_list_job(lua_State *L, int idx, int arg,
                                          const char *list, lua_Integer i);
/* The box at idx (its object may be released), or a type error. */
TKL_INTERNAL tkl_box *tkl_check_box(lua_State *L, int idx, int kind);
/* The tag of kind's boxes: an address private to this module, which no
** other userdata holds. */
TKL_INTERNAL const void *tkl_box_tag(int kind);
/* Keeps the value at `held` alive as long as the object at `holder` is
** (a weak-keyed registry table): a work or a schedule keeps the box of its
** pool, whose collection would shut the pool down under it. */
TKL_INTERNAL void tkl_anchor(lua_State *L, int holder, int held);
/* Around lua_close of a state on this thread: no new handle may be made
** then (a finalizer's would leak), tkl_push_*handle raise instead. */
TKL_INTERNAL void tkl_set_closing(int on);
/* Releases one reference of any handle kind. */
TKL_INTERNAL void tkl_release_handle(int kind, void *ptr);
TKL_INTERNAL void tkl_retain_handle(int kind, void *ptr);

/* }====================================================== */

/* Creates the metatable of a handle kind: __gc/__close/__eq/__tostring,
** and __index = the methods, or index(self, key) with the methods table as
** its upvalue 1 when index is given. */
TKL_INTERNAL void tkl_new_handle_type(lua_State *L, int kind,
                                      const luaL_Reg *methods,
                                      lua_CFunction index);

/* {====================================================== cycles */

/* Channels and shared tables are containers (lcycles.c): the values they
** store hold references, so they can hold each other, or themselves, in
** cycles that no count ever brings to zero. A cycle collector finds them.
** Each container starts with this header; the count's low bits are the
** collector's flags (the count itself is rc / TKL_GC_ONE). */
typedef struct tkl_gcobj tkl_gcobj;
typedef struct tkl_gctype {
  /* With the object's mu held: calls fn on every stored value. */
  void (*each)(tkl_gcobj *o, void (*fn)(const tkl_buf *b, void *ud),
               void *ud);
  /* With mu held (or the object unreachable): takes every stored value
  ** out, to be let go with drop without any lock. */
  void *(*take)(tkl_gcobj *o);
  void (*drop)(void *taken);
  /* Frees the object, which stores nothing any more. */
  void (*free)(tkl_gcobj *o);
} tkl_gctype;

struct tkl_gcobj {
  atomic_long rc;                /* references * TKL_GC_ONE | flags */
  pthread_mutex_t mu;            /* the container's own lock */
  atomic_int frozen;             /* its stored values are being walked:
                                    nothing may change them, nor copy
                                    their references (tkl_gc_thaw) */
  const tkl_gctype *type;
  tkl_gcobj *cand_next;          /* on the candidate list (lcycles.c) */
  /* The collector's own, under its lock: */
  tkl_gcobj *set_next, *stack_next;
  void *taken;
  long gc_refs;
  unsigned round;
  unsigned char state, reachable;
};
#define TKL_GC_ONE 4L

TKL_INTERNAL void tkl_gc_init(tkl_gcobj *o, const tkl_gctype *type);
TKL_INTERNAL void tkl_gc_retain(tkl_gcobj *o);
/* With o's mu held, before changing its stored values or copying one:
** waits while the collector walks them (it never waits for mu). */
TKL_INTERNAL void tkl_gc_thaw_slow(tkl_gcobj *o);
static inline void tkl_gc_thaw(tkl_gcobj *o) {
  if (atomic_load_explicit(&o->frozen, memory_order_acquire))
    tkl_gc_thaw_slow(o);
}
/* Lets one reference go: frees the object with its last, else makes it a
** candidate (its cycle may have lost its last outside holder). Never
** takes a lock but the object's own (and the candidate list's). */
TKL_INTERNAL void tkl_gc_release(tkl_gcobj *o);
/* Collects the garbage cycles among containers when enough candidates
** came (from a safe point: this thread holds no container's lock). */
TKL_INTERNAL void tkl_gc_maybe_collect(void);
/* Collects now, whatever the number of candidates (a state's close). */
TKL_INTERNAL void tkl_gc_collect(void);
/* Containers alive in the process (tests). */
TKL_INTERNAL size_t tkl_gc_live(void);

/* }====================================================== */

/* Channels and shared tables are refcounted C objects (lchannel.c,
** lshared.c). */
typedef struct tkl_channel tkl_channel;
typedef struct tkl_shared tkl_shared;
TKL_INTERNAL void tkl_channel_retain(tkl_channel *c);
TKL_INTERNAL void tkl_channel_release(tkl_channel *c);
TKL_INTERNAL void tkl_shared_retain(tkl_shared *s);
TKL_INTERNAL void tkl_shared_release(tkl_shared *s);

/* {====================================================== pools, tasks */

/* The Lua side of a pool: what a worker needs to build its state. Boxes,
** tasks and states using it as their default pool hold references. The
** owning box shuts the pool down when collected, closed or told to; the
** core pool is freed with the last reference, so a shut-down pool stays
** safe to use (its submits fail) from every state that still holds it. */
typedef struct tkl_pool {
  atomic_int refs;
  atomic_int handles;            /* Lua's handles on it: boxes (but those in
                                    its own workers' states) and values in
                                    transit; it shuts down when the last
                                    goes, whichever state made it */
  atomic_int closed;             /* shut down by its owner (lpool.c) */
  tk_pool_t *pool;               /* for the tkl_pool's whole life */
  int owned;                     /* ours to shut down and free */
  char *path, *cpath;            /* package.path/cpath of the creator */
  tkl_buf init;                  /* encoded init function (len 0: none) */
  char name[32];
  size_t capacity;               /* bounded pools: max pending, else 0 */
  size_t memory_limit;           /* bytes per worker state; 0: none */
  struct tkl_pool *next_live;    /* on the list tklua waits for */
} tkl_pool;

TKL_INTERNAL void tkl_pool_retain(tkl_pool *p);
TKL_INTERNAL void tkl_pool_release(tkl_pool *p);
/* A handle's reference (retain_handle), and its end: when the last handle
** goes the pool shuts down, waiting for its work if `wait` (a box
** collected) or not (a value dropped, maybe under a lock). */
TKL_INTERNAL void tkl_pool_retain_handle(tkl_pool *p);
TKL_INTERNAL void tkl_pool_release_handle(tkl_pool *p, int wait);
/* The handle of a box made in one of p's own workers' states goes: a pool
** cannot be kept alive by its own tasks (the box keeps its reference). */
TKL_INTERNAL void tkl_pool_drop_own_handle(tkl_pool *p);
/* Pushes the metatable for a box of p (every pool box has its own). */
TKL_INTERNAL void tkl_push_pool_mt(lua_State *L, tkl_pool *p);

/* What few tasks have, made on first need (a task is kept small: every
** queued task carries one). */
typedef struct tkl_task_extra {
  char *traceback;               /* of a failure, or NULL */
  tk_job_t **after;              /* its dependencies (references), for
                                    tk.dot and traces */
  int nafter;
  atomic_int attempts;           /* calls made by the retry runner (read
                                    while it runs: job.attempts) */
  char **attempt_errors;         /* their errors, oldest first */
  int nerrors;
  struct tkl_task_extra *next_free;  /* on this thread's list to free */
} tkl_task_extra;

/* A Lua task: the job's argument (freed with the job) and, once it
** completed, its result. */
typedef struct tkl_task {
  tkl_pool *pool;                /* holds a reference */
  tkl_blob in;                   /* function, then arguments */
  tkl_blob out;                  /* results, once completed */
  unsigned char out_space[40];   /* small results live here */
  tk_job_t *job;                 /* borrowed: the job owns the task */
  lua_State *co;                 /* its coroutine, while it lives */
  struct tkl_wait *wait;         /* what it waits for while suspended */
  uint64_t stop_cb;              /* on_cancel id of the hard-stop hook */
  _Atomic(tkl_task_extra *) extra;  /* NULL until needed */
  int co_ref;
  atomic_int force;              /* cancelled with force: stop it hard */
  atomic_int cancel_raised;      /* a cancellation error was raised */
  unsigned char has_timeout;     /* its timeout stops it hard */
  unsigned char error_kept;      /* failed: out holds the error value
                                    (TKL_ERROR_*) */
  unsigned char from_slab;       /* which allocator (ltask.c) */
} tkl_task;

/* What a failed task's out holds: nothing (its error value could not be
** copied), a value, or a string (the full text, NULs included). */
enum { TKL_ERROR_NONE, TKL_ERROR_VALUE, TKL_ERROR_STRING };

/* The task's extra part, made on first use (NULL without memory); by the
** thread that owns the task at the time (the submitter before it is
** queued, then the worker running it). */
TKL_INTERNAL tkl_task_extra *tkl_task_extra_get(tkl_task *t);
/* The extra part if there is one, else NULL. */
TKL_INTERNAL tkl_task_extra *tkl_task_extra_peek(const tkl_task *t);

/* The state's reusable encoding buffer, emptied (submit encodes into it
** so that an error leaks nothing). */
TKL_INTERNAL tkl_buf *tkl_scratch(lua_State *L);
/* Stops a task now if it runs Lua code (job:cancel(true)). */
TKL_INTERNAL void tkl_stop_task(tkl_task *t);

/* The task of a job created by the Lua layer, or NULL. */
TKL_INTERNAL tkl_task *tkl_task_of(tk_job_t *job);
/* A task carrying a copy of `in`'s bytes in the same allocation; the
** handle references move from `in` (left empty). */
TKL_INTERNAL tkl_task *tkl_task_new(tkl_pool *pool, tkl_buf *in);
/* The same with `room` bytes (0 or TKL_TASK_ROOM) for the caller right
** after the task, at (t + 1), pointer-aligned; they live as long as it. */
#define TKL_TASK_ROOM 72
TKL_INTERNAL tkl_task *tkl_task_new_room(tkl_pool *pool, tkl_buf *in,
                                         size_t room);
TKL_INTERNAL void tkl_task_free(void *task);
TKL_INTERNAL int tkl_task_run(void *task);
/* The task running on this thread, or NULL. */
TKL_INTERNAL tkl_task *tkl_current_task(void);
/* The running task if L runs its code and a yield there suspends the task
** (L is its coroutine, or one it resumed where it could yield, see
** tkl_coro_enter, and L may yield here), else NULL. */
TKL_INTERNAL tkl_task *tkl_yieldable_task(lua_State *L);
/* 1 once tklua's Ctrl-C stopped all work: blocking waits end with an
** error instead of waiting on. */
TKL_INTERNAL int tkl_interrupted(void);

/* }====================================================== */

/* Coroutines that tasks make (lcoro.c): in worker states coroutine.resume,
** wrap and close tell the worker which coroutine runs Lua code, so that a
** hard stop reaches code running in any of them, and so that a threadkit
** wait in one suspends the task when every coroutine from the task's own
** to it can yield: each passes the yield up (lcoro.c), and resumes the
** one below when the task is resumed. */
typedef struct tkl_coro_mark {
  void *slot;                    /* the worker's (NULL: no worker yet) */
  lua_State *prev;               /* the coroutine that ran before */
  int prev_suspendable;
} tkl_coro_mark;
/* Before `from` resumes co (or closes it: may_suspend 0): co runs now;
** hooks it if its task is being stopped. */
TKL_INTERNAL void tkl_coro_enter(lua_State *from, lua_State *co,
                                 int may_suspend, tkl_coro_mark *m);
/* After, with lua_resume's status: `from` runs again; hooks it if its task
** is being stopped meanwhile. Returns 1 when co yielded for a threadkit
** wait that suspends the task: `from` must yield too (tkl_wait_suspend). */
TKL_INTERNAL int tkl_coro_leave(lua_State *from, const tkl_coro_mark *m,
                                int status);
/* Replaces resume, wrap and close in the coroutine library of a worker
** state (the library table is on top). */
TKL_INTERNAL void tkl_open_coroutines(lua_State *L);


/* {====================================================== options */

/* The optional timeout argument at idx: -1 when none or nil, else a
** non-negative number (negative and NaN are refused). */
TKL_INTERNAL double tkl_opt_timeout(lua_State *L, int idx);
/* Raises "unknown option 'k'" (as bad argument arg) for a key of the
** options table at idx that `known` (NULL-terminated) does not list: a
** misspelt option is an error, not a default silently kept. `prefix`
** names a nested table ("retry."), or is "". */
TKL_INTERNAL void tkl_check_options(lua_State *L, int idx, int arg,
                                    const char *prefix,
                                    const char *const known[]);

/* Lists from Lua (llist.c) are read raw: their own entries 1..n, with n
** = lua_rawlen (never __len), and no key outside 1..n. tkl_list_length
** returns n, or -1 with a description of an offending key pushed. */
TKL_INTERNAL lua_Integer tkl_list_length(lua_State *L, int idx);
/* The same for argument `arg`, raising "<what> must be a list: key k" (or
** "... (a table)" for a value that is not a table); n fits an int. */
TKL_INTERNAL int tkl_check_list(lua_State *L, int idx, int arg,
                                const char *what);

/* Runs the on_cancel callbacks of L's state that fired elsewhere (c: its
** context, or NULL to look it up); a load and a test while none did. Every
** safe point calls it: submits, waits, tok:cancel and tok:on_cancel, a
** worker's task start. */
TKL_INTERNAL void tkl_run_callbacks(lua_State *L, tkl_ctx *c);
/* At the state's close: runs what fired, lets go of the rest. */
TKL_INTERNAL void tkl_close_callbacks(lua_State *L, tkl_ctx *c);
/* tok:cancel() from L: callbacks of L's state run inside it. Returns
** tk_token_cancel's code. */
TKL_INTERNAL int tkl_cancel_token(lua_State *L, tk_token_t *t);
/* A token's box at idx lets its token go (collected, or closed: may_keep
** 0): the on_cancel functions held through it become strong references.
** Returns 1 when a collected box keeps its token instead (marked for
** finalization again), as its callbacks may still run: the token can be
** cancelled by another holder, a parent or a deadline. */
TKL_INTERNAL int tkl_token_box_gc(lua_State *L, int idx, int may_keep);
/* tok:on_cancel(fn) */
TKL_INTERNAL int tkl_on_cancel(lua_State *L);

/* Raises the cancellation error of the running task ("cancelled"), which
** makes the job end CANCELLED even if a pcall catches it. */
TKL_INTERNAL int tkl_raise_cancel(lua_State *L);

/* }====================================================== */

/* Registers the metatables and functions of each part into the module
** table on top of the stack. */
TKL_INTERNAL void tkl_open_handles(lua_State *L);
TKL_INTERNAL void tkl_open_pool(lua_State *L);
TKL_INTERNAL void tkl_open_job(lua_State *L);
TKL_INTERNAL void tkl_open_token(lua_State *L);
TKL_INTERNAL void tkl_open_channel(lua_State *L);
TKL_INTERNAL void tkl_open_shared(lua_State *L);
TKL_INTERNAL void tkl_open_task(lua_State *L);
TKL_INTERNAL void tkl_open_group(lua_State *L);
TKL_INTERNAL void tkl_open_completed(lua_State *L);
TKL_INTERNAL void tkl_open_dot(lua_State *L);
TKL_INTERNAL void tkl_open_trace(lua_State *L);
/* The parts written in Lua (lscript.c), once every other part is open:
** their code binds the module's functions when it loads. */
TKL_INTERNAL void tkl_open_script(lua_State *L, int module);
/* threadkit's C functions that tasks carry but that are not on the module
** table (lscript.c's entries into its Lua code): they travel by these
** names, which no "library.function" name can take. */
TKL_INTERNAL extern const luaL_Reg tkl_private_cfuncs[];
TKL_INTERNAL void tkl_trace_mark(const char *what);

/* Submits the function at fidx (arguments above it, options at oidx or 0)
** to pool p, or to group g when g is not NULL. Pushes the job. ctx is the
** index of the state's context (absolute or upvalue), or 0 to look it
** up. */
TKL_INTERNAL int tkl_submit(lua_State *L, tkl_pool *p, tk_group_t *g,
                            int ctx, int oidx, int fidx);
/* Raises the error of a submit to p that returned rc ("attempt to use a
** shut-down pool", "queue is full ..."). */
TKL_INTERNAL int tkl_submit_error(lua_State *L, int rc, tkl_pool *p);
/* The priority at idx: an integer in int's range (a float with an
** integer's value too) or "lowest".."highest"; else raises a bad argument
** arg. */
TKL_INTERNAL int tkl_priority(lua_State *L, int idx, int arg);
/* Reads the options every task takes (priority, name, token, timeout)
** from the checked table at oidx into o, leaving their values on the stack
** (they anchor o->name). A group's task (in_group) refuses a token. */
TKL_INTERNAL void tkl_read_task_opts(lua_State *L, int oidx, tk_job_opts_t *o,
                                     int in_group);
/* The pool behind tk.submit in this state: the running task's pool in a
** task, else the default pool (made on first use). */
TKL_INTERNAL tkl_pool *tkl_default_pool(lua_State *L);

#endif
