/*
** lwait.c - waiting, written once: the wake sources of a suspended task,
** and the sliced wait of a thread that blocks. See LICENSE for copyright
** and licence.
*/
#include <stdlib.h>
#include <time.h>

#include "lcallbacks.h"
#include "ltask.h"
#include "lwait.h"
#include "tkl_atomic.h"

double tkl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tkl_deadline(double timeout) {
  return timeout < 0 ? -1 : tkl_now() + timeout;
}

double tkl_left(double deadline) {
  if (deadline < 0) return -1;
  double left = deadline - tkl_now();
  return left > 0 ? left : 0;
}

/* {====================================================== suspending */

/* What fires wakes the task once: every armed source holds a reference,
** so a late fire after the wait ended finds it still there. */
typedef struct waker {
  atomic_int refs;
  atomic_int fired;
  tk_job_t *job;                 /* holds a reference */
} waker;

static void waker_retain(waker *w) { atomic_fetch_add(&w->refs, 1); }

void tkl_waker_release(void *arg) {
  waker *w = arg;
  if (!tkl_ref_drop(&w->refs)) return;
  tk_job_release(w->job);
  free(w);
}

void tkl_waker_fire(void *arg) {
  waker *w = arg;
  if (!atomic_exchange(&w->fired, 1)) tk_job_resume(w->job);
  tkl_waker_release(w);
}

struct tkl_wait {
  waker *wk;
  tk_token_t *deadline;          /* owned; cancels itself when time is up */
  uint64_t deadline_id;
  tk_token_t *jobtok;            /* borrowed: the job's own token */
  uint64_t jobtok_id;
  tk_token_t *target;            /* token:wait's token (a reference) */
  uint64_t target_id;
  tk_group_t *group;             /* group:join's group (a reference) */
  uint64_t group_id;
};

/* Registers fn(waker) on tok; the registration holds a waker reference. */
static uint64_t arm(lua_State *L, tkl_wait *w, tk_token_t *tok) {
  uint64_t id = 0;
  waker_retain(w->wk);
  if (tk_token_on_cancel(tok, tkl_waker_fire, w->wk, &id) != 0) {
    tkl_waker_release(w->wk);
    luaL_error(L, "not enough memory");
  }
  return id;
}

static void disarm(tkl_wait *w, tk_token_t *tok, uint64_t id) {
  if (tok != NULL && id != 0 && tk_token_off_cancel(tok, id) == 0)
    tkl_waker_release(w->wk);  /* it will never run: give its ref back */
}

tkl_wait *tkl_wait_begin(lua_State *L, tkl_task *t) {
  tkl_wait *w = calloc(1, sizeof *w);
  waker *wk = calloc(1, sizeof *wk);
  if (w == NULL || wk == NULL) {
    free(w);
    free(wk);
    luaL_error(L, "not enough memory");
  }
  atomic_init(&wk->refs, 1);
  atomic_init(&wk->fired, 0);
  tk_job_retain(t->job);
  wk->job = t->job;
  w->wk = wk;
  t->wait = w;
  w->jobtok = tk_job_token(t->job);
  w->jobtok_id = arm(L, w, w->jobtok);
  return w;
}

void tkl_wait_deadline(lua_State *L, tkl_wait *w, double secs) {
  if (secs < 0) return;  /* no deadline */
  if (tk_token_new(&w->deadline) != 0) luaL_error(L, "not enough memory");
  w->deadline_id = arm(L, w, w->deadline);
  tk_token_set_deadline(w->deadline, secs);
}

void tkl_wait_token(lua_State *L, tkl_wait *w, tk_token_t *tok) {
  tk_token_retain(tok);
  w->target = tok;
  w->target_id = arm(L, w, tok);
}

void tkl_wait_job(lua_State *L, tkl_wait *w, tk_job_t *job) {
  /* on_finish cannot be unregistered: it keeps its waker reference until
  ** the job ends, and a late fire finds the wait already over. */
  waker_retain(w->wk);
  if (tk_job_on_finish(job, tkl_waker_fire, w->wk) != 0) {
    tkl_waker_release(w->wk);
    luaL_error(L, "not enough memory");
  }
}

