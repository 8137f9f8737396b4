-- lifecycle_spec.lua - pools shut down and closed by one thread while
-- others use them: every use fails cleanly or works, nothing crashes
-- (the sanitizer runs check the memory).
local tk = require "threadkit"
local support = require "support"

local SHUT = "attempt to use a shut-down pool"

describe("a pool shut down while others use it", function()
  it("fails submits cleanly from every state that holds it", function()
    local p = tk.pool(2)
    local q = tk.pool(2)
    p:shutdown()
    assert.has_error(function() p:submit(function() end) end, SHUT)
    -- A handle decoded in another state after the shutdown.
    local ok, err = q:submit(function(pool)
      return pcall(pool.submit, pool, function() end)
    end, p):result()
    assert.is_false(ok)
    assert.is_truthy(err:find(SHUT, 1, true))
    assert.are.equal(0, p:metrics().pending)
    assert.matches("shut down", tostring(p))
    p:shutdown()  -- a second shutdown does nothing
    p:shutdown{cancel_pending = true}
    q:shutdown()
  end)

  it("lets tasks of the pool itself and the main state shut it at once", function()
    for _ = 1, 50 do
      local p = tk.pool(3)
      local gate = tk.token()
      local jobs = {}
      for i = 1, 2 do
        jobs[i] = p:submit(function(pool, g)
          g:wait()
          pool:shutdown()  -- from its own worker: cannot wait for itself
          return true
        end, p, gate)
      end
      gate:cancel()
      p:shutdown()
      for i = 1, 2 do assert.is_true(jobs[i]:result()) end
    end
  end)

  it("survives a two-stage pipeline whose inner pool is shut mid-stream", function()
    for round = 1, 50 do
      local outer, inner = tk.pool(2), tk.pool(2)
      local started = tk.channel()
      local feeders = {}
      for i = 1, 2 do
        feeders[i] = outer:submit(function(pool, ch)
          local sent, refused = 0, 0
          ch:push(true)
          for k = 1, 2000 do
            local ok, err = pcall(pool.submit, pool, function(x) return x * 2 end, k)
            if ok then sent = sent + 1
            elseif err:find(SHUT, 1, true) then refused = refused + 1
            else error(err) end
          end
          return sent, refused
        end, inner, started)
      end
      started:pop()
      started:pop()
      if round % 2 == 0 then inner:shutdown() else inner:shutdown{cancel_pending = true} end
      local total = 0
      for i = 1, 2 do
        local sent, refused = feeders[i]:result()
        total = total + sent + refused
      end
      assert.are.equal(4000, total)
      outer:shutdown()
    end
  end)

  it("keeps working as the default pool after the state that made it closed", function()
    -- Stock lua5.4 ends its state while tasks still ask the default pool
    -- for metrics (a use-after-free before pools were held per state).
    local ok = os.execute("lua5.4 -e 'require \"threadkit\"' 2>/dev/null")
    if not ok then
      pending("the module does not load into stock lua5.4 in this build")
      return
    end
    local f = support.script([[
      local tk = require "threadkit"
      local p = tk.pool(2)
      for _ = 1, 2 do
        p:submit(function()
          local t = require "threadkit"
          for _ = 1, 2000 do pcall(t.metrics) pcall(t.submit, function() end) end
        end)
      end
      tk.submit(function() end):wait()
      print("end")
    ]])
    for _ = 1, 5 do
      local out, err, code = support.run("timeout 60 lua5.4 " .. f)
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert.are.equal("end\n", out)
    end
    os.remove(f)
  end)

  it("made in a task and returned, lives as long as a state holds it", function()
    local p <close> = tk.pool(1)
    local q = p:submit(function() return require("threadkit").pool(1) end):result()
    -- The worker that made it collects its box: the pool is ours as well.
    p:submit(function() collectgarbage() collectgarbage() end):wait()
    assert.are.equal(5, q:submit(function() return 5 end):result())
    q:shutdown()
  end)

  it("lives while any state but its own workers' holds it", function()
    local r = tk.pool(2)
    local jobs = {}
    for i = 1, 10 do jobs[i] = r:submit(function(pool) return pool end, r) end
    for i = 1, 10 do assert.are.equal(r, jobs[i]:result()) end
    local back = jobs[1]:result()
    r, jobs = nil, nil
    collectgarbage()
    collectgarbage()
    -- `back` is one more box in this state: the pool still runs.
    assert.are.equal(3, back:submit(function() return 3 end):result())
    -- Its tasks' own boxes of it hold no handle: dropping the last box
    -- here shuts it down (waiting), which returns.
    back = nil
    collectgarbage()
    collectgarbage()
  end)
end)
