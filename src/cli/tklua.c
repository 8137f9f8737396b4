/*
** tklua.c - a Lua 5.4 interpreter with threadkit built in.
** See LICENSE for copyright and licence.
**
** Behaves like `lua` (docs/tklua.md lists the differences): the arg
** table, -e, -l [g=]mod, -i, -v, -E, -W, - for stdin, LUA_INIT_5_4 and
** LUA_INIT, a REPL when there is no script (repl.c), "name: message" and
** a traceback on error. It adds -j N (workers of the default pool),
** --stats (metrics at exit, on stderr), --trace FILE, and -h/--help. At
** the end of the script it waits for all outstanding work. Ctrl-C
** (interrupt.c) cancels all work and exits with status 130, or in the
** REPL interrupts the running chunk and goes on.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include "threadkit.h"
#include "threadkit_lua.h"
#include "cli.h"


#define INIT_VAR "LUA_INIT"
#define INIT_VAR_VERSION INIT_VAR LUA_VERSUFFIX

static int takes_argument(const char *option) {
  return strcmp(option, "-e") == 0 || strcmp(option, "-l") == 0 ||
         strcmp(option, "-j") == 0 || strcmp(option, "--trace") == 0;
}

static const char usage_text[] =
    "usage: %s [options] [script [args]]\n"
    "Available options are:\n"
    "  -e stat   execute string 'stat'\n"
    "  -i        enter interactive mode after executing 'script'\n"
    "  -l mod    require library 'mod' into global 'mod'\n"
    "  -l g=mod  require library 'mod' into global 'g'\n"
    "  -v        show version information\n"
    "  -E        ignore environment variables\n"
    "  -W        turn warnings on\n"
    "  -j N      use N workers in the default pool\n"
    "  --stats   print pool and group statistics on stderr at exit\n"
    "  --trace F write a Chrome trace of every task to file F\n"
    "  -h, --help  show this help\n"
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n";

/* Usage on stderr after a bad option (with what was wrong with it). */
static void print_usage(const char *badoption) {
  if (takes_argument(badoption))  /* only ever bad for lack of one */
    fprintf(stderr, "%s: '%s' needs argument\n", cli_progname, badoption);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", cli_progname, badoption);
  fprintf(stderr, usage_text, cli_progname);
  fflush(stderr);
}

