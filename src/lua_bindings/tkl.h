/*
** tkl.h - every declaration of the threadkit Lua module, for the files
** that use most of them. Private to src/lua_bindings. See LICENSE for
** copyright and licence.
*/
#ifndef TKL_H
#define TKL_H

#include "buffer.h"
#include "code.h"
#include "ctx.h"
#include "handles.h"
#include "lcallbacks.h"
#include "lcoro.h"
#include "lcycles.h"
#include "lopts.h"
#include "ldefault.h"
#include "pool.h"
#include "lsubmit.h"
#include "ltask.h"
#include "ltrace.h"
#include "lwait.h"
#include "tkl_atomic.h"
#include "tkl_common.h"
#include "transfer.h"

#endif
