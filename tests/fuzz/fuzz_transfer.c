/*
** fuzz_transfer.c - libFuzzer target for the Lua value transfer, two modes
** chosen by the first byte:
**   even: the rest is a buffer for the decoder, which must refuse every
**         malformed one with a Lua error: no crash, no out-of-bounds read,
**         no bytecode it did not produce.
**   odd:  the rest is a little program that builds Lua values (scalars,
**         binary strings, NaN, nested, shared and cyclic tables, functions,
**         values that cannot travel); encoding must succeed or raise, and
**         what it encodes must decode in a second state to an equal value.
** Build and run with `make fuzz` (clang). See LICENSE for copyright and
** licence.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lualib.h"
#include "tkl.h"
#include "threadkit_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_STACK = 32 };

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "threadkit", luaopen_threadkit, 0);
  lua_pop(L, 1);
  return L;
}

static int decode(lua_State *L) {
  return tkl_decode(L, lua_touserdata(L, 1));
}

static int encode(lua_State *L) {
  tkl_buf *b = lua_touserdata(L, lua_gettop(L));
  lua_pop(L, 1);
  tkl_encode(L, 1, lua_gettop(L), b, "value");
  return 0;
}

/* {====================================================== value builder */

typedef struct reader {
  const uint8_t *p, *end;
} reader;

static uint8_t next_byte(reader *r) { return r->p < r->end ? *r->p++ : 0; }

static void next_bytes(reader *r, void *out, size_t n) {
  memset(out, 0, n);
  size_t have = (size_t)(r->end - r->p);
  if (n > have) n = have;
  memcpy(out, r->p, n);
  r->p += n;
}

typedef struct dumped {
  char *data;
  size_t len;
} dumped;

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud) {
  dumped *d = ud;
  (void)L;
  char *grown = realloc(d->data, d->len + n);
  if (grown == NULL) abort();
  memcpy(grown + d->len, p, n);
  d->data = grown;
  d->len += n;
  return 0;
}

/* Functions a program may push: a Lua closure with an upvalue, one that
** uses _ENV, a standard library C function, and two closures that share
** an upvalue (n) besides one each of their own. */
#define NFUNCS 5
static const char FUNCS[] =
    "local k, n, a, b = 41, 2, 3, 4\n"
    "return function(x) return (x or 0) + k end,\n"
    "       function() return type(print) end,\n"
    "       string.rep,\n"
    "       function(x) return (x or 0) + n + a end,\n"
    "       function(x) return (x or 0) * n - b end\n";

/* Pushes a Lua function of n statements (about 75 bytes of bytecode
** each: up to some 70 KiB), loaded from stripped bytecode when `strip`:
** real task functions are long, and a function over 1 KiB once broke the
** encoder. It returns k + x * (1 + 2 + ... + n), k an upvalue. */
static void push_long_function(lua_State *L, int n, int strip) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "local k = 7 return function(x) local s = k\n");
  char line[64];
  for (int i = 1; i <= n; i++) {
    snprintf(line, sizeof line, "s = s + x * %d\n", i);
    luaL_addstring(&b, line);
  }
  luaL_addstring(&b, "return s end");
  luaL_pushresult(&b);
  if (luaL_loadstring(L, lua_tostring(L, -1)) != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK)
    abort();
  lua_remove(L, -2);
  if (strip) {
    dumped d = {NULL, 0};
    lua_dump(L, dump_writer, &d, 1);
    if (luaL_loadbufferx(L, d.data, d.len, "=stripped", "b") != LUA_OK) abort();
    free(d.data);
    lua_getupvalue(L, -2, 1);        /* k */
    lua_setupvalue(L, -2, 1);
    lua_replace(L, -2);
  }
}

