-- exit_spec.lua - how a tklua run ends with work still in flight: the end
-- of the script, daemon work, failures and Ctrl-C at every kind of wait,
-- with callbacks that call back into threadkit. Nothing may hang, and the
-- trace must be whole however the run ends.
local support = require "support"
local run, script, MULT = support.run, support.script, support.MULT
local exits_130_on_ctrl_c = support.exits_130_on_ctrl_c
local TKLUA = assert(os.getenv("TKLUA"), "TKLUA must name the tklua binary")

-- Runs script text under a hard timeout; returns stdout, stderr, status.
local function run_script(text, args)
  local f = script(text)
  local out, err, code = run(("timeout -s KILL %d %s %s %s"):format(
    math.floor(30 * MULT), TKLUA, args or "", f))
  os.remove(f)
  return out, err, code
end

local function read(path)
  local h = assert(io.open(path))
  local s = h:read("a")
  h:close()
  return s
end

describe("the end of a tklua script", function()
  it("lets tasks that outlive the last line use threadkit freely", function()
    -- Each task starts its calls after the script's end began its wait
    -- (which held a lock the calls needed, and hung).
    local out, err, code = run_script([[
      local tk = require "threadkit"
      for _, what in ipairs{"submit", "pool", "stats", "metrics", "wait_all",
                            "collect"} do
        tk.submit(function()
          tk.sleep(0.2)
          if what == "submit" then tk.submit(function() end):wait()
          elseif what == "pool" then
            local p = tk.pool(1)
            p:submit(function() end):wait()
            p:shutdown()
          elseif what == "stats" then assert(tk.stats():find("threadkit stats"))
          elseif what == "metrics" then assert(tk.metrics().workers > 0)
          elseif what == "wait_all" then pcall(tk.wait_all, 0.1)
          else
            tk.pool(1):submit(function() end)
            collectgarbage() collectgarbage()
          end
          print("done " .. what)
        end)
      end
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    for _, what in ipairs{"submit", "pool", "stats", "metrics", "wait_all",
                          "collect"} do
      assert.matches("done " .. what .. "\n", out)
    end
  end)

  it("runs a token's Lua on_cancel whose deadline passes during the wait", function()
    local out, err, code = run_script([[
      local tk = require "threadkit"
      local t = tk.token{timeout = 0.1}
      t:on_cancel(function() print("callback ran") end)
      tk.submit(function() tk.sleep(0.4) print("sleeper woke") end)
    ]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.matches("callback ran\n", out)
    assert.matches("sleeper woke\n", out)
  end)

  it("does not wait for daemon groups' work, and stops it", function()
    local out, err, code = run_script([[
      local tk = require "threadkit"
      local d = tk.group("forever", {daemon = true})
      d:add_task(function() while true do tk.sleep(0.01) end end)
      d:add_task(function() while true do end end)
      tk.submit(function() tk.sleep(0.1) print("normal work done") end)
    ]], "-j 3")
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("normal work done\n", out)
  end)

  it("still waits for normal work next to a daemon group", function()
    local out, _, code = run_script([[
      local tk = require "threadkit"
      local d = tk.group("forever", {daemon = true})
      d:add_task(function() while true do tk.sleep(0.01) end end)
      local g = tk.group("normal")
      for i = 1, 3 do g:add_task(function() tk.sleep(0.1 * i) print("g" .. i) end) end
    ]])
    assert.are.equal(0, code)
    assert.are.equal("g1\ng2\ng3\n", out)
  end)

  it("writes a whole trace when the script fails with work in flight", function()
    local trace = os.tmpname()
    local _, err, code = run_script([[
      local tk = require "threadkit"
      for _ = 1, 4 do tk.submit(function() tk.sleep(60) end) end
      tk.submit(function() end):wait()
      error("boom")
    ]], "--trace " .. trace)
    assert.are.equal(1, code)
    assert.matches("boom", err)
    local doc = support.decode_json(read(trace))
    assert.is_true(#doc.traceEvents > 0)
    os.remove(trace)
  end)
end)

describe("closing a state", function()
  it("refuses handles its finalizers would make (they would leak)", function()
    local out, err, code = run_script([[
      local tk = require "threadkit"
      local p = tk.pool{workers = 1, init = function()
        KEEP = setmetatable({}, {__gc = function()
          local ok, e = pcall(require("threadkit").token)
          io.stderr:write("worker: ", tostring(ok), " ", tostring(e), "\n")
        end})
      end}
      p:submit(function() end):wait()
      p:shutdown()
      MAIN = setmetatable({}, {__gc = function()
        local ok, e = pcall(tk.channel)
        io.stderr:write("main: ", tostring(ok), " ", tostring(e), "\n")
      end})
      print("done")
    ]])
    assert.are.equal(0, code)
    assert.are.equal("done\n", out)
    assert.matches("worker: false threadkit: no new token handle while its state closes", err, 1, true)
    assert.matches("main: false threadkit: no new channel handle while its state closes", err, 1, true)
  end)
end)

describe("Ctrl-C in tklua exits 130 within a second", function()
  it("with Lua on_cancel callbacks that submit, firing during the exit", function()
    exits_130_on_ctrl_c([[
      local tk = require "threadkit"
      for i = 1, 20 do
        local t = tk.token{timeout = 0.05 * i}
        t:on_cancel(function() tk.submit(function() tk.sleep(60) end) end)
        tk.submit({token = t}, function() tk.sleep(60) end)
      end
      io.open(%q, "w"):close()
      while true do end
    ]])
  end)

  it("while the end of the script waits for a sleeping task, trace whole", function()
    local trace = os.tmpname()
    exits_130_on_ctrl_c([[
      local tk = require "threadkit"
      tk.submit(function() tk.sleep(60) end)
      tk.submit(function() local c = coroutine.wrap(function() tk.sleep(60) end) c() end)
      io.open(%q, "w"):close()
    ]], nil, {args = "--trace " .. trace})
    local doc = support.decode_json(read(trace))
    assert.is_true(#doc.traceEvents > 0)
    os.remove(trace)
  end)

  it("while the REPL reads", function()
    exits_130_on_ctrl_c([[
      local tk = require "threadkit"
      tk.submit(function() tk.sleep(60) end)
      io.open(%q, "w"):close()
    ]], nil, {args = "-i", open_stdin = true})
  end)

  it("after Ctrl-D in the REPL, while a task sleeps", function()
    -- The REPL's last chunk makes the file, and the signal comes once that
    -- chunk has surely ended (a Ctrl-C during a chunk only stops the chunk).
    exits_130_on_ctrl_c([[
      tk = require "threadkit"
    ]], nil, {args = "-i", settle = 0.1 * support.MULT,
       input = "tk.submit(function() require('threadkit').sleep(60) end)\n" ..
               "io.open(%q, 'w'):close()\n"})
  end)

  it("in the main state's waits", function()
    for _, wait in ipairs{"tk.sleep(60)", "tk.token():wait()",
                          "tk.channel():pop()", "tk.submit(function() tk.sleep(60) end):wait()",
                          "tk.wait_all()", "tk.pool(1):submit(function() tk.sleep(60) end):result()"} do
      exits_130_on_ctrl_c([[
        local tk = require "threadkit"
        tk.submit(function() tk.sleep(60) end)
        io.open(%q, "w"):close()
        ]] .. wait .. "\n")
    end
  end)
end)