void tkl_wait_group_idle(lua_State *L, tkl_wait *w, tk_group_t *g) {
  tk_group_retain(g);
  w->group = g;
  waker_retain(w->wk);
  if (tk_group_on_idle(g, tkl_waker_fire, w->wk, &w->group_id) != 0) {
    tkl_waker_release(w->wk);
    luaL_error(L, "not enough memory");
  }
}

void *tkl_wait_begin_waker(lua_State *L, tkl_task *t, double secs) {
  tkl_wait *w = tkl_wait_begin(L, t);
  tkl_wait_deadline(L, w, secs);
  waker_retain(w->wk);
  return w->wk;
}

int tkl_wait_end(lua_State *L) {
  (void)L;
  tkl_task *t = tkl_current_task();
  tkl_wait *w = t->wait;
  t->wait = NULL;
  int timed_out = w->deadline != NULL && tk_token_is_cancelled(w->deadline);
  disarm(w, w->jobtok, w->jobtok_id);
  disarm(w, w->deadline, w->deadline_id);
  disarm(w, w->target, w->target_id);
  if (w->group != NULL && w->group_id != 0 &&
      tk_group_off_idle(w->group, w->group_id) == 0)
    tkl_waker_release(w->wk);  /* it will never run */
  tk_token_release(w->deadline);
  tk_token_release(w->target);
  tk_group_release(w->group);
  tkl_waker_release(w->wk);
  free(w);
  return timed_out;
}

int tkl_wait_end_given_up(lua_State *L) {
  tkl_task *t = tkl_current_task();
  int timed_out = tkl_wait_end(L);
  return timed_out || tk_job_is_cancelled(t->job);
}

/* }====================================================== */

/* {====================================================== blocking */

double tkl_block_slice(double left) {
  return left < 0 || left > TKL_BLOCK_SLICE ? TKL_BLOCK_SLICE : left;
}

int tkl_block_given_up(void) {
  tkl_task *t = tkl_current_task();
  return t != NULL && tk_job_is_cancelled(t->job);
}

void tkl_block_start(tkl_block *b, lua_State *L, double deadline) {
  b->L = L;
  b->deadline = deadline;
  b->region = 0;
}

double tkl_block_next(tkl_block *b) {
  if (!b->region) {
    tk_pool_block_begin();
    b->region = 1;
  }
  double left = tkl_left(b->deadline);
  if (left == 0 || tkl_block_given_up()) return 0;
  return tkl_block_slice(left);
}

void tkl_block_stop(tkl_block *b) {
  if (b->region) tk_pool_block_end();
  b->region = 0;
}

void tkl_block_between(tkl_block *b) {
  if (tkl_interrupted()) {
    tkl_block_stop(b);
    luaL_error(b->L, "interrupted!");
  }
  tkl_run_callbacks(b->L, NULL);
}

int tkl_block_until(lua_State *L, double deadline, int (*ready)(void *),
                    void (*wait)(void *, double), void *ud) {
  tkl_block b;
  double s;
  tkl_block_start(&b, L, deadline);
  while (!ready(ud) && (s = tkl_block_next(&b)) > 0) {
    wait(ud, s);
    tkl_block_between(&b);
  }
  tkl_block_stop(&b);
  return ready(ud);
}

int tkl_cond_init(pthread_cond_t *cv) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) return TK_ESYS;
  int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0) rc = pthread_cond_init(cv, &attr);
  pthread_condattr_destroy(&attr);
  return rc == 0 ? 0 : TK_ESYS;
}

void tkl_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, double secs) {
  if (secs < 0) {
    pthread_cond_wait(cv, mu);
    return;
  }
  if (secs > TK_LONGEST_WAIT) secs = TK_LONGEST_WAIT;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  time_t whole = (time_t)secs;
  long ns = ts.tv_nsec + (long)((secs - (double)whole) * 1e9);
  ts.tv_sec += whole + ns / 1000000000L;
  ts.tv_nsec = ns % 1000000000L;
  pthread_cond_timedwait(cv, mu, &ts);
}

/* }====================================================== */
