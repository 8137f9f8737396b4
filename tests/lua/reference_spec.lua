-- reference_spec.lua - docs/api.md documents the module's whole surface
-- (surface.lua finds it by loading the module), and nothing else.
--
-- What counts as documented: a heading with a code span that starts with
-- the name (`### \`job:wait([timeout])\``), and, for options, a table row
-- starting with the option's code span (`| \`workers\` |`) under the
-- heading of the call that takes it (the heading's first name).
local surface = require "surface"
local tk = require "threadkit"

local ROOT = "../.."

local function slurp(path)
  local f = assert(io.open(ROOT .. "/" .. path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The names docs/api.md documents, as surface.names writes them.
local function documented(text)
  local names, owner = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^#") then
      -- Every code span of a heading that starts with a name documents
      -- it; the first is the owner of the option rows that follow.
      owner = nil
      for span in line:gmatch("`([^`]+)`") do
        local name = span:match("^[%w_]+[.:][%w_]+")
        if name then
          names[name] = true
          owner = owner or name
        end
      end
    else
      local option = line:match("^|%s*`([%w_.]+)`%s*|")
      if option and owner then names[owner .. "{" .. option .. "}"] = true end
    end
  end
  return names
end

-- Kinds whose __index answers names it does not have (surface.lua finds
-- them by first letter): none may.
local KNOWN_LOOSE = {}

-- The surface is found by probing: thousands of errors raised from C
-- through Lua, whose longjmps a sanitizer's shadow stack cannot follow
-- (ThreadSanitizer's overflows). It has nothing of threads or memory to
-- check: plain builds run it.
if require("support").SANITIZED then
  describe("docs/api.md", function()
    pending("checked by plain builds only")
  end)
  return
end

describe("docs/api.md", function()
  local s = surface.collect(tk, {root = ROOT})
  local names = surface.names(s)
  local doc = documented(slurp("docs/api.md"))

  -- Whether name is of a kind whose answers for it mean nothing.
  local function uncertain(name)
    local kind, field = name:match("^(%l+)[.:]([%w_]+)$")
    local k = kind and s.kinds[kind]
    return k ~= nil and k.loose[field:sub(1, 1):lower()] ~= nil
  end

  it("documents every name the module has", function()
    assert.is_true(#names >= 100, "the surface is too small: " .. #names)
    local missing = {}
    for _, name in ipairs(names) do
      if not doc[name] then missing[#missing + 1] = name end
    end
    assert.are.same({}, missing)
  end)

  it("documents no name the module does not have", function()
    local have, extra = {}, {}
    for _, name in ipairs(names) do have[name] = true end
    for name in pairs(doc) do
      local call = name:match("^(.-){")
      local checked = call == nil or s.options[call] ~= nil
      if checked and not have[name] and not uncertain(name) then
        extra[#extra + 1] = name
      end
    end
    table.sort(extra)
    assert.are.same({}, extra)
  end)

  it("finds the names it checks: objects answer only the names they have",
     function()
    for kind, k in pairs(s.kinds) do
      assert.are.same(KNOWN_LOOSE[kind] or {}, k.loose,
                      kind .. "'s __index answers names it does not have")
    end
  end)
end)
