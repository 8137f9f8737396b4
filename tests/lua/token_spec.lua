-- token_spec.lua - cancellation tokens.
local tk = require "threadkit"

describe("token", function()
  it("cancels once", function()
    local t = tk.token()
    assert.is_false(t:is_cancelled())
    assert.is_true(t:cancel())
    assert.is_false(t:cancel())
    assert.is_true(t:is_cancelled())
  end)

  it("runs on_cancel callbacks once, at once if already cancelled", function()
    local t = tk.token()
    local calls = 0
    t:on_cancel(function() calls = calls + 1 end)
    t:on_cancel(function() calls = calls + 10 end)
    t:cancel()
    t:cancel()
    assert.are.equal(11, calls)
    t:on_cancel(function() calls = calls + 100 end)
    assert.are.equal(111, calls)
  end)

  it("runs a callback cancelled from another thread in its own state", function()
    local t = tk.token()
    local seen = tk.channel()
    t:on_cancel(function() seen:push("ran") end)
    tk.submit(function() t:cancel() end):wait()
    assert.are.equal("ran", seen:pop(10))
  end)

  it("waits with a timeout", function()
    local t = tk.token()
    assert.is_false(t:wait(0.05))
    tk.submit(function() t:cancel() end)
    assert.is_true(t:wait(10))
  end)

  it("has children cancelled with the parent", function()
    local p = tk.token()
    local c = p:child()
    local gc = c:child()
    c:cancel()
    assert.is_false(p:is_cancelled())
    local c2 = p:child()
    p:cancel()
    assert.is_true(c2:is_cancelled())
    assert.is_true(gc:is_cancelled())
  end)

  it("cancels itself after {timeout = s}", function()
    local t = tk.token{timeout = 0.05}
    assert.is_true(t:wait(10))
  end)

  it("is cancelled from the start with {timeout = 0}", function()
    for _ = 1, 100 do  -- not after a timer's lag
      assert.is_true(tk.token{timeout = 0}:is_cancelled())
    end
  end)

  it("cancels the pending jobs that carry it", function()
    local p <close> = tk.pool(1)
    local gate = tk.token()
    finally(function() gate:cancel() end)
    p:submit(function() while not gate:is_cancelled() do end end)  -- holds the worker
    local t = tk.token()
    local js = {}
    for i = 1, 5 do js[i] = p:submit({token = t}, function() return i end) end
    t:cancel()
    for i = 1, 5 do assert.are.equal("cancelled", js[i].state) end
    gate:cancel()
  end)

  it("refuses bad input", function()
    assert.has_error(function() tk.token{timeout = -1} end)
    assert.has_error(function() tk.token(5) end)
    assert.has_error(function() tk.token():on_cancel(5) end)
    assert.has_error(function() tk.token():wait(-2) end)
  end)
end)
