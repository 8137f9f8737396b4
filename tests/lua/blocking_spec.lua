-- blocking_spec.lua - a wait that cannot suspend its task blocks its
-- worker, and the pool runs a spare thread meanwhile: queued work still
-- runs, even on a pool of one worker.
local tk = require "threadkit"

-- Sanitizer runs are slower: their time bounds scale.
local MULT = tonumber(os.getenv("TK_TEST_TIMEOUT_MULTIPLIER") or "1")

describe("a wait that blocks its worker", function()
  -- One worker: what the wait needs can only run on a spare. Every wait
  -- has a timeout: without a spare it times out instead of hanging.
  local p
  before_each(function() p = tk.pool(1) end)
  after_each(function() p:shutdown{cancel_pending = true} end)

  it("in a table.sort comparator does not starve the pool", function()
    local ch = tk.channel()
    local j = p:submit(function(c, secs)
      local got
      table.sort({2, 1}, function(a, b)
        got = got or c:pop(secs)  -- C calls Lua here: no yield possible
        return a < b
      end)
      return got
    end, ch, 5 * MULT)
    p:submit(function(c) c:push("popped") end, ch)
    assert.are.equal("popped", j:result(10 * MULT))
  end)

  it("in a string.gsub callback does not starve the pool", function()
    local j = p:submit(function(pool, secs)
      return (("x"):gsub("x", function()
        return pool:submit(function() return "result" end):result(secs)
      end))
    end, p, 5 * MULT)
    assert.are.equal("result", j:result(10 * MULT))
  end)

  it("in a __tostring metamethod does not starve the pool", function()
    local tok = tk.token()
    local j = p:submit(function(t, secs)
      local obj = setmetatable({}, {__tostring = function()
        return t:wait(secs) and "cancelled" or "timed out"
      end})
      return tostring(obj)
    end, tok, 5 * MULT)
    p:submit(function(t) t:cancel() end, tok)
    assert.are.equal("cancelled", j:result(10 * MULT))
  end)

  it("in a coroutine resumed where the task cannot yield does not starve the pool", function()
    local ch = tk.channel()
    local j = p:submit(function(c, secs)
      local got
      table.sort({2, 1}, function(a, b)
        got = got or coroutine.wrap(function() return c:pop(secs) end)()
        return a < b
      end)
      return got
    end, ch, 5 * MULT)
    p:submit(function(c) c:push("popped") end, ch)
    assert.are.equal("popped", j:result(10 * MULT))
  end)

  it("has a spare in its place while it blocks, seen in metrics", function()
    local about, go = tk.channel(), tk.channel()
    local j = p:submit(function(a, g, secs)
      local got
      table.sort({2, 1}, function(x, y)
        if got == nil then
          a:push(true)
          got = g:pop(secs)
        end
        return x < y
      end)
      return got
    end, about, go, 5 * MULT)
    assert.is_true(about:pop(10 * MULT))
    local deadline = tk.now() + 10 * MULT  -- the wait begins just after
    while p:metrics().spares ~= 1 and tk.now() < deadline do tk.sleep(0.001) end
    assert.are.equal(1, p:metrics().spares)
    assert.are.equal(1, p:metrics().workers)
    go:push("go")
    assert.are.equal("go", j:result(10 * MULT))
  end)

  it("ends with its task's timeout, as a suspended wait does", function()
    -- Nothing else would end these waits for 5 s: the task's timeout must.
    local ch, tok, never = tk.channel(), tk.token(), tk.channel()
    local waits = {
      pop = function(c, secs) return c:pop(secs) end,
      push = function(c, secs) c:push(1) return c:push(2, secs) end,
      result = function(_, secs, pool)
        return pool:submit(function(g, s) return g:pop(s) end, never, secs):result(secs)
      end,
      token = function(_, secs, _, t) return t:wait(secs) end,
      work = function(_, secs, pool)
        local w = pool:work(function(g, s) return g:pop(s) end, function() end)
        w:queue(never, secs)
        return w:wait(secs)
      end,
    }
    for name, wait in pairs(waits) do
      local j = p:submit({timeout = 0.2}, function(w, c, secs, pool, t)
        table.sort({2, 1}, function(a, b)  -- no yield possible here
          w(c, secs, pool, t)
          while true do end  -- then the timeout stops it
        end)
      end, wait, name == "push" and tk.channel(1) or ch, 5 * MULT, p, tok)
      assert.is_true(j:wait(2.5 * MULT), name .. ": the wait did not end")
      assert.are.equal("cancelled", j.state)
      assert.are.equal("timed out after 0.2 s", j.error)
      never:close()
      never = tk.channel()
    end
  end)

  it("a task submitting to its own full pool with on_full = block gets room", function()
    local q <close> = tk.pool{workers = 1, capacity = 1, on_full = "block"}
    local j = q:submit(function(pool, secs)
      local jobs, sum = {}, 0
      for i = 1, 5 do
        -- The queue holds one: the second submit waits for room, which
        -- only a run of the first can make.
        jobs[i] = pool:submit({block_timeout = secs}, function(x) return x end, i)
      end
      for i = 1, 5 do sum = sum + jobs[i]:result(secs) end
      return sum
    end, q, 5 * MULT)
    assert.are.equal(15, j:result(30 * MULT))
  end)

  it("waits in many tasks at once, each with a spare, and the pool goes on", function()
    -- Every task blocks until the last one has started: they need a
    -- thread each.
    local ch = tk.channel()
    local jobs = {}
    for i = 1, 8 do
      jobs[i] = p:submit(function(c, n, secs)
        local got
        table.sort({2, 1}, function(a, b)
          if not got then
            c:push(n)
            got = true
            local deadline = tk.now() + secs
            while #c < 8 and tk.now() < deadline do
              tk.sleep(0.001)  -- blocks: cannot yield here
            end
          end
          return a < b
        end)
        return #c
      end, ch, i, 5 * MULT)
    end
    for i = 1, 8 do assert.are.equal(8, jobs[i]:result(20 * MULT)) end
    assert.are.equal("next", p:submit(function() return "next" end):result(10 * MULT))
  end)
end)
