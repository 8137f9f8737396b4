-- task_spec.lua - calls made inside tasks, and waits that free the worker.
local tk = require "threadkit"

describe("inside a task", function()
  it("current_job is the running job, nil outside", function()
    assert.is_nil(tk.current_job())
    local j = tk.submit(function() return tk.current_job() end)
    assert.are.equal(j, j:result())
  end)

  it("a task starts clean: nothing of the previous task's coroutine", function()
    -- One worker, so each task runs on a coroutine the last one left.
    local p = tk.pool(1)
    local a = p:submit(function()
      debug.sethook(function() if STALE then error("stale hook") end end, "l")
      return "hooked"
    end)
    local c = p:submit(function(...)
      STALE = true  -- (globals are the worker state's, shared by its tasks)
      local n = select("#", ...)
      local x = 0
      for i = 1, 10 do x = x + i end
      STALE = nil
      return n, x, debug.gethook()
    end)
    local b = p:submit(function() error("boom") end)
    local d = p:submit(function() return 1 end)
    assert.are.equal("hooked", a:result())
    assert.are.same({0, 55}, {c:result()})
    assert.are.equal("failed", (b:wait() and b.state))
    assert.are.equal(1, d:result())
    p:shutdown()
  end)

  it("cancelled and checkpoint see the job's cancellation", function()
    assert.is_false(tk.cancelled())
    tk.checkpoint()  -- outside a task: nothing to do
    local started = tk.channel()
    local j = tk.submit(function()
      started:push(1)
      while not tk.cancelled() do tk.sleep(0.005) end
      tk.checkpoint()
      return "not reached"
    end)
    started:pop()
    j:cancel()
    assert.is_true(j:wait(10))
    assert.are.equal("cancelled", j.state)
  end)

  it("a cancellation caught by pcall still ends the job cancelled", function()
    local started = tk.channel()
    local j = tk.submit(function()
      started:push(1)
      while not tk.cancelled() do tk.sleep(0.005) end
      pcall(tk.checkpoint)
      return "swallowed?"
    end)
    started:pop()
    j:cancel()
    assert.is_true(j:wait(10))
    assert.are.equal("cancelled", j.state)
  end)

  it("ten 0.3 s sleeps on two workers take about 0.3 s, not 1.5 s", function()
    local p <close> = tk.pool(2)
    local js = {}
    local t0 = tk.now()
    for i = 1, 10 do js[i] = p:submit(function() tk.sleep(0.3) return i end) end
    for i = 1, 10 do assert.are.equal(i, js[i]:result()) end
    local dt = tk.now() - t0
    assert.is_true(dt < 1.2, "took " .. dt .. " s")
  end)

  it("a task waiting on another task's job does not starve the pool", function()
    local p <close> = tk.pool(1)
    local outer = p:submit(function()
      local j = p:submit(function() return 7 end)
      return j:result() * 6
    end)
    assert.are.equal(42, outer:result(10))
  end)

  it("sleep returns false at once when the task is cancelled", function()
    local started = tk.channel()
    local j = tk.submit(function()
      started:push(1)
      return tk.sleep(30)
    end)
    started:pop()
    j:cancel()
    assert.is_true(j:wait(10))
    assert.are.equal("completed", j.state)
    assert.is_false(j:result())
  end)

  it("refuses to wait for its own job", function()
    local j = tk.submit(function() return tk.current_job():wait() end)
    assert.is_true(j:wait(10))
    assert.matches("cannot wait for its own job", j.error)
  end)

  it("a worker that reloads threadkit and drops the old one keeps working", function()
    -- The worker state's context must outlive the module it came with.
    local p <close> = tk.pool(1)
    assert.are.equal("reloaded", p:submit(function()
      package.loaded.threadkit = nil
      local again = require "threadkit"
      collectgarbage()
      collectgarbage()
      return again.current_job() and "reloaded"
    end):result(10))
    for i = 1, 3 do
      local r = p:submit(function(x) collectgarbage() return {x, ("x"):rep(100)} end, i)
      assert.are.same({i, ("x"):rep(100)}, r:result(10))
    end
  end)

  it("a task cannot yield outside threadkit's waits", function()
    local j = tk.submit(function() coroutine.yield(1) end)
    assert.is_true(j:wait(10))
    assert.matches("cannot yield", j.error)
  end)

  it("waits block the worker where the stack cannot yield", function()
    -- A metamethod called from C cannot yield: the sleep blocks instead.
    local j = tk.submit(function()
      local t = setmetatable({}, {__index = function() return tk.sleep(0.01) end})
      local inside = t.anything
      local ch = tk.channel()
      ch:push(7)
      local popped = setmetatable({}, {__index = function() return ch:pop(1) end}).x
      return inside, popped
    end)
    local slept, popped = j:result(10)
    assert.is_true(slept)
    assert.are.equal(7, popped)
  end)

  it("coroutines of its own still work inside a task", function()
    local j = tk.submit(function()
      local co = coroutine.wrap(function() coroutine.yield(1) return 2 end)
      return co() + co()
    end)
    assert.are.equal(3, j:result())
  end)

  it("names the sleep that was called in its errors", function()
    assert.has_error(function() tk.sleep(-1) end,
      "bad argument #1 to 'sleep' (duration must be a non-negative number)")
    assert.has_error(function() tk.event_aware_sleep("x") end,
      "bad argument #1 to 'event_aware_sleep' (number expected, got string)")
  end)
end)
