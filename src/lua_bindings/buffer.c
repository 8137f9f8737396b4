/*
** buffer.c - encoded values: growable buffers with the references they
** hold, the blobs tasks keep them in, and the guard of a buffer on a Lua
** stack. See LICENSE for copyright and licence.
*/
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "code.h"
#include "ctx.h"
#include "handles.h"
#include "lopen.h"

void tkl_buf_init(tkl_buf *b) { memset(b, 0, sizeof *b); }

static void release_refs(tkl_ref *refs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (refs[i].ptr != NULL && !refs[i].weak)
      tkl_release_handle(refs[i].kind, refs[i].ptr);
  free(refs);
}

/* The code held by a buffer or blob (see tkl_buf's codes: an array iff
** there are two or more). */
static tkl_code **code_list(void **codes, size_t n) {
  return n <= 1 ? (tkl_code **)codes : *codes;
}

/* Releases the code held (and frees its array). */
static void release_codes(void *codes, size_t n) {
  tkl_code **list = code_list(&codes, n);
  for (size_t i = 0; i < n; i++) tkl_code_release(list[i]);
  if (n > 1) free(codes);
}

void tkl_buf_free(tkl_buf *b) {
  release_refs(b->refs, b->nrefs);
  release_codes(b->codes, b->ncodes);
  if (!b->borrowed) free(b->data);
  tkl_buf_init(b);
}

void tkl_buf_clear(tkl_buf *b) {
  for (size_t i = 0; i < b->nrefs; i++)
    if (!b->refs[i].weak) tkl_release_handle(b->refs[i].kind, b->refs[i].ptr);
  b->nrefs = 0;
  release_codes(b->codes, b->ncodes);
  b->codes = NULL;
  b->ncodes = b->capcodes = 0;
  b->len = 0;
  /* A large value (a failed encode's, say) leaves no room of its size. */
  if (b->cap > TKL_BUF_KEEP && !b->borrowed) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
  if (b->caprefs * sizeof *b->refs > TKL_BUF_KEEP) {
    free(b->refs);
    b->refs = NULL;
    b->caprefs = 0;
  }
}

/* Moves src's code into *codes / *n (src keeps none). */
static void take_codes(void **codes, size_t *n, tkl_buf *src) {
  *codes = src->codes;
  *n = src->ncodes;
  src->codes = NULL;
  src->ncodes = src->capcodes = 0;
}

int tkl_buf_move(tkl_buf *dst, tkl_buf *src, void *space, size_t room) {
  tkl_buf_init(dst);
  if (src->len <= room && space != NULL) {
    dst->data = space;
    dst->borrowed = 1;
    memcpy(dst->data, src->data, src->len);
  } else if (src->cap > TKL_BUF_KEEP && !src->borrowed) {
    /* A large value: its block moves (fitted), src starts small again. */
    unsigned char *fitted = realloc(src->data, src->len ? src->len : 1);
    dst->data = fitted != NULL ? fitted : src->data;
    src->data = NULL;
    src->cap = 0;
  } else if ((dst->data = malloc(src->len ? src->len : 1)) == NULL) {
    return TK_ENOMEM;
  } else {
    memcpy(dst->data, src->data, src->len);
  }
  dst->len = dst->cap = src->len;
  dst->refs = src->refs;
  dst->nrefs = src->nrefs;
  dst->caprefs = src->caprefs;
  src->refs = NULL;
  src->nrefs = src->caprefs = 0;
  dst->capcodes = src->capcodes;
  take_codes(&dst->codes, &dst->ncodes, src);
  src->len = 0;
  return 0;
}

int tkl_blob_take(tkl_blob *dst, tkl_buf *src, void *space, size_t room) {
  tkl_buf b;
  if (src->nrefs > UINT_MAX) return TK_ENOMEM;  /* cannot happen: memory */
  if (src->ncodes > UINT_MAX >> 1) return TK_ENOMEM;  /* as nrefs */
  if (tkl_buf_move(&b, src, space, room) != 0) return TK_ENOMEM;
  dst->data = b.data;
  dst->refs = b.refs;
  dst->codes = b.codes;
  dst->len = b.len;
  dst->nrefs = (unsigned)b.nrefs;
  dst->ncodes = (unsigned)b.ncodes;
  dst->borrowed = (unsigned)b.borrowed;
  return 0;
}

void tkl_blob_free(tkl_blob *b) {
  release_refs(b->refs, b->nrefs);
  release_codes(b->codes, b->ncodes);
  if (!b->borrowed) free(b->data);
  memset(b, 0, sizeof *b);
}

