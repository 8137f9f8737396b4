/*
** repl.c - tklua's read-eval-print loop, as lua's: _PROMPT and _PROMPT2,
** "=expr", an expression's values printed, a statement over several lines,
** line editing and history with readline when tklua was built with it and
** the input is a terminal. Ctrl-C during a chunk interrupts it (and all
** work) and the loop goes on (interrupt.c).
** See LICENSE for copyright and licence.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "cli.h"

#ifdef TK_USE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#define MAX_INPUT_LINE 512  /* a longer line is read in pieces, as lua's */

/* Reads a line after prompt; returns a malloc'd string without its
** newline, or NULL at end of input or when Ctrl-C ends the process. */
typedef char *(*line_reader)(const char *prompt);

static char *read_plain(const char *prompt) {
  char buf[MAX_INPUT_LINE];
  fputs(prompt, stdout);
  fflush(stdout);
  if (fgets(buf, sizeof buf, stdin) == NULL) return NULL;
  size_t l = strlen(buf);
  if (l > 0 && buf[l - 1] == '\n') buf[--l] = '\0';
  return strdup(buf);
}

#ifdef TK_USE_READLINE
/* readline's key reader: a Ctrl-C that ends the process wakes the main
** thread (SIGUSR1), and the read must then end rather than resume. */
static int read_key(FILE *f) {
  unsigned char c;
  for (;;) {
    if (cli_must_exit()) return EOF;
    ssize_t n = read(fileno(f), &c, 1);
    if (n == 1) return c;
    if (n == 0 || errno != EINTR) return EOF;
  }
}

static char *read_edited(const char *prompt) {
  char *line = readline(prompt);
  if (line != NULL && line[0] != '\0') add_history(line);
  return line;
}

static line_reader start_reader(void) {
  if (!isatty(0)) return read_plain;
  rl_readline_name = "tklua";  /* for conditionals in ~/.inputrc */
  rl_catch_signals = 0;        /* SIGINT is interrupt.c's */
  rl_getc_function = read_key;
  return read_edited;
}
#else
static line_reader start_reader(void) { return read_plain; }
#endif

/* The prompt: tostring(_PROMPT) (_PROMPT2 for a continuation line), or
** the default. Leaves a value on the stack that keeps the string alive. */
static const char *get_prompt(lua_State *L, int firstline) {
  if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL)
    return firstline ? "> " : ">> ";
  const char *p = luaL_tolstring(L, -1, NULL);
  lua_remove(L, -2);
  return p;
}

static int pushline(lua_State *L, line_reader reader, int firstline) {
  const char *prompt = get_prompt(L, firstline);
  char *line = reader(prompt);
  lua_pop(L, 1);  /* the prompt */
  if (line != NULL && cli_must_exit()) {
    free(line);
    line = NULL;
  }
  if (line == NULL) return 0;
  if (firstline && line[0] == '=') lua_pushfstring(L, "return %s", line + 1);
  else lua_pushstring(L, line);
  free(line);
  return 1;
}

/* A syntax error at <eof>: the statement may go on on the next line. */
static int incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  return len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/* Leaves the chunk of the line read (first as "return line;", then as a
** statement that may take more lines) or its error; -1 at end of input. */
static int loadline(lua_State *L, line_reader reader) {
  lua_settop(L, 0);
  if (!pushline(L, reader, 1)) return -1;
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
    /* At the end of input the incomplete statement's error stays. */
    if (!incomplete(L, status) || !pushline(L, reader, 0)) break;
    lua_remove(L, -2);  /* the error, now that a line follows */
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
    cli_message(cli_progname, lua_pushfstring(L, "error calling 'print' (%s)",
                                              lua_tostring(L, -1)));
}

void cli_repl(lua_State *L) {
  const char *name = cli_progname;
  cli_progname = NULL;  /* no program name on the REPL's errors */
  line_reader reader = start_reader();
  int status;
  while ((status = loadline(L, reader)) != -1) {
    if (status == LUA_OK) {
      cli_chunk_begin();
      status = cli_docall(L, 0, LUA_MULTRET);
      cli_chunk_end(L);
    }
    if (status == LUA_OK) print_results(L);
    else cli_report(L, status);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
  cli_progname = name;
}
