/*
** host.c - a C program that embeds threadkit: its own pool, its own Lua
** state, and a C function of its own (host.checksum) registered in every
** worker state so that tasks can call it.
** See LICENSE for copyright and licence.
*/
#include <stdio.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include "threadkit_lua.h"

/* A host function tasks call: a simple checksum of a string. */
static int checksum(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned sum = 0;
  for (size_t i = 0; i < n; i++) sum = sum * 31u + (unsigned char)s[i];
  lua_pushinteger(L, (lua_Integer)sum);
  return 1;
}

static void register_host(lua_State *L) {
  static const luaL_Reg funcs[] = {{"checksum", checksum}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setglobal(L, "host");
}

static const char *script =
    "local tk = ...\n"
    "local words = {'alpha', 'beta', 'gamma', 'delta'}\n"
    "local jobs = {}\n"
    "for i, w in ipairs(words) do\n"
    "  jobs[i] = tk.submit(function(word) return word, host.checksum(word) end, w)\n"
    "end\n"
    "for i = 1, #jobs do print(jobs[i]:result()) end\n"
    "print('checksum in the host state too:', host.checksum('alpha'))\n";

int main(void) {
  tk_pool_t *pool;
  tk_pool_opts_t opts = {.workers = 2, .name = "host"};
  if (tk_pool_new(&opts, &pool) != 0) return 1;
  tk_lua_set_worker_hook(register_host);

  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  register_host(L);
  tk_lua_open(L, pool);  /* pushes the module */
  int rc = luaL_loadstring(L, script);
  if (rc == LUA_OK) {
    lua_insert(L, -2);  /* the chunk, then the module as its argument */
    rc = lua_pcall(L, 1, 0, 0);
  }
  if (rc != LUA_OK) fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
  lua_close(L);
  tk_pool_free(pool);
  return rc == LUA_OK ? 0 : 1;
}
