#!/bin/sh
# run_c_tests.sh BUILD BIN... - runs each cmocka binary under `timeout`
# with TAP output, appends "name passed failed" to BUILD/results, fails if
# any test failed.
# TK_TEST_TIMEOUT_MULTIPLIER scales the limit; TK_TEST_WRAPPER (valgrind)
# prefixes each run.
build=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
mult=${TK_TEST_TIMEOUT_MULTIPLIER:-1}
status=0
for bin in "$@"; do
  name=$(basename "$bin")
  log="$bin.log"
  CMOCKA_MESSAGE_OUTPUT=TAP timeout --kill-after=10 $((60 * mult)) \
    $TK_TEST_WRAPPER "$bin" >"$log" 2>&1
  rc=$?
  counts=$(sh "$here/tap_count.sh" "$log")
  passed=${counts% *} failed=${counts#* }
  [ "$failed" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # Crashed, timed out or a sanitizer/valgrind error: count it as failed.
    failed=1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $name (exit $rc)"; cat "$log"; status=1
  else
    echo "ok   $name ($passed tests)"
  fi
  echo "$name $passed $failed" >> "$build/results"
done
exit $status
