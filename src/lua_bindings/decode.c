/*
** decode.c - copying Lua values between independent states: the decoder.
** See LICENSE for copyright and licence.
**
** A buffer is trusted only as far as this process made it: every read is
** checked against its length, and a function's id must name code this
** process produced (tkl_code_find), so a damaged or forged buffer raises
** an error instead of reaching Lua's undump.
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "code.h"
#include "ctx.h"
#include "handles.h"
#include "transfer.h"
#include "wire.h"

typedef struct dec {
  lua_State *L;
  tkl_buf *b;
  tkl_ctx *ctx;                  /* L's context, or NULL: look no closer */
  int objs;                      /* stack index: id -> object */
  int next_id;
  int depth;
  size_t handles;                /* handles taken so far */
} dec;

static int bad(dec *d) {
  return luaL_error(d->L, "threadkit: malformed value buffer");
}

static const unsigned char *take(dec *d, size_t n) {
  tkl_buf *b = d->b;
  if (n > b->len - b->pos) bad(d);
  const unsigned char *p = b->data + b->pos;
  b->pos += n;
  return p;
}

static int take_byte(dec *d) { return *take(d, 1); }

static size_t take_size_slow(dec *d) {
  size_t n = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    int c = take_byte(d);
    n |= (size_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return n;
  }
  bad(d);
  return 0;
}

static inline size_t take_size(dec *d) {
  tkl_buf *b = d->b;
  if (b->pos < b->len && b->data[b->pos] < 0x80) return b->data[b->pos++];
  return take_size_slow(d);
}

static void decode_value(dec *d);

static void remember(dec *d) {
  if (lua_isnil(d->L, d->objs)) {
    lua_newtable(d->L);
    lua_replace(d->L, d->objs);
  }
  lua_pushvalue(d->L, -1);
  lua_rawseti(d->L, d->objs, ++d->next_id);
}

/* Pushes the state's cached closure of function `id` and returns 1, or
** returns 0 with nothing pushed. Only closures whose upvalues are all _ENV
** are cached (they are immutable then, so one serves every task). */
static int cached_function(dec *d, lua_Integer id) {
  lua_State *L = d->L;
  tkl_ctx *c = d->ctx;
  size_t slot = (size_t)id % TKL_FN_SLOTS;
  if (c != NULL && c->dec_id[slot] == id) {  /* a registry array slot */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->dec_ref[slot]);
    return 1;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tkl_key_loads);
  if (lua_rawgeti(L, -1, id) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  if (c != NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, c->dec_ref[slot]);
    c->dec_id[slot] = -1;  /* consistent if luaL_ref raises */
    lua_pushvalue(L, -1);
    c->dec_ref[slot] = luaL_ref(L, LUA_REGISTRYINDEX);
    c->dec_id[slot] = id;
  }
  return 1;
}

/* Pushes a closure for function `id`: the cached one, else a fresh load
** of its bytecode. Only bytecode this process produced is ever loaded: a
** forged or damaged id is refused, never handed to Lua's undump. */
static void load_function(dec *d, lua_Integer id, int *fresh) {
  lua_State *L = d->L;
  if (cached_function(d, id)) {
    *fresh = 0;
    return;
  }
  /* The buffer holds the code, unless it is forged: a reference of our
  ** own keeps it while it loads either way. */
  tkl_code *c = id > 0 ? tkl_code_find(id) : NULL;
  if (c == NULL) bad(d);
  size_t len;
  const char *code = tkl_code_bytes(c, &len);
  int status = luaL_loadbufferx(L, code, len, "=transfer", "b");
  tkl_code_release(c);
  if (status != LUA_OK) lua_error(L);
  /* Loading is an allocation the collector is not told of at once (no
  ** API call of a task's path checks its debt): a worker that loads new
  ** functions and runs nothing that allocates would keep every closure
  ** its cache let go. Settle the debt now, as an allocation would. */
  if (lua_gc(L, LUA_GCISRUNNING)) lua_gc(L, LUA_GCSTEP, 1);
  *fresh = 1;
}

