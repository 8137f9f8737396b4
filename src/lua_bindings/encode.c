/*
** encode.c - copying Lua values between independent states: the encoder.
** See LICENSE for copyright and licence.
**
** Values are encoded into a flat buffer in the sending state and decoded
** in the receiving one. Tables keep their shape (shared references and
** cycles are preserved within one transfer; metatables travel too);
** functions travel as the id of their bytecode (with debug info, kept once
** per process while anything can name it, see intern_bytecode) plus their
** upvalues, and an upvalue named _ENV binds to the receiving state's
** globals. C functions of the standard library and of
** threadkit travel by name; threadkit's own objects travel by reference.
** Anything else is refused, naming where it sits.
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "code.h"
#include "ctx.h"
#include "handles.h"
#include "lopen.h"
#include "transfer.h"
#include "wire.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define TOO_DEEP "value nested too deeply (more than " STR(MAX_DEPTH) " levels)"

/* Registry key (its address): function -> its code's id, in the sending
** state (weak keys). */
static const char dumpids_key;

/* The C functions that travel by name (module.c fills them in), and the
** receiving state's closures by id. */
const char tkl_key_cnames, tkl_key_cfuncs, tkl_key_loads;

static void weak_table(lua_State *L, const char *key, const char *mode) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void tkl_open_transfer(lua_State *L) {
  weak_table(L, &dumpids_key, "k");
  weak_table(L, &tkl_key_loads, "v");
}


typedef struct path_ent {
  int kind;                      /* 'k' string key, 'i' integer key, 'u'
                                    upvalue, 'm' metatable, 'o' other key */
  const char *s;
  lua_Integer i;
} path_ent;

typedef struct enc {
  lua_State *L;
  tkl_buf *b;
  int seen;                      /* stack index: object -> id */
  int ctx;                       /* stack index of the state's context, or
                                    0 until a function needs it */
  int next_id;
  tkl_encode_mode mode;
  const void *self;              /* results: the job they belong to */
  int top_index;                 /* which top-level value (1-based) */
  path_ent path[MAX_DEPTH + 1];
  int depth;
} enc;

/* Makes room for n more bytes (the slow path of put). */
static void grow(enc *e, size_t n) {
  tkl_buf *b = e->b;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n) {
    if (cap > ((size_t)1 << 40)) luaL_error(e->L, "value too large to copy");
    cap *= 2;
  }
  unsigned char *d = realloc(b->data, cap);
  if (d == NULL) luaL_error(e->L, "not enough memory");
  b->data = d;
  b->cap = cap;
}

static inline void put(enc *e, const void *p, size_t n) {
  if (e->b->cap - e->b->len < n) grow(e, n);
  memcpy(e->b->data + e->b->len, p, n);
  e->b->len += n;
}

static inline void put_byte(enc *e, int c) {
  tkl_buf *b = e->b;
  if (b->len == b->cap) grow(e, 1);
  b->data[b->len++] = (unsigned char)c;
}

