-- trace_spec.lua - tk.trace_start / trace_stop and tklua --trace.
local tk = require "threadkit"

local decode_json = require("support").decode_json

local function read(path)
  local h = assert(io.open(path))
  local s = h:read("a")
  h:close()
  return s
end

local MULT = require("support").MULT

-- Runs fn(path) between trace_start and trace_stop; the decoded trace.
local function traced(fn)
  local path = os.tmpname()
  tk.trace_start(path)
  fn()
  tk.trace_stop()
  local doc = decode_json(read(path))
  os.remove(path)
  return doc
end

-- Spins for secs seconds, holding the worker.
local function spin(secs)
  local t0 = tk.now()
  while tk.now() - t0 < secs do end
end

-- Track names by tid, and the slices ("X") of each tid sorted by start.
local function tracks_of(doc)
  local names, slices = {}, {}
  for _, e in ipairs(doc.traceEvents) do
    if e.ph == "M" and e.name == "thread_name" then names[e.tid] = e.args.name end
    if e.ph == "X" then
      slices[e.tid] = slices[e.tid] or {}
      table.insert(slices[e.tid], e)
    end
  end
  for _, list in pairs(slices) do
    table.sort(list, function(a, b) return a.ts < b.ts end)
  end
  return names, slices
end

-- Slices of one track either follow each other or nest.
local function assert_no_overlap(slices)
  for tid, list in pairs(slices) do
    local open = {}  -- ends of the enclosing slices
    for _, e in ipairs(list) do
      while #open > 0 and open[#open] <= e.ts do table.remove(open) end
      local enclosing = open[#open]
      assert(enclosing == nil or e.ts + e.dur <= enclosing,
        ("tid %d: %s [%.3f, %.3f] overlaps a slice without nesting"):format(
          tid, e.name, e.ts, e.ts + e.dur))
      open[#open + 1] = e.ts + e.dur
    end
  end
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
    -- Four times the jobs: four times the time if linear, sixteen if
    -- quadratic; the bound sits between, clear of a loaded machine's noise.
    local n = 20000
    stop_time(n // 4)  -- warms the allocator and the file system up
    local one, four = stop_time(n), stop_time(4 * n)
    assert.is_true(four < 9 * one + 0.1,
      ("trace_stop: %.3f s for %d jobs, %.3f s for %d"):format(one, n, four, 4 * n))
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
    assert.are.equal(TKLUA:match("%S+$") .. ": cannot write the trace to /nonexistent-dir/t.json: "
                     .. "No such file or directory\n", text)
  end)
  it("gives each worker of each pool a track of its own, named after the pool", function()
    local io_pool = tk.pool{workers = 2, name = "io"}
    local cpu_pool = tk.pool{workers = 2, name = "cpu"}
    local doc = traced(function()
      local jobs = {}
      for i = 1, 4 do
        jobs[#jobs + 1] = io_pool:submit({name = "io " .. i}, spin, 0.02)
        jobs[#jobs + 1] = cpu_pool:submit({name = "cpu " .. i}, spin, 0.02)
      end
      for _, j in ipairs(jobs) do assert.is_true(j:wait(10 * MULT)) end
    end)
    io_pool:shutdown()
    cpu_pool:shutdown()
    local names, slices = tracks_of(doc)
    assert_no_overlap(slices)
    local seen = {io = 0, cpu = 0}
    for tid, list in pairs(slices) do
      for _, e in ipairs(list) do
        local pool = e.name:match("^(%a+) %d$")
        if pool then
          seen[pool] = seen[pool] + 1
          assert.is_truthy(names[tid], "no name for tid " .. tid)
          assert.is_truthy(names[tid]:match("^pool '" .. pool .. "' worker [01]$"),
            e.name .. " on track " .. tostring(names[tid]))
        end
      end
    end
    assert.are.same({io = 4, cpu = 4}, seen)
    -- Every track has a name of its own.
    local taken = {}
    for tid, name in pairs(names) do
      assert.is_nil(taken[name], name .. " names two tracks")
      taken[name] = tid
    end
  end)

  it("gives a spare thread that takes jobs for a blocked worker a track of its own", function()
    local p = tk.pool{workers = 1, name = "blk"}
    local doc = traced(function()
      local ch = tk.channel()
      local j = p:submit({name = "blocker"}, function(c, secs)
        local got
        table.sort({2, 1}, function(a, b)
          got = got or c:pop(secs)  -- no yield possible: the worker blocks
          return a < b
        end)
        return got
      end, ch, 5 * MULT)
      local h = p:submit({name = "helper"}, function(c) c:push("popped") end, ch)
      assert.are.equal("popped", j:result(10 * MULT))
      assert.is_true(h:wait(10 * MULT))
    end)
    p:shutdown()
    local names, slices = tracks_of(doc)
    assert_no_overlap(slices)
    local where = {}
    for tid, list in pairs(slices) do
      for _, e in ipairs(list) do where[e.name] = names[tid] end
    end
    assert.are.equal("pool 'blk' worker 0", where.blocker)
    assert.are.equal("pool 'blk' spare 0", where.helper)
  end)

  it("splits a task that waits into its runs, linked by flow arrows", function()
    local p = tk.pool{workers = 1, name = "solo"}
    local doc = traced(function()
      local a = p:submit({name = "sleeper"}, function()
        spin(0.005)
        tk.sleep(0.05)
        spin(0.005)
        tk.sleep(0.05)
        spin(0.005)
      end)
      local b = p:submit({name = "meanwhile"}, spin, 0.01)
      assert.is_true(a:wait(10 * MULT))
      assert.is_true(b:wait(10 * MULT))
    end)
    p:shutdown()
    local names, slices = tracks_of(doc)
    assert_no_overlap(slices)
    local parts, other = {}, nil
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "X" and e.name == "sleeper" then parts[#parts + 1] = e end
      if e.ph == "X" and e.name == "meanwhile" then other = e end
    end
    table.sort(parts, function(x, y) return x.ts < y.ts end)
    assert.are.equal(3, #parts)
    for _, e in ipairs(parts) do
      assert.are.equal("pool 'solo' worker 0", names[e.tid])
      assert.are.equal("completed", e.args.state)
    end
    -- The other task ran on the same track while the sleeper slept.
    assert.are.equal(parts[1].tid, other.tid)
    assert.is_true(other.ts >= parts[1].ts + parts[1].dur)
    assert.is_true(other.ts + other.dur <= parts[2].ts)
    -- An arrow from the end of each run to the start of the next.
    local starts, finishes = {}, {}
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "s" and e.cat == "resume" then starts[e.id] = e end
      if e.ph == "f" and e.cat == "resume" then finishes[e.id] = e end
    end
    local linked = {}
    for id, s in pairs(starts) do
      local f = assert(finishes[id], "an arrow without its end")
      local from, to
      for i, e in ipairs(parts) do
        if s.ts >= e.ts and s.ts <= e.ts + e.dur and s.tid == e.tid then from = i end
        if f.ts == e.ts and f.tid == e.tid then to = i end
      end
      assert.is_truthy(from, "an arrow from outside the sleeper's runs")
      assert.are.equal(from + 1, to)
      assert.are.equal("e", f.bp)
      linked[#linked + 1] = from
    end
    table.sort(linked)
    assert.are.same({1, 2}, linked)
  end)
  it("draws a dependency's arrow from its last run, and the runs of a task still waiting", function()
    local p = tk.pool{workers = 1, name = "deps"}
    local release = tk.token()
    local doc = traced(function()
      local a = p:submit({name = "first"}, function()
        tk.sleep(0.01)
        spin(0.002)
      end)
      local b = p:submit({name = "second", after = {a}}, function() end)
      p:submit({name = "waiting"}, function(t) spin(0.002) t:wait() end, release)
      assert.is_true(b:wait(10 * MULT))
    end)
    release:cancel()
    p:shutdown()
    local names, slices = tracks_of(doc)
    assert_no_overlap(slices)
    local first, second, waiting = {}, nil, nil
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "X" and e.name == "first" then first[#first + 1] = e end
      if e.ph == "X" and e.name == "second" then second = e end
      if e.ph == "X" and e.name == "waiting" then waiting = e end
    end
    table.sort(first, function(x, y) return x.ts < y.ts end)
    assert.are.equal(2, #first)
    local s, f
    for _, e in ipairs(doc.traceEvents) do
      if e.cat == "dep" and e.ph == "s" then s = e end
      if e.cat == "dep" and e.ph == "f" then f = e end
    end
    assert.is_true(s.ts >= first[2].ts and s.ts <= first[2].ts + first[2].dur)
    assert.are.equal(s.id, f.id)
    assert.are.equal(second.ts, f.ts)
    -- Suspended when the trace stopped: its run so far.
    assert.are.equal("running", waiting.args.state)
    assert.are.equal("pool 'deps' worker 0", names[waiting.tid])
  end)
end)
