/*
** tklua.c - a Lua 5.4 interpreter with threadkit built in.
** See LICENSE for copyright and licence.
**
** Behaves like `lua` (arg table, -e, -l, -i, -v, -h, - for stdin, a REPL
** when there is no script, "tklua: message" and a traceback on error) and
** adds -j N (workers of the default pool) and --stats (metrics at exit, on
** stderr). At the end of the script it waits for all outstanding work.
** Ctrl-C cancels all work, stops runaway tasks and exits with status 130.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include "threadkit.h"
#include "threadkit_lua.h"

static const char *progname = "tklua";
static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static lua_State *globalL;       /* global_mu: the main state while open */
static atomic_int got_sigint;
static sem_t fallback_sem;       /* posted once on Ctrl-C */
static pthread_t main_thread;

/* {====================================================== Ctrl-C */

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
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
  if (write(2, progname, strlen(progname)) < 0 || write(2, msg, sizeof msg - 1) < 0) {}
  _exit(130);
}

/* SIGUSR1 ends the main thread's blocking reads (the REPL's) with EINTR. */
static void on_wake(int sig) { (void)sig; }

/* A thread of its own takes SIGINT (blocked everywhere else), so that it
** may lock, cancel and set hooks freely. The fallback is armed first:
** what follows may wait for locks that the program holds. */
static void *sigint_thread(void *arg) {
  sigset_t *set = arg;
  int sig;
  for (;;) {
    if (sigwait(set, &sig) != 0) continue;
    if (atomic_exchange(&got_sigint, 1)) continue;
    sem_post(&fallback_sem);
    tk_lua_stop_all();
    pthread_mutex_lock(&global_mu);
    if (globalL != NULL)
      lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    pthread_mutex_unlock(&global_mu);
    pthread_kill(main_thread, SIGUSR1);
  }
  return NULL;
}

static void start_sigint_thread(void) {
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

/* }====================================================== */

static int takes_argument(const char *option) {
  return strcmp(option, "-e") == 0 || strcmp(option, "-l") == 0 ||
         strcmp(option, "-j") == 0 || strcmp(option, "--trace") == 0;
}

static void print_usage(const char *badoption) {
  if (takes_argument(badoption))  /* only ever bad for lack of one */
    fprintf(stderr, "%s: '%s' needs argument\n", progname, badoption);
  else if (badoption[0])
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -j N      use N workers in the default pool\n"
          "  --stats   print pool and group statistics on stderr at exit\n"
          "  --trace F write a Chrome trace of every task to file F\n"
          "  -v        show version information\n"
          "  -h        show this help\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n",
          progname);
}

