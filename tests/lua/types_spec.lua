-- types_spec.lua - types/threadkit.lua, the editors' definitions, names
-- exactly what the module has: every function, method, field and option
-- the loaded module shows (surface.lua), and nothing it does not have.
local surface = require "surface"
local tk = require "threadkit"

local KIND_CLASS = {
  pool = "threadkit.Pool", job = "threadkit.Job", token = "threadkit.Token",
  channel = "threadkit.Channel", shared = "threadkit.Shared",
  group = "threadkit.Group", schedule = "threadkit.Schedule",
  work = "threadkit.Work",
}
-- The option tables of each call; "retry." names a nested table.
local OPTION_CLASSES = {
  ["tk.pool"] = {"threadkit.PoolOptions"},
  ["tk.token"] = {"threadkit.TokenOptions"},
  ["tk.group"] = {"threadkit.GroupOptions"},
  ["pool:submit"] = {"threadkit.SubmitOptions", retry = "threadkit.RetryOptions"},
  ["pool:work"] = {"threadkit.WorkOptions"},
  ["pool:schedule"] = {"threadkit.ScheduleSpec"},
  ["pool:map"] = {"threadkit.MapOptions"},
  ["pool:shutdown"] = {"threadkit.ShutdownOptions"},
  ["group:add_task"] = {"threadkit.TaskOptions"},
}

-- The definitions as {module = {name = true}, classes = {class = {fields
-- = {name = true}, methods = {name = true}}}}.
local function read_definitions(path)
  local defs = {module = {}, classes = {}}
  local vars, class = {}, nil
  local function of(name)
    defs.classes[name] = defs.classes[name] or {fields = {}, methods = {}}
    return defs.classes[name]
  end
  for line in io.lines(path) do
    local c = line:match("^%-%-%-@class ([%w%.]+)")
    if c then class = c end
    local field = line:match("^%-%-%-@field ([%w_]+)")
    if field and class then of(class).fields[field] = true end
    local var = line:match("^local (%w+) = {}")
    if var and class then vars[var] = class end
    local mod = line:match("^tk%.([%w_]+) =") or line:match("^function tk%.([%w_]+)%(")
    if mod then defs.module[mod] = true end
    local owner, method = line:match("^function (%w+):([%w_]+)%(")
    if owner then of(assert(vars[owner], "no class for " .. owner)).methods[method] = true end
  end
  return defs
end

-- The names as surface.names writes them.
local function definition_names(defs)
  local names = {}
  for name in pairs(defs.module) do names["tk." .. name] = true end
  for kind, class in pairs(KIND_CLASS) do
    local c = defs.classes[class] or {fields = {}, methods = {}}
    for m in pairs(c.methods) do names[kind .. ":" .. m] = true end
    for f in pairs(c.fields) do names[kind .. "." .. f] = true end
  end
  for call, classes in pairs(OPTION_CLASSES) do
    for f in pairs(defs.classes[classes[1]].fields) do
      names[call .. "{" .. f .. "}"] = true
    end
    if classes.retry then
      for f in pairs(defs.classes[classes.retry].fields) do
        names[call .. "{retry." .. f .. "}"] = true
      end
    end
  end
  return names
end

-- The surface is found by probing: thousands of errors raised from C
-- through Lua, whose longjmps a sanitizer's shadow stack cannot follow
-- (ThreadSanitizer's overflows). It has nothing of threads or memory to
-- check: plain builds run it.
if require("support").SANITIZED then
  describe("types/threadkit.lua", function()
    pending("checked by plain builds only")
  end)
  return
end

describe("types/threadkit.lua", function()
  local s = surface.collect(tk, {root = "../.."})
  local have = {}
  for _, name in ipairs(surface.names(s)) do have[name] = true end
  local defined = definition_names(read_definitions("../../types/threadkit.lua"))

  it("defines everything the module has", function()
    local missing = {}
    for name in pairs(have) do
      if not defined[name] then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("defines nothing the module lacks", function()
    local extra = {}
    for name in pairs(defined) do
      -- A kind whose __index answers any name of some first letters
      -- (surface's `loose`) cannot show those: they are taken on trust.
      local kind, sep, field = name:match("^(%w+)([.:])([%w_]+)$")
      local loose = kind and s.kinds[kind] and sep == "." and
                    s.kinds[kind].loose[field:sub(1, 1)]
      if not have[name] and not loose then extra[#extra + 1] = name end
    end
    table.sort(extra)
    assert.are.same({}, extra)
  end)

  it("is a LuaLS meta file that loads as Lua", function()
    local f = assert(io.open("../../types/threadkit.lua"))
    local text = f:read("a")
    f:close()
    assert.matches("^%-%-%-@meta threadkit\n", text)
    assert.is_function(load(text, "=types/threadkit.lua"))
  end)
end)