static void put_size_slow(enc *e, size_t n) {
  unsigned char tmp[10];
  int k = 0;
  do {
    tmp[k++] = (unsigned char)((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n >>= 7;
  } while (n > 0);
  put(e, tmp, (size_t)k);
}

static inline void put_size(enc *e, size_t n) {
  if (n < 0x80) put_byte(e, (int)n);  /* most sizes and ids: one byte */
  else put_size_slow(e, n);
}

#define PATH_SHOWN 5         /* steps of a long path shown at each end */

/* Raises "cannot copy argument #2, field conn: userdata is not ...". */
static int refuse(enc *e, const char *why) {
  lua_State *L = e->L;
  luaL_Buffer lb;
  luaL_buffinit(L, &lb);
  switch (e->mode) {
    case TKL_ENCODE_ARGUMENTS:  /* the task function, then its arguments */
      if (e->top_index == 1) lua_pushstring(L, "task function");
      else lua_pushfstring(L, "argument #%d", e->top_index - 1);
      break;
    case TKL_ENCODE_RESULTS:
      lua_pushfstring(L, "result #%d", e->top_index);
      break;
    case TKL_ENCODE_ERROR: lua_pushstring(L, "error value"); break;
    case TKL_ENCODE_INIT: lua_pushstring(L, "the init function"); break;
    default: lua_pushstring(L, "the value"); break;
  }
  luaL_addvalue(&lb);
  int in_field = 0, after_gap = 0;
  for (int k = 0; k < e->depth; k++) {
    if (k == PATH_SHOWN && e->depth > 2 * PATH_SHOWN + 1) {
      /* A deep path shows its two ends: the middle says little. */
      luaL_addstring(&lb, in_field ? " ... " : ", ... ");
      k = e->depth - PATH_SHOWN;
      in_field = after_gap = 1;
    }
    path_ent *p = &e->path[k];
    switch (after_gap && p->kind == 'k' ? 'g' : p->kind) {
      case 'g':  /* a key right after the gap: no dot */
        lua_pushstring(L, p->s);
        break;
      case 'u':
        lua_pushfstring(L, ", upvalue '%s'", p->s);
        in_field = 0;
        break;
      case 'm':
        lua_pushstring(L, ", metatable");
        in_field = 0;
        break;
      case 'k':
        lua_pushfstring(L, in_field ? ".%s" : ", field %s", p->s);
        in_field = 1;
        break;
      case 'i':
        lua_pushfstring(L, in_field ? "[%I]" : ", field [%I]", p->i);
        in_field = 1;
        break;
      default:
        lua_pushstring(L, in_field ? "[?]" : ", field [?]");
        in_field = 1;
        break;
    }
    after_gap = 0;
    luaL_addvalue(&lb);
  }
  luaL_pushresult(&lb);
  return luaL_error(L, "cannot copy %s: %s", lua_tostring(L, -1), why);
}

static void push_path(enc *e, int kind, const char *s, lua_Integer i) {
  if (e->depth >= MAX_DEPTH)
    refuse(e, TOO_DEEP);
  e->path[e->depth].kind = kind;
  e->path[e->depth].s = s;
  e->path[e->depth].i = i;
  e->depth++;
}

static void encode_value(enc *e, int idx);

/* Emits T_REF if the object at idx was already written; else registers
** it and returns 0. The table of written objects is made on first need:
** most transfers are a function and a few scalars. */
static int seen_before(enc *e, int idx) {
  lua_State *L = e->L;
  if (lua_isnil(L, e->seen)) {
    lua_newtable(L);
    lua_replace(L, e->seen);
  }
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) {
    put_byte(e, T_REF);
    put_size(e, (size_t)lua_tointeger(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, ++e->next_id);
  lua_rawset(L, e->seen);
  return 0;
}

static void encode_table(enc *e, int idx) {
  lua_State *L = e->L;
  if (seen_before(e, idx)) return;
  put_byte(e, T_TABLE);
  luaL_checkstack(L, 6, "value nested too deeply");
  /* The sequence part first, by position (no keys on the wire, and the
  ** receiver sizes its array once); then every other key. */
  lua_Unsigned n = lua_rawlen(L, idx);
  put_size(e, (size_t)n);
  for (lua_Unsigned i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i);
    push_path(e, 'i', NULL, (lua_Integer)i);
    encode_value(e, lua_gettop(L));
    e->depth--;
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int v = lua_gettop(L), k = v - 1;
    if (lua_isinteger(L, k)) {
      lua_Integer ik = lua_tointeger(L, k);
      if (ik >= 1 && (lua_Unsigned)ik <= n) {  /* sent above */
        lua_pop(L, 1);
        continue;
      }
    }
    /* The key names the path for the value; keys are values too. */
    if (lua_type(L, k) == LUA_TSTRING) push_path(e, 'k', lua_tostring(L, k), 0);
    else if (lua_isinteger(L, k)) push_path(e, 'i', NULL, lua_tointeger(L, k));
    else push_path(e, 'o', NULL, 0);
    encode_value(e, k);
    encode_value(e, v);
    e->depth--;
    lua_pop(L, 1);
  }
  put_byte(e, T_END);
  if (lua_getmetatable(L, idx)) {
    push_path(e, 'm', NULL, 0);
    encode_value(e, lua_gettop(L));
    e->depth--;
    lua_pop(L, 1);
  } else {
    put_byte(e, T_NIL);
  }
}

/* The buffer holds c (takes over the caller's reference). */
static void hold_code(enc *e, tkl_code *c) {
  if (tkl_buf_hold_code(e->b, c) != 0) luaL_error(e->L, "not enough memory");
}

/* The code of the Lua function at idx, held by the buffer: through the
** state's function -> id table while the id's code lives, else by dumping
** and interning its bytecode. */
static tkl_code *function_code(enc *e, int idx) {
  lua_State *L = e->L;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &dumpids_key);
  lua_pushvalue(L, idx);
  lua_Integer id = lua_rawget(L, -2) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  tkl_code *c = id != 0 ? tkl_code_find(id) : NULL;
  if (c != NULL) {
    lua_pop(L, 1);
    hold_code(e, c);
    return c;
  }
  c = tkl_code_dump(L, idx);
  if (c == NULL) luaL_error(L, "not enough memory");
  hold_code(e, c);
  /* stack: dumpids */
  lua_pushvalue(L, idx);
  lua_pushinteger(L, tkl_code_id(c));
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return c;
}

/* The state's context, which caches the plain functions (no upvalue but
** _ENV) this state sent last: a loop that submits one function skips the
** id table and the upvalue scan. Plain closures keep nothing else alive. */
static tkl_ctx *ctx_of(enc *e) {
  if (e->ctx == 0) {
    tkl_ctx_push(e->L);
    lua_replace(e->L, e->ctx = e->seen + 1);  /* the slot reserved for it */
  }
  return lua_touserdata(e->L, e->ctx);
}

static size_t fn_slot(const void *fn) {
  return ((uintptr_t)fn >> 4) & (TKL_FN_SLOTS - 1);
}

/* Writes a Lua function the context has cached (one whose upvalues are
** all _ENV) and returns 1, or returns 0 if it is not cached. */
static int put_cached_function(enc *e, const tkl_ctx *c, const void *fn) {
  size_t slot = fn_slot(fn);
  if (c->fn[slot] != fn) return 0;
  /* The slot holds a reference: taking one more needs no lock. */
  tkl_code_retain(c->fn_code[slot]);
  hold_code(e, c->fn_code[slot]);
  put_byte(e, T_PFUNC);
  put_size(e, (size_t)c->fn_id[slot]);
  put_size(e, (size_t)c->fn_nup[slot]);
  for (int i = 0; i < c->fn_nup[slot]; i++) put_byte(e, T_ENV);
  return 1;
}

/* Whether the upvalue `name` whose value is on top of the stack is the
** function's environment: named _ENV, or, stripped of its name, holding
** this state's globals. It binds to the receiving state's globals. */
static int env_upvalue(lua_State *L, const char *name) {
  if (strcmp(name, "_ENV") == 0) return 1;
  if (strcmp(name, NO_NAME) != 0) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  int env = lua_rawequal(L, -1, -2);
  lua_pop(L, 1);
  return env;
}

/* Closures that share an upvalue (`local n = 0` with an inc and a get)
** share it on arrival too, as tables met twice are one table: the first
** time an upvalue is sent, the seen table notes it under its id as
** function number * 256 + upvalue number; after that it travels as that
** reference, and the decoder joins the two (lua_upvaluejoin). Returns 1
** if upvalue n of the function at idx (number fid) was written so. */
static int shared_upvalue(enc *e, int idx, int n, lua_Integer fid) {
  lua_State *L = e->L;
  lua_pushlightuserdata(L, lua_upvalueid(L, idx, n));
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) {
    lua_Integer where = lua_tointeger(L, -1);
    lua_pop(L, 1);
    put_byte(e, T_UPREF);
    put_size(e, (size_t)(where / 256));
    put_size(e, (size_t)(where % 256));
    return 1;
  }
  lua_pop(L, 1);
  lua_pushlightuserdata(L, lua_upvalueid(L, idx, n));
  lua_pushinteger(L, fid * 256 + n);
  lua_rawset(L, e->seen);
  return 0;
}

