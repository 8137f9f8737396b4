/*
** cli.h - what the parts of tklua share: messages and protected calls
** (messages.c), the REPL (repl.c), Ctrl-C (interrupt.c); tklua.c holds
** the options and main.
** See LICENSE for copyright and licence.
*/
#ifndef TK_CLI_H
#define TK_CLI_H

#include "lua.h"

/* The name messages start with: argv[0], as lua does; NULL in the REPL,
** whose errors come without it (as lua's). */
extern const char *cli_progname;

/* messages.c: "name: msg" on stderr (just msg for a NULL name). */
void cli_message(const char *name, const char *msg);
/* Prints and pops the error message of a failed status; returns it. */
int cli_report(lua_State *L, int status);
/* lua_pcall with a traceback added to the error message. */
int cli_docall(lua_State *L, int narg, int nres);

/* Ctrl-C. Outside a REPL chunk it cancels all work and ends the process
** with status 130; during a REPL chunk it interrupts the chunk and the
** work of every pool, and the REPL goes on. */
void cli_signals_start(const char *name);
/* The state Ctrl-C stops (NULL once it closes). */
void cli_signals_attach(lua_State *L);
/* 1 once Ctrl-C asked the process to end. */
int cli_must_exit(void);
/* Around each REPL chunk: from begin to end, Ctrl-C interrupts the chunk
** rather than the session. end returns 1 if it did, after the work it
** stopped has ended and the interrupt is lifted. */
void cli_chunk_begin(void);
int cli_chunk_end(lua_State *L);

/* The read-eval-print loop, until end of input or Ctrl-C at its prompt. */
void cli_repl(lua_State *L);

#endif
