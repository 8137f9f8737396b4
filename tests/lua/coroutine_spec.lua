-- coroutine_spec.lua - coroutines a task makes: a hard stop reaches the
-- code running in them.
local tk = require "threadkit"

-- Sanitizer runs are slower: their time bounds scale.
local MULT = tonumber(os.getenv("TK_TEST_TIMEOUT_MULTIPLIER") or "1")
local TKLUA = os.getenv("TKLUA")

-- Runs script text in tklua, killed after `secs` (a hang fails the test
-- instead of the suite); returns stdout, stderr and the exit status (124
-- when it had to be killed).
local function tklua(text, secs)
  local f, out, err = os.tmpname(), os.tmpname(), os.tmpname()
  local h = io.open(f, "w")
  h:write(text)
  h:close()
  local ok, how, code = os.execute(("timeout -k 5 %d %s %s >%s 2>%s"):format(
    secs, TKLUA, f, out, err))
  local function slurp(name)
    local fh = io.open(name)
    local s = fh:read("a")
    fh:close()
    os.remove(name)
    return s
  end
  os.remove(f)
  if how == "signal" then code = 128 + code end
  return slurp(out), slurp(err), ok and 0 or code
end

-- Task bodies that spin in coroutines of their own making. Each tells
-- `started` once it spins where the stop must reach, and spins until
-- `release` is cancelled: that only lets the test clean up when the stop
-- fails; the stop itself must not need it.
local spinners = {
  ["a coroutine.wrap"] = function(release, started)
    coroutine.wrap(function()
      started:push(true)
      while not release:is_cancelled() do end
    end)()
    return "survived"
  end,
  ["a coroutine.resume"] = function(release, started)
    -- resume returns false and the stop's error: the task must still stop.
    coroutine.resume(coroutine.create(function()
      started:push(true)
      while not release:is_cancelled() do end
    end))
    return "survived"
  end,
  ["a nested coroutine"] = function(release, started)
    coroutine.wrap(function()
      coroutine.resume(coroutine.create(function()
        coroutine.wrap(function()
          started:push(true)
          while not release:is_cancelled() do end
        end)()
      end))
      while not release:is_cancelled() do end
    end)()
    return "survived"
  end,
  ["a coroutine inside pcall"] = function(release, started)
    local spin = coroutine.wrap(function()
      pcall(function()
        started:push(true)
        while not release:is_cancelled() do end
      end)
      while not release:is_cancelled() do end
    end)
    while not release:is_cancelled() do pcall(spin) end
    return "survived"
  end,
}

