/*
** test_embed.c - a C host that embeds threadkit and closes its lua_State
** with work in flight: nothing is lost, nothing hangs, nothing leaks (the
** sanitizer and valgrind runs check the last).
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

#include "lauxlib.h"
#include "lualib.h"
#include "threadkit_lua.h"

static atomic_int bumps;
static gate hold_gate;

/* host.bump(): counts a task that ran. host.hold(): waits at the gate. */
static int bump(lua_State *L) {
  (void)L;
  atomic_fetch_add(&bumps, 1);
  return 0;
}

static int hold(lua_State *L) {
  (void)L;
  gate_pass(&hold_gate);
  return 0;
}

static void register_host(lua_State *L) {
  static const luaL_Reg funcs[] = {{"bump", bump}, {"hold", hold}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setglobal(L, "host");
}

/* Opens a host state on pool (NULL: threadkit's default pool) and runs
** script with the module as its argument. */
static lua_State *run_host(tk_pool_t *pool, const char *script) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  assert_ok(tk_lua_open(L, pool));
  assert_int_equal(LUA_OK, luaL_loadstring(L, script));
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  return L;
}

/* The host's own pool outlives the state: the queued tasks still run. */
static void host_closes_state_while_its_pool_works(void **state) {
  (void)state;
  atomic_store(&bumps, 0);
  gate_init(&hold_gate);
  tk_pool_t *pool;
  tk_pool_opts_t opts = {.workers = 2, .name = "host"};
  assert_ok(tk_pool_new(&opts, &pool));
  lua_State *L = run_host(pool,
      "local tk = ...\n"
      "for i = 1, 2 do tk.submit(function() host.hold() host.bump() end) end\n"
      "for i = 1, 300 do tk.submit(function(t) host.bump() return t end,\n"
      "                            {i, tostring(i)}) end\n");
  assert_true(gate_wait_arrived(&hold_gate, 2));  /* both workers are held */
  lua_close(L);                              /* 300 tasks still queued */
  gate_open(&hold_gate);
  assert_ok(tk_pool_wait_all(pool, 30.0));
  assert_int_equal(302, atomic_load(&bumps));
  assert_ok(tk_pool_shutdown(pool, 1, 0));
  tk_pool_free(pool);
  gate_destroy(&hold_gate);
}

/* The default pool belongs to the state: closing it runs the queued work
** first, as collecting a pool does. */
static void host_closes_state_with_default_pool_busy(void **state) {
  (void)state;
  atomic_store(&bumps, 0);
  lua_State *L = run_host(NULL,
      "local tk = ...\n"
      "for i = 1, 300 do tk.submit(function() host.bump() end) end\n");
  lua_close(L);
  assert_int_equal(300, atomic_load(&bumps));
}

/* A task asleep for a long time does not hold up a host that closes its
** state and shuts its pool down cancelling. */
static void host_shutdown_cancels_sleeping_task(void **state) {
  (void)state;
  tk_pool_t *pool;
  tk_pool_opts_t opts = {.workers = 1, .name = "host"};
  assert_ok(tk_pool_new(&opts, &pool));
  gate_init(&hold_gate);
  lua_State *L = run_host(pool,
      "local tk = ...\n"
      "tk.submit(function() host.hold() tk.sleep(60) end)\n"
      "for i = 1, 100 do tk.submit(function() tk.sleep(60) end) end\n");
  assert_true(gate_wait_arrived(&hold_gate, 1));
  gate_open(&hold_gate);
  lua_close(L);
  double t0 = now_s();
  assert_ok(tk_pool_shutdown(pool, 1, 1));
  assert_true(now_s() - t0 < 10.0);  /* not the 60 s the tasks sleep */
  tk_pool_free(pool);
  gate_destroy(&hold_gate);
}

/* Runs script in L (the module is its argument); fails the test with the
** script's error. */
static void run_in(lua_State *L, const char *script) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_getfield(L, -1, "threadkit");
  lua_replace(L, -3);
  lua_pop(L, 1);
  assert_int_equal(LUA_OK, luaL_loadstring(L, script));
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
}

