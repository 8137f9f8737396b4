-- cli_spec.lua - the tklua interpreter: options, exit status, Ctrl-C.
local TKLUA = assert(os.getenv("TKLUA"), "TKLUA must name the tklua binary")

local support = require "support"
local run, script, MULT = support.run, support.script, support.MULT
-- Messages start with the program's name as it was run (argv[0]).
local NAME = TKLUA:match("(%S+)$"):gsub("%p", "%%%0")

describe("tklua", function()
  it("runs a script with arguments in arg and ...", function()
    local f = script("print(#arg, arg[0] ~= nil, arg[1], arg[2], ...)")
    local out, _, code = run(TKLUA .. " " .. f .. " a b")
    assert.are.equal(0, code)
    assert.are.equal("2\ttrue\ta\tb\ta\tb\n", out)
    os.remove(f)
  end)

  it("has threadkit built in", function()
    local out, _, code = run(TKLUA .. [[ -e "local tk = require 'threadkit'
      print(tk.submit(function(x) return x * 2 end, 21):result())"]])
    assert.are.equal(0, code)
    assert.are.equal("42\n", out)
  end)

  it("runs -e and -l in order", function()
    local out, _, code = run(TKLUA .. [[ -l string -e "print(string.rep('a', 3))"]])
    assert.are.equal(0, code)
    assert.are.equal("aaa\n", out)
  end)

  it("reads a script from stdin with -", function()
    local out, _, code = run("echo 'print(\"in\", ...)' | " .. TKLUA .. " - x")
    assert.are.equal(0, code)
    assert.are.equal("in\tx\n", out)
  end)

  it("runs a REPL with -i, and = prints an expression", function()
    local out, _, code = run("printf 'x = 5\\n=x * 2\\nprint(x + 1)\\n' | " ..
                             TKLUA .. " -i")
    assert.are.equal(0, code)
    assert.matches("10\n", out)
    assert.matches("6\n", out)
  end)

  it("prints the version with -v and help with -h and --help", function()
    local out, _, code = run(TKLUA .. " -v")
    assert.are.equal(0, code)
    assert.matches("^tklua %(Lua 5%.4", out)
    for _, opt in ipairs{"-h", "--help", "-e 'x=1' -h"} do
      local help, err2, code2 = run(TKLUA .. " " .. opt)
      assert.are.equal(0, code2)
      assert.are.equal("", err2)
      assert.matches("^usage: " .. NAME .. " %[options%]", help)
      assert.matches("\n  %-h, %-%-help ", help)
    end
    local _, err3, code3 = run(TKLUA .. " --bogus")
    assert.are.equal(1, code3)
    assert.matches("unrecognized option '%-%-bogus'\nusage: ", err3)
  end)

  it("gives tasks the paths of the state that made their pool, -E included", function()
    local code = [[ -e "print(require('threadkit').submit(function()
      return package.path end):result())"]]
    local out, _, status = run("env LUA_PATH=xxx " .. TKLUA .. code)
    assert.are.equal(0, status)
    assert.are.equal("xxx\n", out)
    local out2, _, status2 = run("env LUA_PATH=xxx " .. TKLUA .. " -E" .. code)
    assert.are.equal(0, status2)
    assert.is_falsy(out2:find("xxx", 1, true))
    assert.matches("%?%.lua", out2)
  end)

  it("says which option lacks its argument", function()
    for _, opt in ipairs{"-e", "-l", "-j", "--trace"} do
      local _, err, code = run(TKLUA .. " " .. opt)
      assert.are.equal(1, code)
      assert.matches("^" .. NAME .. ": '" .. opt:gsub("%-", "%%-") .. "' needs argument\n", err)
    end
  end)

  it("exits 1 with 'name: message' and a traceback on error", function()
    local f = script("local x = nil\nprint(x.y)\n")
    local _, err, code = run(TKLUA .. " " .. f)
    assert.are.equal(1, code)
    assert.matches("^" .. NAME .. ": [^\n]*:2: attempt to index a nil value", err)
    assert.matches("stack traceback:", err)
    os.remove(f)
  end)

  it("exits promptly when the script fails with work still queued", function()
    local t0 = os.time()
    local _, err, code = run(TKLUA .. [[ -e "local tk = require 'threadkit'
      for i = 1, 2000 do tk.submit(function() local x = 0
        for k = 1, 1e7 do x = x + k end end) end
      tk.submit(function() while true do end end)
      error('script failed')"]])
    assert.are.equal(1, code)
    assert.matches("script failed", err)
    assert.is_true(os.time() - t0 <= 10 * MULT)  -- not the minutes the work needs
  end)

  it("exits promptly when the script fails while a task spins in a coroutine", function()
    -- The stop must reach the coroutine the task made, not only the
    -- task's own; `timeout` turns a hang into a failure.
    local t0 = os.time()
    local _, err, code = run("timeout -k 5 " .. 60 * MULT .. " " .. TKLUA ..
      [[ -e "local tk = require 'threadkit'
      local started = tk.channel()
      tk.submit(function() coroutine.wrap(function()
        started:push(true) while true do end end)() end)
      started:pop()
      error('script failed')"]])
    assert.are.equal(1, code)
    assert.matches("script failed", err)
    assert.is_true(os.time() - t0 <= 10 * MULT)
  end)

  it("waits for outstanding work at the end of the script", function()
    local out, _, code = run(TKLUA .. [[ -e "local tk = require 'threadkit'
      tk.submit(function() tk.sleep(0.2) print('late task') end)"]])
    assert.are.equal(0, code)
    assert.are.equal("late task\n", out)
  end)

  it("ends at once with the status os.exit gives inside a task", function()
    local t0 = os.time()
    local out, _, code = run(TKLUA .. [[ -e "local tk = require 'threadkit'
      for i = 1, 1000 do tk.submit(function() tk.sleep(0.05) end) end
      tk.submit(function() os.exit(3) end)
      tk.sleep(30) print('not reached')"]])
    assert.are.equal(3, code)
    assert.are.equal("", out)
    -- not the 30 s the script sleeps
    assert.is_true(os.time() - t0 <= math.min(10 * MULT, 25))
  end)

  it("runs a busy pool's queued work when the collector takes it", function()
    local out, _, code = run(TKLUA .. [[ -e "local tk = require 'threadkit'
      local s = tk.shared{n = 0}
      do local p = tk.pool(2)
        for i = 1, 500 do p:submit(function() s:incr('n') end) end end
      collectgarbage() collectgarbage()
      print(s.n)"]])
    assert.are.equal(0, code)
    assert.are.equal("500\n", out)
  end)

  it("sizes the default pool with -j and prints --stats on stderr", function()
    local out, err, code = run(TKLUA .. [[ -j 3 --stats -e "local tk = require 'threadkit'
      print(tk.metrics().workers) tk.submit(function() end)"]])
    assert.are.equal(0, code)
    assert.are.equal("3\n", out)
    assert.matches("threadkit stats", err)
    -- The default pool's row: name, workers, submitted, completed.
    assert.matches("\n  tk%s+3%s+1%s+1%s", err)
    assert.matches("queue wait mean/p50/p99", err)
    local _, err2, code2 = run(TKLUA .. " -j 0 -e 'print(1)'")
    assert.are.equal(1, code2)
    assert.matches("%-j needs", err2)
  end)

  it("--stats lists closed pools and groups too", function()
    local _, err, code = run(TKLUA .. [[ --stats -e "local tk = require 'threadkit'
      do local p <close> = tk.pool{workers = 1, name = 'short'}
        local g = tk.group('work', {pool = p})
        g:add_task(function() end) g:add_task(function() error('x') end)
        g:join() KEEP = g end"]])
    assert.are.equal(0, code)
    assert.matches("\n  short%s+1%s+2%s+1%s+1%s", err)
    assert.matches("\n  work%s+0%s+0%s+1%s+1%s+0", err)
  end)

  local exits_130_on_ctrl_c = support.exits_130_on_ctrl_c

  it("stops runaway tasks and exits 130 on Ctrl-C, within a second", function()
    exits_130_on_ctrl_c([[
      local tk = require "threadkit"
      for _ = 1, 4 do tk.submit(function() while true do end end) end
      io.open(%q, "w"):close()
      while true do end
    ]])
  end)

  it("exits 130 on Ctrl-C during a group join, within a second", function()
    exits_130_on_ctrl_c([[
      local tk = require "threadkit"
      local g = tk.group("busy", {max_concurrent = 3})
      g:add_task(function() while true do end end)
      for _ = 1, 50 do g:add_task(function() tk.sleep(60) end) end
      local sub = tk.group("sub", {pool = tk.pool(1)})
      sub:add_task(function() tk.event_aware_sleep(60) end)
      io.open(%q, "w"):close()   -- joining from here on
      g:join()
      sub:join()
      print("joined")
    ]])
  end)

  it("exits 130 on Ctrl-C within a second while stuck in C, whatever the wall clock says", function()
    -- Opening a FIFO nobody writes blocks in C, where no hook reaches:
    -- tklua leaves by itself after 0.8 s, timed by the monotonic clock
    -- (with the clock shim, a wall-clock timer would wait an hour).
    local fifo = os.tmpname()
    os.remove(fifo)
    assert.is_true(os.execute("mkfifo " .. fifo))
    local shim = os.getenv("TK_CLOCK_SHIFT")
    exits_130_on_ctrl_c([[
      io.open(%q, "w"):close()
      io.open("]] .. fifo .. [["):read()
    ]], (shim and "LD_PRELOAD=" .. shim .. " " or "") .. "timeout -s KILL 60 ")
    os.remove(fifo)
  end)

  it("times blocking waits by the monotonic clock, whatever the wall clock says", function()
    local shim = os.getenv("TK_CLOCK_SHIFT")
    if not shim then
      pending("no clock shim in this build (sanitizers)")
      return
    end
    -- The shim reads CLOCK_REALTIME an hour ahead: a wait timed by the wall
    -- clock would last an hour (the outer timeout ends it at 60 s).
    local f = script([[
      local tk = require "threadkit"
      local t0 = tk.now()
      print(tk.channel():pop(0.2))
      local gate = tk.token()
      local ok, err = pcall(tk.as_completed({tk.submit(function() gate:wait() end)}, 0.2))
      gate:cancel()
      print(ok, err)
      print(tk.now() - t0 < 30)
    ]])
    local out, err, code = run("LD_PRELOAD=" .. shim .. " timeout 60 " .. TKLUA .. " " .. f)
    os.remove(f)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.matches("^nil\nfalse\t.*as_completed: timed out with 1 job%(s%) left\ntrue\n$", out)
  end)
end)

describe("README", function()
  it("its Lua example runs and prints what its comments say", function()
    local h = io.open("../../README.md")
    local text = h:read("a")
    h:close()
    -- The first Lua block is complete; the groups one is a sketch.
    local code = assert(text:match("```lua\n(.-)```"), "no Lua block")
    local f = os.tmpname()
    h = io.open(f, "w")
    h:write(code)
    h:close()
    local p = io.popen(TKLUA .. " " .. f .. " 2>&1")
    local out = p:read("a")
    p:close()
    os.remove(f)
    assert.are.equal("5\ntrue\tcancelled\ndone\t1\n", out)
  end)
end)
