/*
** tk_slab.h - fixed-size objects carved from blocks (slab.c). Private to
** src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_SLAB_H
#define TK_SLAB_H

#include "tk_common.h"

/* The slab's own calls, for the core (tk_slab_alloc and tk_slab_free are
** these, for NULL too, in the public API). */
TK_INTERNAL void *tk__slab_alloc(tk_slab_t *s);
TK_INTERNAL void tk__slab_free(tk_slab_t *s, void *p);
/* Gives every slab's spare block back to the allocator
** (tk_replace_allocator does, before it changes allocators). */
TK_INTERNAL void tk__slab_trim_all(void);

/* The older names, which src/lua_bindings uses until it moves to the
** public tk_slab_t (then these go). */
typedef tk_slab_t tk__slab;
#define TK__SLAB TK_SLAB_INIT

#endif
