-- bench_lua.lua - Lua tasks through threadkit against peers, same run.
--   T1  N tasks `function(x) return x * 2 end`, submitted one by one from
--       the main state to 2 workers, results summed and checked
--   T1w the same N through pool:work, whose results come to a callback
--       as luv's do (no job handle per task)
--   T2  the same N through luv's uv.new_work (UV_THREADPOOL_SIZE=2)
--   T0  a serial loop, the floor
-- and the memory of an idle worker state and of a queued task.
-- Medians of ROUNDS rounds, interleaved; a ratio against a peer is the
-- median of the rounds' own ratios, which a drift of the machine's speed
-- over the run moves less. Run by `make bench` under lua5.4.
local tk = require "threadkit"
local N = tonumber(os.getenv("BENCH_LUA_N")) or 200000
local ROUNDS = 7
MEMORY_LINES = {}  -- measured first, on a fresh heap; printed last

local function median(list)
  local t = {table.unpack(list)}  -- sorted apart: rounds stay paired
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local expected = N * (N + 1)  -- sum of 2i for i = 1..N

local function serial()
  local f = function(x) return x * 2 end
  local t0 = tk.now()
  local s = 0
  for i = 1, N do s = s + f(i) end
  assert(s == expected)
  return N / (tk.now() - t0)
end

local pool = tk.pool(2)
local function threadkit_one_by_one()
  local f = function(x) return x * 2 end
  local t0 = tk.now()
  local jobs = {}
  for i = 1, N do jobs[i] = pool:submit(f, i) end
  local s = 0
  for i = 1, N do s = s + jobs[i]:result() end
  assert(s == expected, "wrong sum")
  return N / (tk.now() - t0)
end

local function threadkit_work()
  local f = function(x) return x * 2 end
  local t0 = tk.now()
  local s = 0
  local w = pool:work(f, function(ok, r) s = s + r end)
  for i = 1, N do w:queue(i) end
  w:wait()
  assert(s == expected, "work: wrong sum")
  return N / (tk.now() - t0)
end

local MAP_N = tonumber(os.getenv("BENCH_MAP_N")) or 1000000
local map_list = {}
for i = 1, MAP_N do map_list[i] = i end
local function threadkit_map()
  local t0 = tk.now()
  local out = pool:map(function(x) return x * 2 end, map_list)
  local dt = tk.now() - t0
  assert(#out == MAP_N and out[MAP_N] == 2 * MAP_N, "map: wrong result")
  return MAP_N / dt
end

local ok_uv, uv = pcall(require, "luv")
local function luv_work()
  local s, done = 0, 0
  local work = uv.new_work(function(x) return x * 2 end,
                           function(r) s = s + r; done = done + 1 end)
  local t0 = tk.now()
  for i = 1, N do work:queue(i) end
  uv.run()
  assert(done == N and s == expected, "luv: wrong sum")
  return N / (tk.now() - t0)
end

-- Memory: the Lua heap of a fresh worker state, the process RSS per idle
-- worker state, and per queued task.
local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end

local W = 32
collectgarbage()
local before = rss_kb()
local p = tk.pool(W)
local started = tk.channel()
local gate = tk.token()
for _ = 1, W do
  p:submit(function()  -- the live heap: the state's setup left garbage
    collectgarbage()
    started:push(collectgarbage("count"))
    gate:wait()
  end)
end
local heap = 0
for _ = 1, W do heap = heap + started:pop() end
local per_state = (rss_kb() - before) / W
gate:cancel()
p:shutdown()
MEMORY_LINES[#MEMORY_LINES + 1] = (("Memory: a worker state's Lua heap %.0f KiB; RSS per idle worker state "
       .. "(thread + state) %.0f KiB"):format(heap / W, per_state))

local q = tk.pool(1)
local hold = tk.token()
local go = tk.channel()
q:submit(function() go:push(1) while not hold:is_cancelled() do end end)
go:pop()
collectgarbage()
local M = 100000
local f = function(x) return x end
local jobs = {}
for i = 1, M do jobs[i] = false end  -- the list itself is not per-task cost
local r0 = rss_kb()
for i = 1, M do jobs[i] = q:submit(f, i) end
local per_task = (rss_kb() - r0) * 1024 / M
local w = q:work(f, function() end)
collectgarbage()
r0 = rss_kb()
for i = 1, M do w:queue(i) end
local per_call = (rss_kb() - r0) * 1024 / M
hold:cancel()
q:shutdown()
w:wait()
MEMORY_LINES[#MEMORY_LINES + 1] = (("Memory: %.0f bytes per queued task (job, task, copied arguments and "
       .. "the Lua handle); %.0f per queued pool:work call"):format(per_task, per_call))

local rates = {serial = {}, threadkit = {}, work = {}, luv = {}, map = {},
               traced = {}}
local trace_file = os.tmpname()
for _ = 1, ROUNDS do
  rates.serial[#rates.serial + 1] = serial()
  rates.threadkit[#rates.threadkit + 1] = threadkit_one_by_one()
  collectgarbage()
  rates.work[#rates.work + 1] = threadkit_work()
  collectgarbage()
  rates.map[#rates.map + 1] = threadkit_map()
  collectgarbage()
  tk.trace_start(trace_file)
  rates.traced[#rates.traced + 1] = threadkit_one_by_one()
  tk.trace_stop()
  collectgarbage()
  if ok_uv then rates.luv[#rates.luv + 1] = luv_work() end
  collectgarbage()
end

local tkr = median(rates.threadkit)
print(("Lua tasks: %d x `return x * 2`, 2 workers, medians of %d rounds"):format(N, ROUNDS))
print(("  %-30s %12s %14s"):format("", "tasks/s", "threadkit is"))
print(("  %-30s %12.0f %13.2fx"):format("threadkit, one by one", tkr, 1))
-- The median of the rounds' own ratios of a threadkit rate to luv's.
local function against_luv(mine)
  local ratios, each = {}, {}
  for i = 1, ROUNDS do
    ratios[i] = mine[i] / rates.luv[i]
    each[i] = ("%.2f"):format(ratios[i])
  end
  return median(ratios), table.concat(each, " ")
end
print(("  %-30s %12.0f %13.2fx"):format("threadkit pool:work, callbacks",
                                        median(rates.work), median(rates.work) / tkr))
if ok_uv then
  local r, each = against_luv(rates.threadkit)
  print(("  %-30s %12.0f %13.2fx  (rounds: %s)"):format("luv uv.new_work",
    median(rates.luv), r, each))
  r, each = against_luv(rates.work)
  print(("  %-30s %12s %13.2fx  (rounds: %s)"):format("  pool:work against luv", "",
    r, each))
else
  print("  luv uv.new_work               (lua-luv not installed)")
end
local tr = median(rates.traced)
print(("  %-30s %12.0f %13.2fx  (trace overhead %.0f %%)"):format(
  "threadkit one by one, traced", tr, tkr / tr, (tkr / tr - 1) * 100))
os.remove(trace_file)
print(("  %-30s %12.0f %13s"):format(("threadkit pool:map, %d items"):format(MAP_N),
                                     median(rates.map), "(items/s)"))
print(("  %-30s %12.0f %13.2fx"):format("serial loop (floor)", median(rates.serial),
                                        tkr / median(rates.serial)))
pool:shutdown()


for _, line in ipairs(MEMORY_LINES) do print(line) end
