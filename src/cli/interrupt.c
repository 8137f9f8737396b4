/*
** interrupt.c - Ctrl-C in tklua.
** See LICENSE for copyright and licence.
**
** A thread of its own takes SIGINT (blocked in every other thread), so
** that it may lock, cancel and set hooks freely. Two answers:
** - while the REPL runs a chunk (the first Ctrl-C): the chunk gets
**   "interrupted!", every task stops and every pool's queued work is
**   cancelled; the REPL waits for that work to end and goes on;
** - otherwise (a script, the REPL's prompt, a second Ctrl-C): all work is
**   cancelled and the process exits 130, at the latest 0.8 s later.
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lauxlib.h"
#include "threadkit_lua.h"
#include "cli.h"

/* How long the REPL waits for the stopped tasks to end before it shows
** the prompt anyway (a task blocked in C may not stop at once). */
#define SETTLE_SECONDS 2.0

static const char *exit_name = "tklua";
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t soft_done = PTHREAD_COND_INITIALIZER;
static lua_State *mainL;         /* mu: the main state while open */
static int chunk_running;        /* mu: the REPL runs a chunk */
/* mu: the chunk's interrupt: none, under way (the signal thread cancels),
** done (the REPL must settle it). */
static enum { SOFT_NONE, SOFT_STARTED, SOFT_DONE } soft;
static atomic_int must_exit;
static sem_t fallback_sem;       /* posted once, on the Ctrl-C that ends */
static pthread_t main_thread;

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void hook_main_state(void) {
  if (mainL != NULL)
    lua_sethook(mainL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* The main thread normally unwinds, writes its trace, closes its state
** (joining the workers) and exits 130 itself. If it is stuck anyway, this
** thread ends the process 0.8 s after Ctrl-C: it takes no lock and calls
** nothing of threadkit or Lua, so nothing the others hold can stop it. */
static void *fallback_thread(void *arg) {
  (void)arg;
  while (sem_wait(&fallback_sem) != 0) {}
  struct timespec left = {0, 800000000L};  /* on the monotonic clock */
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) != 0) {}
  static const char msg[] = ": interrupted\n";
  if (write(2, exit_name, strlen(exit_name)) < 0 ||
      write(2, msg, sizeof msg - 1) < 0) {}
  _exit(130);
}

/* SIGUSR1 ends the main thread's blocking reads (the REPL's) with EINTR. */
static void on_wake(int sig) { (void)sig; }

/* The first Ctrl-C during a REPL chunk; returns 0 if none runs (or it
** was interrupted already: this Ctrl-C ends the process). */
static int interrupt_chunk(void) {
  pthread_mutex_lock(&mu);
  int mine = chunk_running && soft == SOFT_NONE;
  if (mine) soft = SOFT_STARTED;
  pthread_mutex_unlock(&mu);
  if (!mine) return 0;
  tk_lua_stop_all();
  pthread_mutex_lock(&mu);
  if (chunk_running) hook_main_state();
  soft = SOFT_DONE;
  pthread_cond_broadcast(&soft_done);
  pthread_mutex_unlock(&mu);
  pthread_kill(main_thread, SIGUSR1);  /* a read in the chunk ends */
  return 1;
}

/* The fallback is armed first: what follows may wait for locks that the
** program holds. */
static void end_process(void) {
  if (atomic_exchange(&must_exit, 1)) return;
  sem_post(&fallback_sem);
  tk_lua_stop_all();
  pthread_mutex_lock(&mu);
  hook_main_state();
  pthread_mutex_unlock(&mu);
  pthread_kill(main_thread, SIGUSR1);
}

static void *sigint_thread(void *arg) {
  sigset_t *set = arg;
  int sig;
  for (;;) {
    if (sigwait(set, &sig) != 0) continue;
    if (!interrupt_chunk()) end_process();
  }
  return NULL;
}

void cli_signals_start(const char *name) {
  if (name != NULL && name[0] != '\0') exit_name = name;
  main_thread = pthread_self();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_wake;  /* no SA_RESTART: reads end with EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sem_init(&fallback_sem, 0, 0);
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);  /* inherited by every thread */
  pthread_t th;
  if (pthread_create(&th, NULL, fallback_thread, NULL) == 0) pthread_detach(th);
  if (pthread_create(&th, NULL, sigint_thread, &set) == 0) pthread_detach(th);
}

void cli_signals_attach(lua_State *L) {
  pthread_mutex_lock(&mu);
  mainL = L;
  pthread_mutex_unlock(&mu);
}

int cli_must_exit(void) { return atomic_load(&must_exit); }

void cli_chunk_begin(void) {
  pthread_mutex_lock(&mu);
  chunk_running = 1;
  pthread_mutex_unlock(&mu);
}

int cli_chunk_end(lua_State *L) {
  pthread_mutex_lock(&mu);
  chunk_running = 0;
  while (soft == SOFT_STARTED) pthread_cond_wait(&soft_done, &mu);
  int interrupted = soft == SOFT_DONE;
  pthread_mutex_unlock(&mu);
  if (!interrupted) return 0;
  lua_sethook(L, NULL, 0, 0);  /* if the chunk ended before it fired */
  if (!tk_lua_stop_settle(L, SETTLE_SECONDS))
    cli_message(NULL, "some tasks had not stopped yet (they were cancelled)");
  pthread_mutex_lock(&mu);
  /* A second Ctrl-C meanwhile ends the process: its interrupt stays. */
  if (!atomic_load(&must_exit)) tk_lua_stop_end();
  soft = SOFT_NONE;
  pthread_mutex_unlock(&mu);
  return 1;
}
