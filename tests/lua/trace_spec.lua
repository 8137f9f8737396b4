-- trace_spec.lua - tk.trace_start / trace_stop and tklua --trace.
local tk = require "threadkit"

-- A small strict JSON reader: errors on anything malformed.
local function decode_json(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" then error("unterminated string") end
      if c == '"' then pos = pos + 1 return table.concat(out) end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local map = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", n = "\n", t = "\t",
                     r = "\r", b = "\b", f = "\f"}
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(assert(s:sub(pos + 2, pos + 5):match("^%x%x%x%x$")), 16))
          pos = pos + 6
        else
          out[#out + 1] = assert(map[e], "bad escape")
          pos = pos + 2
        end
      else
        assert(c:byte() >= 32, "control character in string")
        out[#out + 1] = c
        pos = pos + 1
      end
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return t end
      while true do
        ws()
        assert(s:sub(pos, pos) == '"', "key expected")
        local k = str()
        ws()
        assert(s:sub(pos, pos) == ":", "colon expected")
        pos = pos + 1
        t[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return t end
        assert(d == ",", "comma expected")
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return t end
        assert(d == ",", "comma expected")
      end
    elseif c == '"' then
      return str()
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if num and #num > 0 then pos = pos + #num return assert(tonumber(num)) end
      for word, v in pairs{["true"] = true, ["false"] = false} do
        if s:sub(pos, pos + #word - 1) == word then pos = pos + #word return v end
      end
      if s:sub(pos, pos + 3) == "null" then pos = pos + 4 return nil end
      error("unexpected " .. c .. " at " .. pos)
    end
  end
  local v = value()
  ws()
  assert(pos > #s, "trailing characters")
  return v
end

local function read(path)
  local h = assert(io.open(path))
  local s = h:read("a")
  h:close()
  return s
end

describe("trace", function()
  it("writes well-formed Chrome trace JSON matching the jobs that ran", function()
    local path = os.tmpname()
    tk.trace_start(path)
    local p = tk.pool(2)
    local a = p:submit({name = "fetch"}, function() return 1 end)
    local b = p:submit({name = "parse", after = {a}}, function() error("boom", 0) end)
    local c = p:submit({name = "aggregate", after = {b}}, function() end)
    local g = tk.group("G", {pool = p})
    g:add_task({name = "in group"}, function() end)
    g:join()
    g:set_event_for_child_tasks()
    p:wait_all(10)
    p:shutdown()
    local n = tk.trace_stop()
    assert.is_true(n >= 5)
    local doc = decode_json(read(path))
    os.remove(path)
    local by = {}
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "X" or (e.ph == "i" and e.cat == "cancel") then by[e.name] = e end
    end
    assert.are.equal("X", by.fetch.ph)
    assert.are.equal("completed", by.fetch.args.state)
    assert.are.equal("failed", by.parse.args.state)
    assert.are.equal("boom", by.parse.args.error)
    assert.are.equal("i", by.aggregate.ph)  -- cancelled without running
    assert.are.equal("cancelled", by.aggregate.args.state)
    assert.are.equal("G", by["in group"].args.group)
    local starts, finishes, marks = 0, 0, 0
    for _, e in ipairs(doc.traceEvents) do
      if e.ph == "s" then starts = starts + 1 end
      if e.ph == "f" then finishes = finishes + 1 end
      if e.ph == "i" and e.cat == "group" then
        marks = marks + 1
        assert.are.equal("G: event set", e.name)
      end
    end
    assert.are.equal(1, starts)  -- fetch -> parse (parse ran)
    assert.are.equal(1, finishes)
    assert.are.equal(1, marks)
    assert.is_true(by.fetch.ts >= 0 and by.fetch.dur >= 0)
  end)

  it("refuses a second trace while one runs, and costs nothing once stopped", function()
    local path = os.tmpname()
    tk.trace_start(path)
    assert.has_error(function() tk.trace_start(path) end,
                     "a trace is already being recorded")
    tk.trace_stop()
    assert.are.equal(0, tk.trace_stop())  -- nothing running
    os.remove(path)
  end)

  it("is written by tklua --trace", function()
    local TKLUA = assert(os.getenv("TKLUA"))
    local path = os.tmpname()
    local ok = os.execute(TKLUA .. " --trace " .. path ..
      [[ -e "local tk = require 'threadkit' tk.submit({name = 'cli'}, function() end)"]])
    assert.is_true(ok)
    local doc = decode_json(read(path))
    os.remove(path)
    local found = false
    for _, e in ipairs(doc.traceEvents) do found = found or e.name == "cli" end
    assert.is_true(found)
  end)

  it("fails at once on a file it cannot write, before any work", function()
    assert.has_error(function() tk.trace_start("/nonexistent-dir/t.json") end,
      "cannot write the trace to /nonexistent-dir/t.json: No such file or directory")
    local path = os.tmpname()
    tk.trace_start(path)  -- the failed start left nothing running
    assert.is_true(tk.trace_stop() >= 0)
    os.remove(path)
    local TKLUA = assert(os.getenv("TKLUA"))
    local out = os.tmpname()
    local ok, _, code = os.execute(TKLUA .. " --trace /nonexistent-dir/t.json" ..
      [[ -e "print('the script ran')" >]] .. out .. " 2>&1")
    local text = read(out)
    os.remove(out)
    assert.is_nil(ok)
    assert.are.equal(1, code)
    assert.are.equal("tklua: cannot write the trace to /nonexistent-dir/t.json: "
                     .. "No such file or directory\n", text)
  end)
end)