/* Upvalue n of the closure at f becomes the one it shared when sent: an
** upvalue of a function decoded before (see shared_upvalue). */
static void join_upvalue(dec *d, int f, int n) {
  lua_State *L = d->L;
  size_t fid = take_size(d), m = take_size(d);
  if (fid == 0 || fid > (size_t)d->next_id || lua_isnil(L, d->objs) ||
      m == 0 || m > 255)
    bad(d);
  lua_rawgeti(L, d->objs, (lua_Integer)fid);
  int other = lua_gettop(L);
  if (lua_type(L, other) != LUA_TFUNCTION || lua_iscfunction(L, other) ||
      lua_getupvalue(L, other, (int)m) == NULL)
    bad(d);
  lua_pop(L, 1);
  lua_upvaluejoin(L, f, n, other, (int)m);
  lua_pop(L, 1);
}

static void decode_function(dec *d, int numbered) {
  lua_State *L = d->L;
  lua_Integer id = (lua_Integer)take_size(d);
  int fresh;
  load_function(d, id, &fresh);
  int f = lua_gettop(L);
  if (numbered) remember(d);
  size_t nup = take_size(d);
  if (nup > 255) bad(d);
  int only_env = 1;
  for (size_t i = 1; i <= nup; i++) {
    int says_env = d->b->pos < d->b->len && d->b->data[d->b->pos] == T_ENV;
    if (fresh) {
      /* The upvalues must be the function's own, T_ENV exactly for those
      ** named _ENV (either way for the nameless upvalues of stripped
      ** bytecode): a damaged buffer must not get a closure with a real
      ** upvalue into the cache below, where it would serve later tasks. */
      const char *name = lua_getupvalue(L, f, (int)i);
      if (name == NULL) bad(d);
      lua_pop(L, 1);
      if (strcmp(name, NO_NAME) != 0 && says_env != (strcmp(name, "_ENV") == 0))
        bad(d);
    }
    if (says_env) {
      d->b->pos++;
      if (fresh) {
        lua_pushglobaltable(L);
        lua_setupvalue(L, f, (int)i);
      }
      continue;
    }
    only_env = 0;
    /* Only closures whose upvalues are all _ENV are cached. */
    if (!fresh) bad(d);
    if (d->b->pos < d->b->len && d->b->data[d->b->pos] == T_UPREF) {
      d->b->pos++;
      join_upvalue(d, f, (int)i);
      continue;
    }
    decode_value(d);
    lua_setupvalue(L, f, (int)i);
  }
  if (fresh && lua_getupvalue(L, f, (int)nup + 1) != NULL) bad(d);
  if (fresh && only_env) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tkl_key_loads);
    lua_pushvalue(L, f);
    lua_rawseti(L, -2, id);
    lua_pop(L, 1);
  }
}

/* Pushes the value of a scalar's tag and returns 1; 0 for other tags. */
static inline int decode_scalar(dec *d, int tag) {
  lua_State *L = d->L;
  switch (tag) {
    case T_NIL: lua_pushnil(L); return 1;
    case T_FALSE: lua_pushboolean(L, 0); return 1;
    case T_TRUE: lua_pushboolean(L, 1); return 1;
    case T_INT: {
      lua_Integer i;
      memcpy(&i, take(d, sizeof i), sizeof i);
      lua_pushinteger(L, i);
      return 1;
    }
    case T_FLT: {
      lua_Number x;
      memcpy(&x, take(d, sizeof x), sizeof x);
      lua_pushnumber(L, x);
      return 1;
    }
    case T_STR: {
      size_t n = take_size(d);
      lua_pushlstring(L, (const char *)take(d, n), n);
      return 1;
    }
    default: return 0;
  }
}

