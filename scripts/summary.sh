#!/bin/sh
# summary.sh [--status N] RESULTS... - adds up "name passed failed" lines
# and prints the closing line "N passed, N failed"; exits 1 if anything
# failed. --status gives the exit status of the make that ran the suites:
# when it failed with no failure recorded (a build error, a check that
# wrote no result), that counts as one failure.
status=0
if [ "$1" = "--status" ]; then status=$2; shift 2; fi
cat "$@" 2>/dev/null | awk -v status="$status" '{p += $2; f += $3}
  END {if (status != 0 && f == 0) f = 1
       printf "%d passed, %d failed\n", p, f; exit (f > 0 || p == 0)}'
