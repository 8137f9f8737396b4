/*
** buffer.h - encoded values: growable buffers, and the blobs tasks keep.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_BUFFER_H
#define TKL_BUFFER_H

#include "tkl_common.h"
#include "code.h"

struct tkl_ctx;

/* The room a reused buffer (a state's scratch) keeps between values: one
** that grew past it for a large value gives that memory back. */
#define TKL_BUF_KEEP ((size_t)64 * 1024)

/* A growable byte buffer. Handles (jobs, tokens, ...) written into it hold
** a reference each, listed in refs so that a buffer that is never decoded
** can still give them back; so does the code of each function it names,
** listed in codes. */
typedef struct tkl_buf {
  unsigned char *data;
  int borrowed;                  /* data lives elsewhere: not ours to free */
  size_t len, cap;
  size_t pos;                    /* read position while decoding */
  struct tkl_ref *refs;          /* handles still owned by the buffer */
  size_t nrefs, caprefs;
  /* The code the buffer holds: with ncodes <= 1, codes is that code
  ** itself (a task's one function costs no allocation), else an array of
  ** capcodes. */
  void *codes;
  size_t ncodes, capcodes;
} tkl_buf;

typedef struct tkl_ref {
  int kind;                      /* TKL_K_* */
  int weak;                      /* holds no reference (tkl_encode_results) */
  void *ptr;
} tkl_ref;

/* Encoded values kept in a task: the bytes (in the task's own room, or
** allocated) and the handle references they hold; half a tkl_buf's size,
** which is for encoding and decoding. */
typedef struct tkl_blob {
  unsigned char *data;
  tkl_ref *refs;
  void *codes;                   /* as a tkl_buf's */
  size_t len;
  unsigned nrefs;
  unsigned ncodes : 31;
  unsigned borrowed : 1;         /* data is the task's room */
} tkl_blob;

TKL_INTERNAL void tkl_buf_init(tkl_buf *b);
/* Frees the bytes and releases every handle and code the buffer still
** owns. */
TKL_INTERNAL void tkl_buf_free(tkl_buf *b);
/* Empties b for reuse: releases its handles and code, keeps its room up
** to TKL_BUF_KEEP. */
TKL_INTERNAL void tkl_buf_clear(tkl_buf *b);
TKL_INTERNAL tkl_buf *tkl_buf_new(void);
TKL_INTERNAL void tkl_buf_delete(void *b);  /* tkl_buf_free + free */
/* Moves src's bytes and handle references into dst: into `space` if they
** fit in `room` bytes, else into a new block. src keeps its capacity,
** empty. 0, or TK_ENOMEM (src intact). */
TKL_INTERNAL int tkl_blob_take(tkl_blob *dst, tkl_buf *src, void *space,
                               size_t room);
/* Frees the bytes and releases every handle the blob holds. */
TKL_INTERNAL void tkl_blob_free(tkl_blob *b);
/* Moves the bytes of src into dst: into `space` (borrowed) if they fit in
** `room` bytes, else into a new exact-size block (src's own block when it
** is past TKL_BUF_KEEP: a large value is not copied, and src keeps no room
** of its size); the handle references move too. src keeps its capacity up
** to TKL_BUF_KEEP, empty. 0, or TK_ENOMEM (src intact). */
TKL_INTERNAL int tkl_buf_move(tkl_buf *dst, tkl_buf *src, void *space,
                              size_t room);
/* Makes dst a copy of src (retaining its handles). 0, or TK_ENOMEM. */
TKL_INTERNAL int tkl_buf_copy(tkl_buf *dst, const tkl_buf *src);
/* b holds c (takes over the caller's reference, also on failure); a code
** it holds already is not listed twice. 0, or TK_ENOMEM. */
TKL_INTERNAL int tkl_buf_hold_code(tkl_buf *b, tkl_code *c);
/* Pushes a guard for a heap buffer (tkl_buf_new), empty: the caller puts
** the buffer into *guard, and the collector frees it unless the caller
** takes it back (*guard = NULL) first. Returns the guard. */
TKL_INTERNAL tkl_buf **tkl_push_buf_guard(lua_State *L);

/* The state's reusable encoding buffer (in its context c), emptied:
** submit encodes into it so that an error leaks nothing. */
TKL_INTERNAL tkl_buf *tkl_ctx_scratch(struct tkl_ctx *c);
/* The same, looking the context up. */
TKL_INTERNAL tkl_buf *tkl_scratch(lua_State *L);

#endif
