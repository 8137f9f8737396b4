/*
** test_transfer.c - the Lua value transfer's decoder against damaged
** buffers: every truncation and every single-byte change is refused or
** decoded, never a crash (ASan checks the reads); a function id this
** process never gave out is refused, so forged bytecode is never loaded.
** See LICENSE for copyright and licence.
*/
#include "tk_test.h"

#include "lauxlib.h"
#include "lualib.h"
#include "lcycles.h"
#include "transfer.h"
#include "threadkit_lua.h"


static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
  lua_pop(L, 1);
  return L;
}

static int encode_chunk(lua_State *L) {
  tkl_buf *b = lua_touserdata(L, 1);
  /* A value with most kinds: nested and shared tables, a cycle, binary
  ** strings, numbers, a function with upvalues and a library function. */
  const char *src =
      "local shared = {1, 2.5, 'x\\0y'}\n"
      "local t = {a = shared, b = shared, list = {true, false, 7}}\n"
      "t.self = t\n"
      "local k = 40\n"
      "return t, function(x) return x + k end, string.upper\n";
  if (luaL_dostring(L, src) != LUA_OK) return lua_error(L);
  tkl_encode(L, 2, 3, b, TKL_ENCODE_VALUE);
  return 0;
}

/* Encodes the values the chunk (argument 2) returns. */
static int encode_returned_chunk(lua_State *L) {
  tkl_buf *b = lua_touserdata(L, 1);
  const char *src = lua_tostring(L, 2);
  if (luaL_dostring(L, src ? src : "return function() return 1 end") != LUA_OK)
    return lua_error(L);
  tkl_encode(L, 3, lua_gettop(L) - 2, b, TKL_ENCODE_VALUE);
  return 0;
}

/* Encodes what src returns (by default a function without upvalues). */
static void encode_function(lua_State *L, tkl_buf *b, const char *src) {
  tkl_buf_init(b);
  lua_pushcfunction(L, encode_returned_chunk);
  lua_pushlightuserdata(L, b);
  lua_pushstring(L, src);
  assert_int_equal(LUA_OK, lua_pcall(L, 2, 0, 0));
}

static int decode_chunk(lua_State *L) {
  tkl_buf *b = lua_touserdata(L, 1);
  return tkl_decode(L, b);
}

/* Encodes encode_chunk's sample value in a into buf. */
static void encode_sample(lua_State *a, tkl_buf *buf) {
  lua_pushcfunction(a, encode_chunk);
  lua_pushlightuserdata(a, buf);
  assert_int_equal(LUA_OK, lua_pcall(a, 1, 0, 0));
}

static void transfer_round_trip(void **state) {
  (void)state;
  lua_State *a = new_state(), *b = new_state();
  tkl_buf buf;
  tkl_buf_init(&buf);
  encode_sample(a, &buf);
  lua_pushcfunction(b, decode_chunk);
  lua_pushlightuserdata(b, &buf);
  assert_int_equal(LUA_OK, lua_pcall(b, 1, LUA_MULTRET, 0));
  assert_int_equal(3, lua_gettop(b));
  lua_setglobal(b, "up");
  lua_setglobal(b, "add");
  lua_setglobal(b, "t");
  assert_int_equal(LUA_OK, luaL_dostring(b,
      "assert(t.a == t.b and t.self == t and t.a[3] == 'x\\0y')\n"
      "assert(add(2) == 42 and up('q') == 'Q')"));
  tkl_buf_free(&buf);
  lua_close(a);
  lua_close(b);
}

/* Decodes a damaged copy of buf; returns the Lua status. */
static int try_decode(lua_State *L, const tkl_buf *buf, size_t len,
                      size_t flip_at, unsigned char flip) {
  tkl_buf copy;
  tkl_buf_init(&copy);
  copy.data = malloc(len ? len : 1);
  memcpy(copy.data, buf->data, len);
  copy.len = len;
  if (flip_at < len) copy.data[flip_at] ^= flip;
  lua_pushcfunction(L, decode_chunk);
  lua_pushlightuserdata(L, &copy);
  int rc = lua_pcall(L, 1, LUA_MULTRET, 0);
  lua_settop(L, 0);
  free(copy.data);
  return rc;
}

