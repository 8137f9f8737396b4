-- shared_spec.lua - shared tables.
local tk = require "threadkit"

describe("shared table", function()
  it("reads and writes copies", function()
    local s = tk.shared{a = 1}
    s.b = {x = 2}
    s[1] = "one"
    s[2.0] = "two"  -- integral floats are integer keys, as in Lua
    assert.are.equal(1, s.a)
    assert.are.same({x = 2}, s.b)
    assert.are.equal("two", s[2])
    assert.are.equal(2, #s)
    s.a = nil
    assert.is_nil(s.a)
  end)

  it("append and incr are atomic across tasks", function()
    local p <close> = tk.pool(2)
    local s = tk.shared()
    for i = 1, 200 do
      p:submit(function() s:incr("n") s:incr("f", 0.5) s:append(i) end)
    end
    assert.is_true(p:wait_all(20))
    assert.are.equal(200, s.n)
    assert.are.equal(100.0, s.f)
    assert.are.equal(200, #s)
  end)

  it("pairs walks a snapshot", function()
    local s = tk.shared{a = 1, b = 2, [1] = "x"}
    local seen = {}
    for k, v in pairs(s) do seen[k] = v end
    assert.are.same({a = 1, b = 2, [1] = "x"}, seen)
  end)

  it("refuses bad keys and values", function()
    local s = tk.shared()
    assert.has_error(function() s[{}] = 1 end)
    assert.has_error(function() s.x = io.stdout end)
    s.t = "text"
    assert.has_error(function() s:incr("t") end, "incr: the value is not a number")
  end)

  it("appends and counts in constant time", function()
    local function fill(n)
      local s = tk.shared()
      local t0 = os.clock()
      for i = 1, n do s:append(i) end
      assert.are.equal(n, #s)
      return os.clock() - t0
    end
    fill(1000)
    local small, large = fill(4000), fill(32000)
    -- A scan from 1 on every append made 8 times the work take 64 times as long.
    assert.is_true(large < small * 32, ("%.3f s vs %.3f s"):format(large, small))
  end)

  it("finds the border again after removals at the end", function()
    local s = tk.shared()
    for i = 1, 10 do s:append(i) end
    s[10], s[9] = nil, nil
    assert.are.equal(8, #s)
    s:append("x")
    assert.are.equal("x", s[9])
    assert.are.equal(9, #s)
  end)
end)