static void decode_value(dec *d) {
  lua_State *L = d->L;
  if (++d->depth > MAX_DEPTH + 2) bad(d);
  luaL_checkstack(L, 6, "value nested too deeply");
  int tag = take_byte(d);
  if (decode_scalar(d, tag)) {
    d->depth--;
    return;
  }
  switch (tag) {
    case T_REF: {
      size_t id = take_size(d);
      if (id == 0 || id > (size_t)d->next_id || lua_isnil(L, d->objs)) bad(d);
      lua_rawgeti(L, d->objs, (lua_Integer)id);
      break;
    }
    case T_TABLE: {
      size_t n = take_size(d);
      if (n > d->b->len - d->b->pos) bad(d);  /* each value takes a byte */
      lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
      int t = lua_gettop(L);
      remember(d);
      for (size_t i = 1; i <= n; i++) {
        decode_value(d);
        lua_rawseti(L, t, (lua_Integer)i);
      }
      for (;;) {
        if (d->b->pos < d->b->len && d->b->data[d->b->pos] == T_END) {
          d->b->pos++;
          break;
        }
        decode_value(d);
        decode_value(d);
        if (lua_isnil(L, -2)) bad(d);
        lua_rawset(L, t);
      }
      decode_value(d);  /* metatable or nil */
      if (lua_istable(L, -1)) lua_setmetatable(L, t);
      else lua_pop(L, 1);
      break;
    }
    case T_FUNC: decode_function(d, 1); break;
    case T_PFUNC: decode_function(d, 0); break;
    case T_CFUNC: {
      size_t n = take_size(d);
      const char *name = (const char *)take(d, n);
      lua_rawgetp(L, LUA_REGISTRYINDEX, &tkl_key_cfuncs);
      lua_pushlstring(L, name, n);
      if (lua_rawget(L, -2) != LUA_TFUNCTION) {
        lua_pushlstring(L, name, n);
        luaL_error(L, "C function '%s' is not available here", lua_tostring(L, -1));
      }
      lua_remove(L, -2);
      break;
    }
    case T_HANDLE: {
      int kind = take_byte(d);
      void *p;
      memcpy(&p, take(d, sizeof p), sizeof p);
      tkl_buf *b = d->b;
      if (d->handles >= b->nrefs || b->refs[d->handles].ptr != p ||
          b->refs[d->handles].kind != kind)
        bad(d);
      d->handles++;
      /* The buffer keeps its reference (it may be decoded again, as a
      ** result is); the box gets one of its own. */
      tkl_retain_handle(kind, p);
      tkl_push_handle(L, kind, p);
      break;
    }
    default: bad(d);
  }
  d->depth--;
}

/* The usual buffer, scalars and cached functions only, pushed without the
** general decoder's object table, depth count and per-value stack checks
** (on a task's hot path they cost more than the values). Returns 1, or 0
** with nothing pushed when the buffer holds anything else. */
static int decode_flat(dec *d, size_t n) {
  lua_State *L = d->L;
  tkl_buf *b = d->b;
  int top = lua_gettop(L);
  for (size_t i = 0; i < n; i++) {
    int tag = take_byte(d);
    if (decode_scalar(d, tag)) continue;
    if (tag != T_PFUNC) goto general;
    if (!cached_function(d, (lua_Integer)take_size(d))) goto general;
    size_t nup = take_size(d);
    if (nup > 255) bad(d);
    /* A cached closure's upvalues are all _ENV (see decode_function). */
    for (size_t k = 0; k < nup; k++)
      if (take_byte(d) != T_ENV) bad(d);
  }
  return 1;
general:
  lua_settop(L, top);
  b->pos = 0;
  return 0;
}

static int decode(lua_State *L, tkl_buf *b, tkl_ctx *c);

int tkl_decode_blob_ctx(lua_State *L, const tkl_blob *b, tkl_ctx *c) {
  tkl_buf view = {.data = b->data, .borrowed = 1, .len = b->len,
                  .cap = b->len, .refs = b->refs, .nrefs = b->nrefs,
                  .caprefs = b->nrefs};  /* borrows them: frees nothing */
  return decode(L, &view, c);
}

int tkl_decode_blob(lua_State *L, const tkl_blob *b) {
  return tkl_decode_blob_ctx(L, b, NULL);
}

int tkl_decode(lua_State *L, tkl_buf *b) { return decode(L, b, NULL); }

static int decode(lua_State *L, tkl_buf *b, tkl_ctx *c) {
  dec d;
  d.L = L;
  d.b = b;
  d.ctx = c;
  d.next_id = 0;
  d.depth = 0;
  d.handles = 0;
  b->pos = 0;
  size_t n = take_size(&d);
  if (n > MAX_VALUES || !lua_checkstack(L, (int)n + 8))
    luaL_error(L, "too many values to copy");
  if (decode_flat(&d, n)) return (int)n;
  lua_pushnil(L);  /* id -> object, made on first need */
  d.objs = lua_gettop(L);
  take_size(&d);
  for (size_t i = 0; i < n; i++) decode_value(&d);
  lua_remove(L, d.objs);
  return (int)n;
}
