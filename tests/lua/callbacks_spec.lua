-- callbacks_spec.lua - tok:on_cancel: a callback runs exactly once, in the
-- state that registered it, however the token is cancelled (by that
-- state, by a task, by a deadline, by a parent), with or without the
-- default pool; what it changes is that state's data.
local tk = require "threadkit"
local support = require "support"

describe("on_cancel", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown() end)

  it("runs in its state when a task cancels, before the task's job is waited", function()
    local t = tk.token()
    local hits = 0
    t:on_cancel(function() hits = hits + 1 end)
    p:submit(function(tok) tok:cancel() end, t):wait()
    assert.are.equal(1, hits)
    t:cancel()
    assert.are.equal(1, hits)
  end)

  it("runs in its state when a deadline passes while it sleeps or waits", function()
    local hits = 0
    local t = tk.token{timeout = 0.05}
    t:on_cancel(function() hits = hits + 1 end)
    tk.sleep(0.3)
    assert.are.equal(1, hits)
    local u = tk.token{timeout = 0.05}
    u:on_cancel(function() hits = hits + 10 end)
    assert.is_true(u:wait(10))
    assert.are.equal(11, hits)
    local v = tk.token{timeout = 0.05}
    v:on_cancel(function() hits = hits + 100 end)
    assert.is_nil(tk.channel():pop(0.3))
    assert.are.equal(111, hits)
  end)

  it("runs when a parent token is cancelled by a task", function()
    local parent = tk.token()
    local child = parent:child()
    local seen = {}
    child:on_cancel(function() seen[#seen + 1] = "child" end)
    parent:on_cancel(function() seen[#seen + 1] = "parent" end)
    p:submit(function(tok) tok:cancel() end, parent):wait()
    table.sort(seen)
    assert.are.same({"child", "parent"}, seen)
  end)

  it("registered in a task, runs in that worker's state before the task goes on", function()
    local t = tk.token()
    local j = p:submit(function(tok)
      local ran = false
      tok:on_cancel(function() ran = true end)
      tok:wait()
      return ran
    end, t)
    -- The task registers, then suspends in its wait; main cancels.
    while j.state == "pending" do tk.sleep(0.01) end
    tk.sleep(0.05)
    t:cancel()
    assert.is_true(j:result())
  end)

  it("runs exactly once when many threads cancel at once", function()
    local n, hits = 100, 0
    local tokens = {}
    for i = 1, n do
      tokens[i] = tk.token()
      tokens[i]:on_cancel(function() hits = hits + 1 end)
    end
    local q = tk.pool(4)
    local jobs = {}
    for k = 1, 4 do
      jobs[k] = q:submit(function(list) for _, tok in ipairs(list) do tok:cancel() end end, tokens)
    end
    for k = 1, 4 do jobs[k]:wait() end
    q:shutdown()
    assert.are.equal(n, hits)
  end)

  it("lets go of callbacks whose token was dropped uncancelled", function()
    for _ = 1, 2000 do tk.token():on_cancel(function() error("never") end) end
    collectgarbage()
    collectgarbage()
    p:submit(function() end):wait()  -- a safe point: the let-go ones go
  end)

  it("registers in constant time", function()
    local function batch(n)
      local t0 = os.clock()
      local keep = {}
      for i = 1, n do
        local t = tk.token()
        t:on_cancel(function() end)
        keep[i] = t
      end
      return os.clock() - t0
    end
    batch(1000)
    local small, large = batch(5000), batch(40000)
    -- Quadratic registration made 8 times the work take 64 times as long.
    assert.is_true(large < small * 24, ("%.3f s vs %.3f s"):format(large, small))
  end)

  it("runs without the default pool ever started", function()
    local f = support.script([[
      local tk = require "threadkit"
      local p = tk.pool(1)
      local t = tk.token{timeout = 0.05}
      local hits = 0
      t:on_cancel(function() hits = hits + 1 end)
      local u = tk.token()
      u:on_cancel(function() hits = hits + 10 end)
      p:submit(function(tok) tok:cancel() end, u):wait()
      tk.sleep(0.3)
      print(hits)
    ]])
    local out, err, code = support.run(os.getenv("TKLUA") .. " " .. f)
    os.remove(f)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("11\n", out)
  end)
end)
