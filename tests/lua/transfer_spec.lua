-- transfer_spec.lua - what values cross between states, and how.
local tk = require "threadkit"
local support = require "support"

describe("transfer", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown() end)

  local function echo(...)
    return p:submit(function(...) return ... end, ...):result()
  end

  it("copies scalars and binary strings", function()
    local a, b, c, d, e, f = echo(nil, true, false, 42, 1.5, "a\0b")
    assert.is_nil(a)
    assert.are.same({true, false, 42, 1.5, "a\0b"}, {b, c, d, e, f})
    assert.is_true(math.type(select(4, echo(1, 2, 3, 4))) == "integer")
    assert.are.equal(math.maxinteger, echo(math.maxinteger))
  end)

  it("deep-copies tables keeping shared references and cycles", function()
    local shared = {1}
    local t = {x = shared, y = shared, list = {1, 2, {3}}}
    t.me = t
    local r = echo(t)
    assert.are_not.equal(t, r)
    assert.are.equal(r.x, r.y)
    assert.are.equal(r, r.me)
    assert.are.same({1, 2, {3}}, r.list)
  end)

  it("copies metatables", function()
    local mt = {__index = function(_, k) return k .. "!" end}
    local r = echo(setmetatable({}, mt))
    assert.are.equal("hi!", r.hi)
  end)

  it("copies functions with upvalues; _ENV is the worker's globals", function()
    local k = 10
    local function add(x) return x + k end
    local j = p:submit(function(f) return f(5), type(_G.print) end, add)
    local v, t = j:result()
    assert.are.equal(15, v)
    assert.are.equal("function", t)
    marker_global = "main"
    assert.is_nil(p:submit(function() return marker_global end):result())
  end)

  it("copies standard library C functions by name", function()
    local f = p:submit(function() return string.upper end):result()
    assert.are.equal(string.upper, f)
    assert.are.equal("ABC", p:submit(string.upper, "abc"):result())
  end)

  it("passes threadkit objects by reference", function()
    local ch = tk.channel()
    local t = tk.token()
    local s = tk.shared()
    local r1, r2, r3 = echo(ch, t, s)
    assert.are.equal(ch, r1)
    assert.are.equal(t, r2)
    assert.are.equal(s, r3)
    p:submit(function() ch:push("via worker") end):wait()
    assert.are.equal("via worker", ch:pop(10))
  end)

  it("refuses values that cannot travel and says where they are", function()
    local conn = io.stdout
    assert.has_error(function()
      p:submit(function() return conn end)
    end, "cannot copy task function, upvalue 'conn': userdata is not transferable")
    assert.has_error(function()
      p:submit(function() end, 1, {cfg = {conn = conn}})
    end, "cannot copy argument #2, field cfg.conn: userdata is not transferable")
    assert.has_error(function()
      p:submit(function() end, coroutine.create(print))
    end, "cannot copy argument #1: coroutine is not transferable")
  end)

  it("refuses results that cannot travel", function()
    local j = p:submit(function() return coroutine.create(print) end)
    assert.is_true(j:wait(10))
    assert.are.equal("failed", j.state)
    assert.matches("cannot return a coroutine", j.error)
    assert.is_nil(j.traceback)  -- no code of the task's failed
  end)

  it("limits nesting depth with an error, not a crash", function()
    local deep = {}
    local cur = deep
    for _ = 1, 500 do cur.next = {}; cur = cur.next end
    local ok, err = pcall(p.submit, p, function() end, deep)
    assert.is_false(ok)
    -- A long path shows its two ends, not a hundred steps.
    assert.matches("cannot copy argument #1, field next.next.next.next.next " ..
                   "... next.next.next.next.next: value nested too deeply " ..
                   "(more than 100 levels)", err, 1, true)
    cur = deep
    for _ = 1, 20 do cur = cur.next end
    cur.next = io.stdout
    local up = deep
    ok, err = pcall(p.submit, p, function() return up end)
    assert.is_false(ok)
    assert.matches("upvalue 'up', field next.next.next.next ... " ..
                   "next.next.next.next.next: userdata is not transferable", err, 1, true)
  end)

  it("copies as many arguments and results as a Lua call, up to 10000", function()
    local t = {}
    for i = 1, 10001 do t[i] = i end
    local count = function(...) return select("#", ...), (select(300, ...)) end
    assert.are.same({300, 300}, {p:submit(count, table.unpack(t, 1, 300)):result()})
    local many = p:submit(function(n)
      local r = {}
      for i = 1, n do r[i] = i end
      return table.unpack(r)
    end, 10000)
    local got = table.pack(many:result())
    assert.are.equal(10000, got.n)
    assert.are.equal(10000, got[10000])
    -- 10000 arguments: the function itself does not count.
    assert.are.same({10000, 300}, {p:submit(count, table.unpack(t, 1, 10000)):result()})
    assert.are.equal(10000, p:submit({retry = {attempts = 1}}, count,
                                     table.unpack(t, 1, 10000)):result())
    -- Beyond: refused where the values are copied, saying so.
    assert.has_error(function() p:submit(count, table.unpack(t, 1, 10001)) end,
                     "too many arguments to copy (10001, at most 10000)")
    assert.has_error(function() p:schedule({delay = 1}, count, table.unpack(t, 1, 10001)) end,
                     "too many arguments to copy (10001, at most 10000)")
    local over = p:submit(function() return table.unpack({}, 1, 10001) end)
    assert.is_true(over:wait(10))
    assert.are.equal("failed", over.state)
    assert.are.equal("too many results to copy (10001, at most 10000)", over.error)
  end)

  it("tells functions apart however they are cached", function()
    -- Functions travel as the id of their bytecode; the sender caches the
    -- ids of plain functions by closure, each worker its compiled copies.
    -- Distinct code, one closure reused, and closures of one literal with
    -- different upvalues must each run as themselves.
    local same = function(x) return x + 1 end
    local jobs, want = {}, {}
    for i = 1, 200 do
      local f = load("return function(x) return x * " .. i .. " end")()
      jobs[#jobs + 1], want[#want + 1] = p:submit(f, 3), 3 * i
      jobs[#jobs + 1], want[#want + 1] = p:submit(same, i), i + 1
      local k = i * 7
      jobs[#jobs + 1], want[#want + 1] =
        p:submit(function(x) return x - k end, 1000), 1000 - i * 7
    end
    for n, j in ipairs(jobs) do assert.are.equal(want[n], j:result()) end
  end)

  -- Submits a distinct function for each i in from..to, in batches whose
  -- jobs are all done and collected before the next.
  local function distinct_functions(from, to)
    for first = from, to, 2000 do
      local jobs = {}
      for i = first, math.min(first + 1999, to) do
        jobs[#jobs + 1] = p:submit(load("return function() return " .. i .. " end")())
      end
      for n, j in ipairs(jobs) do assert.are.equal(first + n - 1, j:result()) end
      jobs = nil
      collectgarbage()
    end
  end

  it("lets go of the code of functions nothing can send any more", function()
    distinct_functions(1, 10000)  -- the allocator and the caches warm up
    local before = support.rss_kib()
    distinct_functions(10001, 130000)
    local grown = support.rss_kib() - before
    -- Keeping every function's code cost ~400 bytes each: ~48 MiB here.
    if support.RSS_MEANINGFUL then  -- not a sanitizer's quarantine
      assert.is_true(grown < 16 * 1024, ("RSS grew %d KiB"):format(grown))
    end
  end)

  it("keeps the code a queued task, a channel or a shared table still holds", function()
    local ch, sh = tk.channel(), tk.shared()
    local gate = tk.token()
    local queued
    do
      local f = load("return function() return 'kept in a channel' end")()
      local g = load("return function() return 'kept in a shared table' end")()
      local h = load("return function(x) return 'queued, ' .. x end")()
      ch:push(f)
      sh.g = g
      -- Behind a task that waits for the gate: h's task stays queued
      -- (two workers, two blockers).
      p:submit(function(t) t:wait() end, gate)
      p:submit(function(t) t:wait() end, gate)
      queued = p:submit(h, "ran")
    end
    collectgarbage()
    distinct_functions(1, 5000)  -- more code than the process keeps idle
    gate:cancel()
    assert.are.equal("queued, ran", queued:result())
    assert.are.equal("kept in a channel", ch:pop()())
    assert.are.equal("kept in a shared table", sh.g())
    -- A function the main state still holds is sent again as itself,
    -- whatever became of its code meanwhile.
    local again = load("return function() return 'again' end")()
    assert.are.equal("again", p:submit(again):result())
    distinct_functions(5001, 10000)
    assert.are.equal("again", p:submit(again):result())
  end)

  it("copies large values", function()
    local big = string.rep("x", 5 * 1024 * 1024)
    assert.are.equal(#big, #echo(big))
    local list = {}
    for i = 1, 100000 do list[i] = i end
    assert.are.equal(100000, #echo(list))
  end)

  it("leaves no buffer of a large value's size behind", function()
    local MiB = 1024 * 1024
    local one = tk.pool(1)  -- one worker: the one state that ran them all
    local function worker_kib()
      return one:submit(function() return collectgarbage("count") end):result()
    end
    local rss = support.rss_kib()
    do
      local big = string.rep("x", 96 * MiB)
      -- As an argument, as a result, through a channel, a shared table.
      assert.are.equal(#big, one:submit(function(s) return #s end, big):result())
      assert.are.equal(#big, #one:submit(string.rep, "y", #big):result())
      local ch, sh = tk.channel(), tk.shared()
      ch:push(big)
      assert.are.equal(#big, #ch:pop())
      sh.big = big
      assert.are.equal(#big, one:submit(function(s) return #s.big end, sh):result())
      sh.big = nil
    end
    collectgarbage()
    collectgarbage()
    -- The worker's state, measured in it: a large value it decoded or
    -- made is garbage once its task ended, and gone.
    local kib = worker_kib()
    assert.is_true(kib < 8 * 1024, ("the worker's state holds %.0f KiB"):format(kib))
    -- The encoding buffers (C memory) are back to a bounded size.
    if support.RSS_MEANINGFUL then
      local grown = support.rss_kib() - rss
      assert.is_true(grown < 32 * 1024, ("RSS grew %d KiB"):format(grown))
    end
    one:shutdown()
  end)

  -- Real task functions are long: a function of n statements, its
  -- bytecode about 75 bytes a statement. Every way a function travels,
  -- from 1 KiB to 1 MiB of bytecode, stripped of debug info or not.
  local function long_function(n, stripped)
    local src = {"return function(x) local s = math.floor(0.5)"}
    for i = 1, n do src[#src + 1] = ("s = s + x * %d + %d"):format(i, 3 * i) end
    src[#src + 1] = "return s end"
    local f = load(table.concat(src, "\n"))()
    if stripped then f = load(string.dump(f, true), "=stripped", "b") end
    return f, n * (n + 1) // 2 * 2 + 3 * n * (n + 1) // 2
  end

  for _, stripped in ipairs{false, true} do
    for _, n in ipairs{14, 110, 870, 14000} do
      local f, want = long_function(n, stripped)
      local name = ("%d bytes of bytecode%s"):format(#string.dump(f),
                                                   stripped and ", stripped" or "")
      it("sends a function of " .. name .. " every way", function()
        assert.are.equal(want, p:submit(f, 2):result())
        assert.are.equal(want, p:submit(function(g) return g(2) end, f):result())
        assert.are.equal(want, p:submit(function() return f(2) end):result())
        local back = p:submit(function(g) return g end, f):result()
        assert.are.equal(want, back(2))
        local ch, sh = tk.channel(), tk.shared()
        ch:push(f)
        sh.f = f
        assert.are.equal(want, p:submit(function(c, s)
          return c:pop()(2) + s.f(2)
        end, ch, sh):result() / 2)
      end)
    end
  end

  it("keeps upvalues shared between closures shared", function()
    local n = 0
    local function inc() n = n + 1 end
    local function get() return n end
    assert.are.equal(3, p:submit(function(i, g) i() i() i() return g() end, inc, get):result())
    local t = {inc = inc, get = get}
    assert.are.equal(2, p:submit(function(x) x.inc() x.inc() return x.get() end, t):result())
    -- Through a cycle: the shared upvalue holds a table holding a closure.
    local box
    local function a() return box end
    local function b() box = {f = b, n = (box and box.n or 0) + 1} return box end
    b()
    local got_n, same = p:submit(function(x, y) y() return x().n, x().f == y end, a, b):result()
    assert.are.equal(2, got_n)
    assert.is_true(same)
    -- And back: the results share as the arguments did.
    local i2, g2 = p:submit(function(x, y) return x, y end, inc, get):result()
    i2()
    assert.are.equal(1, g2())
    assert.are.equal(0, n)  -- copies: ours is untouched
  end)
end)
