-- lists_spec.lua - lengths, counts and indexes that come from Lua: a list
-- is read raw (its own entries 1..n, never what __len or __index say), a
-- key past a hole is an error, and no value makes a size wrap.
local tk = require "threadkit"

-- What a __len metamethod may claim: huge, negative, a float.
local CLAIMS = {1 << 61, 1 << 62, math.maxinteger, -1, math.mininteger, 0.5,
                2^62, 2^53, 0}

-- t (a list of real entries) with a __len that says n.
local function claiming(n, t)
  return setmetatable(t, {__len = function() return n end})
end

describe("lists from Lua", function()
  local p, first
  before_each(function()
    p = tk.pool(2)
    first = p:submit(function() return 1 end)
    first:wait(10)
  end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  local function sparse() local t = {first} t[3] = first return t end

  it("submit's after: its own entries, whatever __len says; a hole is an error", function()
    for _, n in ipairs(CLAIMS) do
      local j = p:submit({after = claiming(n, {first})}, function() return "ran" end)
      assert.are.equal("ran", j:result(10))
    end
    -- A proxy: __index and __len, no entries of its own: no dependencies.
    local proxy = setmetatable({}, {__index = function() return first end,
                                    __len = function() return 3 end})
    assert.are.equal("ran", p:submit({after = proxy}, function() return "ran" end):result(10))
    assert.has_error(function() p:submit({after = sparse()}, print) end,
                     "bad argument #1 to 'submit' (after must be a list: key 3)")
    assert.has_error(function() p:submit({after = {first, nil, first}}, print) end,
                     "bad argument #1 to 'submit' (after[2] is not a job)")
    assert.has_error(function() p:submit({after = {first, x = 1}}, print) end,
                     "bad argument #1 to 'submit' (after must be a list: key x)")
    assert.has_error(function() p:submit({after = 5}, print) end,
                     "bad argument #1 to 'submit' (after must be a list (a table), got number)")
  end)

  it("tk.dot: its own entries, whatever __len says; a hole is an error", function()
    for _, n in ipairs(CLAIMS) do
      local dot = tk.dot(claiming(n, {first}))
      assert.matches("j1 %[", dot)
      assert.is_nil(dot:find("j2 %["))
    end
    assert.has_error(function() tk.dot(sparse()) end,
                     "bad argument #1 to 'dot' (jobs must be a list: key 3)")
  end)

  it("tk.as_completed: its own entries, whatever __len says; a hole is an error", function()
    for _, n in ipairs(CLAIMS) do
      local got = {}
      for j in tk.as_completed(claiming(n, {first}), 10) do got[#got + 1] = j end
      assert.are.equal(1, #got)
      assert.are.equal(first, got[1])
    end
    assert.has_error(function() tk.as_completed(sparse()) end,
                     "bad argument #1 to 'as_completed' (jobs must be a list: key 3)")
  end)

  it("pool:map: its own entries, whatever __len says; __index fills no hole", function()
    for _, n in ipairs(CLAIMS) do
      assert.are.same({2, 4, 6}, p:map(function(x) return 2 * x end,
                                      claiming(n, {1, 2, 3})))
    end
    local holes = setmetatable({1, nil, 3, nil, 5},
                               {__index = function() return 99 end})
    for batch = 1, 5 do
      local out = p:map(function(x) return x or "hole" end, holes, {batch = batch})
      assert.are.same({1, "hole", 3, "hole", 5}, out)
    end
    -- The batch size cannot make the slices wrap.
    assert.are.same({1, 2}, p:map(function(x) return x end, {1, 2},
                                  {batch = math.maxinteger}))
    assert.has_error(function() p:map(print, {1, [3] = 3}) end,
                     "bad argument #2 to 'map' (a list expected: key 3)")
  end)

  it("shared tables: integer steps and keys are exact to the last bit", function()
    local s = tk.shared()
    assert.are.equal(math.maxinteger, s:incr("k", math.maxinteger))
    assert.are.equal(math.maxinteger + math.maxinteger, s:incr("k", math.maxinteger))
    assert.are.equal((1 << 53) + 1, s:incr("big", (1 << 53) + 1))
    assert.are.equal(1.5, s:incr("f", 1.5))
    -- A float with an integer value is that integer's key, as in a table.
    s[9.21e18] = "float key"
    assert.are.equal("float key", s[9210000000000000000])
    s[-2^63] = "lowest"
    assert.are.equal("lowest", s[math.mininteger])
    s[2^63] = "beyond"
    assert.are.equal("beyond", s[2^63])
  end)

  it("channel capacities are checked integers", function()
    assert.are.equal(0, #tk.channel(1 << 62))
    assert.has_error(function() tk.channel(-1) end)
    assert.has_error(function() tk.channel(0.5) end)
  end)

  it("says a job in a list was released", function()
    local p <close> = tk.pool(1)
    local j = p:submit(function() end)
    j:wait()
    local released = j
    do local closing <close> = j end
    for _, call in ipairs{
      function() p:submit({after = {released}}, print) end,
      function() tk.as_completed({released}) end,
      function() tk.dot({released}) end} do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.matches("%[1%] is a released job", err)
    end
  end)
end)
