#!/bin/sh
# test_check_layering.sh - check_layering.sh passes on a copy of the
# checkout and fails on it once one violation of each kind is added.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0

fresh() {
  rm -rf "$tmp/tree"
  mkdir -p "$tmp/tree/scripts"
  cp -R "$root/src" "$root/include" "$tmp/tree/"
  cp "$here/check_layering.sh" "$tmp/tree/scripts/"
}

# expect_failure WHAT FILE LINE: LINE appended to FILE must fail the check.
expect_failure() {
  fresh
  printf '%s\n' "$3" >> "$tmp/tree/$2"
  if sh "$tmp/tree/scripts/check_layering.sh" "$tmp/tree" > "$tmp/out" 2>&1; then
    echo "check_layering: not caught: $1"; fails=$((fails + 1))
  elif ! grep -q "^layering: $1 $2 " "$tmp/out"; then
    echo "check_layering: $1 in $2 failed the check without naming it:"
    cat "$tmp/out"; fails=$((fails + 1))
  fi
}

fresh
if ! sh "$tmp/tree/scripts/check_layering.sh" "$tmp/tree" > "$tmp/out" 2>&1; then
  echo "check_layering: fails on the checkout itself:"; cat "$tmp/out"
  fails=$((fails + 1))
fi
expect_failure core-includes src/core/token.c '#include "lua.h"'
expect_failure core-includes src/core/token.c '#include <lauxlib.h>'
expect_failure core-includes src/core/pool.c '#include "../lua_bindings/tkl.h"'
expect_failure bindings-include src/lua_bindings/ljob.c '#include "../core/pool.h"'
expect_failure bindings-include src/lua_bindings/ljob.c '#include <job.h>'
expect_failure cli-include src/cli/tklua.c '#include <tkl.h>'
expect_failure bindings-tk__ src/lua_bindings/ljob.c 'static void f(void) { tk__pool_wake(0); }'
expect_failure cli-include src/cli/tklua.c '#include "../lua_bindings/tkl.h"'
expect_failure foreign-decl src/cli/tklua.c 'void tkl_interrupt_all(void);'
expect_failure foreign-decl src/lua_bindings/ljob.c 'extern void (*tkl_worker_hook)(lua_State *L);'
expect_failure foreign-decl src/core/token.c \
  'TK_INTERNAL int tk__pool_submit_quiet(tk_pool_t *pool,
    int x);'
if [ "$fails" -eq 0 ]; then
  echo "check_layering: ok (catches each kind of violation)"
else
  exit 1
fi
