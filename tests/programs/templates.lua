-- templates.lua - a template engine that compiles templates to Lua
-- functions, as web frameworks do, and renders pages on a pool. The
-- compiled render functions range from about 1 KiB to about 1 MiB of
-- bytecode (a big page is a big function), some loaded from stripped
-- bytecode as a template cache would keep them; they are shipped as task
-- functions with page data holding NULs, markup to escape, non-ASCII
-- text, deep and wide tables and a table shared between two places. A
-- task also runs the compiler itself (a large function) on a template
-- source. Every page must match the serial rendering byte for byte.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

-- Compiles template text to the source of a Lua chunk that returns the
-- render function. Syntax: {{ path|filter }}, {% for x in path %},
-- {% if path %}, {% else %}, {% end %}; paths are a.b.c, where `a` is a
-- loop variable or a key of the page data.
local function compile(text, name)
  local code = {"local ctx = ...\n", "local out, n = {}, 0\n",
                "local function S(x) if x == nil then return '' end return tostring(x) end\n",
                "local function esc(s) return (s:gsub('[<>&\"%z]', {['<'] = '&lt;', ['>'] = '&gt;', ",
                "['&'] = '&amp;', ['\"'] = '&quot;', ['\\0'] = '&#0;'})) end\n"}
  local loops, stack = {}, {}
  local function path(p)
    local parts = {}
    for part in p:gmatch("[^%.]+") do
      if not part:match("^[%a_][%w_]*$") and not (#parts > 0 and part:match("^%d+$")) then
        error(name .. ": bad path " .. p, 0)
      end
      parts[#parts + 1] = part
    end
    local expr = loops[parts[1]] and ("v_" .. parts[1]) or ("ctx[%q]"):format(parts[1])
    for i = 2, #parts do
      local key = parts[i]:match("^%d+$") and parts[i] or ("%q"):format(parts[i])
      expr = ("(%s or {})[%s]"):format(expr, key)
    end
    return expr
  end
  local filters = {upper = "S(%s):upper()", lower = "S(%s):lower()", escape = "esc(S(%s))",
                   len = "#(%s or '')", raw = "S(%s)"}
  local pos = 1
  while pos <= #text do
    local open, close, kind, body = text:find("{([{%%])%s*(.-)%s*[}%%]}", pos)
    local literal = text:sub(pos, (open or #text + 1) - 1)
    if #literal > 0 then code[#code + 1] = ("n = n + 1; out[n] = %q\n"):format(literal) end
    if not open then break end
    if kind == "{" then
      local p, filter = body:match("^([%w_%.]+)|?(%a*)$")
      if not p then error(name .. ": bad expression {{" .. body .. "}}", 0) end
      local f = filters[filter ~= "" and filter or "escape"]
      if not f then error(name .. ": unknown filter " .. filter, 0) end
      code[#code + 1] = ("n = n + 1; out[n] = " .. f .. "\n"):format(path(p))
    else
      local var, p = body:match("^for%s+([%a_][%w_]*)%s+in%s+([%w_%.]+)$")
      if var then
        code[#code + 1] = ("for _, v_%s in ipairs(%s or {}) do\n"):format(var, path(p))
        stack[#stack + 1] = {"for", var, loops[var]}
        loops[var] = true
      elseif body:match("^if%s") then
        code[#code + 1] = ("if %s then\n"):format(path(body:match("^if%s+([%w_%.]+)$")))
        stack[#stack + 1] = {"if"}
      elseif body == "else" then
        if #stack == 0 or stack[#stack][1] ~= "if" then error(name .. ": else outside if", 0) end
        code[#code + 1] = "else\n"
      elseif body == "end" then
        local top = table.remove(stack)
        if not top then error(name .. ": end without a block", 0) end
        if top[1] == "for" then loops[top[2]] = top[3] end
        code[#code + 1] = "end\n"
      else
        error(name .. ": unknown tag {%" .. body .. "%}", 0)
      end
    end
    pos = close + 1
  end
  if #stack > 0 then error(name .. ": unclosed " .. stack[#stack][1], 0) end
  code[#code + 1] = "return table.concat(out)\n"
  return "return function(...)\n" .. table.concat(code) .. "end\n"
end

-- A random template of about `blocks` blocks over the page data's keys.
local function make_template(rng, blocks)
  local parts = {"<html><title>{{ site.title }}</title><body>\n"}
  for b = 1, blocks do
    local r = rng:int(1, 6)
    if r == 1 then
      parts[#parts + 1] = ("<ul>{%% for u in users %%}<li id=u%d>{{ u.name }} ({{ u.email|lower }})" ..
        "{%% for t in u.tags %%}[{{ t|upper }}]{%% end %%}</li>{%% end %%}</ul>\n"):format(b)
    elseif r == 2 then
      parts[#parts + 1] = ("{%% if site.banner %%}<b>{{ site.banner|raw }}</b>{%% else %%}" ..
        "no banner %d{%% end %%}\n"):format(b)
    elseif r == 3 then
      parts[#parts + 1] = ("<p>%s {{ site.owner.name }} / {{ site.owner.address.city|upper }}</p>\n"):format(
        rng:word(5, 40, "abcdefghij <>&\"'"))
    elseif r == 4 then
      parts[#parts + 1] = "{% for row in table %}<tr>{% for c in row %}<td>{{ c }}</td>{% end %}</tr>{% end %}\n"
    elseif r == 5 then
      parts[#parts + 1] = ("<i>%d: {{ users.1.name|len }} {{ missing.key }}</i>\n"):format(b)
    else
      parts[#parts + 1] = ("<pre>{{ site.blob|escape }}</pre><!-- %s -->\n"):format(rng:word(1, 20))
    end
  end
  parts[#parts + 1] = "</body></html>"
  return table.concat(parts)
end

local function make_page_data(rng, users)
  local owner = {name = "Zoë <admin>", address = {city = "Zürich"}}
  local data = {site = {title = "Site \"" .. rng:word(3, 8) .. "\"", owner = owner,
                        banner = rng:int(0, 1) == 1 and "<blink>sale</blink>" or nil,
                        blob = "bin\0ary\0" .. rng:word(10, 30) .. "\0end"},
                users = {}, table = {}, maintainer = owner}  -- owner is shared
  for i = 1, users do
    local tags = {}
    for t = 1, rng:int(0, 4) do tags[t] = rng:word(2, 6) end
    data.users[i] = {name = rng:word(3, 10) .. (i % 5 == 0 and "\0x" or ""),
                     email = rng:word(3, 8):upper() .. "@Example.COM", tags = tags}
  end
  for r = 1, 5 do
    local row = {}
    for c = 1, 6 do row[c] = (r * c) % 7 == 0 and "<&>" or r * c end
    data.table[r] = row
  end
  return data
end

local function load_render(source, name, stripped)
  local chunk = assert(load(source, "=" .. name, "t"))
  local fn = chunk()
  if stripped then fn = assert(load(string.dump(fn, true), "=" .. name, "b")) end
  return fn
end

local function run(opts)
  local rng = common.rng(opts.seed or 1001)
  local pool <close> = tk.pool{workers = 2, name = "templates"}
  -- Sizes from about 1 KiB to about 1 MiB of bytecode.
  local sizes = {4, 12, 90, 700, 3600}
  if (opts.scale or 1) < 1 then sizes = {4, 12, 90, 700} end
  local templates = {}
  for i, blocks in ipairs(sizes) do
    local text = make_template(rng, blocks)
    local name = ("page%d"):format(i)
    local source = compile(text, name)
    local fn = load_render(source, name, i % 2 == 0)
    templates[i] = {name = name, text = text, source = source, fn = fn,
                    bytes = #string.dump(fn)}
  end
  if os.getenv("TK_PROGRAM_VERBOSE") then
    for _, t in ipairs(templates) do print(t.name, t.bytes .. " bytes of bytecode") end
  end
  if templates[1].bytes < 1024 then
    return false, "the smallest template has only " .. templates[1].bytes .. " bytes of bytecode"
  end

  -- The compiler in a task, on the largest template.
  local big = templates[#templates]
  local compiled = pool:submit({name = "compile"}, compile, big.text, big.name):result(60)
  if compiled ~= big.source then return false, "the compiler in a task made other code" end

  local jobs, want = {}, {}
  for i, t in ipairs(templates) do
    for v = 1, 3 do
      -- Big pages get few users: their loops repeat over every block.
      local data = make_page_data(rng, t.bytes > 100000 and v or 5 + 10 * v)
      want[#want + 1] = t.fn(data)
      jobs[#jobs + 1] = pool:submit({name = t.name}, t.fn, data)
    end
    -- The same render function over many small pages, with pool:map.
    if i <= 3 then
      local pages = {}
      for p = 1, 40 do pages[p] = make_page_data(rng, p % 6) end
      local out = pool:map(t.fn, pages)
      for p, page in ipairs(pages) do
        if out[p] ~= t.fn(page) then return false, ("%s, map item %d differs"):format(t.name, p) end
      end
    end
  end
  for k, job in ipairs(jobs) do
    local okr, html = pcall(job.result, job, 120)
    if not okr then return false, ("render %d failed: %s"):format(k, tostring(html)) end
    if html ~= want[k] then
      return false, ("render %d (%s, %d bytes of bytecode) differs: %d bytes, want %d"):format(
        k, job.name, templates[(k - 1) // 3 + 1].bytes, #html, #want[k])
    end
  end
  -- A template error surfaces from the task that compiles it.
  local bad = pool:submit(compile, "{% for x in y %}never closed", "bad")
  local okb, err = pcall(bad.result, bad)
  if okb or not tostring(err):find("bad: unclosed for", 1, true) then
    return false, "a broken template compiled: " .. tostring(err)
  end
  return true
end

return common.main("templates", run, ...)