/* Functions travel as their bytecode's id (the bytecode itself stays in
** this process's table, see intern_bytecode), then their upvalues. */
static void encode_function(enc *e, int idx) {
  lua_State *L = e->L;
  if (lua_iscfunction(L, idx)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tkl_key_cnames);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      refuse(e, "C function is not transferable (only the standard "
                "library's and threadkit's are)");
    }
    size_t n;
    const char *name = lua_tolstring(L, -1, &n);
    put_byte(e, T_CFUNC);
    put_size(e, n);
    put(e, name, n);
    lua_pop(L, 2);
    return;
  }
  const void *fn = lua_topointer(L, idx);
  tkl_ctx *c = ctx_of(e);
  if (put_cached_function(e, c, fn)) return;
  size_t slot = fn_slot(fn);
  /* A function can only reach itself again through an upvalue (other than
  ** _ENV): only such functions need the seen table. */
  int plain = 1, nup = 0;
  const char *name;
  while ((name = lua_getupvalue(L, idx, nup + 1)) != NULL) {
    if (!env_upvalue(L, name)) plain = 0;
    lua_pop(L, 1);
    nup++;
  }
  if (!plain && seen_before(e, idx)) return;
  lua_Integer fid = e->next_id;  /* its number, if it has one */
  tkl_code *code = function_code(e, idx);
  lua_Integer id = tkl_code_id(code);
  if (plain) {
    lua_pushvalue(L, idx);
    lua_setiuservalue(L, e->ctx, TKL_UV_FN(slot));
    tkl_code *was = c->fn_code[slot];
    tkl_code_retain(code);  /* the buffer holds one: so may the slot */
    c->fn[slot] = fn;
    c->fn_id[slot] = id;
    c->fn_code[slot] = code;
    c->fn_nup[slot] = nup;
    tkl_code_release(was);
  }
  put_byte(e, plain ? T_PFUNC : T_FUNC);
  put_size(e, (size_t)id);
  put_size(e, (size_t)nup);
  for (int i = 1; i <= nup; i++) {
    name = lua_getupvalue(L, idx, i);
    if (name != NULL && env_upvalue(L, name)) {
      put_byte(e, T_ENV);
    } else if (!shared_upvalue(e, idx, i, fid)) {
      push_path(e, 'u', name && *name ? name : "?", 0);
      encode_value(e, lua_gettop(L));
      e->depth--;
    }
    lua_pop(L, 1);
  }
}

