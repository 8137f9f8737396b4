-- surface.lua - what the threadkit module offers Lua code, found by loading
-- it rather than by reading a list someone keeps: the module's fields, the
-- methods, readable fields and metamethods of each kind of object, and the
-- options each option table accepts.
--
--   local surface = require "surface"
--   local s = surface.collect(require "threadkit", {root = "../.."})
--   s.module            {name = lua type}                 tk.pool, tk.HIGH...
--   s.kinds[kind]       {methods = {name = true},         job:wait...
--                        fields = {name = lua type},      job.state...
--                        metamethods = {name = true},     __len, __close...
--                        loose = {letter = true}}         see below
--   s.options[call]     {name = true}                     tk.pool{workers}...
--   surface.names(s)    every name above, qualified and sorted:
--                       "tk.pool", "job:wait", "job.state", "tk.pool{workers}"
--
-- Kinds: pool, job, token, channel, shared, group, schedule, work.
--
-- Methods and fields behind an __index function cannot be listed, only
-- asked for. They are asked for by name: every identifier in the sources
-- under root (src/), which holds every name the C code compares a key
-- with. A name that answers with a function is a method, anything else a
-- field. An __index that answers names it does not have (it looks at the
-- first letter only, say) makes every such answer meaningless: the kind's
-- `loose` lists the first letters for which a made-up name answered, and
-- names starting with them are left out of its methods and fields.
--
-- Options are found the same way: a call given {name = false} plus one
-- known option with a value it refuses either says "unknown option
-- 'name'" or not. So no probe runs anything or makes a pool.
local M = {}

local KINDS = {"pool", "job", "token", "channel", "shared", "group",
               "schedule", "work"}
M.KINDS = KINDS

