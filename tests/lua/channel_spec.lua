-- channel_spec.lua - channels between states.
local tk = require "threadkit"

describe("channel", function()
  it("passes copies in FIFO order", function()
    local ch = tk.channel()
    ch:push(1)
    ch:push({a = 2})
    ch:push("three")
    assert.are.equal(3, #ch)
    assert.are.equal(1, ch:pop())
    assert.are.same({a = 2}, ch:pop())
    assert.are.equal("three", ch:try_pop())
    assert.is_nil(ch:try_pop())
  end)

  it("pop waits, with a timeout", function()
    local ch = tk.channel()
    assert.is_nil(ch:pop(0.05))
    assert.is_nil(ch:pop(0))
    tk.submit(function() tk.sleep(0.05) ch:push("late") end)
    assert.are.equal("late", ch:pop(10))
    -- A timeout too long for the clock waits, rather than ending at once.
    tk.submit(function() tk.sleep(0.05) ch:push("later") end)
    assert.are.equal("later", ch:pop(1e300))
    assert.are.equal("inf", tk.submit(function()
      tk.submit(function() tk.sleep(0.05) ch:push("inf") end)
      return ch:pop(math.huge)
    end):result(10))
  end)

  it("a popping task frees its worker", function()
    local p <close> = tk.pool(1)
    local ch = tk.channel()
    local reader = p:submit(function() return ch:pop(10) end)
    local writer = p:submit(function() ch:push("hello") end)  -- same worker
    assert.are.equal("hello", reader:result(10))
    assert.is_true(writer:wait(10))
  end)

  it("drains after close, then pop raises", function()
    local ch = tk.channel()
    ch:push(1)
    ch:close()
    assert.is_true(ch:is_closed())
    assert.are.equal(1, ch:pop())
    assert.has_error(function() ch:pop() end, "pop from a closed channel")
    assert.has_error(function() ch:push(2) end, "push to a closed channel")
  end)

  it("close wakes a waiting task", function()
    local ch = tk.channel()
    local j = tk.submit(function() return pcall(ch.pop, ch, 30) end)
    tk.sleep(0.05)
    ch:close()
    local ok, err = j:result(10)
    assert.is_false(ok)
    assert.matches("closed", err)
  end)

  it("a bounded channel blocks the pusher until there is room", function()
    local ch = tk.channel(1)
    ch:push(1)
    local j = tk.submit(function() ch:push(2) return "pushed" end)
    assert.is_false(j:wait(0.05))
    assert.are.equal(1, ch:pop())
    assert.are.equal("pushed", j:result(10))
    assert.are.equal(2, ch:pop())
  end)

  it("push takes a timeout: false if the channel stays full", function()
    local ch = tk.channel(1)
    assert.is_true(ch:push(1, 0))
    assert.is_false(ch:push(2, 0))
    local t0 = tk.now()
    assert.is_false(ch:push(2, 0.05))
    assert.is_true(tk.now() - t0 >= 0.04)
    assert.are.equal(1, ch:pop())
    assert.is_true(ch:push(3, 0.05))
    assert.is_true(tk.channel():push("unbounded", 0))
    assert.has_error(function() ch:push(4, -1) end)
  end)

  it("a task waiting for room frees its worker", function()
    -- One worker: the producer waits for room while the consumer, queued
    -- behind it on the same worker, drains the channel.
    local p = tk.pool(1)
    local ch = tk.channel(1)
    finally(function()  -- a producer stuck in push must not hang the suite
      ch:close()
      p:shutdown()
    end)
    local producer = p:submit(function()
      for i = 1, 5 do ch:push(i) end
      return "produced"
    end)
    local consumer = p:submit(function()
      local got = {}
      for _ = 1, 5 do got[#got + 1] = ch:pop(10) end
      return got
    end)
    assert.are.equal("produced", producer:result(10))
    assert.are.same({1, 2, 3, 4, 5}, consumer:result(10))
  end)

  it("a task waiting for room ends its wait when cancelled", function()
    local ch = tk.channel(1)
    finally(function() ch:close() end)
    ch:push(1)
    local started = tk.channel()
    local j = tk.submit(function()
      started:push(true)
      return ch:push(2)
    end)
    started:pop(10)
    j:cancel()
    assert.is_true(j:wait(10))
    assert.is_false(j:result())  -- the push reports it did not happen
    assert.are.equal(1, #ch)
  end)

  it("a woken pop that finds nothing waits only for what is left", function()
    -- The pusher wakes the task, but this thread may take the value
    -- first: the task then waits out the rest of its timeout, not forever.
    for _ = 1, 5 do
      local ch = tk.channel()
      local waiting = tk.channel()
      local j = tk.submit(function()
        waiting:push(true)
        return ch:pop(0.3)
      end)
      waiting:pop(10)
      tk.sleep(0.02)  -- let the task suspend in its pop
      ch:push(1)
      local mine = ch:try_pop()
      assert.is_true(j:wait(10))
      local theirs = j:result()
      assert.are.equal(1, (mine or 0) + (theirs or 0))
    end
  end)

  it("many tasks wait on one channel at once, each gets one value", function()
    -- Their wakers go on one list from two workers at a time, growing it
    -- (a slot reserved before the wait began was once taken twice: ASan
    -- saw the list overflow).
    local p <close> = tk.pool(2)
    for _ = 1, 5 do
      local ch, waiting = tk.channel(), tk.channel()
      local jobs = {}
      for i = 1, 200 do
        jobs[i] = p:submit(function() waiting:push(true) return ch:pop(30) end)
      end
      for _ = 1, 200 do waiting:pop(30) end
      for i = 1, 200 do ch:push(i) end
      local sum = 0
      for i = 1, 200 do sum = sum + jobs[i]:result(30) end
      assert.are.equal(200 * 201 // 2, sum)
    end
  end)

  it("a bounded channel carries values between more tasks than workers", function()
    -- Four producers and four consumers on two workers: whoever waits,
    -- for room or for a value, must free its worker for the others.
    local p = tk.pool(2)
    local ch = tk.channel(4)
    finally(function()
      ch:close()
      p:shutdown()
    end)
    for _ = 1, 4 do p:submit(function() for k = 1, 500 do ch:push(k) end end) end
    local consumers = {}
    for w = 1, 4 do
      consumers[w] = p:submit(function()
        local sum = 0
        for _ = 1, 500 do sum = sum + ch:pop(30) end
        return sum
      end)
    end
    local total = 0
    for w = 1, 4 do total = total + consumers[w]:result(60) end
    assert.are.equal(4 * (500 * 501 // 2), total)
  end)

  it("carries many values from many tasks", function()
    local p <close> = tk.pool(2)
    local ch = tk.channel()
    for i = 1, 100 do p:submit(function() ch:push(i) end) end
    local sum = 0
    for _ = 1, 100 do sum = sum + ch:pop(10) end
    assert.are.equal(5050, sum)
  end)

  it("refuses bad input", function()
    assert.has_error(function() tk.channel(-1) end)
    assert.has_error(function() tk.channel():push(nil) end)
    assert.has_error(function() tk.channel():push(io.stdout) end)
    assert.has_error(function() tk.channel():pop(-1) end)
  end)

  it("keeps a value that a state could not take (a worker out of memory)", function()
    local small <close> = tk.pool{workers = 1, memory_limit = 1024 * 1024}
    local ch = tk.channel()
    local big = string.rep("x", 2 * 1024 * 1024)
    ch:push(big)
    ch:push("next")
    local job = small:submit(function(c) return #c:pop() end, ch)
    local ok, err = pcall(job.result, job)
    assert.is_false(ok)
    assert.matches("not enough memory", err)
    assert.are.equal(big, ch:pop(1))
    assert.are.equal("next", ch:pop(1))
  end)
end)
