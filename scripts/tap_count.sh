#!/bin/sh
# tap_count.sh LOG - the passed and failed counts of a TAP stream, as
# "passed failed": "ok" lines pass, "not ok" lines fail ("# TODO" ones too:
# nothing here is expected to fail); a "# SKIP" line counts as neither,
# "ok" (busted's pending) or "not ok" (cmocka's skip()).
awk '/^(not )?ok [0-9]/ && /# *[Ss][Kk][Ii][Pp]/ { next }
     /^ok [0-9]/ { p++ }
     /^not ok [0-9]/ { f++ }
     END { printf "%d %d\n", p, f }' "$1"
