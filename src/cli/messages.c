/*
** messages.c - how tklua runs a chunk and reports its error: a traceback
** added, "name: message" on stderr, the name being argv[0] (none in the
** REPL), as lua does.
** See LICENSE for copyright and licence.
*/
#include <stdio.h>

#include "lauxlib.h"
#include "lua.h"
#include "cli.h"

const char *cli_progname = "tklua";

void cli_message(const char *name, const char *msg) {
  if (name != NULL) fprintf(stderr, "%s: ", name);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

int cli_report(lua_State *L, int status) {
  if (status != LUA_OK) {
    cli_message(cli_progname, lua_tostring(L, -1));
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

int cli_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}