static void print_version(void) {
  printf("tklua (%s, threadkit %s)\n", LUA_RELEASE, TK_VERSION_STRING);
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
  if (status == LUA_OK) status = cli_docall(L, 0, 0);
  return cli_report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l g=mod runs g = require("mod"); -l mod runs mod = require("mod"). */
static int dolibrary(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *modname = eq != NULL ? eq + 1 : spec;
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  int status = cli_docall(L, 1, 1);
  if (status == LUA_OK) {
    if (eq != NULL) lua_pushlstring(L, spec, (size_t)(eq - spec));
    else lua_pushstring(L, spec);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return cli_report(L, status);
}

/* LUA_INIT_5_4, else LUA_INIT: a chunk, or @file. */
static int handle_luainit(lua_State *L) {
  const char *name = "=" INIT_VAR_VERSION;
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=" INIT_VAR;
    init = getenv(name + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, name);
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
    status = cli_docall(L, n, LUA_MULTRET);
  }
  return cli_report(L, status);
}

#define has_error 1
#define has_i 2
#define has_v 4
#define has_e 8
#define has_stats 16
#define has_trace 32
#define has_E 64
#define has_help 128

static const char *trace_file;

/* An option of one letter and nothing more ("-v", not "-vv"). */
static int bare(const char *option) { return option[2] == '\0'; }

/* Scans options; returns flags, or has_error with *first = the bad one.
** Otherwise *first is the script's index (argc when there is none). */
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
    if (strcmp(argv[i], "--help") == 0) {
      args |= has_help;
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
        if (!bare(argv[i])) return has_error;
        *first = i + 1;
        return args;
      case '\0': return args;
      case 'E':
        if (!bare(argv[i])) return has_error;
        args |= has_E;
        break;
      case 'W':
        if (!bare(argv[i])) return has_error;
        break;
      case 'i':
        if (!bare(argv[i])) return has_error;
        args |= has_i | has_v;
        break;
      case 'v':
        if (!bare(argv[i])) return has_error;
        args |= has_v;
        break;
      case 'h':
        if (!bare(argv[i])) return has_error;
        args |= has_help;
        break;
      case 'e':
        args |= has_e;
        /* FALLTHROUGH */
      case 'l':
      case 'j':
        if (bare(argv[i])) {
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

/* Runs -e, -l and -W in their order; 0 if some code failed. */
static int runargs(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      const char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int status = option == 'e' ? dostring(L, extra, "=(command line)")
                                 : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
    } else if (option == 'W') {
      lua_warning(L, "@on", 0);
    } else if (option == 'j') {
      if (bare(argv[i])) i++;
    } else if (strcmp(argv[i], "--trace") == 0) {
      i++;
    }
  }
  return 1;
}

/* -j N for every -j before the script; 0 (with a message) if N is bad. */
static int set_workers(char **argv, int script) {
  for (int i = 1; i < script; i++) {
    if (argv[i][0] == '-' && argv[i][1] == 'j') {
      const char *n = argv[i][2] ? argv[i] + 2 : argv[i + 1];
      int w = atoi(n);
      if (w < 1 || w > TK_MAX_WORKERS) {
        char msg[64];
        snprintf(msg, sizeof msg, "-j needs a number of workers from 1 to %d",
                 TK_MAX_WORKERS);
        cli_message(cli_progname, msg);
        return 0;
      }
      tk_lua_set_default_workers(w);
    }
  }
  return 1;
}

/* Cancels queued work and stops running tasks, so that the exit is prompt
** (Ctrl-C, a failed script, daemon work left at the end). */
static void stop_all_work(void) { tk_lua_stop_all(); }

/* Writes the trace and the stats: at the end of every run, however it
** ends. Returns 0 if the trace could not be written. */
static int finish(int args) {
  static int done;
  if (done) return 1;
  done = 1;
  int ok = 1;
  if ((args & has_trace) && tk_lua_trace_stop() < 0) {
    fprintf(stderr, "%s: cannot write the trace to %s\n", cli_progname, trace_file);
    ok = 0;
  }
  if (args & has_stats) tk_lua_print_stats(stderr);
  return ok;
}

static int run_args;  /* collectargs' flags, for main's finish */

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int script;
  int args = collectargs(argv, &script);
  run_args = args & ~has_error;
  if (args == has_error) {
    print_usage(argv[script]);
    return 0;
  }
  if (args & has_help) {
    printf(usage_text, cli_progname);
    fflush(stdout);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (!set_workers(argv, script)) return 0;
  if (args & has_v) print_version();
  if (args & has_E) {  /* the standard libraries read no variables */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  if (args & has_trace) {
    int rc = tk_lua_trace_start(trace_file);
    if (rc != 0) {
      cli_message(cli_progname, lua_pushfstring(L, "cannot write the trace to %s: %s",
                                                trace_file, strerror(errno)));
      return 0;
    }
  }
  luaL_openlibs(L);
  luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
  lua_pop(L, 1);
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (!(args & has_E) && handle_luainit(L) != LUA_OK) return 0;
  if (!runargs(L, argv, script)) return 0;
  if (script < argc && handle_script(L, argv + script) != LUA_OK) return 0;
  if (args & has_i) {
    cli_repl(L);
  } else if (script == argc && !(args & (has_e | has_v))) {
    if (isatty(0)) {
      print_version();
      cli_repl(L);
    } else {
      dofile(L, NULL);
    }
  }
  /* Daemon work is not waited for: it is stopped, as at Ctrl-C. */
  if (tk_lua_wait_all(L) > 0) stop_all_work();
  if (cli_must_exit()) return luaL_error(L, "interrupted!");
  lua_pushboolean(L, finish(args));
  return 1;
}

int main(int argc, char **argv) {
  static char name[] = "tklua";
  static char *fallback[] = {name, NULL};
  if (argv[0] == NULL) argv = fallback;
  if (argv[0][0] != '\0') cli_progname = argv[0];
  cli_signals_start(cli_progname);
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    cli_message(cli_progname, "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  cli_signals_attach(L);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int result = lua_toboolean(L, -1);
  cli_report(L, status);
  if (!(result && status == LUA_OK)) {
    /* The script failed or was interrupted: its outstanding work is not
    ** waited for. */
    stop_all_work();
    finish(run_args);
  }
  cli_signals_attach(NULL);
  tk_lua_close(L);  /* the finalizers of the script's objects run */
  if (cli_must_exit()) return 130;
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
