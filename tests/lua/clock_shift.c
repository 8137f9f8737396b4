/*
** clock_shift.c - a test shim (LD_PRELOAD) that reports CLOCK_REALTIME an
** hour ahead of the kernel's: a wait timed by the wall clock would then
** last an hour, one timed by the monotonic clock is unaffected. Used by
** cli_spec. See LICENSE for copyright and licence.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (real == NULL)
    *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
  int rc = real(id, ts);
  if (rc == 0 && id == CLOCK_REALTIME) ts->tv_sec += 3600;
  return rc;
}
