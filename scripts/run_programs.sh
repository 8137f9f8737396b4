#!/bin/sh
# run_programs.sh BUILD INTERP - runs every tests/programs/*.lua (the corpus
# of real programs, each checking its work against a serial run) with the
# given tklua, each under `timeout`, prints a line per program and appends
# "programs passed failed" to BUILD/results. A program passes when it exits
# 0 having printed "ok <name>". TK_TEST_TIMEOUT_MULTIPLIER scales the limit;
# TK_TKLUA_WRAPPER prefixes every run (valgrind); logs go to
# BUILD/programs/<name>.log.
build=$(cd "$1" && pwd) || exit 1
interp=$2
[ -x "$interp" ] || { echo "run_programs.sh: no interpreter '$interp'"; exit 1; }
mult=${TK_TEST_TIMEOUT_MULTIPLIER:-1}
limit=$((30 * mult))
dir=$(cd "$(dirname "$0")/../tests/programs" && pwd) || exit 1
mkdir -p "$build/programs"
passed=0
failed=0
for prog in "$dir"/*.lua; do
  name=$(basename "$prog" .lua)
  log="$build/programs/$name.log"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" $TK_TKLUA_WRAPPER "$interp" "$prog" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ] && grep -qx "ok $name" "$log"; then
    echo "ok   $name (${secs} s)"
    passed=$((passed + 1))
  else
    case $rc in
      0) why="exit 0 without 'ok $name'" ;;
      124|137) why="timed out after $limit s" ;;
      *) if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128))"
         else why="exit $rc"; fi ;;
    esac
    echo "FAIL $name ($why, ${secs} s)"
    # A sanitizer's report: its head (what and where) and its summary, not
    # the shadow-byte legend at its end. Otherwise the end of the log.
    san='ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|runtime error:'
    if grep -qE "$san" "$log"; then
      grep -m 1 -A 14 -E "$san" "$log" | sed 's/^/    /'
      grep '^SUMMARY:' "$log" | head -n 3 | sed 's/^/    /'
    else
      tail -n 25 "$log" | sed 's/^/    /'
    fi
    failed=$((failed + 1))
  fi
done
echo "programs $passed $failed" >> "$build/results"
[ "$failed" -eq 0 ]