-- Every identifier of every C, header and Lua file under root/src.
local function candidates(root)
  local names, seen = {}, {}
  local find = io.popen("find '" .. root .. "/src' -type f \\( -name '*.c' "
                        .. "-o -name '*.h' -o -name '*.lua' \\)")
  for file in find:lines() do
    local f = assert(io.open(file, "rb"))
    for name in f:read("a"):gmatch("[%a_][%w_]*") do
      if not seen[name] then
        seen[name] = true
        names[#names + 1] = name
      end
    end
    f:close()
  end
  find:close()
  assert(#names > 0, "no sources under " .. root .. "/src")
  table.sort(names)
  return names
end

local function answer(obj, key)
  local ok, v = pcall(function() return obj[key] end)
  if ok then return v end
  return nil
end

-- One object of each kind, each with as many optional fields set as can
-- be (a failed, retried, named job has its error, traceback and times; a
-- child group its parent). Returns the objects and a function that ends
-- them.
local function make_objects(tk)
  local pool = tk.pool{workers = 1, name = "surface"}
  local job = pool:submit({name = "probe", retry = {attempts = 2, delay = 0}},
                          function() error("probe fails") end)
  job:wait()
  local group = tk.group("surface")
  group:add_task(function() tk.group("surface child") end):wait()
  local child = group:children()[1]
  local schedule = pool:schedule({delay = 3600}, function() end)
  local objects = {
    pool = pool, job = job, token = tk.token(), channel = tk.channel(),
    shared = tk.shared(), group = child or group, schedule = schedule,
    work = pool:work(function() end, function() end),
  }
  return objects, function()
    schedule:cancel()
    group:join()
    pool:shutdown()
  end
end

local function collect_kind(obj, names)
  local kind = {methods = {}, fields = {}, metamethods = {}, loose = {}}
  local mt = getmetatable(obj)
  for k in pairs(mt) do
    if type(k) == "string" and k:sub(1, 2) == "__" and k ~= "__index" and
       k ~= "__name" and k ~= "__metatable" then
      kind.metamethods[k] = true
    end
  end
  if mt.__index ~= nil then kind.metamethods.__index = true end
  local function add(name, v)
    if type(v) == "function" then kind.methods[name] = true
    else kind.fields[name] = type(v) end
  end
  local index = mt.__index
  if type(index) == "table" then
    for k, v in pairs(index) do
      if type(k) == "string" then add(k, v) end
    end
  elseif type(index) == "function" then
    for c in ("abcdefghijklmnopqrstuvwxyz_"):gmatch(".") do
      if answer(obj, c .. "_surface_no_such_name_") ~= nil then
        kind.loose[c] = true
      end
    end
    for _, name in ipairs(names) do
      local v = answer(obj, name)
      if v ~= nil and not kind.loose[name:sub(1, 1):lower()] and
         name:sub(1, 2) ~= "__" then
        add(name, v)
      end
    end
  end
  return kind
end

-- The calls that take an option table, each as probe(opts) that must fail
-- (the base option's value is refused once the names are accepted) and the
-- prefix its error puts before an unknown name.
local function option_calls(tk, objects)
  local pool, group = objects.pool, objects.group
  local function fn() end
  local probe_pool
  return {
    ["tk.pool"] = {base = {workers = 0},
                   probe = function(o) return tk.pool(o) end},
    ["tk.token"] = {base = {timeout = -1},
                    probe = function(o) return tk.token(o) end},
    ["tk.group"] = {base = {max_concurrent = -1},
                    probe = function(o) return tk.group(o) end},
    ["pool:submit"] = {base = {timeout = -1},
                       probe = function(o) return pool:submit(o, fn) end},
    ["pool:submit{retry}"] = {
      base = {attempts = 0}, prefix = "retry.", owner = "pool:submit",
      probe = function(o) return pool:submit({retry = o}, fn) end},
    ["pool:work"] = {base = {timeout = -1},
                     probe = function(o) return pool:work(o, fn, fn) end},
    ["pool:schedule"] = {base = {delay = -1},
                         probe = function(o) return pool:schedule(o, fn) end},
    ["pool:map"] = {base = {batch = 0},
                    probe = function(o) return pool:map(fn, {}, o) end},
    ["group:add_task"] = {base = {timeout = -1},
                          probe = function(o) return group:add_task(o, fn) end},
    -- pool:shutdown refuses nothing it knows: a known name shuts down the
    -- probe's own pool, which the next probe then replaces (one pool per
    -- known name, not one per candidate: a sanitizer keeps every thread's
    -- history).
    ["pool:shutdown"] = {base = {},
                         probe = function(o)
                           probe_pool = probe_pool or tk.pool(1)
                           local p = probe_pool
                           local ok, err = pcall(p.shutdown, p, o)
                           if ok then probe_pool = nil else error(err, 0) end
                         end},
  }
end

local function collect_options(tk, objects, names)
  local options = {}
  for call, c in pairs(option_calls(tk, objects)) do
    local owner, prefix = c.owner or call, c.prefix or ""
    options[owner] = options[owner] or {}
    for _, name in ipairs(names) do
      local o = {}
      for k, v in pairs(c.base) do o[k] = v end
      o[name] = false
      local ok, err = pcall(c.probe, o)
      local unknown = not ok and tostring(err):find(
        "unknown option '" .. prefix .. name .. "'", 1, true)
      if not unknown then options[owner][prefix .. name] = true end
    end
  end
  return options
end

-- collect(tk, {root = path}): the surface of the loaded module tk; root
-- is the repository (default "../..", from tests/lua).
function M.collect(tk, opts)
  opts = opts or {}
  local names = candidates(opts.root or "../..")
  local s = {module = {}, kinds = {}, options = {}}
  for k, v in pairs(tk) do
    if type(k) == "string" then s.module[k] = type(v) end
  end
  local objects, finish = make_objects(tk)
  local ok, err = pcall(function()
    for _, kind in ipairs(KINDS) do
      local obj = assert(objects[kind], "no object of kind " .. kind)
      s.kinds[kind] = collect_kind(obj, names)
    end
    s.options = collect_options(tk, objects, names)
  end)
  finish()
  if not ok then error(err, 0) end
  return s
end

-- names(s): every name of the surface, qualified as the reference writes
-- it, sorted. Metamethods are left out (they are operators, not names).
function M.names(s)
  local out = {}
  for k in pairs(s.module) do out[#out + 1] = "tk." .. k end
  for kind, k in pairs(s.kinds) do
    for m in pairs(k.methods) do out[#out + 1] = kind .. ":" .. m end
    for f in pairs(k.fields) do out[#out + 1] = kind .. "." .. f end
  end
  for call, set in pairs(s.options) do
    for o in pairs(set) do out[#out + 1] = call .. "{" .. o .. "}" end
  end
  table.sort(out)
  return out
end

return M
