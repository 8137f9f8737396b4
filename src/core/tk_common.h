/*
** tk_common.h - helpers shared by the core: allocation, containers, clock.
** Private to src/core. See LICENSE for copyright and licence.
*/
#ifndef TK_COMMON_H
#define TK_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <time.h>

#include "threadkit.h"

#if defined(__GNUC__)
#define TK_INTERNAL __attribute__((visibility("hidden")))
#define TK_LIKELY(x) __builtin_expect(!!(x), 1)
#define TK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TK_INTERNAL
#define TK_LIKELY(x) (x)
#define TK_UNLIKELY(x) (x)
#endif

#define TK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TK_STATIC_ASSERT(e) _Static_assert(e, #e)
#define tk_container_of(ptr, type, member) \
  ((type *)((char *)(ptr) - offsetof(type, member)))

/* A cache line, to keep per-worker counters from sharing one. */
#define TK_CACHELINE 64

/* A pause inside a polling loop: lets the sibling hyperthread run. */
static inline void tk__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#ifdef TK_DEBUG
#include <assert.h>
#define tk_assert(c) assert(c)
#else
#define tk_assert(c) ((void)0)
#endif

#include "tk_hg.h"

/* Allocation goes through the replaceable allocator (tk_replace_allocator). */
/* Returns TK_ESYS after noting, for tk_system_error on this thread, which
** call failed and with what error number. */
TK_INTERNAL int tk__sys_failed(const char *call, int err);
TK_INTERNAL void *tk__malloc(size_t size);
TK_INTERNAL void *tk__calloc(size_t n, size_t size);
TK_INTERNAL void *tk__realloc(void *ptr, size_t size);
TK_INTERNAL void tk__free(void *ptr);
TK_INTERNAL char *tk__strdup(const char *s);

/* Monotonic clock in nanoseconds. */
static inline uint64_t tk__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* TK_LONGEST_WAIT (threadkit.h) in nanoseconds: no double is converted
** out of range (undefined), and a timeout this long never ends
** (TK__NO_DEADLINE). */
#define TK__NS_MAX ((uint64_t)TK_LONGEST_WAIT * 1000000000u)
/* The deadline of a wait that never times out. */
#define TK__NO_DEADLINE UINT64_MAX

/* Nanoseconds in `secs` seconds, saturating: 0 for none (or NaN), and at
** most TK__NS_MAX. */
static inline uint64_t tk__ns(double secs) {
  if (!(secs > 0)) return 0;
  if (secs >= TK_LONGEST_WAIT) return TK__NS_MAX;
  return (uint64_t)(secs * 1e9);
}

/* Deadline for a timeout in seconds: TK__NO_DEADLINE for "forever"
** (negative or NaN, or at least TK_LONGEST_WAIT). */
static inline uint64_t tk__deadline(double timeout) {
  if (!(timeout >= 0) || timeout >= TK_LONGEST_WAIT) return TK__NO_DEADLINE;
  return tk__now_ns() + tk__ns(timeout);
}

/* Absolute timespec for pthread_cond_timedwait on CLOCK_MONOTONIC. */
static inline struct timespec tk__timespec(uint64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / 1000000000u);
  ts.tv_nsec = (long)(ns % 1000000000u);
  return ts;
}

/* Increments *refs unless it is zero (the object is being freed). */
static inline int tk__try_retain(atomic_int *refs) {
  int n = atomic_load_explicit(refs, memory_order_relaxed);
  while (n > 0) {
    if (atomic_compare_exchange_weak_explicit(refs, &n, n + 1,
                                              memory_order_acquire,
                                              memory_order_relaxed))
      return 1;
  }
  return 0;
}

#endif
