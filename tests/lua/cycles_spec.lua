-- cycles_spec.lua - channels and shared tables that hold each other (or
-- themselves) are freed once nothing else holds them; never while a box,
-- a value in flight or a live container still does.
local tk = require "threadkit"
local support = require "support"

-- Lets Lua collect the boxes, then threadkit the cycles they left.
local function settle()
  collectgarbage()
  collectgarbage()
  tk.shared()  -- a safe point: the collector runs if it is due
end

-- RSS growth (KiB) over n rounds of make(), after as many: Lua's own
-- collector may leave the boxes of a round uncollected until it ends (a
-- box is small, what it holds is not), so the first round's memory is the
-- room every later round reuses, when the cycles are freed.
local function growth(n, make)
  for _ = 1, n do make() end
  settle()
  local before = support.rss_kib()
  for _ = 1, n do make() end
  settle()
  return support.rss_kib() - before
end

local N = 20000
-- Each leaked cycle costs 1.5-2.5 KiB (35-49 MiB per 20 000 before the
-- collector); the bound leaves room for the allocator's own noise.
local BOUND = 6 * 1024

describe("cycles between channels and shared tables", function()
  it("frees a shared table that holds itself", function()
    local grown = growth(N, function()
      local s = tk.shared()
      s.me = s
      s.pad = string.rep("x", 1000)
    end)
    if support.RSS_MEANINGFUL then
      assert.is_true(grown < BOUND, "grew " .. grown .. " KiB")
    end
  end)

  it("frees a channel that holds itself", function()
    local grown = growth(N, function()
      local c = tk.channel()
      c:push(c)
      c:push(string.rep("x", 1000))
    end)
    if support.RSS_MEANINGFUL then
      assert.is_true(grown < BOUND, "grew " .. grown .. " KiB")
    end
  end)

  it("frees two shared tables that hold each other", function()
    local grown = growth(N, function()
      local a, b = tk.shared(), tk.shared()
      a.b = b
      b.a = a
      a.pad = string.rep("x", 1000)
    end)
    if support.RSS_MEANINGFUL then
      assert.is_true(grown < BOUND, "grew " .. grown .. " KiB")
    end
  end)

  it("frees longer mixed cycles, deep in tables", function()
    local grown = growth(N, function()
      local a, c, b = tk.shared(), tk.channel(), tk.shared()
      a.x = {deep = {c}}
      c:push({b, "pad" .. string.rep("y", 500)})
      b[1] = a
    end)
    if support.RSS_MEANINGFUL then
      assert.is_true(grown < BOUND, "grew " .. grown .. " KiB")
    end
  end)

  it("frees cycles made and dropped by tasks", function()
    local p <close> = tk.pool(2)
    local before = support.rss_kib()
    for _ = 1, 10 do
      local jobs = {}
      for i = 1, 200 do
        jobs[i] = p:submit(function()
          for _ = 1, 10 do
            local a, b = tk.shared(), tk.channel()
            a.b = b
            b:push(a)
            a.pad = string.rep("z", 1000)
          end
        end)
      end
      for _, j in ipairs(jobs) do j:wait() end
    end
    collectgarbage()
    local grown = support.rss_kib() - before
    if support.RSS_MEANINGFUL then
      assert.is_true(grown < BOUND * 2, "grew " .. grown .. " KiB")
    end
  end)

  it("keeps what a box still holds", function()
    local s = tk.shared()
    s.me = s
    s.v = 42
    local c = tk.channel()
    c:push(c)
    c:push("kept")
    -- Enough dropped cycles for several collections meanwhile.
    for _ = 1, 5000 do
      local t = tk.shared()
      t.me = t
    end
    collectgarbage()
    collectgarbage()
    tk.shared()
    assert.are.equal(42, s.me.me.v)
    assert.are.equal(c, c:pop())
    assert.are.equal("kept", c:pop())
  end)

  it("keeps a cycle that a value in flight holds", function()
    local p <close> = tk.pool(1)
    local gate = tk.channel()
    local out
    do
      local a, b = tk.shared(), tk.shared()
      a.b = b
      b.a = a
      b.v = "alive"
      -- The task holds a (its argument) while the boxes here go.
      out = p:submit(function(x)
        gate:pop()
        return x.b.a.b.v
      end, a)
    end
    for _ = 1, 5000 do
      local t = tk.shared()
      t.me = t
    end
    collectgarbage()
    collectgarbage()
    tk.shared()
    gate:push(true)
    assert.are.equal("alive", out:result())
  end)

  it("keeps a cycle that a live container holds, and frees it after", function()
    local root = tk.shared()
    do
      local a, b = tk.shared(), tk.channel()
      a.b = b
      b:push(a)
      a.v = "deep"
      root.a = a
    end
    for _ = 1, 5000 do
      local t = tk.shared()
      t.me = t
    end
    collectgarbage()
    collectgarbage()
    tk.shared()
    local a = root.a
    local b = a.b
    assert.are.equal("deep", b:pop().v)
    b:push(a)
    root.a = nil
  end)

  it("survives racing tasks that move cycles between states", function()
    local p <close> = tk.pool(2)
    local hub = tk.shared()
    local jobs = {}
    for i = 1, 8 do
      jobs[i] = p:submit(function()
        for k = 1, 2000 do
          local a, b = tk.shared(), tk.channel()
          a.b = b
          b:push(a)
          a.n = k
          hub[i] = a           -- visible to the others
          local other = hub[(i % 8) + 1]
          if other ~= nil then
            local ch = other.b
            local back = ch:try_pop()
            if back ~= nil then
              assert(back.b == ch)
              ch:push(back)
            end
          end
        end
        return true
      end)
    end
    for _, j in ipairs(jobs) do assert.is_true(j:result()) end
    for i = 1, 8 do
      local a = hub[i]
      local back = a.b:pop()
      assert.are.equal(a.n, back.n)
    end
  end)
end)
