-- threadkit-scm-1.rockspec - the Lua module, built by LuaRocks from this
-- checkout: `luarocks make` (or `luarocks make --tree DIR`).
-- See LICENSE for copyright and licence.
--
-- The make backend: the build makes a C file from lscript.lua (the module's
-- Lua part) first, which the builtin backend cannot do. The rock's module
-- carries its own core (MODULE_CORE=own): it is installed alone, without
-- libthreadkit.so.
rockspec_format = "3.0"
package = "threadkit"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "A concurrency engine for Lua 5.4: pools, jobs, tasks that suspend",
  detailed = [[
threadkit runs Lua functions as tasks on a priority thread pool: jobs with
results, dependencies, retries and timeouts; cancellation tokens; channels
and shared tables between states; groups; tasks that suspend instead of
holding their worker.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "make",
  build_target = "module",
  build_variables = {
    BUILD = "build/rock",
    CFLAGS = "$(CFLAGS)",
    LUA = "$(LUA)",
    LUA_INC = "$(LUA_INCDIR)",
    MODULE_CORE = "own",
  },
  install_target = "install-module",
  install_variables = {
    BUILD = "build/rock",
    LUA_CMODDIR = "$(LIBDIR)",
    MODULE_CORE = "own",
  },
}
