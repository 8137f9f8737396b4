/*
** error.c - error names and messages generated from TK_ERRNO_MAP.
** See LICENSE for copyright and licence.
*/
#include "tk_common.h"

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
