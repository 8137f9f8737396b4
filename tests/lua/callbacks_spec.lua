-- callbacks_spec.lua - tok:on_cancel: a callback runs exactly once, in the
-- state that registered it, however the token is cancelled (by that
-- state, by a task, by a deadline, by a parent), with or without the
-- default pool; what it changes is that state's data.
local tk = require "threadkit"
local support = require "support"

describe("on_cancel", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown() end)

  it("runs in its state when a task cancels, before the task's job is waited", function()
    local t = tk.token()
    local hits = 0
    t:on_cancel(function() hits = hits + 1 end)
    p:submit(function(tok) tok:cancel() end, t):wait()
    assert.are.equal(1, hits)
    t:cancel()
    assert.are.equal(1, hits)
  end)

  it("runs in its state when a deadline passes while it sleeps or waits", function()
    local hits = 0
    local t = tk.token{timeout = 0.05}
    t:on_cancel(function() hits = hits + 1 end)
    tk.sleep(0.3)
    assert.are.equal(1, hits)
    local u = tk.token{timeout = 0.05}
    u:on_cancel(function() hits = hits + 10 end)
    assert.is_true(u:wait(10))
    assert.are.equal(11, hits)
    local v = tk.token{timeout = 0.05}
    v:on_cancel(function() hits = hits + 100 end)
    assert.is_nil(tk.channel():pop(0.3))
    assert.are.equal(111, hits)
  end)

  it("runs when a parent token is cancelled by a task", function()
    local parent = tk.token()
    local child = parent:child()
    local seen = {}
    child:on_cancel(function() seen[#seen + 1] = "child" end)
    parent:on_cancel(function() seen[#seen + 1] = "parent" end)
    p:submit(function(tok) tok:cancel() end, parent):wait()
    table.sort(seen)
    assert.are.same({"child", "parent"}, seen)
  end)

  it("registered in a task, runs in that worker's state before the task goes on", function()
    local t = tk.token()
    local j = p:submit(function(tok)
      local ran = false
      tok:on_cancel(function() ran = true end)
      tok:wait()
      return ran
    end, t)
    -- The task registers, then suspends in its wait; main cancels.
    while j.state == "pending" do tk.sleep(0.01) end
    tk.sleep(0.05)
    t:cancel()
    assert.is_true(j:result())
  end)

  it("runs exactly once when many threads cancel at once", function()
    local n, hits = 100, 0
    local tokens = {}
    for i = 1, n do
      tokens[i] = tk.token()
      tokens[i]:on_cancel(function() hits = hits + 1 end)
    end
    local q = tk.pool(4)
    local jobs = {}
    for k = 1, 4 do
      jobs[k] = q:submit(function(list) for _, tok in ipairs(list) do tok:cancel() end end, tokens)
    end
    for k = 1, 4 do jobs[k]:wait() end
    q:shutdown()
    assert.are.equal(n, hits)
  end)

  it("lets go of callbacks whose token was dropped uncancelled", function()
    for _ = 1, 2000 do tk.token():on_cancel(function() error("never") end) end
    collectgarbage()
    collectgarbage()
    p:submit(function() end):wait()  -- a safe point: the let-go ones go
  end)

  -- Whether the boxes a weak table holds were all collected.
  local function all_collected(weak)
    for _ = 1, 3 do
      collectgarbage()
      p:submit(function() end):wait()  -- a safe point
    end
    return next(weak) == nil
  end

  it("frees a dropped token whose callback names it, which then never runs", function()
    local weak = setmetatable({}, {__mode = "k"})
    for _ = 1, 100 do
      local t = tk.token()
      t:on_cancel(function() error("never: " .. tostring(t)) end)
      weak[t] = true
    end
    assert.is_true(all_collected(weak), "a token box was never collected")
    -- 20 000 of them: memory stays flat (the first round is the room the
    -- second reuses). The four tables that note each registration by
    -- token (the box cache and lcallbacks.c's three) keep the size they
    -- had at their last rehash, set by how many registrations were alive
    -- then: with the collector running during the loop, that follows its
    -- pace, which depends on what the heap did before (the generational
    -- collector of lua5.4 keeps its state across collectgarbage()), so
    -- the second round could end with tables twice the size of the
    -- first's (some 500-640 KiB more in a run of the whole suite).
    -- With it stopped during the loop, all 20 000 are alive at its end
    -- in both rounds, the tables reach the same size, and what the
    -- second round adds is what it kept.
    local function round()
      collectgarbage("stop")
      for _ = 1, 20000 do
        local t = tk.token()
        local pad = string.rep("p", 200) .. tostring(t)
        t:on_cancel(function() return t, pad end)
      end
      collectgarbage("restart")
      collectgarbage()
      collectgarbage()
      -- A safe point lets go of the registrations whose tokens were
      -- freed; the collector then takes their callbacks. A token whose
      -- last reference a worker still held at that safe point goes at a
      -- later one (a loaded machine makes more of them).
      for _ = 1, 3 do
        p:submit(function() end):wait()
        collectgarbage()
        collectgarbage()
      end
    end
    finally(function() collectgarbage("restart") end)
    round()
    local before, heap = support.rss_kib(), collectgarbage("count")
    round()
    -- The tokens' boxes and callbacks are in this state's heap: exact. The
    -- tokens and registrations are C memory: RSS, roughly (all 20 000
    -- kept would be some 8 MiB).
    local grown_heap = collectgarbage("count") - heap
    assert.is_true(grown_heap < 512, ("the heap grew %.0f KiB"):format(grown_heap))
    local grown = support.rss_kib() - before
    if support.RSS_MEANINGFUL then
      assert.is_true(grown < 6 * 1024, "grew " .. grown .. " KiB")
    end
  end)

  it("runs once the callback, naming its token, of one dropped that a deadline, a parent or another state can still cancel", function()
    local hits = {}
    local parent = tk.token()
    local gate, back = tk.channel(), tk.channel()
    local weak = setmetatable({}, {__mode = "k"})
    do
      local d = tk.token{timeout = 0.2}
      d:on_cancel(function() hits.deadline = (hits.deadline or 0) + 1
                             assert(d:is_cancelled()) end)
      local c = parent:child()
      c:on_cancel(function() hits.parent = (hits.parent or 0) + 1
                             assert(c:is_cancelled()) end)
      local o = tk.token()
      o:on_cancel(function() hits.other = (hits.other or 0) + 1
                             assert(o:is_cancelled()) end)
      -- Another state holds o until the gate opens, then cancels it.
      p:submit(function(tok) gate:pop() tok:cancel() back:push(true) end, o)
      weak[d], weak[c], weak[o] = true, true, true
    end
    for _ = 1, 3 do collectgarbage() end
    assert.are.same({}, hits)
    parent:cancel()
    gate:push(true)
    assert.is_true(back:pop(10))
    tk.sleep(0.4)  -- the deadline passes; the fired callbacks run
    assert.are.same({deadline = 1, parent = 1, other = 1}, hits)
    -- Once they ran, their boxes go too.
    assert.is_true(all_collected(weak), "a token box was never collected")
    assert.are.same({deadline = 1, parent = 1, other = 1}, hits)
  end)

  it("registers in constant time", function()
    local function batch(n)
      local t0 = os.clock()
      local keep = {}
      for i = 1, n do
        local t = tk.token()
        t:on_cancel(function() end)
        keep[i] = t
      end
      return os.clock() - t0
    end
    batch(1000)
    local small, large = batch(5000), batch(40000)
    -- Quadratic registration made 8 times the work take 64 times as long;
    -- the bound, half that, leaves room for a loaded or sanitized run.
    assert.is_true(large < small * 32, ("%.3f s vs %.3f s"):format(large, small))
  end)

  it("runs without the default pool ever started", function()
    local f = support.script([[
      local tk = require "threadkit"
      local p = tk.pool(1)
      local t = tk.token{timeout = 0.05}
      local hits = 0
      t:on_cancel(function() hits = hits + 1 end)
      local u = tk.token()
      u:on_cancel(function() hits = hits + 10 end)
      p:submit(function(tok) tok:cancel() end, u):wait()
      tk.sleep(0.3)
      print(hits)
    ]])
    local out, err, code = support.run(os.getenv("TKLUA") .. " " .. f)
    os.remove(f)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("11\n", out)
  end)
end)
