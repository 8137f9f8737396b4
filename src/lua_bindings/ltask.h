/*
** ltask.h - Lua tasks: what a job of the Lua layer carries, the worker
** states that run them, and the coroutines tasks make.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LTASK_H
#define TKL_LTASK_H

#include <stdatomic.h>
#include <stdint.h>

#include "buffer.h"
#include "pool.h"
#include "tkl_common.h"

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
  unsigned char from_slab;       /* which allocator (task.c) */
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


/* Raises the cancellation error of the running task ("cancelled"), which
** makes the job end CANCELLED even if a pcall catches it. */
TKL_INTERNAL int tkl_raise_cancel(lua_State *L);


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

/* Yields L for the task's wait (the tag, tkl_waiting), continuing in k:
** the wait's own function, or a resume passing it up (lcoro.c). */
TKL_INTERNAL int tkl_wait_suspend(lua_State *L, lua_KFunction k,
                                  lua_KContext ctx);
/* A coroutine suspended for its task's threadkit wait (the task's own, or
** one on the way to the wait) yielded one value, the address of this tag,
** which stays on top of its stack until the task resumes it (and removes
** it): no other task may resume or close it meanwhile. */
TKL_INTERNAL extern const char tkl_wait_tag;
static inline int tkl_waiting(lua_State *co) {
  return lua_status(co) == LUA_YIELD && lua_gettop(co) > 0 &&
         lua_touserdata(co, -1) == &tkl_wait_tag;
}

#endif
