-- retry_spec.lua - submit's {retry = ...}.
local tk = require "threadkit"

describe("retry", function()
  local p
  before_each(function() p = tk.pool(1) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("retries with exponential backoff and records each attempt", function()
    local tries = tk.shared()
    local t0 = tk.now()
    local j = p:submit({retry = {attempts = 4, delay = 0.05, backoff = 2}}, function()
      if tries:incr("n") < 3 then error("transient " .. tries.n, 0) end
      return "ok"
    end)
    assert.are.equal("ok", j:result(10))
    assert.are.equal(3, j.attempts)
    assert.are.same({"transient 1", "transient 2"}, j.attempt_errors)
    assert.is_true(tk.now() - t0 >= 0.14)  -- waited 0.05 then 0.1
  end)

  it("counts attempts readably while it still retries", function()
    -- job.attempts is read here while the worker counts (ThreadSanitizer
    -- watches the pair in `make sanitize`).
    local j = p:submit({retry = {attempts = 50, delay = 0.001, backoff = 1}}, function()
      error("again", 0)
    end)
    local last = 0
    while j.state ~= "failed" do
      local n = j.attempts
      assert.is_true(n >= last and n <= 50)
      last = n
    end
    assert.are.equal(50, j.attempts)
    assert.are.equal(50, #j.attempt_errors)
  end)

  it("gives up after the last attempt with the last error", function()
    local j = p:submit({retry = {attempts = 2, delay = 0}}, function() error("always", 0) end)
    assert.is_true(j:wait(10))
    assert.are.equal("failed", j.state)
    assert.are.equal("always", j.error)
    assert.are.equal(2, j.attempts)
  end)

  it("retries only the errors `on` accepts", function()
    local j = p:submit({retry = {attempts = 5, delay = 0,
                                 on = function(e) return e:find("retry") ~= nil end}},
                       function() error("fatal", 0) end)
    assert.is_true(j:wait(10))
    assert.are.equal(1, j.attempts)
  end)

  it("caps the delay with max_delay", function()
    local t0 = tk.now()
    local j = p:submit({retry = {attempts = 4, delay = 0.02, backoff = 100, max_delay = 0.03}},
                       function() error("x", 0) end)
    j:wait(10)
    local dt = tk.now() - t0
    assert.is_true(dt >= 0.08 and dt < 2, "took " .. dt)  -- 0.02 + 0.03 + 0.03
  end)

  it("waits between attempts without holding the worker", function()
    local j = p:submit({retry = {attempts = 2, delay = 0.3}}, function() error("x", 0) end)
    local other = p:submit(function() return "ran meanwhile" end)  -- 1 worker
    assert.are.equal("ran meanwhile", other:result(0.25))
    j:wait(10)
  end)

  it("never retries a cancellation", function()
    local started = tk.channel()
    local j = p:submit({retry = {attempts = 5, delay = 0}}, function()
      started:push(1)
      while true do tk.sleep(0.005) tk.checkpoint() end
    end)
    started:pop()
    j:cancel()
    assert.is_true(j:wait(10))
    assert.are.equal("cancelled", j.state)
    assert.are.equal(1, j.attempts)
  end)

  it("refuses bad policies", function()
    assert.has_error(function() p:submit({retry = {attempts = 0}}, print) end)
    assert.has_error(function() p:submit({retry = {attempts = 1.5}}, print) end)
    assert.has_error(function() p:submit({retry = {attempts = 2, delay = -1}}, print) end)
    assert.has_error(function() p:submit({retry = {attempts = 2, backoff = 0.5}}, print) end)
    assert.has_error(function() p:submit({retry = {attempts = 2, on = 5}}, print) end)
    assert.has_error(function() p:submit({retry = 3}, print) end,
                     "bad argument #1 to 'submit' (retry must be a table)")
  end)
end)
