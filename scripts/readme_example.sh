#!/bin/sh
# readme_example.sh BUILD - the README's C example (its one ```c block)
# must compile against the library and run. CC, CFLAGS and LIBS come from
# the Makefile.
build=$1
dir="$build/readme"
mkdir -p "$dir"
readme="$(dirname "$0")/../README.md"
sed -n '/^```c$/,/^```$/p' "$readme" | sed '1d;$d' > "$dir/example.c"
[ -s "$dir/example.c" ] || { echo "README.md has no C example"; exit 1; }
# shellcheck disable=SC2086
$CC $CFLAGS -o "$dir/example" "$dir/example.c" $LIBS || exit 1
"$dir/example" > "$dir/out.txt" 2>&1 || { cat "$dir/out.txt"; exit 1; }
echo "the README's C example compiles and runs"
