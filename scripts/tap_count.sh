#!/bin/sh
# tap_count.sh LOG - the passed and failed counts of a TAP stream, as
# "passed failed": "ok" lines pass (a "# SKIP" one counts as neither),
# "not ok" lines fail ("# TODO" ones too: nothing here is expected to fail).
awk '/^ok [0-9]/ { if ($0 !~ /# *[Ss][Kk][Ii][Pp]/) p++ }
     /^not ok [0-9]/ { f++ }
     END { printf "%d %d\n", p, f }' "$1"
