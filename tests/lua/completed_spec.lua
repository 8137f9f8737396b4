-- completed_spec.lua - tk.as_completed.
local tk = require "threadkit"

describe("as_completed", function()
  local p
  before_each(function() p = tk.pool(4) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("yields jobs in the order they finish", function()
    local gates = {tk.token(), tk.token(), tk.token()}
    local jobs = {}
    for i = 1, 3 do jobs[i] = p:submit(function() gates[i]:wait() return i end) end
    -- Finish them in the order 3, 1, 2.
    local order = {}
    local it = tk.as_completed(jobs)
    gates[3]:cancel()
    order[#order + 1] = it():result()
    gates[1]:cancel()
    order[#order + 1] = it():result()
    gates[2]:cancel()
    order[#order + 1] = it():result()
    assert.are.same({3, 1, 2}, order)
    assert.is_nil(it())
  end)

  it("includes jobs that finished before the loop began", function()
    local j = p:submit(function() return "early" end)
    j:wait()
    local seen = {}
    for done in tk.as_completed({j}) do seen[#seen + 1] = done:result() end
    assert.are.same({"early"}, seen)
    for _ in tk.as_completed({}) do error("nothing to yield") end
  end)

  it("yields a job listed twice once, as Python's as_completed does", function()
    local a = p:submit(function() return 1 end)
    local b = p:submit(function() return tk.current_job() end)
    local b2 = b:result()  -- another box of the same job
    assert.is_false(rawequal(b, b2))
    local n = 0
    for done in tk.as_completed({a, b, a, b2, b}) do
      n = n + 1
      assert.is_true(done == a or done == b)
    end
    assert.are.equal(2, n)
  end)

  it("ends with an error naming how many were left on timeout", function()
    local gate = tk.token()
    finally(function() gate:cancel() end)
    local jobs = {p:submit(function() gate:wait() end), p:submit(function() end)}
    assert.has_error(function()
      for _ in tk.as_completed(jobs, 0.1) do end
    end, "as_completed: timed out with 1 job(s) left")
  end)

  it("waits through a timeout too long for the clock", function()
    local gate = tk.token()
    local j = p:submit(function() gate:wait() return "done" end)
    tk.submit(function() tk.sleep(0.05) gate:cancel() end)
    local seen = {}
    for done in tk.as_completed({j}, 1e300) do seen[#seen + 1] = done:result() end
    assert.are.same({"done"}, seen)
  end)

  it("suspends inside a task", function()
    local j = p:submit(function(pool)
      local inner = {}
      for i = 1, 3 do inner[i] = pool:submit(function() tk.sleep(0.01 * (4 - i)) return i end) end
      local order = {}
      for done in tk.as_completed(inner) do order[#order + 1] = done:result() end
      return #order
    end, p)
    assert.are.equal(3, j:result(10))
  end)

  it("refuses bad input", function()
    assert.has_error(function() tk.as_completed(5) end)
    assert.has_error(function() tk.as_completed({1}) end)
    assert.has_error(function() tk.as_completed({}, -1) end)
  end)
end)