static void encode_handle(enc *e, int idx) {
  tkl_box *box = tkl_test_box(e->L, idx);
  if (box != NULL && box->ptr != NULL) {
    void *p = box->ptr;
    int kind = box->kind;
    /* The object may come back: let this state's box be found then. */
    tkl_remember_box(e->L, idx, p);
    tkl_buf *b = e->b;
    if (b->nrefs == b->caprefs) {
      size_t cap = b->caprefs ? b->caprefs * 2 : 4;
      tkl_ref *r = realloc(b->refs, cap * sizeof *r);
      if (r == NULL) luaL_error(e->L, "not enough memory");
      b->refs = r;
      b->caprefs = cap;
    }
    /* A task returning its own job would make the job hold itself through
    ** its result: that reference is weak (the result lives in the job, so
    ** the job outlives every decode of it). */
    int weak = kind == TKL_K_JOB && e->self == p;
    if (!weak) tkl_retain_handle(kind, p);
    b->refs[b->nrefs].kind = kind;
    b->refs[b->nrefs].weak = weak;
    b->refs[b->nrefs].ptr = p;
    b->nrefs++;
    put_byte(e, T_HANDLE);
    put_byte(e, kind);
    put(e, &p, sizeof p);
    return;
  }
  refuse(e, "userdata is not transferable");
}

