-- globals_spec.lua - threadkit's own Lua code (retry, pool:map, shared
-- tables' pairs...) keeps working after a script or a task clobbers the
-- globals it would otherwise look up.
local tk = require "threadkit"

-- Every global a Lua library function might reach for.
local CLOBBERED = {"table", "string", "math", "coroutine", "pcall", "xpcall",
                   "error", "select", "type", "tostring", "tonumber", "next",
                   "pairs", "ipairs", "require", "setmetatable",
                   "getmetatable", "rawget", "rawset", "rawlen", "rawequal",
                   "assert", "package", "debug", "load", "print", "_G"}

describe("threadkit's own code with clobbered globals", function()
  local p
  before_each(function() p = tk.pool(1) end)  -- one worker: the clobbered one
  after_each(function() p:shutdown{cancel_pending = true} end)

  -- The task's own code reaches what it needs through upvalues: the
  -- worker's globals are gone.
  local err, pairs_ = error, pairs

  local function clobber_the_worker()
    p:submit(function()
      for k in pairs_(_ENV) do _ENV[k] = nil end
    end):result(10)
  end

  it("a task that empties its worker's globals leaves retry, map, work and shared tables working", function()
    clobber_the_worker()
    local count = tk.shared()
    local j = p:submit({retry = {attempts = 3, delay = 0}}, function()
      if count:incr("n") < 2 then err("transient", 0) end
      return "ok"
    end)
    assert.are.equal("ok", j:result(10))
    assert.are.equal(2, j.attempts)
    assert.are.same({"transient"}, j.attempt_errors)

    assert.are.same({2, 4, 6}, p:map(function(x) return 2 * x end, {1, 2, 3}))
    local ok, e = pcall(p.map, p, function(x)
      if x == 2 then err("bad two", 0) end
      return x
    end, {1, 2, 3}, {batch = 1})
    assert.is_false(ok)
    assert.are.equal("map: item #2: bad two", e)

    -- pool:map from inside a task on the clobbered worker.
    local inner = p:submit(function(pool)
      return pool:map(function(x) return x + 1 end, {1, 2})
    end, p)
    assert.are.same({2, 3}, inner:result(10))

    local sum = 0
    local w = p:work(function(x) return x * 10 end, function(okw, r)
      assert.is_true(okw)
      sum = sum + r
    end)
    for i = 1, 3 do w:queue(i) end
    assert.is_true(w:wait(10))
    assert.are.equal(60, sum)

    local s = tk.shared{a = 1, b = 2}
    local keys = p:submit(function()
      local n = 0
      for _ in pairs_(s) do n = n + 1 end
      return n
    end)
    assert.are.equal(2, keys:result(10))
  end)

  it("a script that clobbers its own globals after require keeps map and retry working", function()
    local saved = {}
    for _, k in ipairs(CLOBBERED) do saved[k] = _G[k] end
    local G = _G
    for _, k in ipairs(CLOBBERED) do G[k] = nil end
    local ok1, r1 = saved.pcall(p.map, p, function(x) return x + 1 end, {1, 2, 3})
    local ok2, r2 = saved.pcall(function()
      return p:submit({retry = {attempts = 2, delay = 0}}, function() return "r" end):result(10)
    end)
    local s = tk.shared{x = 1}
    local ok3, r3 = saved.pcall(function()
      local n = 0
      for _ in saved.pairs(s) do n = n + 1 end
      return n
    end)
    for k, v in saved.pairs(saved) do G[k] = v end
    assert.is_true(ok1, tostring(r1))
    assert.are.same({2, 3, 4}, r1)
    assert.is_true(ok2, tostring(r2))
    assert.are.equal("r", r2)
    assert.is_true(ok3, tostring(r3))
    assert.are.equal(1, r3)
  end)
end)
