-- module_spec.lua - what the threadkit module table exposes.
local tk = require "threadkit"

-- Keys starting with "_" are Lua's mark of something private; the only
-- one a module conventionally has is its public _VERSION string.
local function private_keys(module)
  local found = {}
  for k in pairs(module) do
    if type(k) == "string" and k:sub(1, 1) == "_" and k ~= "_VERSION" then
      found[#found + 1] = k
    end
  end
  table.sort(found)
  return found
end

describe("the module table", function()
  it("exposes nothing private, in the main state or in a worker's", function()
    assert.are.same({}, private_keys(tk))
    assert.are.equal("string", type(tk._VERSION))
    local p <close> = tk.pool(1)
    local in_worker = p:submit(function()
      local keys = {}
      for k in pairs(require "threadkit") do
        if type(k) == "string" and k:sub(1, 1) == "_" and k ~= "_VERSION" then
          keys[#keys + 1] = k
        end
      end
      table.sort(keys)
      return keys
    end):result(10)
    assert.are.same({}, in_worker)
  end)

  it("still runs retries and map, which use threadkit's private helpers", function()
    local p <close> = tk.pool(2)
    local tries = tk.shared()
    local j = p:submit({retry = {attempts = 3, delay = 0}}, function()
      if tries:incr("n") < 3 then error({code = tries.n}) end  -- not a string
      return "done"
    end)
    assert.are.equal("done", j:result(10))
    assert.are.equal(3, j.attempts)
    assert.are.equal(2, #j.attempt_errors)
    assert.matches("^table: ", j.attempt_errors[1])
    assert.are.same({1, 4, 9}, p:map(function(x) return x * x end, {1, 2, 3}))
    assert.has_error(function() p:map(print, {1, 2, x = 3}) end,
                     "bad argument #2 to 'map' (a list expected: key x)")
  end)
end)
