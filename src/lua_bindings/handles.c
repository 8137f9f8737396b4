/*
** handles.c - boxes for threadkit's C objects in a Lua state.
** See LICENSE for copyright and licence.
**
** A box is a userdata holding one reference to an object of one of the
** kinds the module's files register (tkl_kind). Each state keeps a weak
** cache from object to box, so the same object always gets the same box
** there and == holds; __eq covers boxes that meet through other paths.
*/
#include <stdatomic.h>

#include "ctx.h"
#include "handles.h"
#include "lopen.h"

typedef tkl_box box;

/* Registry keys (their addresses): the box cache, and what objects keep
** alive (tkl_anchor). */
static const char boxes_key, anchors_key;

/* Each kind's metatable is also stored under the address of its slot,
** which is also the tag of its boxes. */
static const char mt_keys[TKL_K_LAST + 1];

/* Every kind, by id: written by each state that opens the module (always
** the same descriptor), read wherever a reference moves. */
static _Atomic(const tkl_kind *) kinds[TKL_K_LAST + 1];

static const tkl_kind *kind_of(int kind) {
  return atomic_load_explicit(&kinds[kind], memory_order_relaxed);
}

const void *tkl_box_tag(int kind) { return &mt_keys[kind]; }

void tkl_register_kind(lua_State *L, const tkl_kind *k) {
  atomic_store_explicit(&kinds[k->id], k, memory_order_relaxed);
  luaL_getmetatable(L, k->mt_name);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &mt_keys[k->id]);
  tkl_ctx_push(L);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, TKL_UV_MT(k->id));
  lua_pop(L, 1);
}

/* Sets kind's metatable on the value on top: from the context at index
** ctx, else from the registry by address (no strings). */
static void set_mt(lua_State *L, int ctx, int kind) {
  if (ctx != 0) lua_getiuservalue(L, ctx, TKL_UV_MT(kind));
  else lua_rawgetp(L, LUA_REGISTRYINDEX, &mt_keys[kind]);
  lua_setmetatable(L, -2);
}

/* The box on top, whose shared metatable already releases ptr if this
** fails, gets a metatable of its own when its kind gives each one. */
static void own_mt(lua_State *L, const tkl_kind *k, void *ptr) {
  if (k->push_mt == NULL) return;
  k->push_mt(L, ptr);
  lua_setmetatable(L, -2);
}

void tkl_retain_handle(int kind, void *ptr) { kind_of(kind)->retain(ptr); }

void tkl_release_handle(int kind, void *ptr) { kind_of(kind)->release(ptr); }

/* A state closing on this thread (tkl_set_closing): its finalizers run,
** and a box one makes would be neither finalized nor freed, nor what it
** holds. */
static _Thread_local int closing;

void tkl_set_closing(int on) { closing = on; }

/* Lets ptr's reference go and raises, while a state closes here. */
static void refuse_if_closing(lua_State *L, int kind, void *ptr) {
  if (!closing) return;
  tkl_release_handle(kind, ptr);
  luaL_error(L, "threadkit: no new %s handle while its state closes",
             kind_of(kind)->name);
}

void tkl_push_handle(lua_State *L, int kind, void *ptr) {
  refuse_if_closing(L, kind, ptr);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key);
  if (lua_rawgetp(L, -1, ptr) == LUA_TUSERDATA) {
    box *b = lua_touserdata(L, -1);
    if (b->ptr == ptr && b->kind == kind) {
      tkl_release_handle(kind, ptr);  /* the box already holds one */
      lua_remove(L, -2);
      return;
    }
  }
  lua_pop(L, 1);
  box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->tag = NULL;
  b->kind = 0;
  b->owner = 0;
  b->ptr = NULL;  /* consistent if setmetatable fails */
  set_mt(L, 0, kind);
  b->tag = &mt_keys[kind];
  b->kind = kind;
  b->ptr = ptr;
  const tkl_kind *k = kind_of(kind);
  own_mt(L, k, ptr);
  if (k->boxed != NULL) k->boxed(b);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, ptr);
  lua_remove(L, -2);
}

void tkl_push_new_handle_ctx(lua_State *L, int ctx, int kind, void *ptr) {
  refuse_if_closing(L, kind, ptr);
  /* A new object has no box yet: skip the cache until it travels (the
  ** encoder adds the box then). */
  box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->tag = NULL;
  b->kind = 0;
  b->owner = 0;
  b->ptr = NULL;
  set_mt(L, ctx, kind);
  b->tag = &mt_keys[kind];
  b->kind = kind;
  b->ptr = ptr;
  own_mt(L, kind_of(kind), ptr);
}

void tkl_push_new_handle(lua_State *L, int kind, void *ptr) {
  tkl_push_new_handle_ctx(L, 0, kind, ptr);
}

/* A full userdata of a box's
** size whose first word is its kind's tag can only be a box this module
** made: only C code writes userdata memory, and the tag is a private
** address. No metatable or registry lookup on this hot path, and the
** metamethods, which debug.setmetatable can hand any userdata, use it
** too. */
box *tkl_test_box(lua_State *L, int idx) {
  box *b = lua_touserdata(L, idx);  /* NULL unless full or light userdata */
  if (b == NULL || lua_rawlen(L, idx) != sizeof *b ||  /* light: 0 */
      b->kind < TKL_K_JOB || b->kind > TKL_K_LAST ||
      b->tag != &mt_keys[b->kind])
    return NULL;
  return b;
}