/* Runs the program on an empty stack of L; the values it leaves are what
** gets encoded. Every operation checks the stack, so any bytes work. */
static void build(lua_State *L, reader *r) {
  if (!lua_checkstack(L, MAX_STACK + 4)) abort();
  while (r->p < r->end) {
    int top = lua_gettop(L);
    uint8_t op = next_byte(r) % 10;
    if (op <= 5 && top >= MAX_STACK) continue;
    switch (op) {
      case 0: lua_pushnil(L); break;
      case 1: lua_pushboolean(L, next_byte(r) & 1); break;
      case 2: {
        int64_t i;
        next_bytes(r, &i, sizeof i);
        lua_pushinteger(L, (lua_Integer)i);
        break;
      }
      case 3: {
        double d;
        next_bytes(r, &d, sizeof d);
        lua_pushnumber(L, d);
        break;
      }
      case 4: {
        char s[256];
        size_t n = next_byte(r);
        next_bytes(r, s, n);
        lua_pushlstring(L, s, n);
        break;
      }
      case 5: lua_createtable(L, 0, 0); break;
      case 6:  /* t[k] = v with t, k, v on top; keeps t */
        if (top >= 3 && lua_istable(L, top - 2) && !lua_isnil(L, top - 1) &&
            !(lua_type(L, top - 1) == LUA_TNUMBER &&
              isnan(lua_tonumber(L, top - 1))))
          lua_rawset(L, top - 2);
        else if (top >= 2)
          lua_pop(L, 2);
        break;
      case 7:  /* copies a value already on the stack: sharing and cycles */
        if (top > 0 && top < MAX_STACK) lua_pushvalue(L, 1 + next_byte(r) % top);
        break;
      case 8:
        if (top < MAX_STACK) {
          uint8_t which = next_byte(r);
          if (which & 0x80) {
            uint16_t n;
            next_bytes(r, &n, sizeof n);
            push_long_function(L, 1 + n % 900, which & 1);
          } else {
            lua_rawgetp(L, LUA_REGISTRYINDEX, FUNCS);
            lua_rawgeti(L, -1, 1 + which % NFUNCS);
            lua_remove(L, -2);
          }
        }
        break;
      default:  /* something that cannot travel */
        if (top < MAX_STACK) {
          if (next_byte(r) & 1) lua_newthread(L);
          else lua_newuserdatauv(L, 1, 0);
        }
        break;
    }
  }
}

/* }====================================================== */

/* {====================================================== comparison */

/* Upvalues met in one comparison, A's by B's: shared ones must map one to
** one (two closures sharing an upvalue in A share one in B, and closures
** that share none in A share none in B). */
#define MAX_UPS 256
static const void *ups_a[MAX_UPS], *ups_b[MAX_UPS];
static int nups;

static int same_upvalues(lua_State *A, int ia, lua_State *B, int ib) {
  for (int i = 1; lua_getupvalue(A, ia, i) != NULL; i++) {
    lua_pop(A, 1);
    if (lua_getupvalue(B, ib, i) == NULL) return 0;
    lua_pop(B, 1);
    const void *ua = lua_upvalueid(A, ia, i), *ub = lua_upvalueid(B, ib, i);
    int found = 0;
    for (int k = 0; k < nups && !found; k++) {
      if ((ups_a[k] == ua) != (ups_b[k] == ub)) return 0;
      found = ups_a[k] == ua;
    }
    if (!found && nups < MAX_UPS) {
      ups_a[nups] = ua;
      ups_b[nups++] = ub;
    }
  }
  return 1;
}

/* Whether Lua functions a and b answer the same to f(3): every function
** a program can push takes a number and returns a number or a string. */
static int same_call(lua_State *A, int ia, lua_State *B, int ib) {
  lua_pushvalue(A, ia);
  lua_pushinteger(A, 3);
  lua_pushvalue(B, ib);
  lua_pushinteger(B, 3);
  if (lua_pcall(A, 1, 1, 0) != LUA_OK || lua_pcall(B, 1, 1, 0) != LUA_OK)
    abort();
  size_t la, lb;
  const char *sa = lua_tolstring(A, -1, &la), *sb = lua_tolstring(B, -1, &lb);
  int eq = sa != NULL && sb != NULL && la == lb && memcmp(sa, sb, la) == 0;
  lua_pop(A, 1);
  lua_pop(B, 1);
  return eq;
}

