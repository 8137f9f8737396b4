-- work_spec.lua - pool:work(fn, on_result): calls whose results come back
-- to a callback, run by w:wait in the state that made w.
local tk = require "threadkit"

describe("work", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("hands every call's results to on_result inside wait", function()
    local sum, calls, inside = 0, 0, false
    local w = p:work(function(x, y) return x * 2, y end, function(ok, r, y)
      assert.is_true(inside)  -- not in these few queue calls, nor between
      assert.is_true(ok)
      assert.are.equal("tag", y)
      sum, calls = sum + r, calls + 1
    end)
    for i = 1, 1000 do w:queue(i, "tag") end
    assert.are.equal(1000, #w)
    p:wait_all()
    assert.are.equal(0, calls)
    inside = true
    assert.is_true(w:wait())
    assert.are.equal(1000, calls)
    assert.are.equal(1000 * 1001, sum)
    assert.are.equal(0, #w)
    assert.is_true(w:wait())  -- nothing left: at once
  end)

  it("hands out what has arrived from inside queue, now and then", function()
    -- A long loop of queue calls must not keep every finished call until
    -- w:wait (every 1024 calls, as lwork.c has it).
    local seen = 0
    local w = p:work(function(x) return x end, function() seen = seen + 1 end)
    for i = 1, 5000 do
      if i % 500 == 0 then assert.is_true(p:wait_all(60)) end
      w:queue(i)
    end
    assert.is_true(seen >= 1000)
    assert.are.equal(5000, seen + #w)
    assert.is_true(w:wait(60))
    assert.are.equal(5000, seen)
  end)

  it("hands one worker's results out in the order it finished the calls", function()
    -- One worker runs the calls one after the other, on whichever CPU the
    -- system gives it: the results must come back in the order queued.
    local one = tk.pool(1)
    finally(function() one:shutdown() end)
    local got = {}
    local w = one:work(function(x) return x end,
                       function(ok, x) got[#got + 1] = x end)
    local n = 20000
    for i = 1, n do w:queue(i) end
    assert.is_true(w:wait(60))
    assert.are.equal(n, #got)
    for i = 1, n do
      if got[i] ~= i then
        error(("place %d holds the result of call %s"):format(i, tostring(got[i])))
      end
    end
  end)

  -- A work whose on_result counts the results and, for x <= limit, queues
  -- a follow-up call with x + step.
  local function follow_ups(limit, step)
    local w, count = nil, {seen = 0}
    w = p:work(function(x) return x end, function(ok, x)
      count.seen = count.seen + 1
      if x <= limit then w:queue(x + step) end
    end)
    return w, count
  end

  it("lets on_result queue more in a hand-out from queue, without recursing", function()
    -- Each first-round result queues a follow-up: queue calls made inside
    -- on_result must not each hand out the rest (a C stack overflow).
    local w, count = follow_ups(3000, 10000)
    for i = 1, 3000 do
      if i % 500 == 0 then assert.is_true(p:wait_all(60)) end
      w:queue(i)
    end
    assert.is_true(w:wait(60))
    assert.are.equal(6000, count.seen)
  end)

  it("leaves a call not queued when on_result fails inside queue", function()
    local seen, queued, err = 0, 0, nil
    local w = p:work(function(x) return x end, function()
      seen = seen + 1
      if seen == 1 then error("on_result failed") end
    end)
    for i = 1, 5000 do
      if i % 500 == 0 then assert.is_true(p:wait_all(60)) end
      local ok, e = pcall(w.queue, w, i)
      if not ok then err = e break end
      queued = queued + 1
    end
    assert.matches("on_result failed", err)
    assert.are.equal(queued, seen + #w)  -- the failed call is not counted
    assert.is_true(w:wait(60))
    assert.are.equal(queued, seen)
  end)

  it("passes a failure as false, the error and the worker's traceback", function()
    local got
    local w = p:work(function(x) error("bad " .. x) end,
                     function(...) got = table.pack(...) end)
    w:queue(7)
    assert.is_true(w:wait())
    assert.is_false(got[1])
    assert.matches("work_spec.lua:%d+: bad 7", got[2])
    assert.matches("work_spec.lua:%d+", got[3])
    assert.are.equal(3, got.n)
  end)

  it("passes a cancelled call as false and the reason", function()
    local tok = tk.token()
    tok:cancel()
    local got
    local w = p:work({token = tok}, function() return 1 end,
                     function(...) got = table.pack(...) end)
    w:queue()
    assert.is_true(w:wait())
    assert.are.equal(2, got.n)
    assert.is_false(got[1])
    -- The text job:result raises: "(cancelled)" while queued, "(cancelled
    -- before it started)" if a worker took it first.
    assert.matches("^job was cancelled %(cancelled", got[2])
  end)

  it("stops a runaway call at its timeout", function()
    local got
    local w = p:work({timeout = 0.1}, function() while true do end end,
                     function(ok, err) got = {ok, err} end)
    w:queue()
    assert.is_true(w:wait(60))
    assert.are.same({false, "job was cancelled (timed out after 0.1 s)"}, got)
  end)

  it("runs calls at the work's priority and name", function()
    local one = tk.pool(1)
    finally(function() one:shutdown{cancel_pending = true} end)
    local gate, started = tk.token(), tk.channel()
    -- Busy: a waiting task would leave the worker free.
    one:submit(function() started:push(1) while not gate:is_cancelled() do end end)
    started:pop()
    local ran = tk.shared()  -- in the order the calls ran
    local low = one:work({priority = "low", name = "low-work"},
                         function() ran:append(tk.current_job().name) end,
                         function() end)
    local high = one:work({priority = tk.HIGH},
                          function() ran:append("high") end, function() end)
    low:queue()
    high:queue()
    gate:cancel()
    assert.is_true(low:wait(60))
    assert.is_true(high:wait(60))
    assert.are.same({"high", "low-work"}, {ran[1], ran[2]})
  end)

  it("returns false on timeout after handing out what arrived", function()
    local gate = tk.token()
    finally(function() gate:cancel() end)
    local done = {}
    local w = p:work(function(x) if x == 2 then gate:wait() end return x end,
                     function(ok, x) done[#done + 1] = x end)
    w:queue(1)
    w:queue(2)
    assert.is_false(w:wait(0.2))
    assert.are.same({1}, done)
    assert.are.equal(1, #w)
    assert.is_false(w:wait(0))  -- a poll: nothing new, no wait
    gate:cancel()
    assert.is_true(w:wait(60))
    assert.are.same({1, 2}, done)
  end)

  it("lets on_result queue more calls, which the same wait covers", function()
    local w, count = follow_ups(9, 1)  -- 1, 2, ... 10
    w:queue(1)
    assert.is_true(w:wait(60))
    assert.are.equal(10, count.seen)
  end)

  it("raises on_result's error from wait and keeps the rest for the next", function()
    local seen = 0
    local w = p:work(function(x) return x end, function(ok, x)
      seen = seen + 1
      if seen == 1 then error("callback failed") end
    end)
    for i = 1, 5 do w:queue(i) end
    p:wait_all()
    assert.has_error(function() w:wait() end)
    assert.are.equal(1, seen)
    assert.are.equal(4, #w)
    assert.is_true(w:wait())
    assert.are.equal(5, seen)
  end)

  it("waits inside a task without holding the worker", function()
    local one = tk.pool(1)
    finally(function() one:shutdown{cancel_pending = true} end)
    local job = one:submit(function()
      local sum = 0
      local w = tk.work(function(x) return x * 10 end,
                        function(ok, v) sum = sum + v end)
      for i = 1, 5 do w:queue(i) end
      assert(w:wait(30), "the calls never ran")
      return sum
    end)
    assert.are.equal(150, job:result(60))
  end)

  it("lets on_result wait inside a task, in wait and in queue", function()
    -- on_result runs from C (w:wait, w:queue): a sleep in it must suspend
    -- the task through those calls, not fail or block the only worker.
    local one = tk.pool(1)
    finally(function() one:shutdown{cancel_pending = true} end)
    local job = one:submit(function()
      local seen = 0
      local w = tk.work(function(x) return x end, function(ok, x)
        tk.sleep(0.001)
        seen = seen + 1
      end)
      for i = 1, 2100 do  -- two hand-outs from inside queue
        w:queue(i)
        if i % 700 == 0 then tk.sleep(0.05) end  -- let calls arrive
      end
      assert(w:wait(60), "wait timed out")
      return seen
    end)
    assert.are.equal(2100, job:result(120))
  end)

  it("ends a task's wait when the task is cancelled", function()
    local gate, waiting = tk.token(), tk.channel()
    finally(function() gate:cancel() end)
    local job = p:submit(function()
      local w = tk.work(function() gate:wait() end, function() end)
      w:queue()  -- never ends while the gate is shut
      waiting:push(true)
      return w:wait()
    end)
    waiting:pop()
    job:cancel()
    assert.is_true(job:wait(30))
    if job.state == "completed" then assert.is_false(job:result()) end
  end)

  it("drops the results of a collected work, and its calls still run", function()
    local ran = tk.shared()
    do
      local w = p:work(function() ran:incr("n", 1) end, function() end)
      for _ = 1, 100 do w:queue() end
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(p:wait_all(60))
    assert.are.equal(100, ran.n)
  end)

  it("counts each call in the pool's metrics as a job", function()
    local w = p:work(function(x)
      if x % 10 == 0 then error("a tenth") end
      return x
    end, function() end)
    for i = 1, 1000 do w:queue(i) end
    assert.is_true(w:wait(60))
    assert.is_true(p:wait_all(60))
    local m = p:metrics()
    assert.are.equal(1000, m.submitted)
    assert.are.equal(900, m.completed)
    assert.are.equal(100, m.failed)
    assert.are.equal(0, m.cancelled)
    assert.are.equal(0, m.pending)
    assert.are.equal(0, m.running)
  end)

  -- A one-worker pool whose worker spins until the returned gate opens.
  local function busy_pool()
    local one = tk.pool(1)
    local gate, started = tk.token(), tk.channel()
    one:submit(function()
      started:push(1)
      while not gate:is_cancelled() do end  -- holds the worker
    end)
    started:pop()
    return one, gate
  end

  it("counts queued calls as pending, and ends them at a cancelling shutdown", function()
    local one, gate = busy_pool()
    finally(function()
      gate:cancel()
      one:shutdown{cancel_pending = true}
    end)
    local got = {}
    local w = one:work(function(x) return x end,
                       function(ok, err) got[#got + 1] = {ok, err} end)
    for i = 1, 10 do w:queue(i) end
    assert.are.equal(10, one:metrics().pending)
    one:shutdown{wait = false, cancel_pending = true}
    gate:cancel()
    assert.is_true(w:wait(60))
    assert.are.equal(10, #got)
    for i = 1, 10 do
      assert.are.same({false, "job was cancelled (pool shut down)"}, got[i])
    end
  end)

  it("runs a call that waits for later calls without holding up the rest", function()
    for _, workers in ipairs{1, 2} do
      local q = tk.pool(workers)
      local ch = tk.channel()
      finally(function()  -- on a failure: let call 1 end, then the pool
        ch:push(0)
        ch:push(0)
        q:shutdown{cancel_pending = true}
      end)
      local got = {}
      local w = q:work(function(x)
        if x == 1 then return ch:pop() + ch:pop() end  -- waits: frees its worker
        ch:push(x)
        return x
      end, function(ok, v) got[#got + 1] = v end)
      for i = 1, 50 do w:queue(i) end
      assert.is_true(w:wait(30))
      assert.are.equal(50, #got)
    end
  end)

  it("gives its worker up to a job that waits for one", function()
    -- 5 s of calls on one worker; a job queued after them must not wait
    -- for all of them (calls yield to waiting jobs within about 1 ms).
    local one = tk.pool(1)
    finally(function() one:shutdown{cancel_pending = true} end)
    local w = one:work(function()
      local t = tk.now()
      while tk.now() - t < 0.001 do end
    end, function() end)
    for _ = 1, 5000 do w:queue() end
    local job = one:submit(function() return "ran" end)
    assert.is_true(job:wait(2.5))
    assert.is_true(#w > 2500)  -- most calls still to come
  end)

  it("frees a collected work however its calls race to arrive", function()
    -- The box goes while calls finish on both workers: each must count
    -- itself out exactly once, whichever side of the release it lands on
    -- (a miscount leaks the work or frees it under a worker: ASan).
    local ran = tk.shared()
    local rounds = 200
    for _ = 1, rounds do
      do
        local w = p:work(function() ran:incr("n", 1) end, function() end)
        for _ = 1, 50 do w:queue() end
      end
      collectgarbage()
    end
    assert.is_true(p:wait_all(60))
    assert.are.equal(rounds * 50, ran.n)
  end)

  it("uses the default pool through tk.work", function()
    local got
    local w = tk.work(function(x) return x + 1 end, function(ok, v) got = v end)
    w:queue(41)
    assert.is_true(w:wait(60))
    assert.are.equal(42, got)
  end)

  it("refuses bad input with clear errors", function()
    assert.has_error(function() p:work(nil, print) end,
      "bad argument #1 to 'work' (function expected, got nil)")
    assert.has_error(function() p:work(print) end,
      "bad argument #2 to 'work' (function expected, got no value)")
    assert.has_error(function() p:work({priorty = 1}, print, print) end,
      "bad argument #1 to 'work' (unknown option 'priorty')")
    assert.has_error(function() p:work({after = {}}, print, print) end,
      "bad argument #1 to 'work' (unknown option 'after')")
    local w = p:work(function(x) return x end, function() end)
    assert.has_error(function() w:queue(io.stdout) end,
      "cannot copy argument #1: userdata is not transferable")
    assert.has_error(function() w.queue(42) end,
      "bad argument #1 to 'queue' (threadkit.work expected, got number)")
    assert.has_error(function() w:wait(-1) end,
      "bad argument #1 to 'wait' (timeout must be a non-negative number)")
    assert.has_error(function() p:submit(function(x) return x end, w) end,
      "cannot copy argument #1: userdata is not transferable")
    assert.matches("^threadkit%.work %(.+, 0 pending%)$", tostring(w))
    local q = tk.pool(1)
    local w2 = q:work(function() end, function() end)
    q:shutdown()
    assert.has_error(function() w2:queue() end, "attempt to use a shut-down pool")
  end)

  it("keeps its pool alive when the pool's handle is dropped", function()
    local sum = 0
    local w = tk.pool(2):work(function(x) return x * 2 end, function(ok, r) sum = sum + r end)
    collectgarbage()
    collectgarbage()
    for i = 1, 10 do w:queue(i) end
    assert.is_true(w:wait(10))
    assert.are.equal(110, sum)
  end)

  it("lets a call cancel only itself, not the calls queued after it", function()
    local one <close> = tk.pool(1)
    local ok_n, other = 0, {}
    local w = one:work(function(i)
      if i == 3 then tk.current_job():cancel() end
      return i
    end, function(ok, r)
      if ok then ok_n = ok_n + 1 else other[#other + 1] = r end
    end)
    for i = 1, 1000 do w:queue(i) end
    assert.is_true(w:wait(60))
    -- Call 3 went on after cancelling (a cooperative cancel): all ran.
    assert.are.equal(1000, ok_n, tostring(other[1]))
  end)

  it("cancels the calls queued behind a running call at a cancelling shutdown", function()
    local one = tk.pool(1)
    local gate, started = tk.token(), tk.channel()
    local ran, cancelled = 0, 0
    local w = one:work(function(i)
      if i == 1 then started:push(1) while not gate:is_cancelled() do end end
      return i
    end, function(ok, r)
      if ok then ran = ran + 1
      else assert.matches("pool shut down", r) cancelled = cancelled + 1 end
    end)
    for i = 1, 2000 do w:queue(i) end
    started:pop()
    one:shutdown{wait = false, cancel_pending = true}
    gate:cancel()
    assert.is_true(w:wait(60))
    one:shutdown()
    assert.are.equal(1, ran)
    assert.are.equal(1999, cancelled)
  end)
end)
