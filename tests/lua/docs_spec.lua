-- docs_spec.lua - docs/guarantees.md names a test for each guarantee; every
-- test it names must exist, so the page cannot drift from the suite.
local ROOT = "../../"

local function slurp(path)
  local f = assert(io.open(ROOT .. path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function squash(s) return (s:gsub("%s+", " ")) end

-- Every it("...") text of a spec file, whitespace squashed.
local function its(spec)
  local texts = {}
  for text in slurp("tests/lua/" .. spec .. "_spec.lua"):gmatch('it%("([^"]*)"') do
    texts[#texts + 1] = squash(text)
  end
  return texts
end

-- Every C test function: the cmocka tests are `static void name(void **`.
local function c_tests()
  local names = {}
  local ls = io.popen("ls " .. ROOT .. "tests/c/test_*.c")
  for file in ls:lines() do
    local f = assert(io.open(file))
    for name in f:read("a"):gmatch("static void ([%w_]+)%(void %*%*") do
      names[name] = true
    end
    f:close()
  end
  ls:close()
  return names
end

local C_PREFIXES = {"readyq", "token", "job", "pool", "deps", "stress",
                    "suspend", "group", "schedule", "transfer", "host",
                    "oom", "slab", "null", "block"}

describe("docs/guarantees.md", function()
  local doc = squash(slurp("docs/guarantees.md"))

  it("names only C tests that exist", function()
    local names, checked = c_tests(), 0
    for ident in doc:gmatch("`([%w_]+)`") do
      local prefix = ident:match("^(%l+)_")
      for _, p in ipairs(C_PREFIXES) do
        if prefix == p then
          checked = checked + 1
          assert(names[ident], "no C test named " .. ident)
        end
      end
    end
    assert.is_true(checked >= 40)
  end)

  it("quotes only Lua specs that exist", function()
    local checked = 0
    for spec, pos in doc:gmatch("(%w+)_spec()") do
      local texts = its(spec)
      -- A spec name is followed by one or more quoted it() texts (or their
      -- beginnings), separated by commas, "and" or a (describe) note.
      local rest = doc:sub(pos)
      while true do
        rest = rest:gsub("^[%s,]*", ""):gsub("^and ", ""):gsub("^%(%w+%) ", "")
        local quoted, after = rest:match('^"([^"]*)"()')
        if not quoted then break end
        local found = false
        for _, text in ipairs(texts) do
          if text:sub(1, #quoted) == quoted then found = true end
        end
        assert(found, spec .. "_spec has no test \"" .. quoted .. "\"")
        checked = checked + 1
        rest = rest:sub(after)
      end
    end
    assert.is_true(checked >= 30)
  end)
end)

describe("include/threadkit.h", function()
  it("has every public function called with NULL by a C test", function()
    local header = slurp("include/threadkit.h")
    local calls = slurp("tests/c/test_null.c") .. slurp("tests/c/test_embed.c")
    local checked = 0
    for name in header:gmatch("TK_API[^;(]-([%w_]+)%(") do
      if name:match("^tk_") then
        checked = checked + 1
        assert(calls:find(name .. "(", 1, true),
               name .. " is not called in test_null.c (or test_embed.c)")
      end
    end
    assert.is_true(checked >= 80)
  end)
end)

describe("include/threadkit_lua.h", function()
  it("has every function called with NULL or out of range by test_embed.c", function()
    local header = slurp("include/threadkit_lua.h")
    local calls = slurp("tests/c/test_embed.c")
    local checked = 0
    for name in header:gmatch("TK_API[^;(]-([%w_]+)%(") do
      if name:match("^tk_lua_") then
        checked = checked + 1
        assert(calls:find(name .. "(", 1, true),
               name .. " is not called in test_embed.c")
      end
    end
    assert.is_true(checked >= 10)
  end)
end)
