/*
** fuzz_transfer.c - libFuzzer target: arbitrary bytes through the Lua
** value decoder. It must refuse every malformed buffer with a Lua error:
** no crash, no out-of-bounds read, no bytecode it did not produce.
** Build and run with `make fuzz` (clang). See LICENSE for copyright and
** licence.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lualib.h"
#include "tkl.h"

int luaopen_threadkit(lua_State *L);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode(lua_State *L) {
  return tkl_decode(L, lua_touserdata(L, 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lua_State *L;
  static unsigned runs;
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
    lua_pop(L, 1);
  }
  tkl_buf b;
  tkl_buf_init(&b);
  b.data = malloc(size ? size : 1);
  if (b.data == NULL) return 0;
  memcpy(b.data, data, size);
  b.len = size;
  lua_pushcfunction(L, decode);
  lua_pushlightuserdata(L, &b);
  lua_pcall(L, 1, LUA_MULTRET, 0);
  lua_settop(L, 0);
  free(b.data);  /* no refs: a fuzzed buffer owns no handles */
  if (++runs % 1024 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