/* Decoding these bytes in L is refused as a malformed buffer. */
static void assert_refused(lua_State *L, unsigned char *bytes, size_t n) {
  tkl_buf forged;
  tkl_buf_init(&forged);
  forged.data = bytes;
  forged.borrowed = 1;
  forged.len = forged.cap = n;
  lua_pushcfunction(L, decode_chunk);
  lua_pushlightuserdata(L, &forged);
  assert_int_not_equal(LUA_OK, lua_pcall(L, 1, LUA_MULTRET, 0));
  assert_non_null(strstr(lua_tostring(L, -1), "malformed"));
  lua_settop(L, 0);
}

static void transfer_damaged_buffers_are_refused(void **state) {
  (void)state;
  lua_State *a = new_state(), *b = new_state();
  tkl_buf buf;
  tkl_buf_init(&buf);
  encode_sample(a, &buf);
  assert_int_equal(0, buf.nrefs);  /* no handles: copies share nothing */
  /* Every truncation is an error. */
  for (size_t len = 0; len < buf.len; len++)
    assert_int_not_equal(LUA_OK, try_decode(b, &buf, len, SIZE_MAX, 0));
  /* Every single-byte change decodes or is refused; none crashes. */
  size_t refused = 0;
  for (size_t i = 0; i < buf.len; i++)
    for (unsigned bit = 0; bit < 8; bit++)
      refused += try_decode(b, &buf, buf.len, i, (unsigned char)(1u << bit)) != LUA_OK;
  assert_true(refused > 0);
  tkl_buf_free(&buf);
  /* The same for a flat buffer, scalars and a function b has cached after
  ** its first whole decode, which the decoder reads on a shorter path. */
  encode_function(a, &buf, "local f = function(x) return x end "
                           "return f, 1, 2.5, 'x\\0y', true, false, nil, f");
  assert_int_equal(LUA_OK, try_decode(b, &buf, buf.len, SIZE_MAX, 0));
  for (size_t len = 0; len < buf.len; len++)
    assert_int_not_equal(LUA_OK, try_decode(b, &buf, len, SIZE_MAX, 0));
  for (size_t i = 0; i < buf.len; i++)
    for (unsigned bit = 0; bit < 8; bit++)
      try_decode(b, &buf, buf.len, i, (unsigned char)(1u << bit));
  assert_int_equal(LUA_OK, try_decode(b, &buf, buf.len, SIZE_MAX, 0));
  tkl_buf_free(&buf);
  /* A function travels as the id of bytecode this process produced: an
  ** id it never gave out is refused before Lua ever loads anything. */
  encode_function(a, &buf, NULL);
  assert_int_equal(4, buf.len);  /* count, tag, id, no upvalues */
  assert_true(buf.data[2] < 0x80);
  assert_int_equal(LUA_OK, try_decode(b, &buf, buf.len, SIZE_MAX, 0));
  unsigned char bytes[] = {buf.data[0], buf.data[1], 0xff, 0xff, 0xff, 0x7f,
                           buf.data[3]};
  assert_refused(b, bytes, sizeof bytes);
  tkl_buf_free(&buf);
  lua_close(a);
  lua_close(b);
}

/* A damaged buffer that says "bind to globals" for an upvalue that is not
** _ENV is refused: the closure would otherwise be cached in the worker
** and break every later transfer of that function. */
static void transfer_upvalues_must_be_the_functions_own(void **state) {
  (void)state;
  lua_State *a = new_state(), *b = new_state();
  tkl_buf with_k, with_env;
  encode_function(a, &with_k, "local k = 40 return function(x) return x + k end");
  encode_function(a, &with_env, "return function() return print end");
  /* count, tag, id, 1 upvalue, then the value of k / the _ENV mark */
  assert_int_equal(1, with_k.data[3]);
  assert_int_equal(1, with_env.data[3]);
  unsigned char bytes[] = {1, with_env.data[1], with_k.data[2], 1,
                           with_env.data[4]};
  assert_refused(b, bytes, sizeof bytes);
  /* The real one still decodes, with its upvalue. */
  lua_pushcfunction(b, decode_chunk);
  lua_pushlightuserdata(b, &with_k);
  assert_int_equal(LUA_OK, lua_pcall(b, 1, 1, 0));
  lua_pushinteger(b, 2);
  assert_int_equal(LUA_OK, lua_pcall(b, 1, 1, 0));
  assert_int_equal(42, lua_tointeger(b, -1));
  tkl_buf_free(&with_k);
  tkl_buf_free(&with_env);
  lua_close(a);
  lua_close(b);
}

/* The bytes of buf without its references: what a forged buffer naming
** the same function would be. */
static tkl_buf forge_copy(const tkl_buf *buf) {
  tkl_buf copy;
  tkl_buf_init(&copy);
  copy.data = malloc(buf->len);
  memcpy(copy.data, buf->data, buf->len);
  copy.len = copy.cap = buf->len;
  return copy;
}