static void encode_value(enc *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: put_byte(e, T_NIL); break;
    case LUA_TBOOLEAN: put_byte(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        put_byte(e, T_INT);
        put(e, &i, sizeof i);
      } else {
        lua_Number d = lua_tonumber(L, idx);
        put_byte(e, T_FLT);
        put(e, &d, sizeof d);
      }
      break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      put_byte(e, T_STR);
      put_size(e, n);
      put(e, s, n);
      break;
    }
    case LUA_TTABLE:
      if (e->depth >= MAX_DEPTH)
    refuse(e, TOO_DEEP);
      encode_table(e, lua_absindex(L, idx));
      break;
    case LUA_TFUNCTION:
      if (e->depth >= MAX_DEPTH)
    refuse(e, TOO_DEEP);
      encode_function(e, lua_absindex(L, idx));
      break;
    case LUA_TUSERDATA: encode_handle(e, lua_absindex(L, idx)); break;
    case LUA_TTHREAD: refuse(e, "coroutine is not transferable"); break;
    default: refuse(e, "light userdata is not transferable"); break;
  }
}

/* The usual values, scalars and functions in the context's cache, encoded
** as encode_value would, without its stack slots. Returns 0, the buffer's
** bytes as they were, at the first value of another kind (the code it
** took stays held, and is not held twice when written again). */
static int encode_flat(enc *e, int first, int n) {
  lua_State *L = e->L;
  size_t start = e->b->len;
  tkl_ctx *c = e->ctx != 0 ? lua_touserdata(L, e->ctx) : NULL;
  put_size(e, (size_t)n);
  for (int i = first; i < first + n; i++) {
    switch (lua_type(L, i)) {
      case LUA_TNIL:
      case LUA_TBOOLEAN:
      case LUA_TNUMBER:
      case LUA_TSTRING: encode_value(e, i); break;
      case LUA_TFUNCTION:
        /* A C function's address is never a cached closure's. */
        if (c == NULL || !put_cached_function(e, c, lua_topointer(L, i)))
          goto general;
        break;
      default: goto general;
    }
  }
  return 1;
general:
  e->b->len = start;
  return 0;
}

void tkl_check_count(lua_State *L, int n, const char *what) {
  if (n > TKL_MAX_VALUES)
    luaL_error(L, "too many %s to copy (%d, at most %d)", what, n,
               TKL_MAX_VALUES);
}

/* A large value keeps no slack of its size while it waits in a channel,
** a shared table or a task (growth doubles: up to as much again). */
static void fit(tkl_buf *b) {
  if (b->cap <= TKL_BUF_KEEP || b->cap - b->len <= b->len / 8 || b->borrowed)
    return;
  unsigned char *fitted = realloc(b->data, b->len ? b->len : 1);
  if (fitted != NULL) {
    b->data = fitted;
    b->cap = b->len ? b->len : 1;
  }
}

static void encode(lua_State *L, int ctx, int first, int n, tkl_buf *b,
                   tkl_encode_mode mode, const void *self) {
  enc e;
  e.L = L;
  e.b = b;
  e.next_id = 0;
  e.mode = mode;
  e.self = self;
  e.depth = 0;
  e.ctx = ctx;
  if (n > MAX_VALUES)
    luaL_error(L, "too many values to copy (%d, at most %d)", n, MAX_VALUES);
  first = lua_absindex(L, first);
  if (encode_flat(&e, first, n)) {
    fit(b);
    return;
  }
  luaL_checkstack(L, 8, NULL);
  lua_pushnil(L);  /* the seen table, made on first need */
  e.seen = lua_gettop(L);
  lua_pushnil(L);  /* the context's slot, filled on first need */
  put_size(&e, (size_t)n);
  for (int i = 0; i < n; i++) {
    e.top_index = i + 1;
    encode_value(&e, first + i);
  }
  lua_pop(L, 2);
  fit(b);
}

void tkl_encode_ctx(lua_State *L, int ctx, int first, int n, tkl_buf *b,
                    tkl_encode_mode mode) {
  encode(L, ctx, first, n, b, mode, NULL);
}

void tkl_encode(lua_State *L, int first, int n, tkl_buf *b,
                tkl_encode_mode mode) {
  encode(L, 0, first, n, b, mode, NULL);
}

void tkl_encode_results(lua_State *L, int n, tkl_buf *b, tk_job_t *self) {
  encode(L, 0, 1, n, b, TKL_ENCODE_RESULTS, self);
}
