#!/bin/sh
# summary.sh RESULTS... - adds up "name passed failed" lines and prints the
# closing line "N passed, N failed"; exits 1 if anything failed.
cat "$@" 2>/dev/null | awk '{p += $2; f += $3}
  END {printf "%d passed, %d failed\n", p, f; exit (f > 0 || p == 0)}'
