-- schedule_spec.lua - pool:schedule.
local tk = require "threadkit"

describe("pool:schedule", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("runs once after a delay, with its arguments", function()
    local ch = tk.channel()
    local t0 = tk.now()
    local s = p:schedule({delay = 0.05}, function(x) ch:push(x) end, 42)
    assert.are.equal(42, ch:pop(10))
    assert.is_true(tk.now() - t0 >= 0.045)
    assert.is_true(p:wait_all(10))
    assert.is_false(s.active)
    assert.are.equal(1, s.runs)
    assert.is_false(s:cancel())  -- already over
  end)

  it("runs at a wall-clock time", function()
    local ch = tk.channel()
    -- + 2: os.time() counts whole seconds, so + 1 can be a moment away
    -- and past by the time the schedule is made.
    p:schedule({at = os.time() + 2}, function() ch:push("at") end)
    assert.are.equal("at", ch:pop(10))
  end)

  it("runs every period until cancelled, and shows in metrics", function()
    local n = tk.shared()
    local s = p:schedule({every = 0.01}, function() n:incr("ticks") end)
    assert.are.equal(1, p:metrics().schedules)
    while (n.ticks or 0) < 5 do tk.sleep(0.01) end
    assert.is_true(s:cancel())
    assert.is_false(s.active)
    assert.are.equal(0, p:metrics().schedules)
    p:wait_all(10)
    local after = n.ticks
    tk.sleep(0.05)
    assert.are.equal(after, n.ticks)
  end)

  it("never overlaps itself and reports missed ticks", function()
    local s = tk.shared{now = 0, peak = 0}
    local sched = p:schedule({every = 0.01}, function()
      local k = s:incr("now")
      if k > s.peak then s.peak = k end
      tk.sleep(0.04)
      s:incr("now", -1)
    end)
    tk.sleep(0.3)
    sched:cancel()
    p:wait_all(10)
    assert.are.equal(1, s.peak)
    assert.is_true(sched.missed > 0)
  end)

  it("cancels a one-shot before it runs", function()
    local ran = tk.shared()
    local s = p:schedule({delay = 0.2}, function() ran.yes = true end)
    assert.is_true(s:cancel())
    tk.sleep(0.3)
    assert.is_nil(ran.yes)
  end)

  it("refuses bad specs", function()
    assert.has_error(function() p:schedule({at = os.time() - 10}, print) end,
                     "schedule: the time is in the past")
    assert.has_error(function() p:schedule({every = 0}, print) end)
    assert.has_error(function() p:schedule({delay = -1}, print) end)
    assert.has_error(function() p:schedule({}, print) end)
    assert.has_error(function() p:schedule({delay = 1, at = os.time() + 5}, print) end)
    assert.has_error(function() p:schedule({delay = 1}, nil) end)
    assert.has_error(function() p:schedule({delay = 1, name = {}}, print) end,
                     "bad argument #1 to 'schedule' (name must be a string)")
    assert.has_error(function() p:schedule({every = 0 / 0}, print) end)
    assert.has_error(function() p:schedule({delay = 1}, function() end, io.stdout) end)
  end)

  it("refuses a period the clock cannot tell from zero", function()
    local p <close> = tk.pool(1)
    assert.has_error(function() p:schedule({every = 1e-10}, function() end) end,
      "bad argument #1 to 'schedule' (every must be at least 1e-9 seconds)")
  end)

  it("keeps running when its pool's handle is dropped", function()
    local runs = tk.shared()
    local s = tk.pool(1):schedule({every = 0.01}, function() runs:incr("n") end)
    collectgarbage()
    collectgarbage()
    local t0 = tk.now()
    while (runs.n or 0) < 3 and tk.now() - t0 < 10 do tk.sleep(0.01) end
    assert.is_true((runs.n or 0) >= 3)
    assert.is_true(s:cancel())
  end)
end)
