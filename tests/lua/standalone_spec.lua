-- standalone_spec.lua - tklua as a drop-in lua: the checks of Lua 5.4's
-- own test of its standalone interpreter (testes/main.lua) that apply to
-- tklua, each written again here, and the REPL's Ctrl-C. docs/tklua.md
-- lists what differs from lua and why.
local TKLUA = assert(os.getenv("TKLUA"), "TKLUA must name the tklua binary")
local support = require "support"

-- The program name messages start with: argv[0] (TKLUA may have a wrapper
-- in front, valgrind's).
local PROGNAME = TKLUA:match("%S+$")

local prog, otherprog = os.tmpname(), os.tmpname()

local function prepfile(text, path)
  local f = assert(io.open(path or prog, "wb"))
  f:write(text)
  f:close()
end

-- Runs a shell command where "lua" stands for tklua; returns stdout,
-- stderr and the exit status.
local function run(cmd, ...)
  return support.run(cmd:gsub("lua", TKLUA, 1):format(...))
end

-- The command succeeds; returns its output.
local function RUN(cmd, ...)
  local out, err, code = run(cmd, ...)
  assert.are.equal(0, code, err)
  return out, err
end

-- The command fails and says msg (on stdout or stderr).
local function NoRun(msg, cmd, ...)
  local out, err, code = run(cmd, ...)
  assert.are_not.equal(0, code)
  assert.is_truthy((out .. err):find(msg, 1, true), "no '" .. msg .. "' in " .. out .. err)
end

-- Every line of `lines` is somewhere in `text`.
local function has_lines(text, lines)
  for line in lines:gmatch(".-\n") do
    assert.is_truthy(text:find(line, 1, true), "no '" .. line .. "' in " .. text)
  end
end

teardown(function()
  os.remove(prog)
  os.remove(otherprog)
end)

describe("tklua as lua", function()
  it("-v names the Lua release", function()
    assert.matches("Lua 5%.4%.%d+", RUN("lua -v"))
  end)

  it("runs stdin as a file, with - and without a script", function()
    prepfile("")
    assert.are.equal("", RUN("lua - < %s", prog))
    prepfile("  print(\n1, a\n)\n")
    assert.are.equal("1\tnil\n", RUN("lua - -- < %s", prog))
    assert.are.equal("10\n2\n", RUN("printf 'print(10)\\nprint(2)\\n' | lua"))
  end)

  it("skips a BOM, and a first line starting with #", function()
    prepfile("\xEF\xBB\xBF")
    assert.are.equal("", RUN("lua %s", prog))
    prepfile("\xEF\xBB\xBFprint(3)")
    assert.are.equal("3\n", RUN("lua %s", prog))
    prepfile("\xEF\xBB\xBF# comment!!\nprint(3)")
    assert.are.equal("3\n", RUN("lua %s", prog))
    for _, bad in ipairs{"\xEF", "\xEF\xBB", "\xEFprint(3)", "\xEF\xBBprint(3)"} do
      prepfile(bad)
      NoRun("unexpected symbol", "lua %s", prog)
    end
    prepfile("#comment in 1st line without \\n at the end")
    RUN("lua %s", prog)
    prepfile("#comment\n" .. string.dump(load("print(3)")))
    assert.are.equal("3\n", RUN("lua %s", prog))
  end)

  it("passes what follows - to the script", function()
    assert.are.equal("-h\n", RUN("echo 'print(arg[1])' | lua - -h"))
  end)

  it("reads LUA_PATH and LUA_CPATH, the _5_4 names first", function()
    prepfile("print(package.path)")
    assert.are.equal("x\n", RUN("env LUA_INIT= LUA_PATH=x lua -- %s", prog))
    assert.are.equal("y\n", RUN("env LUA_INIT= LUA_PATH_5_4=y LUA_PATH=x lua %s", prog))
    prepfile("print(package.cpath)")
    assert.are.equal("xuxu\n", RUN("env LUA_INIT= LUA_CPATH=xuxu lua %s", prog))
    assert.are.equal("yacc\n",
                     RUN("env LUA_INIT= LUA_CPATH_5_4=yacc LUA_CPATH=x lua %s", prog))
  end)

  it("runs LUA_INIT_5_4 or LUA_INIT first: a chunk with arg, or @file", function()
    prepfile("print(X)")
    assert.are.equal("3.2\n", RUN('env LUA_INIT="X=tonumber(arg[1])" lua %s 3.2', prog))
    assert.are.equal("10\n", RUN('env LUA_INIT_5_4="X=10" LUA_INIT="X=3" lua %s', prog))
    prepfile("x = x or 10; print(x); x = x + 1")
    assert.are.equal("10\n11\n", RUN('env LUA_INIT="@%s" lua %s', prog, prog))
    NoRun("LUA_INIT:1: msg", [[env LUA_INIT="error('msg')" lua]])
  end)

  it("ignores the environment with -E, as with none at all", function()
    prepfile("print(package.path, package.cpath)")
    local out = RUN('env LUA_INIT="error(10)" LUA_PATH=xxx LUA_CPATH=xxx lua -E %s', prog)
    local path, cpath = out:match("^(.-)\t(.-)\n$")
    assert.is_falsy(path:find("xxx") or cpath:find("xxx"))
    assert.is_truthy(path:find("lua") and cpath:find("lua"))
    assert.are.equal(out, RUN("env -i %s %s", TKLUA, prog))
    -- ';;' in LUA_PATH stands for that default path.
    prepfile("print(package.path)")
    for _, p in ipairs{";", ";;", "a;;b", ";;b", "a;;", "a;b;;c"} do
      local want = p
      if p:find(";;") then
        want = p:gsub(";;", ";" .. path .. ";"):gsub("^;", ""):gsub(";$", "")
      end
      assert.are.equal(want .. "\n", RUN('env LUA_PATH="%s" lua %s', p, prog))
    end
  end)

  it("-l loads libraries in order into globals, -l g=mod into g", function()
    prepfile("print(1); a=2; return {x=15}")
    prepfile(("print(a); print(_G['%s'].x)"):format(prog), otherprog)
    assert.are.equal("1\n2\n15\n2\n15\n", RUN('env LUA_PATH="?;;" lua -l %s -l%s -lstring -l io %s',
                                             prog, otherprog, otherprog))
    prepfile("print(str.upper'alo alo', m.max(10, 20))")
    assert.are.equal("0.0\nALO ALO\t20\n",
                     RUN("lua -l 'str=string' '-lm=math' -e 'print(m.sin(0))' %s", prog))
  end)

  it("fills arg, reaches libraries with it, and survives its misuse", function()
    prepfile(([[
      assert(#arg == 3 and arg[1] == 'a' and arg[2] == 'b' and arg[3] == 'c')
      assert(arg[-1] == '--' and arg[-2] == "-e " and arg[-3] == '%s')
      assert(arg[4] == undef and arg[-4] == undef)
      local a, b, c = ...
      assert(... == 'a' and a == 'a' and b == 'b' and c == 'c')
    ]]):format(PROGNAME))
    RUN('lua "-e " -- %s a b c', prog)
    prepfile("assert(arg)")
    prepfile("assert(arg)", otherprog)
    RUN('env LUA_PATH="?;;" lua -l%s - < %s', prog, otherprog)
    assert.are.equal("100\n", RUN('echo "print(...)" | lua -e "arg[1] = 100" -'))
    NoRun("'arg' is not a table", 'echo "" | lua -e "arg = 1" -')
    prepfile("print(({...})[30])")
    assert.are.equal("a\n", RUN("lua %s %s", prog, string.rep(" a", 30)))
    assert.are.equal("1\n3\n", RUN([[lua "-eprint(1)" -ea=3 -e "print(a)"]]))
  end)

  it("says when print fails in the REPL, and runs debug.debug", function()
    local _, err = RUN('echo 10 | lua -e "print=nil" -i')
    assert.is_truthy(err:find("error calling 'print'", 1, true))
    local _, err2 = RUN([[printf 'io.stderr:write(1000)\ncont\n' | lua -e "require'debug'.debug()"]])
    assert.are.equal("lua_debug> 1000lua_debug> ", err2)
  end)

  it("warns only with -W or warn('@on'), and warns of errors in finalizers", function()
    assert.are.equal("1", select(2, RUN('echo "io.stderr:write(1); warn[[XXX]]" | lua')))
    prepfile[[
      warn("@allow")
      warn("@off", "XXX", "@off")
      warn("@off")
      warn("@on", "YYY", "@on")
      warn("@off")
      warn("@on")
      warn("", "@on")
      warn("@on")
      warn("Z", "Z", "Z")
    ]]
    assert.are.equal("Lua warning: @offXXX@off\nLua warning: @on\nLua warning: ZZZ\n",
                     select(2, RUN("lua -W %s", prog)))
    prepfile[[
      u1 = setmetatable({}, {__gc = function () error("XYZ") end})
      u2 = setmetatable({}, {__gc = function () error("ZYX") end})
    ]]
    has_lines(select(2, RUN("lua -W %s", prog)), "ZYX)\nXYZ)\n")
  end)

  it("runs finalizers in order when the state closes", function()
    prepfile[[
      collectgarbage"stop"
      print("creating 1")
      setmetatable({}, {__gc = function () print(1) end})
      print("creating 2")
      setmetatable({}, {__gc = function ()
        print("2")
        print("creating 3")
        setmetatable({}, {__gc = function () print(3) end})
        print(collectgarbage() or false)
        os.exit(0, true)
      end})
    ]]
    assert.are.equal("creating 1\ncreating 2\n2\ncreating 3\nfalse\n1\n",
                     RUN("lua -W %s", prog))
  end)

  it("REPL: prints values, takes statements over several lines", function()
    prepfile("(6*2-6) -- ===\na =\n10\nprint(a)\na")
    has_lines(RUN([[lua -e"_PROMPT='' _PROMPT2=''" -i < %s]], prog), "6\n10\n10\n\n")
    prepfile("a = [[b\nc\nd\ne]]\na")
    has_lines(RUN([[lua -e"_PROMPT='' _PROMPT2=''" -i -- < %s]], prog), "b\nc\nd\ne\n\n")
    prepfile("a.\n")
    has_lines(select(2, RUN("lua -i < %s", prog)), "near <eof>\n")
    local s = [=[ --
function f ( x )
  local a = [[
xuxu
]]
  local b = "\
xuxu\n"
  if x == 11 then return 1 + 12 , 2 + 20 end  --[[ test multiple returns ]]
  return x + 1
  --\\
end
return( f( 100 ) )
assert( a == b )
do return f( 11 ) end  ]=]
    prepfile((s:gsub(" ", "\n\n")))
    has_lines(RUN([[lua -e"_PROMPT='' _PROMPT2=''" -i < %s]], prog), "101\n13\t22\n\n")
  end)

  it("REPL: _PROMPT and _PROMPT2, through tostring, and the defaults", function()
    prepfile(" --\na = 2\n")
    assert.matches("alo.*alo.*alo", RUN([[lua "-e_PROMPT='alo'" -i < %s]], prog))
    assert.matches("> .*> .*> ", RUN("lua -i < %s", prog))
    assert.matches("^> >> > \n$", RUN("printf 'x = {\\n}\\n' | lua -i 2>&1 | tail -n 1"))
    local out = RUN([[lua -e "%s" -i < %s]], [[
      local C = 'X'
      _PROMPT = setmetatable({}, {__tostring = function() C = C .. 'X'; return C end})
    ]], prog)
    assert.matches("^.-\nXX[^\nX]*\n?XXX[^\nX]*\n?XXXX\n?$", out)
  end)

  it("reports error objects: through __tostring, else their type", function()
    prepfile[[
      debug = require "debug"
      m = {x=0}
      setmetatable(m, {__tostring = function(x)
        return tostring(debug.getinfo(4).currentline + x.x)
      end})
      error(m)
    ]]
    NoRun(PROGNAME .. ": 6\n", "lua %s", prog)
    prepfile("error{}")
    NoRun("error object is a table value", "lua %s", prog)
  end)

  it("closes the state at the end: open files are flushed", function()
    local out = os.tmpname()
    prepfile(("io.output(%q); io.write('alo')"):format(out))
    RUN("lua %s", prog)
    local f = io.open(out)
    assert.are.equal("alo", f:read("a"))
    f:close()
    os.remove(out)
  end)

  it("prints the version line, then runs -e", function()
    assert.matches("^tklua [^\n]*\nhello\n$", RUN([[lua -v  -e"print'hello'"]]))
  end)

  it("exits as os.exit says, closing <close> variables", function()
    for _, ok in ipairs{"nil", "0", "true"} do
      prepfile("os.exit(" .. ok .. ", true)")
      RUN("lua %s", prog)
    end
    for _, bad in ipairs{"1", "false"} do
      prepfile("os.exit(" .. bad .. ", true)")
      local out, err, code = run("lua %s", prog)
      assert.are.equal(1, code)
      assert.are.equal("", out .. err)
    end
    prepfile[[
      local x <close> = setmetatable({},
        {__close = function (self, err) assert(err == nil) print("Ok") end})
      local e1 <close> = setmetatable({}, {__close = function () print(120) end})
      os.exit(true, true)
    ]]
    has_lines(RUN("lua %s", prog), "120\nOk\n")
  end)

  it("refuses bad options as lua does", function()
    NoRun("unrecognized option '---'", "lua ---")
    NoRun("unrecognized option '-Ex'", "lua -Ex --")
    NoRun("unrecognized option '-Wx'", "lua -Wx")
    NoRun("unrecognized option '-vv'", "lua -vv")
    NoRun("unrecognized option '-iv'", "lua -iv")
    NoRun("'-e' needs argument", "lua -e")
    NoRun("syntax error", "lua -e a")
    NoRun("'-l' needs argument", "lua -l")
    NoRun("cannot open -i", "lua -- -i")
  end)

  it("takes -h and --help as help (lua: an unrecognized option)", function()
    for _, opt in ipairs{"-h", "--help"} do
      local out = RUN("lua " .. opt)
      assert.matches("^usage: ", out)
    end
  end)
end)

-- Runs tklua -i on a pipe it reads line by line; send(line) writes a line,
-- ctrl_c() sends SIGINT, finish() closes the input and returns the output
-- (stdout and stderr) and the exit status.
local function repl(args)
  local pidfile, outfile = os.tmpname(), os.tmpname()
  local p = io.popen("sh -c 'echo $$ > " .. pidfile .. "; exec " .. TKLUA ..
                     " " .. (args or "") .. " -i > " .. outfile .. " 2>&1'", "w")
  local pid
  local r = {}
  function r.send(line)
    p:write(line, "\n")
    p:flush()
  end
  function r.ctrl_c()
    if pid == nil then
      local f = io.open(pidfile)
      pid = f:read("l")
      f:close()
    end
    os.execute("kill -INT " .. pid)
  end
  -- Waits (up to 20 s, scaled) until the output has `text`.
  function r.wait_for(text)
    for _ = 1, 400 * support.MULT do
      local f = io.open(outfile)
      local out = f:read("a")
      f:close()
      if out:find(text, 1, true) then return end
      os.execute("sleep 0.05")
    end
    r.ctrl_c()  -- for its pid
    os.execute("kill -KILL " .. pid)
    p:close()
    error("no '" .. text .. "' in the output")
  end
  function r.finish()
    local _, _, code = p:close()
    local f = io.open(outfile)
    local out = f:read("a")
    f:close()
    os.remove(outfile)
    os.remove(pidfile)
    return out, code
  end
  return r
end

describe("tklua's REPL on Ctrl-C", function()
  it("interrupts the running chunk and its tasks, and goes on", function()
    local r = repl()
    r.send("tk = require 'threadkit'")
    r.send("shared = tk.shared{n = 0}")
    r.send("for i = 1, 3 do tk.submit(function() while true do shared:incr('spin') end end) end")
    r.send("for i = 1, 1000 do tk.submit(function() shared:incr('n') end) end")
    r.send("print('spinning') while true do end")
    r.wait_for("spinning")
    local t0 = os.time()
    r.ctrl_c()
    r.wait_for("interrupted!")
    -- The default pool is a new one: the spinning tasks were stopped, the
    -- queued ones cancelled.
    r.send("print('result', tk.submit(function() return 6 * 7 end):result())")
    r.send("spun = shared.spin tk.sleep(0.3) print('stopped', shared.spin == spun)")
    r.send("print('looping') print('pcall', pcall(function() while true do end end))")
    r.wait_for("looping")
    r.ctrl_c()
    r.wait_for("pcall\tfalse")
    r.send("print('after', shared.n < 1000)")
    local out, code = r.finish()
    assert.are.equal(0, code, out)
    assert.matches("result\t42\n", out)
    assert.matches("stopped\ttrue\n", out)
    assert.matches("pcall\tfalse\tinterrupted!\n", out)
    assert.matches("after\ttrue\n", out)
    assert.is_true(os.time() - t0 < 15 * support.MULT)
  end)

  it("interrupts a chunk waiting for a task", function()
    local r = repl()
    r.send("tk = require 'threadkit'")
        -- A task sees no global of the REPL's: it requires threadkit itself.
    r.send("print('waiting') print(tk.submit(function() require('threadkit').sleep(60) end):result())")
    r.wait_for("waiting")
    r.ctrl_c()
    r.wait_for("interrupted!")
    r.send("print('again', tk.submit(function() return 1 end):result())")
    local out, code = r.finish()
    assert.are.equal(0, code, out)
    assert.matches("again\t1\n", out)
  end)

  it("ends the session at the prompt, or at a second Ctrl-C in a chunk stuck in C", function()
    local r = repl()
    r.send("print('ready')")
    r.wait_for("ready")
    r.ctrl_c()
    local _, code = r.finish()
    assert.are.equal(130, code)
    r = repl()
    r.send("print('searching') string.find(string.rep('a', 1e6), '.*b')")
    r.wait_for("searching")
    r.ctrl_c()
    os.execute("sleep 0.2")
    r.ctrl_c()
    _, code = r.finish()
    assert.are.equal(130, code)
  end)
end)

describe("tklua's REPL in a terminal", function()
  it("edits lines and recalls history with readline; Ctrl-C interrupts a chunk", function()
    local linked = io.popen("ldd " .. PROGNAME .. " 2>/dev/null"):read("a")
    if not linked:find("libreadline", 1, true) then
      pending("tklua was built without readline")
      return
    end
    if not os.execute("command -v script > /dev/null") then
      pending("no script(1) to give tklua a terminal")
      return
    end
    local fifo, outfile = os.tmpname(), os.tmpname()
    os.remove(fifo)
    assert.is_true(os.execute("mkfifo " .. fifo))
    -- script(1) runs tklua on a pseudo-terminal fed from the FIFO.
    local done = os.tmpname()
    os.remove(done)
    os.execute("(timeout " .. 30 * support.MULT .. " script -qec '" .. TKLUA ..
               "' /dev/null < " .. fifo .. " > " .. outfile .. " 2>&1; touch " ..
               done .. ") &")
    local input = assert(io.open(fifo, "w"))
    local function type_in(keys)
      input:write(keys)
      input:flush()
    end
    local function wait_for(text)
      for _ = 1, 400 * support.MULT do
        local f = io.open(outfile)
        local out = f:read("a")
        f:close()
        if out:find(text, 1, true) then return end
        os.execute("sleep 0.05")
      end
      error("no '" .. text .. "' in the output")
    end
    type_in("print(20+1)\r")
    wait_for("21")
    type_in("\27[A\r")             -- up: the line before, again
    type_in("print(4+)\27[D4\r")   -- left, then a character inserted
    wait_for("8")
    type_in("print('loop') while true do end\r")
    wait_for("loop")
    type_in("\3")                  -- Ctrl-C
    wait_for("interrupted!")
    type_in("print('back')\r\4")   -- then Ctrl-D ends the session
    input:close()
    for _ = 1, 400 * support.MULT do
      if io.open(done) then break end
      os.execute("sleep 0.05")
    end
    os.remove(done)
    local f = io.open(outfile)
    local out = f:read("a"):gsub("\r", "")
    f:close()
    os.remove(fifo)
    os.remove(outfile)
    -- Each result line ends what readline's terminal codes begin.
    local _, twice = out:gsub("[^%d]21\n", "")
    assert.are.equal(2, twice, out)
    assert.matches("[^%d]8\n", out)
    assert.matches("print%('back'%)\n[^\n]*back\n", out)
    assert.is_falsy(out:find("unexpected symbol", 1, true), out)
  end)
end)