/* Whether a (in state A) and b (in state B) are equal values: scalars by
** value (NaN equals NaN), tables by their entries with scalar keys and by
** their number of entries, functions by kind. seen (a table in A) stops
** the walk at tables already compared, so cycles end. */
static int same(lua_State *A, int ia, lua_State *B, int ib, int seen) {
  if (!lua_checkstack(A, 4) || !lua_checkstack(B, 4)) abort();
  ia = lua_absindex(A, ia);
  ib = lua_absindex(B, ib);
  int t = lua_type(A, ia);
  if (t != lua_type(B, ib)) return 0;
  switch (t) {
    case LUA_TNIL: return 1;
    case LUA_TBOOLEAN: return lua_toboolean(A, ia) == lua_toboolean(B, ib);
    case LUA_TNUMBER: {
      if (lua_isinteger(A, ia) != lua_isinteger(B, ib)) return 0;
      if (lua_isinteger(A, ia)) return lua_tointeger(A, ia) == lua_tointeger(B, ib);
      double x = lua_tonumber(A, ia), y = lua_tonumber(B, ib);
      return x == y || (isnan(x) && isnan(y));
    }
    case LUA_TSTRING: {
      size_t la, lb;
      const char *sa = lua_tolstring(A, ia, &la), *sb = lua_tolstring(B, ib, &lb);
      return la == lb && memcmp(sa, sb, la) == 0;
    }
    case LUA_TFUNCTION:
      if (lua_iscfunction(A, ia) != lua_iscfunction(B, ib)) return 0;
      return lua_iscfunction(A, ia) ||
             (same_upvalues(A, ia, B, ib) && same_call(A, ia, B, ib));
    case LUA_TTABLE: break;
    default: return 0;
  }
  lua_pushvalue(A, ia);
  if (lua_rawget(A, seen) != LUA_TNIL) {
    lua_pop(A, 1);
    return 1;
  }
  lua_pop(A, 1);
  lua_pushvalue(A, ia);
  lua_pushboolean(A, 1);
  lua_rawset(A, seen);
  size_t na = 0, nb = 0;
  int ok = 1;
  lua_pushnil(A);
  while (ok && lua_next(A, ia)) {
    na++;
    int kt = lua_type(A, -2);
    if (kt == LUA_TBOOLEAN || kt == LUA_TNUMBER || kt == LUA_TSTRING) {
      /* The same key in B: pushed by value. */
      if (kt == LUA_TBOOLEAN) lua_pushboolean(B, lua_toboolean(A, -2));
      else if (lua_isinteger(A, -2)) lua_pushinteger(B, lua_tointeger(A, -2));
      else if (kt == LUA_TNUMBER) lua_pushnumber(B, lua_tonumber(A, -2));
      else {
        size_t n;
        const char *s = lua_tolstring(A, -2, &n);
        lua_pushlstring(B, s, n);
      }
      lua_rawget(B, ib);
      ok = same(A, -1, B, -1, seen);
      lua_pop(B, 1);
    }
    lua_pop(A, 1);
  }
  if (!ok) {
    lua_pop(A, 1);
    return 0;
  }
  lua_pushnil(B);
  while (lua_next(B, ib)) {
    nb++;
    lua_pop(B, 1);
  }
  return na == nb;
}

/* }====================================================== */

static void fuzz_decoder(lua_State *L, const uint8_t *data, size_t size) {
  tkl_buf b;
  tkl_buf_init(&b);
  b.data = malloc(size ? size : 1);
  if (b.data == NULL) return;
  memcpy(b.data, data, size);
  b.len = size;
  lua_pushcfunction(L, decode);
  lua_pushlightuserdata(L, &b);
  lua_pcall(L, 1, LUA_MULTRET, 0);
  lua_settop(L, 0);
  free(b.data);  /* no refs: a fuzzed buffer owns no handles */
}

static void fuzz_values(lua_State *A, lua_State *B, const uint8_t *data,
                        size_t size) {
  reader r = {data, data + size};
  lua_settop(A, 0);
  build(A, &r);
  int n = lua_gettop(A);
  tkl_buf b;
  tkl_buf_init(&b);
  if (!lua_checkstack(A, n + 4)) abort();
  lua_pushcfunction(A, encode);  /* on copies: the values stay below */
  for (int i = 1; i <= n; i++) lua_pushvalue(A, i);
  lua_pushlightuserdata(A, &b);
  if (lua_pcall(A, n + 1, 0, 0) != LUA_OK) {
    lua_settop(A, 0);  /* refused: a value that cannot travel, or too deep */
    tkl_buf_free(&b);
    return;
  }
  lua_pushcfunction(B, decode);
  lua_pushlightuserdata(B, &b);
  if (lua_pcall(B, 1, LUA_MULTRET, 0) != LUA_OK) {  /* it must decode */
    fprintf(stderr, "decoding what was encoded: %s\n", lua_tostring(B, -1));
    abort();
  }
  if (lua_gettop(B) != n) abort();
  lua_newtable(A);
  int seen = lua_gettop(A);
  nups = 0;
  for (int i = 1; i <= n; i++)
    if (!same(A, i, B, i, seen)) abort();  /* must decode to the same */
  lua_settop(A, 0);
  lua_settop(B, 0);
  tkl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lua_State *A, *B;
  static unsigned runs;
  if (A == NULL) {
    A = new_state();
    B = new_state();
    if (luaL_loadstring(A, FUNCS) != LUA_OK ||
        lua_pcall(A, 0, NFUNCS, 0) != LUA_OK)
      abort();
    lua_createtable(A, NFUNCS, 0);
    for (int i = NFUNCS; i >= 1; i--) {
      lua_insert(A, -2);
      lua_rawseti(A, -2, i);
    }
    lua_rawsetp(A, LUA_REGISTRYINDEX, FUNCS);
  }
  if (size == 0) return 0;
  if (data[0] & 1) fuzz_values(A, B, data + 1, size - 1);
  else fuzz_decoder(B, data + 1, size - 1);
  if (++runs % 128 == 0) {  /* long functions make garbage fast */
    lua_gc(A, LUA_GCCOLLECT);
    lua_gc(B, LUA_GCCOLLECT);
  }
  return 0;
}
