/*
** handles.h - boxes: the userdata through which a Lua state holds
** threadkit's C objects, and the table of their kinds. Private to
** src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_HANDLES_H
#define TKL_HANDLES_H

#include "tkl_common.h"

#define TK_POOL_MT "threadkit.pool"
#define TK_JOB_MT "threadkit.job"
#define TK_TOKEN_MT "threadkit.token"
#define TK_CHANNEL_MT "threadkit.channel"
#define TK_SHARED_MT "threadkit.shared"
#define TK_GROUP_MT "threadkit.group"

/* The kinds of object a box holds. The numbers travel in encoded values
** (encode.c), so they are fixed here rather than given out as kinds
** register. */
enum { TKL_K_JOB = 1, TKL_K_TOKEN, TKL_K_CHANNEL, TKL_K_SHARED, TKL_K_POOL,
       TKL_K_GROUP };
#define TKL_K_LAST TKL_K_GROUP

/* The userdata of every threadkit object in a state. */
typedef struct tkl_box {
  const void *tag;               /* tkl_box_tag(kind): tells our boxes apart
                                    without a metatable lookup */
  int kind;
  int owner;                     /* pools: 1 for the box tk.pool made
                                    (its <close> shuts the pool down), -1
                                    in one of the pool's own workers'
                                    states (it holds no handle) */
  void *ptr;                     /* NULL once released (__gc / __close) */
} tkl_box;

/* What a kind of object is to the boxes: each kind's module registers one
** (tkl_new_handle_type, tkl_register_kind) when the module opens. */
typedef struct tkl_kind {
  int id;                        /* TKL_K_* */
  const char *name;              /* "job": tk.type's answer, messages */
  const char *mt_name;           /* its metatable's registry name */
  void (*retain)(void *obj);
  void (*release)(void *obj);    /* never waits: may run under a lock */
  /* Optional (NULL: none). A box tkl_push_handle just made for the
  ** object: */
  void (*boxed)(tkl_box *b);
  /* Pushes the metatable of a box of obj, made instead of the kind's
  ** shared one (which already releases obj should this fail). */
  void (*push_mt)(lua_State *L, void *obj);
  /* The box at idx lets its object go (collected, or closed: may_keep
  ** 0). Returns 1 when the box keeps it instead. */
  int (*let_go)(lua_State *L, int idx, int may_keep);
} tkl_kind;

/* Makes kind known to every state, and its metatable (already made under
** its mt_name) the one this state's boxes of kind get. */
TKL_INTERNAL void tkl_register_kind(lua_State *L, const tkl_kind *kind);
/* Creates and registers the metatable of a kind:
** __gc/__close/__eq/__tostring, and __index = the methods, or index(self,
** key) with the methods table as its upvalue 1 when index is given. */
TKL_INTERNAL void tkl_new_handle_type(lua_State *L, const tkl_kind *kind,
                                      const luaL_Reg *methods,
                                      lua_CFunction index);
/* __eq of every box (a kind with a metatable of its own uses it too). */
TKL_INTERNAL int tkl_handle_eq(lua_State *L);

/* Pushes the box of a C object (creating it, or reusing the state's box
** for the same object so that == holds). Takes over one reference. */
TKL_INTERNAL void tkl_push_handle(lua_State *L, int kind, void *ptr);
/* Pushes the box of an object this state just made (takes over one
** reference); cheaper than tkl_push_handle. */
TKL_INTERNAL void tkl_push_new_handle(lua_State *L, int kind, void *ptr);
/* The same with the state's context at index ctx (absolute or upvalue;
** 0: look it up). */
TKL_INTERNAL void tkl_push_new_handle_ctx(lua_State *L, int ctx, int kind,
                                          void *ptr);
/* The box at idx whatever its kind (its object may be released), or
** NULL. */
TKL_INTERNAL tkl_box *tkl_test_box(lua_State *L, int idx);
/* The object in box idx if it is of `kind`, else NULL. */
TKL_INTERNAL void *tkl_test_handle(lua_State *L, int idx, int kind);
TKL_INTERNAL void *tkl_check_handle(lua_State *L, int idx, int kind);
/* The job at idx, entry i of the list `list` given as argument arg: raises
** "list[i] is not a job", or "... is a released job" for a job box closed
** or collected. */
TKL_INTERNAL tk_job_t *tkl_check_list_job(lua_State *L, int idx, int arg,
                                          const char *list, lua_Integer i);
/* The box at idx (its object may be released), or a type error. */
TKL_INTERNAL tkl_box *tkl_check_box(lua_State *L, int idx, int kind);
/* The tag of kind's boxes: an address private to this module, which no
** other userdata holds. */
TKL_INTERNAL const void *tkl_box_tag(int kind);
/* Lets this state find the box at idx again for its object (the object
** travels, and may come back). */
TKL_INTERNAL void tkl_remember_box(lua_State *L, int idx, void *ptr);
/* Keeps the value at `held` alive as long as the object at `holder` is
** (a weak-keyed registry table): a work or a schedule keeps the box of its
** pool, whose collection would shut the pool down under it. */
TKL_INTERNAL void tkl_anchor(lua_State *L, int holder, int held);
/* Around lua_close of a state on this thread: no new handle may be made
** then (a finalizer's would leak), tkl_push_*handle raise instead. */
TKL_INTERNAL void tkl_set_closing(int on);
/* One reference more, or one less, of an object of any kind. */
TKL_INTERNAL void tkl_retain_handle(int kind, void *ptr);
TKL_INTERNAL void tkl_release_handle(int kind, void *ptr);


#endif
