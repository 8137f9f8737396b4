-- embed_lua.lua IN OUT NAME - writes OUT, a C header that defines
-- `static const char NAME[]`, the text of the Lua file IN without its
-- leading comment lines (its banner): the chunk's line numbers are then
-- the code's. Run at build time by lua5.4 (the Makefile).
-- See LICENSE for copyright and licence.
local input, output, name = ...
assert(input and output and name, "usage: embed_lua.lua IN OUT NAME")
local f = assert(io.open(input, "rb"))
local text = f:read("a")
f:close()
local lines, code_started = {}, false
for line in text:gmatch("([^\n]*)\n") do
  if code_started or not line:match("^%-%-") then
    code_started = true
    lines[#lines + 1] = line
  end
end
local function c_string(s)
  return '"' .. s:gsub('[\\"?%c]', function(c)
    if c == "\\" or c == '"' or c == "?" then return "\\" .. c end
    return string.format("\\%03o", c:byte())
  end) .. '\\n"'
end
local out = {("/* %s, generated from %s by scripts/embed_lua.lua. */"):format(
  output:match("[^/]*$"), input)}
out[#out + 1] = ("static const char %s[] =\n"):format(name)
for i, line in ipairs(lines) do
  out[#out + 1] = "    " .. c_string(line) .. (i == #lines and ";" or "") .. "\n"
end
local tmp = output .. ".tmp"
f = assert(io.open(tmp, "wb"))
f:write(out[1], "\n", table.concat(out, "", 2))
assert(f:close())
assert(os.rename(tmp, output))
