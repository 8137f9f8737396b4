/*
** module.c - luaopen_threadkit: the threadkit Lua module.
** See LICENSE for copyright and licence.
*/
#include <string.h>

#include "tkl.h"

__attribute__((visibility("default"))) int luaopen_threadkit(lua_State *L);

/* Names every C function of the loaded standard libraries and of threadkit
** (its private ones too, tkl_private_cfuncs) so that functions holding
** them can travel (transfer.c). */
static void register_cfuncs(lua_State *L, int module) {
  static const char *const libs[] = {"_G", "string", "table", "math", "io",
                                     "os", "utf8", "coroutine", "debug",
                                     "package", NULL};
  lua_newtable(L);  /* function -> name */
  int cnames = lua_gettop(L);
  lua_newtable(L);  /* name -> function */
  int cfuncs = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  for (int i = -1; libs[i + 1] != NULL || i == -1; i++) {
    const char *lib = i < 0 ? "threadkit" : libs[i];
    if (i < 0) lua_pushvalue(L, module);
    else lua_getfield(L, loaded, lib);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_iscfunction(L, -1) && lua_type(L, -2) == LUA_TSTRING) {
        lua_pushfstring(L, "%s.%s", lib, lua_tostring(L, -2));
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, cnames);   /* cnames[fn] = name */
        lua_pushvalue(L, -2);
        lua_rawset(L, cfuncs);   /* cfuncs[name] = fn */
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  for (const luaL_Reg *r = tkl_private_cfuncs; r->name != NULL; r++) {
    lua_pushcfunction(L, r->func);
    lua_pushstring(L, r->name);
    lua_rawset(L, cnames);
    lua_pushcfunction(L, r->func);
    lua_setfield(L, cfuncs, r->name);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tkl_key_cfuncs);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tkl_key_cnames);
}

/* Registry keys: addresses, so lookups neither hash nor compare strings. */
const char tkl_key_boxes, tkl_key_cfuncs, tkl_key_cnames, tkl_key_dumpids,
    tkl_key_loads, tkl_key_anchors;

static void weak_table(lua_State *L, const char *key, const char *mode) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

int luaopen_threadkit(lua_State *L) {
  luaL_checkversion(L);
  lua_newtable(L);
  int module = lua_gettop(L);
  tkl_open_ctx(L);  /* first: the parts below register into it */
  weak_table(L, &tkl_key_dumpids, "k");  /* function -> id */
  weak_table(L, &tkl_key_loads, "v");    /* function id -> closure */
  weak_table(L, &tkl_key_anchors, "k");  /* handle -> what it keeps alive */
  tkl_open_handles(L);
  tkl_open_pool(L);
  tkl_open_job(L);
  tkl_open_token(L);
  tkl_open_channel(L);
  tkl_open_shared(L);
  tkl_open_task(L);
  tkl_open_group(L);
  tkl_open_completed(L);
  tkl_open_dot(L);
  tkl_open_trace(L);
  tkl_open_script(L, module);
  static const char *const prios[] = {"LOWEST", "LOW", "NORMAL", "HIGH",
                                      "HIGHEST"};
  for (int i = 0; i < 5; i++) {
    lua_pushinteger(L, i - 2);
    lua_setfield(L, module, prios[i]);
  }
  lua_pushstring(L, "threadkit " TK_VERSION_STRING);
  lua_setfield(L, module, "_VERSION");
  register_cfuncs(L, module);
  /* Where threadkit is built in (tklua, hosts, worker states), require
  ** finds it again after package.loaded forgets it, as it finds a module
  ** loaded from a file. */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE) == LUA_TTABLE) {
    lua_pushcfunction(L, luaopen_threadkit);
    lua_setfield(L, -2, "threadkit");
  }
  lua_pop(L, 1);
  return 1;
}
