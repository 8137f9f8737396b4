/*
** one_core_host.c - a C host that links libthreadkit.so and requires the
** Lua module from a Lua state of its own: the jobs Lua submits must be
** the host core's (a finish hook set through the host's core sees them).
** Prints "jobs seen by the host's core: N" and exits 0 if N is the number
** submitted, 2 if the module brought a core of its own.
** See LICENSE for copyright and licence.
*/
#include <stdatomic.h>
#include <stdio.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include "threadkit.h"

static atomic_int finished;

static void count_finish(tk_job_t *job) {
  (void)job;
  atomic_fetch_add(&finished, 1);
}

static const char *script =
    "local tk = require 'threadkit'\n"
    "local jobs = {}\n"
    "for i = 1, 8 do jobs[i] = tk.submit(function(x) return x * 2 end, i) end\n"
    "for i = 1, 8 do assert(jobs[i]:result() == i * 2) end\n"
    "return 8\n";

int main(void) {
  tk_set_finish_hook(count_finish);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_dostring(L, script) != LUA_OK) {
    fprintf(stderr, "one_core_host: %s\n", lua_tostring(L, -1));
    return 1;
  }
  int submitted = (int)lua_tointeger(L, -1);
  lua_close(L);
  tk_set_finish_hook(NULL);
  int seen = atomic_load(&finished);
  printf("jobs seen by the host's core: %d of %d\n", seen, submitted);
  return seen >= submitted ? 0 : 2;
}
