-- errors_spec.lua - an error value crosses states like any other value:
-- job:result() raises the value itself, job.error is its text (through
-- __tostring where it has one), a string whole.
local tk = require "threadkit"

describe("a task's error", function()
  local p
  before_each(function() p = tk.pool(2) end)
  after_each(function() p:shutdown() end)

  local function fail_with(f)
    local j = p:submit(f)
    local ok, e = pcall(j.result, j)
    assert.is_false(ok)
    return e, j
  end

  it("is raised again as the value it was", function()
    local e, j = fail_with(function() error({code = 42, list = {1, 2}}) end)
    assert.are.same({code = 42, list = {1, 2}}, e)
    assert.are.equal("(error object is a table value)", j.error)
    assert.is_nil((fail_with(function() error(nil) end)))
    assert.is_false((fail_with(function() error(false) end)))
    assert.are.equal(7, (fail_with(function() error(7) end)))
  end)

  it("has its __tostring text as job.error, and keeps its metatable", function()
    local e, j = fail_with(function()
      error(setmetatable({why = "disk"}, {__tostring = function(x) return "failed: " .. x.why end}))
    end)
    assert.are.equal("failed: disk", j.error)
    assert.are.equal("failed: disk", tostring(e))
  end)

  it("keeps a string whole, NULs and all", function()
    local e, j = fail_with(function() error("a\0b\0c", 0) end)
    assert.are.equal("a\0b\0c", e)
    assert.are.equal("a\0b\0c", j.error)
  end)

  it("leaves its text when the value cannot travel", function()
    local e = fail_with(function() error(coroutine.create(print)) end)
    assert.are.equal("(error object is a thread value)", e)
  end)

  it("reaches on_result of a work as the value", function()
    local got
    local w = p:work(function() error({code = 5}) end, function(ok, e) got = {ok, e} end)
    w:queue()
    assert.is_true(w:wait(10))
    assert.is_false(got[1])
    assert.are.same({code = 5}, got[2])
  end)

  it("of a pool's init is described in the task's failure", function()
    local q <close> = tk.pool{workers = 1, init = function()
      error(setmetatable({}, {__tostring = function() return "no config" end}))
    end}
    local j = q:submit(function() return 1 end)
    assert.has_error(function() j:result() end, "worker state: no config")
    local r <close> = tk.pool{workers = 1, init = function() error({}) end}
    local j2 = r:submit(function() return 1 end)
    assert.has_error(function() j2:result() end,
                     "worker state: (error object is a table value)")
  end)
end)