tkl_buf *tkl_buf_new(void) {
  tkl_buf *b = malloc(sizeof *b);
  if (b != NULL) tkl_buf_init(b);
  return b;
}

int tkl_buf_copy(tkl_buf *dst, const tkl_buf *src) {
  tkl_buf_init(dst);
  dst->data = malloc(src->len ? src->len : 1);
  dst->refs = src->nrefs ? malloc(src->nrefs * sizeof *src->refs) : NULL;
  tkl_code **codes = src->ncodes > 1 ? malloc(src->ncodes * sizeof *codes)
                                     : NULL;
  if (dst->data == NULL || (src->nrefs > 0 && dst->refs == NULL) ||
      (src->ncodes > 1 && codes == NULL)) {
    free(dst->data);
    free(dst->refs);
    free(codes);
    tkl_buf_init(dst);
    return TK_ENOMEM;
  }
  /* The copy holds the same code, a reference of its own each. */
  const tkl_code *const *from = (const tkl_code *const *)code_list(
      (void **)&src->codes, src->ncodes);
  for (size_t i = 0; i < src->ncodes; i++) tkl_code_retain((tkl_code *)from[i]);
  if (src->ncodes == 1) dst->codes = (void *)from[0];
  else if (src->ncodes > 1) {
    memcpy(codes, from, src->ncodes * sizeof *codes);
    dst->codes = codes;
    dst->capcodes = src->ncodes;
  }
  dst->ncodes = src->ncodes;
  memcpy(dst->data, src->data, src->len);
  dst->len = dst->cap = src->len;
  for (size_t i = 0; i < src->nrefs; i++) {
    dst->refs[i] = src->refs[i];
    dst->refs[i].weak = 0;  /* a copy lives apart from the job */
    tkl_retain_handle(src->refs[i].kind, src->refs[i].ptr);
  }
  dst->nrefs = dst->caprefs = src->nrefs;
  return 0;
}

void tkl_buf_delete(void *b) {
  if (b == NULL) return;
  tkl_buf_free(b);
  free(b);
}


int tkl_buf_hold_code(tkl_buf *b, tkl_code *c) {
  tkl_code **list = code_list(&b->codes, b->ncodes);
  for (size_t i = 0; i < b->ncodes && i < 8; i++) {
    if (list[i] == c) {
      tkl_code_release(c);
      return 0;
    }
  }
  if (b->ncodes == 0) {
    b->codes = c;
  } else {
    if (b->ncodes == 1 || b->ncodes == b->capcodes) {
      size_t cap = b->ncodes == 1 ? 4 : b->capcodes * 2;
      tkl_code **grown = realloc(b->ncodes == 1 ? NULL : b->codes,
                                 cap * sizeof *grown);
      if (grown == NULL) {
        tkl_code_release(c);
        return TK_ENOMEM;
      }
      if (b->ncodes == 1) grown[0] = b->codes;
      b->codes = grown;
      b->capcodes = cap;
    }
    ((tkl_code **)b->codes)[b->ncodes] = c;
  }
  b->ncodes++;
  return 0;
}


tkl_buf *tkl_ctx_scratch(tkl_ctx *c) {
  tkl_buf *b = &c->scratch;
  /* Whatever a failed encode left: its references go, its room stays. */
  tkl_buf_clear(b);
  return b;
}

tkl_buf *tkl_scratch(lua_State *L) {
  tkl_ctx *c = tkl_ctx_push(L);
  lua_pop(L, 1);  /* the registry keeps it */
  return tkl_ctx_scratch(c);
}

/* The scratch buffer's memory goes with the state's context; the context
** stays usable (the debug library can reach it). */
static void free_scratch(lua_State *L, tkl_ctx *c) {
  (void)L;
  tkl_buf_free(&c->scratch);
  tkl_buf_init(&c->scratch);
}

/* A buffer on a Lua stack, freed by the collector unless taken. */
static const char guard_mt[] = "threadkit.bufguard";

static int guard_gc(lua_State *L) {
  tkl_buf **g = lua_touserdata(L, 1);
  tkl_buf_delete(*g);
  *g = NULL;
  return 0;
}

tkl_buf **tkl_push_buf_guard(lua_State *L) {
  tkl_buf **g = lua_newuserdatauv(L, sizeof *g, 0);
  *g = NULL;
  luaL_setmetatable(L, guard_mt);
  return g;
}

void tkl_open_buffers(lua_State *L) {
  tkl_ctx_on_close(TKL_CLOSE_SCRATCH, free_scratch);
  luaL_newmetatable(L, guard_mt);
  lua_pushcfunction(L, guard_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}