describe("a coroutine inside a task", function()
  -- One worker: the next task runs only if the stop freed it.
  local p, release
  before_each(function()
    p = tk.pool(1)
    release = tk.token()
  end)
  after_each(function()
    release:cancel()
    p:shutdown{cancel_pending = true}
  end)

  for where, spin in pairs(spinners) do
    it("its timeout stops a task spinning in " .. where, function()
      local started = tk.channel()
      local j = p:submit({timeout = 0.2}, spin, release, started)
      assert.is_true(started:pop(10 * MULT), "the task never started")
      assert.is_true(j:wait(5 * MULT), "the task was not stopped")
      assert.are.equal("cancelled", j.state)
      assert.are.equal("timed out after 0.2 s", j.error)
      assert.are.equal("next", p:submit(function() return "next" end):result(5 * MULT))
    end)

    it("cancel(true) stops a task spinning in " .. where, function()
      local started = tk.channel()
      local j = p:submit(spin, release, started)
      assert.is_true(started:pop(10 * MULT), "the task never started")
      assert.is_true(j:cancel(true))
      assert.is_true(j:wait(5 * MULT), "the task was not stopped")
      assert.are.equal("cancelled", j.state)
      assert.are.equal("next", p:submit(function() return "next" end):result(5 * MULT))
    end)
  end

  it("cancel(true) stops a task resuming a coroutine an earlier task made", function()
    -- The worker state's globals outlive its tasks: the coroutine too.
    local started = tk.channel()
    p:submit(function(rel, ch)
      SPINNER = coroutine.wrap(function()
        coroutine.yield()
        ch:push(true)
        while not rel:is_cancelled() do end
      end)
      SPINNER()
    end, release, started):result(5 * MULT)
    local j = p:submit(function() SPINNER() return "survived" end)
    assert.is_true(started:pop(10 * MULT), "the task never started")
    assert.is_true(j:cancel(true))
    assert.is_true(j:wait(5 * MULT), "the task was not stopped")
    assert.are.equal("cancelled", j.state)
    assert.are.equal("next", p:submit(function() return "next" end):result(5 * MULT))
  end)

  it("a stop as its task ends never reaches a later task's coroutines", function()
    -- As job_spec's test of the same name, with the work inside a
    -- coroutine, and later tasks resuming coroutines and collecting the
    -- garbage (a stop must neither hook a coroutine the collector freed
    -- nor kill a later task).
    local started = tk.channel()
    local function run(ch, d)
      return coroutine.wrap(function()
        ch:push(true)
        local t0 = tk.now()
        while tk.now() - t0 < d do end
        return "done"
      end)()
    end
    local stopped, done = 0, 0
    for i = 1, 200 do
      local j = p:submit(run, started, 0.0001 + (i % 9) * 0.0001)
      local plain = p:submit(function(x)
        collectgarbage()
        return coroutine.wrap(function() coroutine.yield(x) end)()
      end, i)
      assert.is_true(started:pop(10 * MULT), "the task never started")
      local t0 = tk.now()
      while tk.now() - t0 < 0.0005 do end
      j:cancel(true)
      assert.is_true(j:wait(5 * MULT))
      if j.state == "cancelled" then
        stopped = stopped + 1
      else
        assert.are.equal("done", j:result())
        done = done + 1
      end
      assert.are.equal(i, plain:result(5 * MULT))
    end
    assert.is_true(stopped > 0 and done > 0)
  end)

  it("a collected pool whose task spins in a coroutine past its timeout ends", function()
    local out, err, code = tklua([[
      local tk = require "threadkit"
      do
        local q = tk.pool(1)
        q:submit({timeout = 0.2}, function()
          coroutine.wrap(function() while true do end end)()
        end)
      end
      collectgarbage()
      collectgarbage()
      print("ended")
    ]], 30 * MULT)
    assert.are.equal(0, code, err)
    assert.are.equal("ended\n", out)
  end)
end)

