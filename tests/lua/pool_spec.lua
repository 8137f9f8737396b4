-- pool_spec.lua - pools: submit, priorities, wait_all, metrics, shutdown,
-- <close>, the default pool, bounded queues, bad input.
local tk = require "threadkit"

describe("pool", function()
  it("runs a function with arguments and returns its results", function()
    local p <close> = tk.pool(2)
    local j = p:submit(function(a, b) return a + b, a * b end, 3, 4)
    local s, m = j:result()
    assert.are.equal(7, s)
    assert.are.equal(12, m)
  end)

  it("accepts tk.pool(n) and tk.pool{workers, name}", function()
    local a <close> = tk.pool(3)
    local b <close> = tk.pool{workers = 1, name = "io"}
    assert.are.equal(3, a:metrics().workers)
    assert.are.equal(1, b:metrics().workers)
    assert.are.equal("io", b.name)
  end)

  it("has its name and worker count as fields, in tasks too and once shut down", function()
    local p = tk.pool{workers = 3, name = "io"}
    assert.are.equal(3, p.workers)
    local name, n = p:submit(function(q) return q.name, q.workers end, p):result()
    assert.are.equal("io", name)
    assert.are.equal(3, n)
    p:shutdown()
    assert.are.equal("io", p.name)
    assert.is_nil(p.no_such_field)
    assert.has_error(function() p:submit(function() end) end)
  end)

  it("runs in priority order, FIFO within a priority", function()
    local p <close> = tk.pool(1)
    local order = tk.shared()
    local gate = tk.token()
    finally(function() gate:cancel() end)
    -- A spin holds the only worker (a wait would free it for the others);
    -- it must have started before the others are queued.
    local started = tk.channel()
    p:submit(function() started:push(1) while not gate:is_cancelled() do end end)
    started:pop()
    local prios = {"low", "high", "normal", "highest", "lowest", "high", 1, -2}
    for i, pr in ipairs(prios) do
      p:submit({priority = pr}, function() order:append(i) end)
    end
    gate:cancel()
    assert.is_true(p:wait_all(10))
    local got = {}
    for i = 1, #order do got[i] = order[i] end
    -- highest(4); high(2), high(6), 1(7); normal(3); low(1); lowest(5), -2(8)
    assert.are.same({4, 2, 6, 7, 3, 1, 5, 8}, got)
  end)

  it("takes every integer priority in int's range, and refuses the rest", function()
    local p <close> = tk.pool(1)
    for _, pr in ipairs{2.0, -3.0, 2147483647, -2147483648, 1e9} do
      assert.are.equal(pr // 1, p:submit({priority = pr}, function() end).priority)
    end
    for _, pr in ipairs{math.maxinteger, 2^32 + 5, 2147483648, -2147483649,
                        2.5, 0/0, 1/0, "5", true} do
      assert.has_error(function() p:submit({priority = pr}, function() end) end)
      local ok, err = pcall(p.submit, p, {priority = pr}, function() end)
      assert.is_false(ok)
      assert.matches("bad argument #%d to '.-' %(priority must be an integer", err)
    end
  end)

  it("exposes the priority constants", function()
    assert.are.same({-2, -1, 0, 1, 2},
                    {tk.LOWEST, tk.LOW, tk.NORMAL, tk.HIGH, tk.HIGHEST})
  end)

  it("wait_all returns false on timeout, true when done", function()
    local p <close> = tk.pool(1)
    local gate = tk.token()
    p:submit(function() gate:wait() end)
    assert.is_false(p:wait_all(0.05))
    gate:cancel()
    assert.is_true(p:wait_all(10))
  end)

  it("counts in metrics", function()
    local p <close> = tk.pool(2)
    p:submit(function() end)
    p:submit(function() error("x") end)
    local c = p:submit({after = {p:submit(function() error("y") end)}},
                       function() end)
    p:wait_all(10)
    local m = p:metrics()
    assert.are.equal(4, m.submitted)
    assert.are.equal(1, m.completed)
    assert.are.equal(2, m.failed)
    assert.are.equal(1, m.cancelled)
    assert.are.equal(0, m.pending + m.running)
    assert.is_true(m.mean_execution_time >= 0)
    assert.are.equal("cancelled", c.state)
  end)

  it("shutdown with cancel_pending cancels queued jobs", function()
    local p = tk.pool(1)
    local gate = tk.token()
    finally(function() gate:cancel() end)
    local started = tk.channel()
    local first = p:submit(function()
      started:push(1)
      while not gate:is_cancelled() do end
      return 1
    end)
    started:pop()
    local queued = {}
    for i = 1, 5 do queued[i] = p:submit(function() return i end) end
    p:shutdown{wait = false, cancel_pending = true}
    for i = 1, 5 do assert.are.equal("cancelled", queued[i].state) end
    gate:cancel()
    p:shutdown()
    assert.are.equal(1, first:result())
    assert.has_error(function() p:submit(function() end) end,
                     "attempt to use a shut-down pool")
  end)

  it("shutdown without cancel runs what was queued", function()
    local p = tk.pool(1)
    local js = {}
    for i = 1, 20 do js[i] = p:submit(function() return i end) end
    p:shutdown{wait = true}
    for i = 1, 20 do assert.are.equal(i, js[i]:result()) end
  end)

  it("metrics after shutdown give the final counts", function()
    local p = tk.pool(1)
    local gate = tk.token()
    local started = tk.channel()
    -- (spinning, not gate:wait(), which would free the worker)
    p:submit(function()
      started:push(1)
      while not gate:is_cancelled() do end
      return 1
    end)
    started:pop()
    for i = 1, 4 do p:submit(function() return i end) end
    p:submit(function() error("no") end)
    gate:cancel()
    p:shutdown{wait = true}
    local m = p:metrics()
    assert.are.same({6, 5, 1, 0, 0, 0},
                    {m.submitted, m.completed, m.failed, m.cancelled,
                     m.running, m.pending})
    -- and after a cancelling one, what never started counts as cancelled
    local q = tk.pool(1)
    local gate2 = tk.token()
    q:submit(function()
      started:push(1)
      while not gate2:is_cancelled() do end
    end)
    started:pop()
    for _ = 1, 3 do q:submit(function() end) end
    q:shutdown{wait = false, cancel_pending = true}
    gate2:cancel()
    q:shutdown{wait = true}
    m = q:metrics()
    assert.are.same({4, 1, 3}, {m.submitted, m.completed, m.cancelled})
  end)

  it("closes at the end of a <close> scope", function()
    local j
    do
      local p <close> = tk.pool(1)
      j = p:submit(function() tk.sleep(0.05) return "done" end)
    end
    assert.are.equal("completed", j.state)
  end)

  it("has a default pool behind tk.submit", function()
    local j = tk.submit(function(x) return x * 2 end, 21)
    assert.are.equal(42, j:result())
    assert.is_true(tk.wait_all(10))
    assert.is_true(tk.metrics().submitted >= 1)
  end)

  it("rejects submits to a full bounded pool with the queue size", function()
    local p <close> = tk.pool{workers = 1, capacity = 2, on_full = "reject"}
    local gate = tk.token()
    finally(function() gate:cancel() end)
    local started = tk.channel()
    -- A spin holds the worker (a wait would free it).
    p:submit(function() started:push(true) while not gate:is_cancelled() do end end)
    started:pop()
    p:submit(function() end)
    p:submit(function() end)
    assert.has_error(function() p:submit(function() end) end,
                     "queue is full (2 pending, capacity 2)")
    gate:cancel()
  end)

  it("blocks on a full pool with on_full = block, up to block_timeout", function()
    local p <close> = tk.pool{workers = 1, capacity = 1, on_full = "block"}
    local gate = tk.token()
    finally(function() gate:cancel() end)
    local started = tk.channel()
    p:submit(function() started:push(true) while not gate:is_cancelled() do end end)
    started:pop()
    p:submit(function() end)
    assert.has_error(function()
      p:submit({block_timeout = 0.05}, function() end)
    end, "queue is full (capacity 1): no room within block_timeout")
    gate:cancel()
    assert.is_true(p:wait_all(10))
  end)

  it("refuses bad input with clear errors", function()
    local p <close> = tk.pool(1)
    -- Method calls count from after self, as everywhere in Lua.
    assert.has_error(function() p:submit(nil) end,
                     "bad argument #1 to 'submit' (function expected, got nil)")
    assert.has_error(function() p:submit({}, 42) end,
                     "bad argument #2 to 'submit' (function expected, got number)")
    assert.has_error(function() tk.submit({}, nil) end,
                     "bad argument #2 to 'submit' (function expected, got nil)")
    assert.has_error(function() p:submit({priority = "urgent"}, print) end)
    assert.has_error(function() p:submit({timeout = -1}, print) end)
    assert.has_error(function() p:submit({after = {1}}, print) end)
    assert.has_error(function() tk.pool(0) end)
    assert.has_error(function() tk.pool{workers = -3} end)
    assert.has_error(function() tk.pool{on_full = "maybe", capacity = 1} end)
    assert.has_error(function() tk.pool("many") end)
    assert.has_error(function() tk.pool{workers = 1, init = 42} end,
                     "bad argument #1 to 'pool' (init must be a function)")
    assert.has_error(function() p:wait_all(-1) end)
    -- NaN is no duration: refused everywhere, never a wait that ignores it.
    local nan = 0 / 0
    assert.has_error(function() p:wait_all(nan) end,
                     "bad argument #1 to 'wait_all' (timeout must be a non-negative number)")
    assert.has_error(function() p:submit({block_timeout = nan}, print) end)
    assert.has_error(function() p:submit({timeout = nan}, print) end)
    assert.has_error(function() tk.token{timeout = nan} end,
                     "bad argument #1 to 'token' (timeout must be a non-negative number)")
    assert.has_error(function() tk.sleep(nan) end,
                     "bad argument #1 to 'sleep' (duration must be a non-negative number)")
    local j = p:submit(function() end)
    assert.has_error(function() j:wait(nan) end)
    assert.has_error(function() tk.channel():pop(nan) end)
  end)

  it("refuses a misspelt option instead of ignoring it", function()
    local p <close> = tk.pool(1)
    local f = function() end
    local cases = {
      {function() tk.pool{workrs = 2} end, "#1 to 'pool' (unknown option 'workrs')"},
      {function() p:submit({priorty = "high"}, f) end,
       "#1 to 'submit' (unknown option 'priorty')"},
      {function() tk.submit({nmae = "x"}, f) end, "#1 to 'submit' (unknown option 'nmae')"},
      {function() p:submit({retry = {attemps = 3}}, f) end,
       "#1 to 'submit' (unknown option 'retry.attemps')"},
      {function() p:submit({[1] = "high"}, f) end,
       "#1 to 'submit' (options are named (got a number key))"},
      {function() p:shutdown{wiat = true} end, "#1 to 'shutdown' (unknown option 'wiat')"},
      {function() tk.token{timout = 1} end, "#1 to 'token' (unknown option 'timout')"},
      {function() p:schedule({dealy = 1}, f) end, "#1 to 'schedule' (unknown option 'dealy')"},
      {function() tk.group("g", {max_concurent = 2}) end,
       "#2 to 'group' (unknown option 'max_concurent')"},
      {function() tk.group("g"):add_task({priorty = 1}, f) end,
       "#1 to 'add_task' (unknown option 'priorty')"},
      {function() p:map(f, {1}, {bach = 1}) end, "#3 to 'map' (unknown option 'bach')"},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("bad argument " .. c[2], err, 1, true)
    end
    assert.are.equal(2, tk.pool{workers = 2, name = "ok", capacity = 5}.workers)
  end)

  it("keeps submitting after the debug library finalizes its context", function()
    -- submit's upvalue is the state's context; its finalizer, called by
    -- hand on it or on a dressed-up file, must not break or corrupt.
    local p <close> = tk.pool(1)
    local _, ctx = debug.getupvalue(p.submit, 1)
    assert.are.equal("userdata", type(ctx))
    local mt = debug.getmetatable(ctx)
    mt.__gc(ctx)
    mt.__gc(ctx)
    local f = io.tmpfile()
    local file_mt = debug.getmetatable(f)
    debug.setmetatable(f, mt)
    mt.__gc(f)
    debug.setmetatable(f, file_mt)
    f:close()
    local j = p:submit(function(s, t) return s .. t.x end, "ok ", {x = "still"})
    assert.are.equal("ok still", j:result())
    assert.are.equal(3, tk.submit(function(x) return x + 1 end, 2):result())
  end)

  it("runs the pool's init function in every worker state", function()
    local p <close> = tk.pool{workers = 2, init = function() greeting = "hi" end}
    assert.are.equal("hi", p:submit(function() return greeting end):result())
  end)

  it("gives every worker state the whole init, states made at once", function()
    local words = {}
    for i = 1, 20000 do words[i] = "w" .. i end
    for _ = 1, 5 do
      local p <close> = tk.pool{workers = 4, init = function() WORDS = words end}
      local jobs = {}
      for i = 1, 4 do  -- each holds its worker: four states start together
        jobs[i] = p:submit(function()
          local t0 = tk.now()
          while tk.now() - t0 < 0.02 do end
          return #WORDS
        end)
      end
      for i = 1, 4 do assert.are.equal(20000, jobs[i]:result(60)) end
    end
  end)
end)

describe("memory_limit", function()
  it("fails a task that exceeds it; the worker stays usable", function()
    local p <close> = tk.pool{workers = 1, memory_limit = 4 * 1024 * 1024}
    local j = p:submit(function()
      local t = {}
      for i = 1, 1e7 do t[i] = ("x"):rep(20) .. i end
      return #t
    end)
    assert.is_true(j:wait(60))
    assert.are.equal("failed", j.state)
    assert.are.equal("not enough memory", j.error)
    assert.are.equal("still usable", p:submit(function() return "still usable" end):result(10))
    assert.has_error(function() tk.pool{memory_limit = 10} end)
  end)
end)

describe("pool metrics", function()
  it("balance in every snapshot, and are exact at rest", function()
    local p <close> = tk.pool(2)
    local feeder = tk.pool(1)
    local n = 20000
    feeder:submit(function(pool, count)
      for _ = 1, count do pool:submit(function() end) end
    end, p, n)
    local unbalanced = 0
    repeat
      local m = p:metrics()
      if m.submitted ~= m.completed + m.failed + m.cancelled + m.running + m.pending then
        unbalanced = unbalanced + 1
      end
    until m.completed == n
    feeder:shutdown()
    assert.are.equal(0, unbalanced)
    assert.is_true(p:wait_all(30))
    local m = p:metrics()
    assert.are.same({n, n, 0, 0}, {m.submitted, m.completed, m.running, m.pending})
  end)
end)

describe("pool creation", function()
  it("says which system call failed and why", function()
    local support = require "support"
    local TKLUA = os.getenv("TKLUA")
    -- 4000 workers' stacks do not fit in 400 MB of address space.
    local limit = "ulimit -v 400000; "
    local _, _, code = support.run("sh -c '" .. limit .. TKLUA .. " -e \"\"'")
    if code ~= 0 then
      pending("tklua does not start within the limit (sanitizer builds)")
      return
    end
    local f = support.script('print(pcall(require("threadkit").pool, 4000))')
    local out = support.run("sh -c '" .. limit .. TKLUA .. " " .. f .. "'")
    os.remove(f)
    assert.matches("^false\tcannot create pool: pthread_create: %a", out)
  end)
end)
