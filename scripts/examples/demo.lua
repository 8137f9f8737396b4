-- demo.lua - what `make demo` runs: a small task graph on threadkit that
-- tells its story, prints the statistics table and writes a trace file
-- (arg[1], default build/demo-trace.json; open it in Perfetto or
-- chrome://tracing).
local tk = require "threadkit"

local trace = arg and arg[1] or "build/demo-trace.json"
tk.trace_start(trace)
print(("%s: a task graph on a 2-worker pool"):format(tk._VERSION))

local pool <close> = tk.pool{workers = 2, name = "demo"}
local story = tk.channel()

-- fetch -> parse -> aggregate; mirror-c is cancelled on purpose, and the
-- flaky mirror-b fails twice before its third attempt succeeds.
local flaky = tk.shared()
local function fetch(source)
  tk.sleep(0.05)  -- a wait that frees the worker for other tasks
  if source == "mirror-b" and flaky:incr("tries") < 3 then
    error(source .. ": connection reset", 0)
  end
  story:push("fetched " .. source)
  return {source = source, bytes = #source * 100}
end

local function parse(job)
  local doc = job:result()
  story:push("parsed " .. doc.source)
  return doc.bytes // 10
end

local slow = tk.token()
local a = pool:submit({name = "fetch mirror-a", priority = "high"}, fetch, "mirror-a")
local b = pool:submit({name = "fetch mirror-b", priority = "high",
                       retry = {attempts = 3, delay = 0.02}}, fetch, "mirror-b")
local c = pool:submit({name = "fetch mirror-c", priority = "low", token = slow},
                      function() tk.sleep(5) tk.checkpoint() end)
local pa = pool:submit({name = "parse a", after = {a}}, parse, a)
local pb = pool:submit({name = "parse b", after = {b}}, parse, b)
local pc = pool:submit({name = "parse c", after = {c}}, parse, c)
local agg = pool:submit({name = "aggregate", after = {pa, pb}, priority = "highest"},
                        function(x, y) return x:result() + y:result() end, pa, pb)
slow:cancel()  -- the slow mirror is not worth waiting for

-- A group of verifiers, stopped as soon as one finds what it looks for.
local found = tk.shared()
local g = tk.group("Verifying", {max_concurrent = 2, pool = pool})
for i = 1, 5 do
  g:add_task({name = "verify " .. i}, function()
    for _ = 1, 10 do
      if i == 2 then found.who = i return "verified" end
      if not tk.event_aware_sleep(0.05) then return "stopped" end
    end
  end)
end
g:wait_for_condition(function() return found.who ~= nil end, 10)
g:join(10)

pool:wait_all()
story:close()
while true do
  local ok, line = pcall(story.pop, story, 0)
  if not ok or line == nil then break end
  print("  task: " .. line)
end

print("what happened:")
for _, j in ipairs{a, b, c, pa, pb, pc, agg} do
  local note = j.error and ("(" .. j.error .. ")") or ""
  if j.attempts > 1 then note = ("after %d attempts"):format(j.attempts) end
  print(("  %-16s %-10s %s"):format(j.name, j.state, note))
end
print(("  aggregate = %d"):format(agg:result()))
print(("  group 'Verifying': verifier %d found it; %d stopped, %d never started")
      :format(found.who, #g:results() - 1, g:metrics().cancelled))
io.write(tk.tree())
io.write(tk.stats())
print(("trace: %d events written to %s"):format(tk.trace_stop(), trace))
