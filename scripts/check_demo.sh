#!/bin/sh
# check_demo.sh BUILD TKLUA DEMO_C - the demos run and tell their story:
# the lines the README shows must be in their output.
build=$1 tklua=$2 demo_c=$3
dir=$(dirname "$0")/examples
out="$build/demo.out" out_c="$build/demo_c.out"
status=0
expect() {  # FILE PATTERN
  grep -q "$2" "$1" || { echo "$1: no line matching '$2'"; status=1; }
}
"$tklua" "$dir/demo.lua" "$build/demo-trace.json" > "$out" 2>&1 ||
  { echo "demo.lua: exit $?"; status=1; }
expect "$out" "fetch mirror-b *completed *after 3 attempts"
expect "$out" "parse c *cancelled *(dependency 'fetch mirror-c' was cancelled)"
expect "$out" "aggregate = 160"
expect "$out" "verifier 2 found it"
expect "$out" "^threadkit stats"
expect "$out" "events written to"
[ -s "$build/demo-trace.json" ] || { echo "no trace written"; status=1; }
"$demo_c" > "$out_c" 2>&1 || { echo "demo_c: exit $?"; status=1; }
expect "$out_c" "report (50 ms budget) *cancelled"
[ "$status" -eq 0 ] || cat "$out" "$out_c"
[ "$status" -eq 0 ] && echo "both demos tell their story"
exit $status
