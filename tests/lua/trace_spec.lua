-- trace_spec.lua - tk.trace_start / trace_stop and tklua --trace.
local tk = require "threadkit"

local decode_json = require("support").decode_json

local function read(path)
  local h = assert(io.open(path))
  local s = h:read("a")
  h:close()
  return s
end

describe("trace", function()
  it("writes well-formed Chrome trace JSON matching the jobs that ran", function()
    local path = os.tmpname()
    tk.trace_start(path)
    local p = tk.pool(2)
    local a = p:submit({name = "fetch"}, function() return 1 end)
    local b = p:submit({name = "parse", after = {a}}, function() error("boom", 0) end)
    local c = p:submit({name = "aggregate", after = {b}}, function() end)
    local g = tk.group("G", {pool = p})
    g:add_task({name = "in group"}, function() end)
    g:join()
    g:set_event_for_child_tasks()
    p:wait_all(10)
    p:shutdown()
    local n = tk.trace_stop()
    assert.is_true(n >= 5)
    local doc = decode_json(read(path))
    os.remove(path)
    local by = {}
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "X" or (e.ph == "i" and e.cat == "cancel") then by[e.name] = e end
    end
    assert.are.equal("X", by.fetch.ph)
    assert.are.equal("completed", by.fetch.args.state)
    assert.are.equal("failed", by.parse.args.state)
    assert.are.equal("boom", by.parse.args.error)
    assert.are.equal("i", by.aggregate.ph)  -- cancelled without running
    assert.are.equal("cancelled", by.aggregate.args.state)
    assert.are.equal("G", by["in group"].args.group)
    local starts, finishes, marks = 0, 0, 0
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "s" then starts = starts + 1 end
      if e.ph == "f" then finishes = finishes + 1 end
      if e.ph == "i" and e.cat == "group" then
        marks = marks + 1
        assert.are.equal("G: event set", e.name)
      end
    end
    assert.are.equal(1, starts)  -- fetch -> parse (parse ran)
    assert.are.equal(1, finishes)
    assert.are.equal(1, marks)
    assert.is_true(by.fetch.ts >= 0 and by.fetch.dur >= 0)
  end)

  it("refuses a second trace while one runs, and costs nothing once stopped", function()
    local path = os.tmpname()
    tk.trace_start(path)
    assert.has_error(function() tk.trace_start(path) end,
                     "a trace is already being recorded")
    tk.trace_stop()
    assert.are.equal(0, tk.trace_stop())  -- nothing running
    os.remove(path)
  end)

  it("writes the flow arrows of a long chain in time linear in its length", function()
    -- n jobs, each after the one before, traced; returns how long
    -- trace_stop took. Finding each dependency's record by a scan of
    -- every record made it quadratic: 20 000 jobs 0.2 s, 40 000 0.9 s.
    local function stop_time(n)
      local path = os.tmpname()
      local p = tk.pool(2)
      tk.trace_start(path)
      -- Every handle is kept to the end: freed one by one then (a chain
      -- held only by its last job frees recursively, as deep as it is).
      local jobs = {p:submit(function() end)}
      for i = 2, n do jobs[i] = p:submit({after = {jobs[i - 1]}}, function() end) end
      assert.is_true(jobs[n]:wait(60 * require("support").MULT))
      p:wait_all(60)
      local t0 = tk.now()
      local written = tk.trace_stop()
      local took = tk.now() - t0
      p:shutdown()
      os.remove(path)
      assert.are.equal(n, written)
      return took
    end
    local n = 40000
    stop_time(n // 4)  -- warms the allocator and the file system up
    local one, two = stop_time(n), stop_time(2 * n)
    assert.is_true(two < 3 * one + 0.05,
      ("trace_stop: %.3f s for %d jobs, %.3f s for %d"):format(one, n, two, 2 * n))
  end)

  it("is written by tklua --trace", function()
    local TKLUA = assert(os.getenv("TKLUA"))
    local path = os.tmpname()
    local ok = os.execute(TKLUA .. " --trace " .. path ..
      [[ -e "local tk = require 'threadkit' tk.submit({name = 'cli'}, function() end)"]])
    assert.is_true(ok)
    local doc = decode_json(read(path))
    os.remove(path)
    local found = false
    for _, e in ipairs(doc.traceEvents) do found = found or e.name == "cli" end
    assert.is_true(found)
  end)

  it("fails at once on a file it cannot write, before any work", function()
    assert.has_error(function() tk.trace_start("/nonexistent-dir/t.json") end,
      "cannot write the trace to /nonexistent-dir/t.json: No such file or directory")
    local path = os.tmpname()
    tk.trace_start(path)  -- the failed start left nothing running
    assert.is_true(tk.trace_stop() >= 0)
    os.remove(path)
    local TKLUA = assert(os.getenv("TKLUA"))
    local out = os.tmpname()
    local ok, _, code = os.execute(TKLUA .. " --trace /nonexistent-dir/t.json" ..
      [[ -e "print('the script ran')" >]] .. out .. " 2>&1")
    local text = read(out)
    os.remove(out)
    assert.is_nil(ok)
    assert.are.equal(1, code)
    assert.are.equal("tklua: cannot write the trace to /nonexistent-dir/t.json: "
                     .. "No such file or directory\n", text)
  end)
end)
