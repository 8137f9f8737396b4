#!/bin/sh
# check_layering.sh [ROOT] - the layers reach each other only through the
# public headers: cli -> include/threadkit_lua.h, include/threadkit.h ->
# core. Checks, under ROOT (default: the checkout):
#   core-includes    src/core includes no Lua header, nothing of the
#                    bindings or the CLI (only its own headers, threadkit.h)
#   bindings-include src/lua_bindings includes no src/core header
#   bindings-tk__    src/lua_bindings uses no tk__ (core-internal) symbol
#   cli-include      src/cli includes only include/*.h, its own headers
#                    and Lua's headers
#   foreign-decl     no .c file declares at file scope (not static) a
#                    function it does not define, or an extern variable:
#                    shared declarations live in headers
# Each violation is one line "rule file what"; any fails the check.
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1
found=$(mktemp) || exit 1
trap 'rm -f "$found"' EXIT

lua_hdr='(lua|lauxlib|lualib|luaconf)\.h'

# The includes of FILE that may name the project's headers, one per line:
# the quoted ones, and those in angle brackets that name a header of src/
# or include/ (a build with -I to a layer's folder would find them).
headers=$(find src include -name '*.h' -exec basename {} \; | sort -u)
quoted_includes() {
  sed -n -e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' \
         -e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/<\1/p' "$1" |
    while read -r inc; do
      case $inc in
        "<"*) inc=${inc#<}
              echo "$headers" | grep -qxF "$(basename "$inc")" && echo "$inc" ;;
        *) echo "$inc" ;;
      esac
    done
}

for f in src/core/*.c src/core/*.h; do
  [ -f "$f" ] || continue
  grep -E "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]$lua_hdr" "$f" |
    sed -E "s|.*[<\"]([a-z]*\.h).*|core-includes $f \1|" >> "$found"
  quoted_includes "$f" | while read -r inc; do
    case $inc in
      threadkit.h) ;;
      */*) echo "core-includes $f $inc" ;;
      *) [ -f "src/core/$inc" ] || echo "core-includes $f $inc" ;;
    esac
  done >> "$found"
done

for f in src/lua_bindings/*.c src/lua_bindings/*.h; do
  [ -f "$f" ] || continue
  quoted_includes "$f" | while read -r inc; do
    case $inc in
      */core/*|core/*) echo "bindings-include $f $inc" ;;
      */*) ;;
      *) [ -f "src/core/$inc" ] && [ ! -f "src/lua_bindings/$inc" ] &&
           echo "bindings-include $f $inc" ;;
    esac
  done >> "$found"
  # tk__ names, comments and strings aside.
  sed -e 's|/\*.*\*/||g' -e 's|//.*||' -e 's|"[^"]*"||g' "$f" |
    grep -oE '\btk__[A-Za-z0-9_]*' | sort -u |
    sed "s|^|bindings-tk__ $f |" >> "$found"
done

for f in src/cli/*.c src/cli/*.h; do
  [ -f "$f" ] || continue
  quoted_includes "$f" | while read -r inc; do
    if echo "$inc" | grep -qxE "$lua_hdr"; then continue; fi
    case $inc in
      */*) echo "cli-include $f $inc" ;;
      *) [ -f "include/$inc" ] || [ -f "src/cli/$inc" ] ||
           echo "cli-include $f $inc" ;;
    esac
  done >> "$found"
done

# File-scope declarations: comments, strings and preprocessor lines out,
# then each top-level statement (up to ';' or '{' at brace depth 0).
for f in $(find src -name '*.c' | sort); do
  awk -v file="$f" '
    BEGIN { depth = 0; stmt = ""; incomment = 0 }
    {
      line = $0
      if (incomment) {
        if (sub(/^.*\*\//, "", line)) incomment = 0; else next
      }
      gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, " ", line)
      if (sub(/\/\*.*$/, "", line)) incomment = 1
      sub(/\/\/.*$/, "", line)
      gsub(/"([^"\\]|\\.)*"/, "\"\"", line)
      gsub(/\047([^\047\\]|\\.)*\047/, "0", line)
      if (line ~ /^[ \t]*#/) { cont = (line ~ /\\$/); next }
      if (cont) { cont = (line ~ /\\$/); next }
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (c == "{") {
          if (depth == 0) top(stmt, "{")
          depth++; stmt = ""
        } else if (c == "}") {
          depth--; stmt = ""
        } else if (c == ";" && depth == 0) {
          top(stmt, ";"); stmt = ""
        } else if (depth == 0) stmt = stmt c
      }
      if (depth == 0) stmt = stmt " "
    }
    function top(s, end,   name, t) {
      gsub(/__attribute__[ \t]*\(\([^()]*(\([^()]*\))*[^()]*\)\)/, " ", s)
      gsub(/[ \t]+/, " ", s)
      if (s ~ /=/ || s !~ /\(/) return
      if (s ~ /^ *(static|typedef|_Static_assert)[ (]/) return
      t = s
      if (match(t, /\( *\* *[A-Za-z_][A-Za-z0-9_]* *\)/)) {
        # a pointer to function: an extern one is a foreign declaration
        if (end == ";" && t ~ /^ *extern /) {
          name = substr(t, RSTART, RLENGTH); gsub(/[ (*)]/, "", name)
          declared[name] = 1
        }
        return
      }
      if (!match(t, /[A-Za-z_][A-Za-z0-9_]* *\(/)) return
      name = substr(t, RSTART, RLENGTH); sub(/ *\($/, "", name)
      if (end == "{") defined[name] = 1; else declared[name] = 1
    }
    END {
      for (n in declared) if (!(n in defined)) print "foreign-decl " file " " n
    }' "$f" | sort >> "$f.tmp.$$" 2>/dev/null || true
  if [ -f "$f.tmp.$$" ]; then cat "$f.tmp.$$" >> "$found"; rm -f "$f.tmp.$$"; fi
done

if [ -s "$found" ]; then
  sed 's/^/layering: /' "$found"
  echo "layering: $(wc -l < "$found") violation(s)"
  exit 1
fi
echo "layering: ok"