/* The interned code of a function lives while a buffer names it, and is
** freed once nothing does (past the few kept idle): a buffer kept through
** the churn of thousands of other functions still decodes, and the bytes
** of one whose code was freed are refused, not loaded from freed memory. */
static void transfer_code_lives_as_long_as_a_buffer_names_it(void **state) {
  (void)state;
  lua_State *a = new_state(), *b = new_state();
  tkl_buf kept, dropped;
  encode_function(a, &kept, "return function() return 'kept' end");
  encode_function(a, &dropped, "return function() return 'dropped' end");
  assert_int_equal(1, kept.ncodes);
  tkl_buf forged_kept = forge_copy(&kept), forged_dropped = forge_copy(&dropped);
  tkl_buf_free(&dropped);
  /* Other functions, each sent and let go (more than are kept idle, and
  ** enough to push both out of a's cache of sent functions). */
  char src[64];
  for (int i = 0; i < 5000; i++) {
    tkl_buf churn;
    snprintf(src, sizeof src, "return function() return %d end", i);
    encode_function(a, &churn, src);
    tkl_buf_free(&churn);
  }
  lua_gc(a, LUA_GCCOLLECT);
  lua_pushcfunction(b, decode_chunk);
  lua_pushlightuserdata(b, &kept);
  assert_int_equal(LUA_OK, lua_pcall(b, 1, 1, 0));
  assert_int_equal(LUA_OK, lua_pcall(b, 0, 1, 0));
  assert_string_equal("kept", lua_tostring(b, -1));
  lua_settop(b, 0);
  /* The same bytes without the reference decode while kept holds it. */
  lua_State *c = new_state();
  lua_pushcfunction(c, decode_chunk);
  lua_pushlightuserdata(c, &forged_kept);
  assert_int_equal(LUA_OK, lua_pcall(c, 1, 1, 0));
  lua_settop(c, 0);
  assert_refused(c, forged_dropped.data, forged_dropped.len);
  free(forged_kept.data);
  free(forged_dropped.data);
  tkl_buf_free(&kept);
  lua_close(a);
  lua_close(b);
  lua_close(c);
}

static void run_lua(lua_State *L, const char *src) {
  if (luaL_dostring(L, src) != LUA_OK)
    fail_msg("%s", lua_tostring(L, -1));
}

/* Channels and shared tables in cycles (each holding itself, two holding
** each other, a cycle through a table inside a channel's item) are freed
** once no box holds them, counted: not one of 20 000 of each kind is
** left. One that a box or a live container still holds stays, whole. */
static void transfer_cycles_are_collected(void **state) {
  (void)state;
  size_t base = tkl_gc_live();
  lua_State *L = new_state();
  run_lua(L,
          "local tk = require 'threadkit'\n"
          "for i = 1, 20000 do\n"
          "  local s = tk.shared(); s.me = s\n"
          "  local c = tk.channel(); c:push(c)\n"
          "  local a, b = tk.shared(), tk.shared(); a.b = b; b.a = a\n"
          "  local x, y = tk.channel(), tk.shared()\n"
          "  x:push({deep = {y}}); y[1] = x\n"
          "end\n"
          "kept = tk.shared(); kept.me = kept; kept.v = 7\n"
          "root = tk.shared()\n"
          "do local a, b = tk.shared(), tk.channel()\n"
          "  a.b = b; b:push(a); root.a = a end\n");
  lua_gc(L, LUA_GCCOLLECT);
  tkl_gc_collect();
  /* kept, root and root's cycle of two. */
  assert_int_equal(base + 4, tkl_gc_live());
  run_lua(L,
          "assert(kept.me.me.v == 7)\n"
          "local a = root.a; local b = a.b\n"
          "assert(b:pop() == a); b:push(a)\n"
          "root.a = nil; kept = nil; a = nil; b = nil\n");
  lua_gc(L, LUA_GCCOLLECT);
  tkl_gc_collect();
  assert_int_equal(base + 1, tkl_gc_live());  /* root */
  lua_close(L);
  assert_int_equal(base, tkl_gc_live());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(transfer_round_trip),
      cmocka_unit_test(transfer_damaged_buffers_are_refused),
      cmocka_unit_test(transfer_upvalues_must_be_the_functions_own),
      cmocka_unit_test(transfer_code_lives_as_long_as_a_buffer_names_it),
      cmocka_unit_test(transfer_cycles_are_collected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
