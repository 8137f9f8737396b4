#!/bin/sh
# run_check.sh NAME BUILD COMMAND... - runs one check that is a single
# command, prints "ok   NAME" or its output and "FAIL NAME", and appends
# "NAME 1 0" or "NAME 0 1" to BUILD/results. Exits as the command did.
name=$1 build=$2; shift 2
mkdir -p "$build"
log="$build/$name.log"
if "$@" > "$log" 2>&1; then
  { grep "^known:" "$log"; tail -n 1 "$log"; } | sed 's/^/     /'
  echo "ok   $name"; echo "$name 1 0" >> "$build/results"
else
  rc=$?
  cat "$log"; echo "FAIL $name (exit $rc)"; echo "$name 0 1" >> "$build/results"
  exit "$rc"
fi
