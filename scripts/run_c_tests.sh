#!/bin/sh
# run_c_tests.sh BUILD BIN... - runs each cmocka binary under `timeout`,
# appends "name passed failed" to BUILD/results, fails if any test failed.
# TK_TEST_TIMEOUT_MULTIPLIER scales the limit; TK_TEST_WRAPPER (valgrind)
# prefixes each run.
build=$1; shift
mult=${TK_TEST_TIMEOUT_MULTIPLIER:-1}
status=0
for bin in "$@"; do
  name=$(basename "$bin")
  log="$bin.log"
  timeout --kill-after=10 $((60 * mult)) $TK_TEST_WRAPPER "$bin" >"$log" 2>&1
  rc=$?
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
  passed=${passed:-0}; failed=${failed:-0}
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
