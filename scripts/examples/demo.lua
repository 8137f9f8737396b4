-- demo.lua - what `make demo` runs: a small task graph on threadkit.
-- fetch -> parse -> aggregate with priorities, a failure that cancels its
-- dependents, a runaway task stopped by its timeout, tasks that wait
-- without holding a worker, and the pool's metrics.
local tk = require "threadkit"

local pool <close> = tk.pool{workers = 2, name = "demo"}
print(("%s: a task graph on a 2-worker pool"):format(tk._VERSION))

local log = tk.channel()  -- tasks report here; the main script prints

local function fetch(source)
  tk.sleep(0.05)  -- a wait that frees the worker for other tasks
  if source == "mirror-b" then error(source .. ": connection refused", 0) end
  log:push("fetched " .. source)
  return {source = source, bytes = #source * 100}
end

local function parse(doc)
  log:push("parsed " .. doc.source)
  return doc.bytes // 10
end

local a = pool:submit({name = "fetch mirror-a", priority = "high"}, fetch, "mirror-a")
local b = pool:submit({name = "fetch mirror-b", priority = "high"}, fetch, "mirror-b")
local pa = pool:submit({name = "parse a", after = {a}},
                       function() return parse(a:result()) end)
local pb = pool:submit({name = "parse b", after = {b}},
                       function() return parse(b:result()) end)
local agg = pool:submit({name = "aggregate", after = {pa, pb}},
                        function() return pa:result() + pb:result() end)
local runaway = pool:submit({name = "runaway", priority = "low", timeout = 0.2},
                            function() while true do end end)

pool:wait_all()
log:close()
while true do
  local ok, line = pcall(log.pop, log, 0)
  if not ok or line == nil then break end
  print("  task: " .. line)
end

print("what happened:")
for _, j in ipairs{a, b, pa, pb, agg, runaway} do
  print(("  %-16s %-10s %s"):format(j.name, j.state, j.error and "(" .. j.error .. ")" or ""))
end
print(("  parse a gave %d"):format(pa:result()))

local m = pool:metrics()
print(("metrics: submitted %d, completed %d, failed %d, cancelled %d"):format(
  m.submitted, m.completed, m.failed, m.cancelled))
