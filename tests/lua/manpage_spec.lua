-- manpage_spec.lua - tklua.1 renders without warnings and, with
-- docs/tklua.md, names every option tklua's help lists.
local TKLUA = assert(os.getenv("TKLUA"), "TKLUA must name the tklua binary")
local support = require "support"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

-- The options the help lists: "-e", "-l", "--stats", "-h", "--help"...
local function help_options()
  local help = support.run(TKLUA .. " --help")
  local options = {}
  for line in help:gmatch("[^\n]+") do
    local first = line:match("^  (%-%-?%w*)")
    local second = line:match("^  %-%S*, (%-%-%w+)")
    if first then options[#options + 1] = first end
    if second then options[#options + 1] = second end
  end
  return options
end

describe("tklua.1", function()
  it("renders with man, without warnings", function()
    if not os.execute("command -v man > /dev/null") then
      pending("man is not installed")
      return
    end
    local out, err, code = support.run("MANWIDTH=80 man --warnings -l ../../tklua.1")
    assert.are.equal(0, code)
    assert.are.equal("", err)
    assert.matches("TKLUA%(1%)", out)
    assert.matches("GLOBALS AND TASKS", out)
  end)

  it("and docs/tklua.md name every option of the help", function()
    local man = read("../../tklua.1"):gsub("\\%-", "-")
    local doc = read("../../docs/tklua.md")
    local options = help_options()
    assert.is_true(#options >= 12, "found " .. #options .. " options in the help")
    for _, opt in ipairs(options) do
      assert.is_truthy(man:find(opt, 1, true), opt .. " is not in tklua.1")
      assert.is_truthy(doc:find("`" .. opt, 1, true), opt .. " is not in docs/tklua.md")
    end
  end)
end)