static void message(const char *msg) {
  fprintf(stderr, "%s: %s\n", progname, msg);
  fflush(stderr);
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    message(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status;
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

static void print_version(void) {
  printf("%s (%s, threadkit %s)\n", progname, LUA_RELEASE, TK_VERSION_STRING);
  fflush(stdout);
}

static void createargtable(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;  /* no script: arg[0] is the program */
  int narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

static int dolibrary(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, name);
  return report(L, status);
}

static int pushargs(lua_State *L) {
  if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
  int n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  int i;
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -i);
  return n;
}

static int handle_script(lua_State *L, char **argv) {
  const char *fname = argv[0];
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL;
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = pushargs(L);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

/* {====================================================== REPL */

static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

static int pushline(lua_State *L, int firstline) {
  char buf[512];
  fputs(firstline ? "> " : ">> ", stdout);
  fflush(stdout);
  if (fgets(buf, sizeof buf, stdin) == NULL) return 0;
  size_t l = strlen(buf);
  if (l > 0 && buf[l - 1] == '\n') buf[--l] = '\0';
  if (firstline && buf[0] == '=') lua_pushfstring(L, "return %s", buf + 1);
  else lua_pushlstring(L, buf, l);
  return 1;
}

static int loadline(lua_State *L) {
  lua_settop(L, 0);
  if (!pushline(L, 1)) return -1;
  /* First as an expression, then as a statement (multi-line allowed). */
  const char *line = lua_tostring(L, 1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
  if (status == LUA_OK) {
    lua_remove(L, -2);
    lua_remove(L, 1);
    return status;
  }
  lua_pop(L, 2);
  for (;;) {
    size_t len;
    const char *code = lua_tolstring(L, 1, &len);
    status = luaL_loadbuffer(L, code, len, "=stdin");
    if (!incomplete(L, status) || !pushline(L, 0)) break;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
  lua_remove(L, 1);
  return status;
}

static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    message(lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

static void doREPL(lua_State *L) {
  int status;
  while ((status = loadline(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) print_results(L);
    else report(L, status);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
}

/* }====================================================== */

/* {====================================================== --stats */

static void print_stats(void) { tk_lua_print_stats(stderr); }

/* }====================================================== */

#define has_error 1
#define has_i 2
#define has_v 4
#define has_e 8
#define has_stats 16
#define has_trace 32

static const char *trace_file;

/* Scans options; returns flags, or has_error with *first = the bad one. */
static int collectargs(char **argv, int *first) {
  int args = 0;
  int i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args;
    if (strcmp(argv[i], "--stats") == 0) {
      args |= has_stats;
      continue;
    }
    if (strcmp(argv[i], "--trace") == 0) {
      if (argv[i + 1] == NULL) return has_error;
      trace_file = argv[++i];
      args |= has_trace;
      continue;
    }
    switch (argv[i][1]) {
      case '-':
        if (argv[i][2] != '\0') return has_error;
        *first = i + 1;
        return args;
      case '\0': return args;
      case 'i':
        if (argv[i][2] != '\0') return has_error;
        args |= has_i | has_v;
        break;
      case 'v':
        if (argv[i][2] != '\0') return has_error;
        args |= has_v;
        break;
      case 'h': return has_error;
      case 'e':
        args |= has_e;
        /* FALLTHROUGH */
      case 'l':
      case 'j':
        if (argv[i][2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return has_error;
        }
        break;
      default: return has_error;
    }
  }
  *first = i;
  return args;
}

static int runargs(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      const char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int status = option == 'e' ? dostring(L, extra, "=(command line)")
                                 : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
    } else if (option == 'j') {
      if (argv[i][2] == '\0') i++;
    } else if (strcmp(argv[i], "--trace") == 0) {
      i++;
    }
  }
  return 1;
}

/* Cancels queued work and stops running tasks, so that the exit is prompt
** (Ctrl-C, a failed script, daemon work left at the end). */
static void stop_all_work(void) {
  tk_lua_stop_all();
}

/* Writes the trace and the stats: at the end of every run, however it
** ends. Returns 0 if the trace could not be written. */
static int finish(int args) {
  static int done;
  if (done) return 1;
  done = 1;
  int ok = 1;
  if ((args & has_trace) && tk_lua_trace_stop() < 0) {
    fprintf(stderr, "%s: cannot write the trace to %s\n", progname, trace_file);
    ok = 0;
  }
  if (args & has_stats) print_stats();
  return ok;
}

static int run_args;  /* collectargs' flags, for main's finish */

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int script;
  int args = collectargs(argv, &script);
  run_args = args & ~has_error;
  if (args == has_error || (argv[1] && strcmp(argv[1], "-h") == 0)) {
    print_usage(args == has_error && argv[script] && strcmp(argv[script], "-h")
                    ? argv[script]
                    : "");
    lua_pushboolean(L, args != has_error || (argv[script] &&
                                             strcmp(argv[script], "-h") == 0));
    return 1;
  }
  for (int i = 1; i < script; i++) {
    if (argv[i][0] == '-' && argv[i][1] == 'j') {
      const char *n = argv[i][2] ? argv[i] + 2 : argv[i + 1];
      int w = atoi(n);
      if (w < 1 || w > 4096) {
        message("-j needs a number of workers from 1 to 4096");
        return 0;
      }
      tk_lua_set_default_workers(w);
    }
  }
  if (args & has_v) print_version();
  if (args & has_trace) {
    int rc = tk_lua_trace_start(trace_file);
    if (rc != 0) {
      message(lua_pushfstring(L, "cannot write the trace to %s: %s",
                              trace_file, strerror(errno)));
      return 0;
    }
  }
  luaL_openlibs(L);
  luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
  lua_pop(L, 1);
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (!runargs(L, argv, script)) return 0;
  if (script < argc && handle_script(L, argv + script) != LUA_OK) return 0;
  if (args & has_i) {
    doREPL(L);
  } else if (script == argc && !(args & (has_e | has_v))) {
    if (isatty(0)) {
      print_version();
      doREPL(L);
    } else {
      dochunk(L, luaL_loadfile(L, NULL));
    }
  }
  /* Daemon work is not waited for: it is stopped, as at Ctrl-C. */
  if (tk_lua_wait_all(L) > 0) stop_all_work();
  if (atomic_load(&got_sigint)) return luaL_error(L, "interrupted!");
  lua_pushboolean(L, finish(args));
  return 1;
}

int main(int argc, char **argv) {
  static char name[] = "tklua";
  static char *fallback[] = {name, NULL};
  if (argv[0] == NULL) argv = fallback;
  start_sigint_thread();
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    message("cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  pthread_mutex_lock(&global_mu);
  globalL = L;
  pthread_mutex_unlock(&global_mu);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int result = lua_toboolean(L, -1);
  report(L, status);
  if (!(result && status == LUA_OK)) {
    /* The script failed or was interrupted: its outstanding work is not
    ** waited for. */
    stop_all_work();
    finish(run_args);
  }
  pthread_mutex_lock(&global_mu);
  globalL = NULL;
  pthread_mutex_unlock(&global_mu);
  tk_lua_close(L);  /* the finalizers of the script's objects run */
  if (atomic_load(&got_sigint)) return 130;
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
