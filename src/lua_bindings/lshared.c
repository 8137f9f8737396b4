/*
** lshared.c - shared tables: a map of copied values that every state can
** read and write; each operation is atomic. See LICENSE for copyright and
** licence.
*/
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "handles.h"
#include "lcycles.h"
#include "lopen.h"
#include "transfer.h"

typedef struct entry {
  struct entry *next;
  size_t hash;
  size_t klen;
  tkl_buf val;
  char key[];                    /* type byte + payload */
} entry;

typedef struct tkl_shared {
  tkl_gcobj gc;                  /* first: the count and mu (lcycles.c) */
  entry **buckets;
  size_t nbuckets, count;
  lua_Integer border;            /* mu: the last border found, where the
                                    next search starts */
} tkl_shared;

static void shared_retain(void *s) { tkl_gc_retain(&((tkl_shared *)s)->gc); }

static void shared_release(void *s) {
  tkl_gc_release(&((tkl_shared *)s)->gc);
}

static const tkl_kind shared_kind = {TKL_K_SHARED, "shared", TK_SHARED_MT,
                                     shared_retain, shared_release,
                                     NULL, NULL, NULL};

/* {====================================================== collector */

static void sh_each(tkl_gcobj *o, void (*fn)(const tkl_buf *, void *),
                    void *ud) {
  tkl_shared *s = (tkl_shared *)o;
  for (size_t i = 0; i < s->nbuckets; i++)
    for (entry *e = s->buckets[i]; e != NULL; e = e->next) fn(&e->val, ud);
}

typedef struct taken_entries {
  entry **buckets;
  size_t nbuckets;
} taken_entries;

static void free_buckets(entry **buckets, size_t nbuckets) {
  for (size_t i = 0; i < nbuckets; i++) {
    entry *e = buckets[i];
    while (e != NULL) {
      entry *next = e->next;
      tkl_buf_free(&e->val);
      free(e);
      e = next;
    }
  }
  free(buckets);
}

static void *sh_take(tkl_gcobj *o) {
  tkl_shared *s = (tkl_shared *)o;
  if (s->buckets == NULL) return NULL;
  taken_entries *t = malloc(sizeof *t);
  if (t == NULL) {
    free_buckets(s->buckets, s->nbuckets);  /* as ch_take (lchannel.c) */
  } else {
    t->buckets = s->buckets;
    t->nbuckets = s->nbuckets;
  }
  s->buckets = NULL;
  s->nbuckets = s->count = 0;
  s->border = 0;
  return t;
}

static void sh_drop(void *taken) {
  taken_entries *t = taken;
  if (t == NULL) return;
  free_buckets(t->buckets, t->nbuckets);
  free(t);
}

static void sh_free(tkl_gcobj *o) { free(o); }

static const tkl_gctype shared_type = {sh_each, sh_take, sh_drop, sh_free};

/* }====================================================== */

static tkl_shared *check_shared(lua_State *L) {
  return tkl_check_handle(L, 1, TKL_K_SHARED);
}

/* Keys: strings, numbers (integral floats count as integers, as in Lua)
** and booleans, flattened to bytes. */
typedef struct keybuf {
  char bytes[1 + sizeof(lua_Integer)];
  const char *p;
  size_t n;
} keybuf;

static void make_key(lua_State *L, int idx, keybuf *k) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      /* Strings are keyed by themselves after an 's'. */
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      lua_pushfstring(L, "s");
      lua_pushlstring(L, s, n);
      lua_concat(L, 2);
      k->p = lua_tolstring(L, -1, &k->n);  /* anchored on the stack */
      return;
    }
    case LUA_TNUMBER: {
      lua_Integer i;
      if (lua_isinteger(L, idx)) {
        i = lua_tointeger(L, idx);
      } else {
        lua_Number x = lua_tonumber(L, idx);
        if (x != x) luaL_argerror(L, idx, "key is NaN");
        /* A float with an integer value is that integer, as a Lua table
        ** key is: every one in [-2^63, 2^63) converts exactly. */
        if (x == floor(x) && x >= -0x1p63 && x < 0x1p63) {
          i = (lua_Integer)x;
        } else {
          k->bytes[0] = 'f';
          memcpy(k->bytes + 1, &x, sizeof x);
          k->p = k->bytes;
          k->n = 1 + sizeof x;
          return;
        }
      }
      k->bytes[0] = 'i';
      memcpy(k->bytes + 1, &i, sizeof i);
      k->p = k->bytes;
      k->n = 1 + sizeof i;
      return;
    }
    case LUA_TBOOLEAN:
      k->bytes[0] = lua_toboolean(L, idx) ? 'T' : 'F';
      k->p = k->bytes;
      k->n = 1;
      return;
    default:
      luaL_argerror(L, idx, lua_pushfstring(L, "shared table keys must be "
                                              "strings, numbers or booleans, "
                                              "got %s", luaL_typename(L, idx)));
  }
}

