/*
** ltrace.h - traces of a run (tk.trace_start): marks from other parts.
** Private to src/lua_bindings. See LICENSE for copyright and licence.
*/
#ifndef TKL_LTRACE_H
#define TKL_LTRACE_H

#include "tkl_common.h"

/* Adds a mark to the trace being recorded, if any. */
TKL_INTERNAL void tkl_trace_mark(const char *what);

#endif
