-- map_spec.lua - pool:map.
local tk = require "threadkit"

describe("pool:map", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("returns the results in input order", function()
    local list = {}
    for i = 1, 1000 do list[i] = i end
    local out = p:map(function(x) return x * x end, list, {batch = 7})
    assert.are.equal(1000, #out)
    for i = 1, 1000 do assert.are.equal(i * i, out[i]) end
    assert.are.same({}, p:map(function(x) return x end, {}))
  end)

  it("copies tables in and out", function()
    local out = p:map(function(t) return {t.a + 1} end, {{a = 1}, {a = 2}})
    assert.are.same({{2}, {3}}, out)
  end)

  it("raises the failing item's error with its index, cancelling the rest", function()
    local list = {}
    for i = 1, 400 do list[i] = i end
    local seen = tk.shared()
    local ok, err = pcall(p.map, p, function(x)
      seen:incr("n")
      if x == 5 then error("bad five", 0) end
      tk.sleep(0.001)
      return x
    end, list, {batch = 10})
    assert.is_false(ok)
    assert.are.equal("map: item #5: bad five", err)
    assert.is_true(p:wait_all(10))
    assert.is_true(seen.n < 400)  -- later batches were cancelled
  end)

  it("works inside a task", function()
    local j = p:submit(function(pool)
      return #pool:map(function(x) return x end, {1, 2, 3})
    end, p)
    assert.are.equal(3, j:result(10))
  end)

  it("refuses bad input", function()
    assert.has_error(function() p:map(nil, {}) end,
                     "bad argument #1 to 'map' (function expected, got nil)")
    assert.has_error(function() p:map(print, 5) end,
                     "bad argument #2 to 'map' (table expected, got number)")
    assert.has_error(function() p:map(print, {1, 2, x = 3}) end,
                     "bad argument #2 to 'map' (a list expected: key x)")
    assert.has_error(function() p:map(print, {1}, {batch = 0}) end,
                     "bad argument #3 to 'map' (batch must be a positive integer)")
    assert.has_error(function() p:map(print, {1}, 42) end,
                     "bad argument #3 to 'map' (table expected, got number)")
  end)

  it("takes a batch size written as a float with an integer value", function()
    assert.are.same({2, 4, 6}, p:map(function(x) return 2 * x end, {1, 2, 3}, {batch = 1e9}))
  end)

  it("keeps non-nil results next to nil ones in a batch", function()
    local p <close> = tk.pool(2)
    local r = p:map(function(i) if i % 2 == 0 then return nil end return i end,
                    {1, 2, 3, 4, 5, 6})
    assert.are.same({1, nil, 3, nil, 5, nil}, {r[1], r[2], r[3], r[4], r[5], r[6]})
    local many = {}
    for i = 1, 1000 do many[i] = i end
    r = p:map(function(i) if i % 3 ~= 0 then return i end end, many)
    for i = 1, 1000 do assert.are.equal(i % 3 ~= 0 and i or nil, r[i]) end
  end)

  it("points its errors at the caller's line", function()
    local p <close> = tk.pool(1)
    local ok, err = pcall(function()
      p:map(function(x) return x end, {io.stdout})  -- this line
    end)
    assert.is_false(ok)
    local line = debug.getinfo(1, "l").currentline - 3
    assert.matches("^[^:]*map_spec%.lua:" .. line .. ": map: items #1 to #1: cannot copy", err)
  end)
end)