static size_t hash_bytes(const char *p, size_t n) {
  size_t h = 1469598103934665603u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211u;
  return h;
}

/* With mu held. */
static entry **find(tkl_shared *s, const char *k, size_t n, size_t h) {
  if (s->nbuckets == 0) return NULL;
  entry **pe = &s->buckets[h & (s->nbuckets - 1)];
  while (*pe != NULL) {
    if ((*pe)->hash == h && (*pe)->klen == n && memcmp((*pe)->key, k, n) == 0)
      return pe;
    pe = &(*pe)->next;
  }
  return NULL;
}

static int grow(tkl_shared *s) {
  size_t nb = s->nbuckets ? s->nbuckets * 2 : 16;
  entry **b = calloc(nb, sizeof *b);
  if (b == NULL) return 0;
  for (size_t i = 0; i < s->nbuckets; i++) {
    entry *e = s->buckets[i];
    while (e != NULL) {
      entry *next = e->next;
      e->next = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
      e = next;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = nb;
  return 1;
}

/* With mu held: stores val (taken over; NULL deletes). 0 on ENOMEM. */
static int store(tkl_shared *s, const char *k, size_t n, tkl_buf *val) {
  tkl_gc_thaw(&s->gc);
  size_t h = hash_bytes(k, n);
  entry **pe = find(s, k, n, h);
  if (pe != NULL) {
    entry *e = *pe;
    tkl_buf_free(&e->val);
    if (val != NULL) {
      e->val = *val;
    } else {
      *pe = e->next;
      free(e);
      s->count--;
    }
    return 1;
  }
  if (val == NULL) return 1;
  if (s->count >= s->nbuckets && !grow(s)) return 0;
  entry *e = malloc(sizeof *e + n);
  if (e == NULL) return 0;
  memcpy(e->key, k, n);
  e->klen = n;
  e->hash = h;
  e->val = *val;
  e->next = s->buckets[h & (s->nbuckets - 1)];
  s->buckets[h & (s->nbuckets - 1)] = e;
  s->count++;
  return 1;
}

static void int_key(lua_Integer i, keybuf *k) {
  k->bytes[0] = 'i';
  memcpy(k->bytes + 1, &i, sizeof i);
  k->p = k->bytes;
  k->n = 1 + sizeof i;
}

static int has_int(tkl_shared *s, lua_Integer i) {
  keybuf k;
  int_key(i, &k);
  return find(s, k.p, k.n, hash_bytes(k.p, k.n)) != NULL;
}

/* With mu held: a border, as # gives for a table (n present, n + 1 not).
** The search starts from the last one found, so that appending, or
** reading # while appending, costs O(1) instead of a scan from 1. */
static lua_Integer border(tkl_shared *s) {
  lua_Integer n = s->border;
  if (n > 0 && !has_int(s, n)) {
    while (n > 0 && !has_int(s, n)) n--;  /* removed from the end */
  } else {
    while (has_int(s, n + 1)) n++;
  }
  return s->border = n;
}

static int l_newindex(lua_State *L);

static int l_shared(lua_State *L) {
  tkl_gc_maybe_collect();
  tkl_shared *s = calloc(1, sizeof *s);
  if (s == NULL) return luaL_error(L, "not enough memory");
  tkl_gc_init(&s->gc, &shared_type);
  tkl_push_new_handle(L, TKL_K_SHARED, s);
  if (lua_istable(L, 1)) {  /* tk.shared{...}: initial contents */
    int box = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
      lua_pushcfunction(L, l_newindex);
      lua_pushvalue(L, box);
      lua_pushvalue(L, -4);  /* key */
      lua_pushvalue(L, -4);  /* value */
      lua_call(L, 3, 0);
      lua_pop(L, 1);
    }
  }
  return 1;
}

static const luaL_Reg methods[];

static int l_index(lua_State *L) {
  tkl_shared *s = check_shared(L);
  if (lua_type(L, 2) == LUA_TSTRING) {
    for (const luaL_Reg *m = methods; m->name; m++) {
      if (strcmp(m->name, lua_tostring(L, 2)) == 0) {
        lua_pushcfunction(L, m->func);
        return 1;
      }
    }
  }
  keybuf k;
  make_key(L, 2, &k);
  tkl_buf copy;
  tkl_buf_init(&copy);
  pthread_mutex_lock(&s->gc.mu);
  entry **pe = find(s, k.p, k.n, hash_bytes(k.p, k.n));
  int found = pe != NULL;
  /* Decode outside the lock, from a copy. */
  if (found) tkl_gc_thaw(&s->gc);  /* the copy takes references */
  int ok = !found || tkl_buf_copy(&copy, &(*pe)->val) == 0;
  pthread_mutex_unlock(&s->gc.mu);
  if (!ok) {
    tkl_buf_free(&copy);
    return luaL_error(L, "not enough memory");
  }
  if (!found) {
    lua_pushnil(L);
    return 1;
  }
  tkl_buf **guard = tkl_push_buf_guard(L);
  tkl_buf *heap = tkl_buf_new();
  if (heap == NULL) {
    tkl_buf_free(&copy);
    return luaL_error(L, "not enough memory");
  }
  *heap = copy;
  *guard = heap;
  tkl_decode(L, heap);
  /* Freed now, not when the collector finds the guard (see deliver in
  ** lchannel.c). */
  tkl_buf_delete(heap);
  *guard = NULL;
  return 1;
}

static int l_newindex(lua_State *L) {
  tkl_shared *s = check_shared(L);
  keybuf k;
  make_key(L, 2, &k);
  tkl_buf *val = NULL;
  tkl_buf b;
  tkl_buf_init(&b);
  if (!lua_isnil(L, 3)) {
    tkl_buf **guard = tkl_push_buf_guard(L);
    *guard = tkl_buf_new();
    if (*guard == NULL) return luaL_error(L, "not enough memory");
    tkl_encode(L, 3, 1, *guard, TKL_ENCODE_VALUE);
    b = **guard;
    free(*guard);
    *guard = NULL;
    val = &b;
  }
  pthread_mutex_lock(&s->gc.mu);
  int ok = store(s, k.p, k.n, val);
  pthread_mutex_unlock(&s->gc.mu);
  if (!ok) {
    tkl_buf_free(&b);
    return luaL_error(L, "not enough memory");
  }
  tk_group_poke();  /* wait_for_condition predicates look again */
  return 0;
}

static int l_len(lua_State *L) {
  tkl_shared *s = check_shared(L);
  pthread_mutex_lock(&s->gc.mu);
  lua_Integer n = border(s);
  pthread_mutex_unlock(&s->gc.mu);
  lua_pushinteger(L, n);
  return 1;
}

/* s:append(v): s[#s + 1] = v, atomically; returns the new length */
static int l_append(lua_State *L) {
  tkl_shared *s = check_shared(L);
  luaL_checkany(L, 2);
  tkl_buf **guard = tkl_push_buf_guard(L);
  *guard = tkl_buf_new();
  if (*guard == NULL) return luaL_error(L, "not enough memory");
  tkl_encode(L, 2, 1, *guard, TKL_ENCODE_VALUE);
  tkl_buf b = **guard;
  free(*guard);
  *guard = NULL;
  pthread_mutex_lock(&s->gc.mu);
  lua_Integer n = border(s) + 1;
  keybuf k;
  int_key(n, &k);
  int ok = store(s, k.p, k.n, &b);
  pthread_mutex_unlock(&s->gc.mu);
  if (!ok) {
    tkl_buf_free(&b);
    return luaL_error(L, "not enough memory");
  }
  tk_group_poke();
  lua_pushinteger(L, n);
  return 1;
}

/* s:incr(k, [n]): adds n (default 1) to a number, atomically; returns it */
static int l_incr(lua_State *L) {
  tkl_shared *s = check_shared(L);
  lua_Number by = luaL_optnumber(L, 3, 1);
  /* An integer step stays one: through a double it would lose its low
  ** bits past 2^53, or not convert back at all near 2^63. */
  int int_by = lua_isnoneornil(L, 3) || lua_isinteger(L, 3);
  lua_Integer iby = lua_isinteger(L, 3) ? lua_tointeger(L, 3) : 1;
  lua_settop(L, 2);
  keybuf k;
  make_key(L, 2, &k);  /* may push the key's bytes */
  lua_State *scratch = lua_newthread(L);  /* decode/encode in private */
  pthread_mutex_lock(&s->gc.mu);
  entry **pe = find(s, k.p, k.n, hash_bytes(k.p, k.n));
  lua_Number cur = 0;
  int cur_int = 1;
  lua_Integer icur = 0;
  if (pe != NULL) {
    tkl_buf *v = &(*pe)->val;
    /* A number is 1 + tag + 8 bytes: read it without a Lua call. */
    if (v->len == 10 && v->data[1] == 4 /* T_INT */) {
      memcpy(&icur, v->data + 2, sizeof icur);
    } else if (v->len == 10 && v->data[1] == 5 /* T_FLT */) {
      memcpy(&cur, v->data + 2, sizeof cur);
      cur_int = 0;
    } else {
      pthread_mutex_unlock(&s->gc.mu);
      return luaL_error(L, "incr: the value is not a number");
    }
  }
  if (cur_int && int_by) {
    /* Wraps around as Lua's integer + does (no signed overflow). */
    lua_pushinteger(scratch, (lua_Integer)((lua_Unsigned)icur +
                                           (lua_Unsigned)iby));
  } else {
    lua_pushnumber(scratch, (cur_int ? (lua_Number)icur : cur) + by);
  }
  tkl_buf b;
  tkl_buf_init(&b);
  tkl_encode(scratch, 1, 1, &b, TKL_ENCODE_VALUE);  /* a number: cannot raise */
  int ok = store(s, k.p, k.n, &b);
  pthread_mutex_unlock(&s->gc.mu);
  if (!ok) {
    tkl_buf_free(&b);
    return luaL_error(L, "not enough memory");
  }
  tk_group_poke();
  lua_xmove(scratch, L, 1);
  return 1;
}

/* The iterator of pairs(s) over its snapshot: next, without the global of
** that name, which a script may have removed or replaced. */
static int snapshot_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1) != 0) return 2;
  lua_pushnil(L);
  return 1;
}

