-- job_spec.lua - job fields, wait, result, cancel, dependencies, timeouts.
local tk = require "threadkit"

describe("job", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("has state, name, priority and timings", function()
    local j = p:submit({name = "add", priority = "high"},
                       function(a, b) return a + b end, 1, 2)
    assert.are.equal(3, j:result())
    assert.are.equal("completed", j.state)
    assert.are.equal("add", j.name)
    assert.are.equal(1, j.priority)
    assert.is_number(j.execution_time)
    assert.is_nil(j.error)
    assert.is_nil(j.traceback)
  end)

  it("turns a task error into error text and a worker traceback", function()
    local j = p:submit(function()
      local t = nil
      return t.field  -- line 24 of this file
    end)
    assert.is_true(j:wait(10))
    assert.are.equal("failed", j.state)
    assert.matches("job_spec.lua:24: attempt to index a nil value", j.error)
    assert.matches("stack traceback", j.traceback)
    assert.matches("job_spec.lua:24", j.traceback)
    -- It ends at the task's function: threadkit's own frames are left out.
    assert.matches("job_spec.lua:%d+: in function <[^\n]*job_spec.lua:22>$", j.traceback)
    local ok, err = pcall(j.result, j)
    assert.is_false(ok)
    assert.are.equal(j.error, err)  -- the task's own message, unchanged
  end)

  it("wait times out and result raises on timeout", function()
    local gate = tk.token()
    local j = p:submit(function() gate:wait() end)
    assert.is_false(j:wait(0.05))
    assert.has_error(function() j:result(0.05) end,
                     "timed out waiting for the job's result")
    gate:cancel()
    assert.is_true(j:wait(10))
  end)

  it("cancels a pending job: it never runs, result raises", function()
    local q <close> = tk.pool(1)
    local gate = tk.token()
    finally(function() gate:cancel() end)
    q:submit(function() while not gate:is_cancelled() do end end)  -- holds the worker
    local ran = tk.shared()
    local j = q:submit(function() ran.yes = true end)
    assert.is_true(j:cancel())
    assert.are.equal("cancelled", j.state)
    assert.is_true(j:is_cancelled())
    gate:cancel()
    q:wait_all(10)
    assert.is_nil(ran.yes)
    assert.has_error(function() j:result() end)
  end)

  it("cancels a running job through its token", function()
    local started = tk.channel()
    local j = p:submit(function()
      started:push(true)
      while not tk.cancelled() do tk.sleep(0.01) end
      tk.checkpoint()
    end)
    started:pop()
    assert.is_true(j:cancel())
    assert.is_true(j:wait(10))
    assert.are.equal("cancelled", j.state)
  end)

  it("runs after its dependencies, and is cancelled when one fails", function()
    local a = p:submit({name = "fetch"}, function() return 1 end)
    local b = p:submit({after = {a}}, function() return 2 end)
    local bad = p:submit({name = "parse"}, function() error("nope") end)
    local c = p:submit({after = {b, bad}}, function() return 3 end)
    assert.are.equal(2, b:result())
    assert.is_true(c:wait(10))
    assert.are.equal("cancelled", c.state)
    assert.are.equal("dependency 'parse' failed", c.error)
  end)

  it("stops a runaway task when its timeout passes", function()
    local j = p:submit({timeout = 0.1}, function() while true do end end)
    assert.is_true(j:wait(10))
    assert.are.equal("cancelled", j.state)
    assert.are.equal("timed out after 0.1 s", j.error)
    -- the worker is still usable
    assert.are.equal("ok", p:submit(function() return "ok" end):result())
  end)

  it("stops a runaway task cancelled with force, even through pcall", function()
    local started = tk.channel()
    local j = p:submit(function()
      started:push(true)
      while true do pcall(function() while true do end end) end
    end)
    started:pop()
    assert.is_true(j:cancel(true))
    assert.is_true(j:wait(10))
    assert.are.equal("cancelled", j.state)
  end)

  it("a stop as its task ends never reaches the next task", function()
    -- One worker: each task's coroutine goes on to the tasks after it.
    -- The script cancels with force about when the task ends: some are
    -- stopped, some have ended; a stop that reached the coroutine after it
    -- moved on would kill a plain task, or the next task before it starts.
    local q = tk.pool(1)
    local started = tk.channel()
    local function run(ch, d)
      ch:push(true)
      local t0 = tk.now()
      while tk.now() - t0 < d do end
      return "done"
    end
    local stopped, done = 0, 0
    for i = 1, 300 do
      local j = q:submit(run, started, 0.0001 + (i % 9) * 0.0001)
      local plain = q:submit(function(x) return x end, i)
      assert.is_true(started:pop(10), "the task never started")
      local t0 = tk.now()
      while tk.now() - t0 < 0.0005 do end
      j:cancel(true)
      assert.is_true(j:wait(10))
      if j.state == "cancelled" then
        stopped = stopped + 1
      else
        assert.are.equal("done", j:result())
        done = done + 1
      end
      assert.are.equal(i, plain:result())
    end
    assert.is_true(stopped > 0 and done > 0)
    q:shutdown()
  end)

  it("handles compare equal across states", function()
    local j = p:submit(function() return tk.current_job() end)
    local same = j:result()
    assert.are.equal(j, same)  -- two boxes of one job: == holds
    -- A handle that went out and came back is the very same box.
    local ch = tk.channel()
    p:submit(function(c) c:push(c) end, ch):wait()
    assert.is_true(rawequal(ch, ch:pop()))
    assert.are.equal("job", tk.type(j))
  end)

  it("tk.type names every kind of handle, in tasks too, and nothing else", function()
    local kinds = {job = p:submit(function() end), token = tk.token(),
                   channel = tk.channel(), shared = tk.shared(), pool = p,
                   group = tk.group("typed")}
    for name, v in pairs(kinds) do
      assert.are.equal(name, tk.type(v))
      assert.are.equal(name, p:submit(function(x) return tk.type(x) end, v):result())
    end
    local f = io.tmpfile()
    local file_mt = debug.getmetatable(f)
    debug.setmetatable(f, getmetatable(tk.token()))  -- dressed as a token
    assert.is_nil(tk.type(f))
    debug.setmetatable(f, file_mt)
    f:close()
    for _, v in ipairs{1, "job", {}, print, coroutine.create(print)} do
      assert.is_nil(tk.type(v))
    end
    assert.is_nil(tk.type(nil))
  end)

  it("refuses other userdata dressed in a handle's metatable", function()
    -- debug.setmetatable can give any userdata a job's or a pool's
    -- metatable: the methods must refuse it, not read it as a handle.
    local j = p:submit(function() return 1 end)
    for _, mt in ipairs{getmetatable(j), getmetatable(p)} do
      local f = io.tmpfile()
      local file_mt = debug.getmetatable(f)
      debug.setmetatable(f, mt)
      for _, m in ipairs{"result", "wait", "cancel", "state", "submit",
                         "shutdown", "metrics"} do
        local ok, err = pcall(function() return f[m](f, function() end) end)
        assert.is_false(ok)
        -- A pool's metatable has no job methods: those are nil to call.
        if mt == getmetatable(j) or m == "submit" or m == "shutdown" or
           m == "metrics" then
          assert.matches("expected", err)
        end
      end
      assert.is_false(pcall(tostring, f))
      assert.is_false(f == j or f == p)
      debug.setmetatable(f, file_mt)
      f:close()
    end
    assert.are.equal(1, j:result())
  end)

  it("never reports a bogus queue_wait while the job starts", function()
    -- The job is RUNNING a moment before its start time is stored; a read
    -- then took the finish time, unwritten (a data race, and 585 years).
    local p <close> = tk.pool(2)
    local t0 = tk.now()
    for _ = 1, 3000 do
      local j = p:submit(function() end)
      for _ = 1, 20 do
        local q = j.queue_wait
        assert.is_true(q == nil or (q >= 0 and q < tk.now() - t0 + 1), tostring(q))
      end
      j:wait()
    end
  end)

  it("frees a chain of 200 000 dependent jobs without a recursion as deep", function()
    local p <close> = tk.pool(1)
    local gate = tk.token()
    local prev = p:submit(function(g) g:wait() end, gate)
    for _ = 1, 200000 do prev = p:submit({after = {prev}}, function() end) end
    gate:cancel()
    assert.is_true(prev:wait(60))
    prev = nil
    collectgarbage()
    collectgarbage()
  end)
end)
