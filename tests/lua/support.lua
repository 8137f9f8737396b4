-- support.lua - what several specs share: running tklua as a process,
-- sending it Ctrl-C, reading JSON.
local assert = require "luassert"
local M = {}
local TKLUA = os.getenv("TKLUA")

-- Runs a shell command; returns stdout, stderr and the exit status.
function M.run(cmd)
  local out, err = os.tmpname(), os.tmpname()
  local ok, how, code = os.execute(cmd .. " >" .. out .. " 2>" .. err)
  local function slurp(f)
    local h = io.open(f)
    local s = h:read("a")
    h:close()
    os.remove(f)
    return s
  end
  if how == "signal" then code = 128 + code end
  return slurp(out), slurp(err), ok and 0 or code
end

function M.script(text)
  local f = os.tmpname()
  local h = io.open(f, "w")
  h:write(text)
  h:close()
  return f
end

-- Sanitizer and valgrind runs are slower: their time bounds scale.
M.MULT = tonumber(os.getenv("TK_TEST_TIMEOUT_MULTIPLIER") or "1")

-- Runs script text (with %q for a file it creates once it is ready) in
-- the background, sends SIGINT once it is ready, and checks that it
-- exits 130 within a second (sanitizer builds scale the bound). `env`
-- prefixes the command (variables, a timeout); `opts.args` go before the
-- script; tklua reads `opts.input` (then end of file; %q there too), or
-- with `opts.open_stdin` a pipe that stays open and empty. `opts.settle`
-- is how long after the file appears the signal comes (default 0.1 s).
function M.exits_130_on_ctrl_c(text, env, opts)
  opts = opts or {}
  local ready = os.tmpname()
  os.remove(ready)
  local f = M.script(text:format(ready))
  local input, writer = "/dev/null", ""
  if opts.input then
    input = M.script(opts.input:format(ready))
  elseif opts.open_stdin then
    input = os.tmpname()
    os.remove(input)
    assert.is_true(os.execute("mkfifo " .. input))
    writer = "sleep 30 > " .. input .. " & w=$!; "
  end
  local cmd = "sh -c '" .. writer .. (env or "") .. TKLUA .. " " ..
              (opts.args or "") .. " " .. f .. " < " .. input ..
              " > /dev/null & pid=$!; " ..
              "n=0; while [ ! -e " .. ready .. " ] && [ $n -lt 200 ]; do " ..
              "sleep 0.05; n=$((n+1)); done; sleep " .. (opts.settle or 0.1) .. "; " ..
              "start=$(date +%s%N); kill -INT $pid; wait $pid; " ..
              "code=$?; echo $code $(( ($(date +%s%N) - start) / 1000000 )); " ..
              (writer ~= "" and "kill $w" or "") .. "'"
  local out = M.run(cmd)
  if input ~= "/dev/null" then os.remove(input) end
  local code, ms = out:match("(%d+) (%d+)")
  os.remove(f)
  os.remove(ready)
  assert.are.equal("130", code)
  assert.is_true(tonumber(ms) < 1000 * M.MULT, "took " .. ms .. " ms")
end

-- The process's resident memory, in KiB (its own /proc/self/statm).
function M.rss_kib()
  local f = assert(io.open("/proc/self/statm"))
  local pages = f:read("a"):match("^%d+ (%d+)")
  f:close()
  return tonumber(pages) * 4
end

-- Whether this process runs under a sanitizer (nil where /proc tells
-- nothing), and whether RSS tells what the process holds: not under a
-- sanitizer, whose allocator keeps freed memory in quarantine (hundreds of
-- MiB).
do
  local f = io.open("/proc/self/maps")
  local maps = f and f:read("a")
  if f then f:close() end
  M.SANITIZED = maps and (maps:find("libasan", 1, true) or
                          maps:find("libtsan", 1, true)) ~= nil
  M.RSS_MEANINGFUL = M.SANITIZED == false
end

-- A small strict JSON reader: errors on anything malformed.
function M.decode_json(s)
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

return M