/* pairs(s): a snapshot, copied into a plain table */
static int l_pairs(lua_State *L) {
  tkl_shared *s = check_shared(L);
  lua_pushcfunction(L, snapshot_next);
  lua_newtable(L);
  int t = lua_gettop(L);
  pthread_mutex_lock(&s->gc.mu);
  /* Copy keys; values are read back one by one through __index, which
  ** locks again: simple, and each read is consistent. */
  lua_newtable(L);
  int keys = lua_gettop(L);
  lua_Integer nk = 0;
  for (size_t i = 0; i < s->nbuckets; i++) {
    for (entry *e = s->buckets[i]; e != NULL; e = e->next) {
      switch (e->key[0]) {
        case 's': lua_pushlstring(L, e->key + 1, e->klen - 1); break;
        case 'i': {
          lua_Integer v;
          memcpy(&v, e->key + 1, sizeof v);
          lua_pushinteger(L, v);
          break;
        }
        case 'f': {
          lua_Number v;
          memcpy(&v, e->key + 1, sizeof v);
          lua_pushnumber(L, v);
          break;
        }
        default: lua_pushboolean(L, e->key[0] == 'T'); break;
      }
      lua_rawseti(L, keys, ++nk);
    }
  }
  pthread_mutex_unlock(&s->gc.mu);
  for (lua_Integer i = 1; i <= nk; i++) {
    lua_rawgeti(L, keys, i);
    lua_pushcfunction(L, l_index);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) lua_pop(L, 2);  /* removed meanwhile */
    else lua_rawset(L, t);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  return 3;
}

static const luaL_Reg methods[] = {{"append", l_append},
                                   {"incr", l_incr},
                                   {NULL, NULL}};

void tkl_open_shared(lua_State *L) {
  static const luaL_Reg none[] = {{NULL, NULL}};
  tkl_new_handle_type(L, &shared_kind, none, NULL);
  luaL_getmetatable(L, TK_SHARED_MT);
  lua_pushcfunction(L, l_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, l_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, l_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_shared);
  lua_setfield(L, -2, "shared");
}