static void *loop_in_b(void *L) {
  run_in(L,
      "local tk = ...\n"
      "for i = 1, 3000 do\n"
      "  local ok, err = pcall(tk.submit, function() end)\n"
      "  assert(ok or err:find('attempt to use a shut-down pool', 1, true), err)\n"
      "  assert(tk.metrics().workers > 0)\n"
      "end\n");
  return NULL;
}

/* Two host states share the default pool, and the one that made it closes
** while the other submits to it and reads its metrics from another thread
** (the pool was freed under the second state: a use-after-free). Each
** state holds the pool it uses: the second one's calls work or fail
** cleanly, and it makes a new default pool once the first is gone. */
static void host_states_share_the_default_pool(void **state) {
  (void)state;
  atomic_store(&bumps, 0);
  lua_State *a = run_host(NULL,
      "local tk = ...\n"
      "for i = 1, 50 do tk.submit(function() host.bump() end) end\n");
  lua_State *b = run_host(NULL,
      "local tk = ...\n"
      "tk.submit(function() host.bump() end):wait()\n");
  pthread_t th;
  assert_int_equal(0, pthread_create(&th, NULL, loop_in_b, b));
  lua_close(a);
  pthread_join(th, NULL);
  assert_int_equal(51, atomic_load(&bumps));
  run_in(b,
      "local tk = ...\n"
      "tk.submit(function() host.bump() end):wait()\n");
  lua_close(b);
  assert_int_equal(52, atomic_load(&bumps));
}

/* tk_lua_open refuses a NULL state; a NULL worker hook is no hook:
** worker states are made without one (test_null.c has the core's). */
static void host_null_state_and_hook(void **state) {
  (void)state;
  tk_pool_t *pool = new_pool(1);
  assert_int_equal(TK_EINVAL, tk_lua_open(NULL, NULL));
  assert_int_equal(TK_EINVAL, tk_lua_open(NULL, pool));
  tk_lua_set_worker_hook(NULL);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  assert_ok(tk_lua_open(L, pool));
  assert_int_equal(LUA_OK, luaL_loadstring(L,
      "local tk = ...\n"
      "return tk.submit(function() return host == nil end):result(30)"));
  lua_pushvalue(L, -2);  /* the module */
  assert_int_equal(LUA_OK, lua_pcall(L, 1, 1, 0));
  assert_true(lua_toboolean(L, -1));  /* ran, without the host's hook */
  lua_close(L);
  tk_lua_set_worker_hook(register_host);
  tk_pool_free(pool);
}

static int host_answer(lua_State *L) {
  lua_pushinteger(L, 42);
  return 1;
}

/* A host's own C function (a global set before threadkit opened, or one
** put into a standard library table) exists in no worker state: sending
** it is refused where it is sent, naming where it sits (it used to be
** accepted, and the task failed with "C function '(null)'"). */
static void host_c_function_refused_at_submit(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushcfunction(L, host_answer);
  lua_setglobal(L, "answer");
  lua_getglobal(L, "string");
  lua_pushcfunction(L, host_answer);
  lua_setfield(L, -2, "answer");
  lua_pop(L, 1);
  assert_ok(tk_lua_open(L, NULL));
  assert_int_equal(LUA_OK, luaL_loadstring(L,
      "local tk = ...\n"
      "local f, g = answer, string.answer\n"
      "for _, fn in ipairs{f, g} do\n"
      "  local ok, err = pcall(tk.submit, function() return fn() end)\n"
      "  assert(not ok, 'accepted')\n"
      "  assert(err:find(\"upvalue 'fn'\", 1, true), err)\n"
      "  assert(err:find('not transferable', 1, true), err)\n"
      "end\n"
      "assert(tk.submit(function(s) return s:upper() end, 'ok'):result() == 'OK')\n"
      "assert(tk.submit(string.upper, 'ok'):result() == 'OK')\n"));
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  lua_close(L);
}