/* The box at idx if it is one of kind's, or NULL. */
static box *test_box(lua_State *L, int idx, int kind) {
  box *b = tkl_test_box(L, idx);
  return b != NULL && b->kind == kind ? b : NULL;
}

void *tkl_test_handle(lua_State *L, int idx, int kind) {
  box *b = test_box(L, idx, kind);
  return b != NULL ? b->ptr : NULL;
}

tkl_box *tkl_check_box(lua_State *L, int idx, int kind) {
  box *b = test_box(L, idx, kind);
  if (b == NULL) luaL_typeerror(L, idx, kind_of(kind)->mt_name);
  return b;
}

tk_job_t *tkl_check_list_job(lua_State *L, int idx, int arg,
                             const char *list, lua_Integer i) {
  box *b = test_box(L, idx, TKL_K_JOB);
  if (b == NULL || b->ptr == NULL)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s[%I] is %s", list, i,
                                          b ? "a released job" : "not a job"));
  return b->ptr;
}

void *tkl_check_handle(lua_State *L, int idx, int kind) {
  box *b = test_box(L, idx, kind);
  if (b == NULL) luaL_typeerror(L, idx, kind_of(kind)->mt_name);
  if (b->ptr == NULL)
    luaL_error(L, "attempt to use a released %s", kind_of(kind)->name);
  return b->ptr;
}

static int let_go(lua_State *L, int collected) {
  box *b = tkl_test_box(L, 1);
  if (b != NULL && b->ptr != NULL) {
    const tkl_kind *k = kind_of(b->kind);
    if (k->let_go != NULL && k->let_go(L, 1, collected)) return 0;
    void *p = b->ptr;
    b->ptr = NULL;
    tkl_release_handle(b->kind, p);
  }
  return 0;
}

static int handle_gc(lua_State *L) { return let_go(L, 1); }
static int handle_close(lua_State *L) { return let_go(L, 0); }

int tkl_handle_eq(lua_State *L) {
  box *a = tkl_test_box(L, 1), *b = tkl_test_box(L, 2);
  lua_pushboolean(L, a != NULL && b != NULL && a->kind == b->kind &&
                         a->ptr == b->ptr && a->ptr != NULL);
  return 1;
}

static int handle_tostring(lua_State *L) {
  box *b = tkl_test_box(L, 1);
  if (b == NULL) return luaL_typeerror(L, 1, "threadkit object");
  if (b->ptr == NULL)
    lua_pushfstring(L, "threadkit.%s (released)", kind_of(b->kind)->name);
  else
    lua_pushfstring(L, "threadkit.%s (%p)", kind_of(b->kind)->name, b->ptr);
  return 1;
}

void tkl_new_handle_type(lua_State *L, const tkl_kind *kind,
                         const luaL_Reg *methods, lua_CFunction index) {
  static const luaL_Reg meta[] = {{"__gc", handle_gc},
                                  {"__close", handle_close},
                                  {"__eq", tkl_handle_eq},
                                  {"__tostring", handle_tostring},
                                  {NULL, NULL}};
  luaL_newmetatable(L, kind->mt_name);
  luaL_setfuncs(L, meta, 0);
  lua_pushstring(L, kind->mt_name);
  lua_setfield(L, -2, "__name");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  if (index != NULL) {
    /* __index = function(self, k): methods first, then fields. */
    lua_pushcclosure(L, index, 1);
  }
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  tkl_register_kind(L, kind);
}

/* threadkit.type(v): "job", "token", "channel", "shared", "pool" or nil. */
static int tkl_type(lua_State *L) {
  box *b = tkl_test_box(L, 1);  /* by tag: pool boxes have metatables of their own */
  if (b != NULL) lua_pushstring(L, kind_of(b->kind)->name);
  else lua_pushnil(L);
  return 1;
}

/* A new table with weak keys or values (mode "k" or "v") in the registry
** under key. */
static void registry_weak_table(lua_State *L, const void *key,
                                const char *mode) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void tkl_open_handles(lua_State *L) {
  /* The per-state box cache: weak values, so boxes die normally. */
  registry_weak_table(L, &boxes_key, "v");
  /* What objects keep alive: weak keys. */
  registry_weak_table(L, &anchors_key, "k");
  lua_pushcfunction(L, tkl_type);
  lua_setfield(L, -2, "type");
}

void tkl_anchor(lua_State *L, int holder, int held) {
  holder = lua_absindex(L, holder);
  held = lua_absindex(L, held);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &anchors_key);
  lua_pushvalue(L, holder);
  lua_pushvalue(L, held);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void tkl_remember_box(lua_State *L, int idx, void *ptr) {
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &boxes_key);
  lua_pushvalue(L, idx);
  lua_rawsetp(L, -2, ptr);
  lua_pop(L, 1);
}
