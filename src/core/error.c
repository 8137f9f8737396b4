/*
** error.c - error names and messages generated from TK_ERRNO_MAP.
** See LICENSE for copyright and licence.
*/
#include <stdio.h>
#include <string.h>

#include "tk_common.h"

static _Thread_local char sys_error[128];

const char *tk_strerror(int err) {
  switch (err) {
#define XX(name, code, msg) case TK_##name: return msg;
    TK_ERRNO_MAP(XX)
#undef XX
    default: return "unknown error";
  }
}

const char *tk_err_name(int err) {
  switch (err) {
#define XX(name, code, msg) case TK_##name: return #name;
    TK_ERRNO_MAP(XX)
#undef XX
    default: return "UNKNOWN";
  }
}

int tk__sys_failed(const char *call, int err) {
  char text[96];
  if (strerror_r(err, text, sizeof text) != 0)  /* the XSI one */
    snprintf(text, sizeof text, "error %d", err);
  snprintf(sys_error, sizeof sys_error, "%s: %s", call, text);
  return TK_ESYS;
}

const char *tk_system_error(void) {
  return sys_error[0] ? sys_error : NULL;
}