-- Waits inside a task's coroutines suspend the task, as they do in the
-- task's own coroutine: on one worker, what they wait for can only come
-- from a later task on the same worker. That task runs in the same worker
-- state (not on a spare thread that would stand in for a blocked worker):
-- it leaves a global there, which the waiting task reads when it wakes.
-- Every wait has a timeout: without suspension it times out instead of
-- hanging.
describe("a wait inside a task's coroutine", function()
  local p
  before_each(function() p = tk.pool(1) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("job:result in a coroutine.wrap suspends the task", function()
    local j = p:submit(function(pool, secs)
      return coroutine.wrap(function()
        local inner = pool:submit(function() RESULT_MARK = "same state" return 42 end)
        return inner:result(secs), RESULT_MARK
      end)()
    end, p, 5 * MULT)
    assert.are.same({42, "same state"}, {j:result(10 * MULT)})
  end)

  it("job:wait in a coroutine.resume suspends the task", function()
    local j = p:submit(function(pool, secs)
      local co = coroutine.create(function()
        local inner = pool:submit(function() WAIT_MARK = "same state" end)
        return inner:wait(secs), WAIT_MARK
      end)
      return coroutine.resume(co)
    end, p, 5 * MULT)
    assert.are.same({true, true, "same state"}, {j:result(10 * MULT)})
  end)

  it("ch:pop in a coroutine, resumed from a coroutine, suspends the task", function()
    local ch = tk.channel()
    local j = p:submit(function(c, secs)
      return coroutine.wrap(function()
        return select(2, coroutine.resume(coroutine.create(function()
          return c:pop(secs), POP_MARK
        end)))
      end)()
    end, ch, 5 * MULT)
    p:submit(function(c) POP_MARK = "same state" c:push("value") end, ch)
    -- (select keeps the first of pop's results: the value)
    assert.are.equal("value", j:result(10 * MULT))
  end)

  it("a full channel's push in a coroutine suspends the task", function()
    local ch = tk.channel(1)
    ch:push("first")
    local j = p:submit(function(c, secs)
      return coroutine.wrap(function()
        return c:push("second", secs), PUSH_MARK
      end)()
    end, ch, 5 * MULT)
    p:submit(function(c) PUSH_MARK = "same state" return c:pop() end, ch)
    assert.are.same({true, "same state"}, {j:result(10 * MULT)})
    assert.are.equal("second", ch:pop(0))
  end)

  it("tk.sleep in a coroutine frees the worker while it sleeps", function()
    local slept = p:submit(function(secs)
      return coroutine.wrap(function()
        tk.sleep(secs)
        return SLEEP_MARK
      end)()
    end, 1 * MULT)
    -- Runs during the sleep only if the sleep freed the worker.
    p:submit(function() SLEEP_MARK = "ran meanwhile" end)
    assert.are.equal("ran meanwhile", slept:result(10 * MULT))
  end)

  it("token:wait and group:join in coroutines suspend the task", function()
    local tok = tk.token()
    local g = tk.group("joined", {pool = p})
    local j = p:submit(function(t, grp, secs)
      return coroutine.wrap(function()
        local cancelled = t:wait(secs)
        return cancelled, grp:join(secs), JOIN_MARK
      end)()
    end, tok, g, 5 * MULT)
    p:submit(function(t) t:cancel() end, tok)
    g:add_task(function() JOIN_MARK = "same state" end)
    assert.are.same({true, true, "same state"}, {j:result(10 * MULT)})
  end)

  it("a generator that waits between its values suspends the task", function()
    local ch = tk.channel()
    local j = p:submit(function(c, secs)
      local sum = 0
      for v in coroutine.wrap(function()
        for _ = 1, 3 do coroutine.yield(c:pop(secs)) end
      end) do sum = sum + v end
      return sum
    end, ch, 5 * MULT)
    for i = 1, 3 do p:submit(function(c, x) c:push(x) end, ch, i) end
    assert.are.equal(6, j:result(10 * MULT))
  end)

  it("a task suspended in a coroutine ends its wait when cancelled", function()
    local ch, started = tk.channel(), tk.channel()
    local soft = p:submit(function(c, s, secs)
      return coroutine.wrap(function()
        s:push(true)
        local v = c:pop(secs)
        tk.checkpoint()
        return v
      end)()
    end, ch, started, 5 * MULT)
    assert.is_true(started:pop(10 * MULT))
    soft:cancel()
    assert.is_true(soft:wait(2 * MULT), "the wait did not end")
    assert.are.equal("cancelled", soft.state)
    local hard = p:submit(function(c, s, secs)
      return coroutine.wrap(function()
        s:push(true)
        return c:pop(secs)
      end)()
    end, ch, started, 5 * MULT)
    assert.is_true(started:pop(10 * MULT))
    hard:cancel(true)
    assert.is_true(hard:wait(2 * MULT), "the wait did not end")
    assert.are.equal("cancelled", hard.state)
    assert.are.equal("next", p:submit(function() return "next" end):result(10 * MULT))
  end)

  it("refuses to resume a coroutine that waits for another task", function()
    local ch = tk.channel()
    local first = p:submit(function(c, secs)
      SHARED_GEN = coroutine.wrap(function() return c:pop(secs) end)
      return SHARED_GEN()
    end, ch, 5 * MULT)
    local second = p:submit(function() return SHARED_GEN() end)
    assert.is_true(second:wait(10 * MULT))
    assert.are.equal("failed", second.state)
    assert.matches("cannot resume a coroutine that waits in threadkit for another task",
                   second.error)
    ch:push("mine")
    assert.are.equal("mine", first:result(10 * MULT))
    -- The same through coroutine.resume and coroutine.close.
    first = p:submit(function(c, secs)
      SHARED_CO = coroutine.create(function() return c:pop(secs) end)
      return select(2, coroutine.resume(SHARED_CO))
    end, ch, 5 * MULT)
    second = p:submit(function()
      local resumed = {coroutine.resume(SHARED_CO)}
      local closed = {pcall(coroutine.close, SHARED_CO)}
      return resumed[1], resumed[2], closed[1], closed[2]
    end)
    local r_ok, r_err, c_ok, c_err = second:result(10 * MULT)
    assert.is_false(r_ok)
    assert.matches("cannot resume a coroutine that waits in threadkit", r_err)
    assert.is_false(c_ok)
    assert.matches("cannot close a coroutine that waits in threadkit", c_err)
    ch:push("still mine")
    assert.are.equal("still mine", first:result(10 * MULT))
  end)
end)
