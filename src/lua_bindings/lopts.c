/*
** lopts.c - reading what a script hands to threadkit: timeouts, option
** tables, and lists (dependencies, jobs to wait for or draw, items to
** map). See LICENSE for copyright and licence.
**
** A list's length is never taken from `#` (luaL_len): a __len metamethod
** may return anything (negative, huge, a float), and a count that sizes an
** allocation must be one the table really holds. A list is its own
** entries 1..n, n = lua_rawlen; every key must be one of them, so that an
** entry past a hole is an error instead of being silently left out.
*/
#include <limits.h>
#include <string.h>

#include "lopts.h"

double tkl_opt_timeout(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return -1;
  double t = luaL_checknumber(L, idx);
  luaL_argcheck(L, t >= 0, idx, "timeout must be a non-negative number");
  return t;
}

void tkl_check_options(lua_State *L, int idx, int arg, const char *prefix,
                       const char *const known[]) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int i = 0;
    while (k != NULL && known[i] != NULL && strcmp(k, known[i]) != 0) i++;
    if (k == NULL)
      luaL_argerror(L, arg, lua_pushfstring(L, "%soptions are named (got a %s "
                                               "key)", prefix,
                                            luaL_typename(L, -1)));
    if (known[i] == NULL)
      luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s%s'", prefix, k));
  }
}

/* Pushes a short description of the key on top (for error messages),
** without calling any metamethod of it. */
static void push_key_text(lua_State *L) {
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: lua_pushvalue(L, -1); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1))
        lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
      else
        lua_pushfstring(L, "%f", (LUAI_UACNUMBER)lua_tonumber(L, -1));
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
      break;
    default: lua_pushfstring(L, "of type %s", luaL_typename(L, -1)); break;
  }
}

lua_Integer tkl_list_length(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_Unsigned n = lua_rawlen(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    int isint = lua_isinteger(L, -1);
    lua_Integer k = isint ? lua_tointeger(L, -1) : 0;
    if (!isint || k < 1 || (lua_Unsigned)k > n) {
      push_key_text(L);
      lua_remove(L, -2);
      return -1;
    }
  }
  /* Every key is one of 1..n, so n entries exist: far below INT_MAX. The
  ** check keeps callers that count in int safe all the same. */
  if (n > INT_MAX) {
    lua_pushliteral(L, "(too many entries)");
    return -1;
  }
  return (lua_Integer)n;
}

int tkl_check_list(lua_State *L, int idx, int arg, const char *what) {
  if (!lua_istable(L, idx))
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a list (a table), "
                                             "got %s", what,
                                          luaL_typename(L, idx)));
  lua_Integer n = tkl_list_length(L, idx);
  if (n < 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a list: key %s", what,
                                          lua_tostring(L, -1)));
  return (int)n;
}
