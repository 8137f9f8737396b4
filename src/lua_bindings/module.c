/*
** module.c - luaopen_threadkit: the threadkit Lua module.
** See LICENSE for copyright and licence.
*/
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lualib.h"
#include "lopen.h"
#include "transfer.h"


static const char *const libs[] = {"_G", "string", "table", "math", "io",
                                   "os", "utf8", "coroutine", "debug",
                                   "package", NULL};

/* The C functions a fresh state's standard libraries have, by name: the
** ones every worker state has too. A host's own C functions (a global it
** set, one it put into `string`) are not among them, and are refused
** where they are sent instead of failing where they arrive. */
typedef struct std_cfunc {
  char *name;                    /* "lib.name" */
  lua_CFunction fn;
} std_cfunc;

static std_cfunc *std_cfuncs;
static size_t n_std_cfuncs;
static pthread_once_t std_once = PTHREAD_ONCE_INIT;

static void list_std_cfuncs(void) {
  lua_State *P = luaL_newstate();
  if (P == NULL) return;  /* then only threadkit's own travel */
  luaL_openlibs(P);
  size_t cap = 0;
  for (int i = 0; libs[i] != NULL; i++) {
    lua_getfield(P, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(P, -1, libs[i]) == LUA_TTABLE) {
      lua_pushnil(P);
      while (lua_next(P, -2) != 0) {
        if (lua_iscfunction(P, -1) && lua_type(P, -2) == LUA_TSTRING) {
          if (n_std_cfuncs == cap) {
            cap = cap ? cap * 2 : 256;
            std_cfunc *grown = realloc(std_cfuncs, cap * sizeof *grown);
            if (grown == NULL) break;
            std_cfuncs = grown;
          }
          const char *name = lua_pushfstring(P, "%s.%s", libs[i],
                                             lua_tostring(P, -2));
          std_cfunc *e = &std_cfuncs[n_std_cfuncs];
          if ((e->name = strdup(name)) != NULL) {
            e->fn = lua_tocfunction(P, -2);
            n_std_cfuncs++;
          }
          lua_pop(P, 1);
        }
        lua_pop(P, 1);
      }
    }
    lua_pop(P, 2);
  }
  lua_close(P);
}

/* Whether fn is the standard library's function `name`. */
static int is_std_cfunc(const char *name, lua_CFunction fn) {
  for (size_t i = 0; i < n_std_cfuncs; i++)
    if (std_cfuncs[i].fn == fn && strcmp(std_cfuncs[i].name, name) == 0)
      return 1;
  return 0;
}

/* Names every C function of the loaded standard libraries and of threadkit
** (its private ones too, tkl_private_cfuncs) so that functions holding
** them can travel (encode.c). */
static void register_cfuncs(lua_State *L, int module) {
  pthread_once(&std_once, list_std_cfuncs);
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
        const char *name = lua_pushfstring(L, "%s.%s", lib, lua_tostring(L, -2));
        if (i >= 0 && !is_std_cfunc(name, lua_tocfunction(L, -2))) {
          lua_pop(L, 2);
          continue;
        }
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

/* The module's parts, in the order they open: the context first (the
** others register into it), and what its close does (callbacks, the
** default pool, cycles); then what the handle kinds use (the box cache,
** buffer guards, the coder's tables); then each kind of object, and the
** functions that use them. The parts written in Lua come last, outside
** this list: their code binds the module's functions when it loads. */
typedef void (*opener)(lua_State *L);
static const opener openers[] = {
    /* the context, and what its close does */
    tkl_open_ctx, tkl_open_callbacks, tkl_open_default, tkl_open_cycles,
    /* what every kind of handle uses */
    tkl_open_handles, tkl_open_buffers, tkl_open_transfer,
    /* the kinds, each with its functions */
    tkl_open_pool, tkl_open_job, tkl_open_token, tkl_open_channel,
    tkl_open_shared, tkl_open_group,
    /* functions over them */
    tkl_open_task, tkl_open_completed, tkl_open_dot, tkl_open_trace,
    tkl_open_stats};

int luaopen_threadkit(lua_State *L) {
  luaL_checkversion(L);
  lua_newtable(L);
  int module = lua_gettop(L);
  for (size_t i = 0; i < sizeof openers / sizeof *openers; i++)
    openers[i](L);
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