/* The interpreter's calls of threadkit_lua.h with NULL or out of range:
** an error code or nothing, never a crash. */
static void runtime_calls_take_null(void **state) {
  (void)state;
  tk_lua_close(NULL);
  assert_int_equal(0, (int)tk_lua_wait_all(NULL));
  tk_lua_print_stats(NULL);
  assert_int_equal(TK_EINVAL, tk_lua_trace_start(NULL));
  assert_int_equal(0, (int)tk_lua_trace_stop());  /* no trace records */
  assert_int_equal(TK_EINVAL, tk_lua_set_default_workers(-1));
  assert_int_equal(TK_EINVAL, tk_lua_set_default_workers(4097));
  assert_int_equal(0, tk_lua_set_default_workers(0));
  assert_int_equal(1, tk_lua_stop_settle(NULL, 0));
}

/* An interpreter that goes on after Ctrl-C (tklua's REPL): stop_all stops
** a spinning task and cancels the queued one, stop_settle waits for them
** and retires the default pool, and after stop_end work runs again, on a
** new default pool. */
static void stop_settle_then_work_again(void **state) {
  (void)state;
  gate_init(&hold_gate);
  lua_State *L = run_host(NULL,
      "local tk = ...\n"
      "spinner = tk.submit(function() host.hold() while true do end end)\n"
      "queued = {}\n"
      "for i = 1, 64 do queued[i] = tk.submit(function() return i end) end\n");
  assert_true(gate_wait_arrived(&hold_gate, 1));  /* the spinner runs */
  gate_open(&hold_gate);  /* it spins in Lua, where a stop reaches it */
  tk_lua_stop_all();
  assert_int_equal(1, tk_lua_stop_settle(L, 10.0));
  tk_lua_stop_end();
  assert_int_equal(LUA_OK, luaL_loadstring(L,
      "local tk = require 'threadkit'\n"
      "assert(spinner:wait(5), 'the spinner ended')\n"
      "assert(spinner.state ~= 'completed', spinner.state)\n"
      "assert(tk.submit(function() return 7 end):result() == 7)\n"));
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  tk_lua_close(L);
}

/* After a stop, a host's pool is still the host's, and still the
** default: the work submitted after stop_end runs on it. */
static void stop_settle_keeps_the_hosts_pool(void **state) {
  (void)state;
  tk_pool_t *pool;
  tk_pool_opts_t opts = {.workers = 1, .name = "host"};
  assert_ok(tk_pool_new(&opts, &pool));
  lua_State *L = run_host(pool, "local tk = ...\n"
                                "assert(tk.submit(function() return 1 end):result() == 1)\n");
  tk_lua_stop_all();
  assert_int_equal(1, tk_lua_stop_settle(L, 10.0));
  tk_lua_stop_end();
  assert_false(tk_pool_is_shutdown(pool));
  tk_pool_metrics_t before;
  assert_ok(tk_pool_metrics(pool, &before));
  assert_int_equal(LUA_OK, luaL_loadstring(L,
      "local tk = require 'threadkit'\n"
      "assert(tk.submit(function() return 7 end):result() == 7)\n"));
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  tk_pool_metrics_t after;
  assert_ok(tk_pool_metrics(pool, &after));
  assert_int_equal(before.submitted + 1, after.submitted);
  tk_lua_close(L);
  assert_ok(tk_pool_free(pool));
}

int main(void) {
  tk_lua_set_worker_hook(register_host);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(host_closes_state_while_its_pool_works),
      cmocka_unit_test(host_closes_state_with_default_pool_busy),
      cmocka_unit_test(host_shutdown_cancels_sleeping_task),
      cmocka_unit_test(host_states_share_the_default_pool),
      cmocka_unit_test(host_null_state_and_hook),
      cmocka_unit_test(host_c_function_refused_at_submit),
      cmocka_unit_test(runtime_calls_take_null),
      cmocka_unit_test(stop_settle_then_work_again),
      cmocka_unit_test(stop_settle_keeps_the_hosts_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
