-- soak.lua [seconds] - a randomized mix of everything threadkit does (the
-- corpus of real programs in tests/programs included), for a
-- long time, checking invariants after every round: each job ends in one
-- final state that fits what its task did, our tally of those states equals
-- the pool's counts, no worker is lost, and RSS stays flat.
-- Run by `make soak` (SOAK_SECONDS, default 600; SOAK_SEED to replay).
-- Exits 1 with the failed invariant; prints "soak: ok" and figures.
local tk = require "threadkit"

local seconds = tonumber(arg[1] or os.getenv("SOAK_SECONDS") or 600)
local seed = tonumber(os.getenv("SOAK_SEED") or "") or os.time()
math.randomseed(seed)
local rnd = math.random

local function fail(fmt, ...)
  io.stderr:write(("soak: FAILED (seed %d): " .. fmt .. "\n"):format(seed, ...))
  os.exit(1)
end

local function rss_kib()
  local f = assert(io.open("/proc/self/statm"))
  local pages = f:read("n") and f:read("n")
  f:close()
  return pages * 4  -- 4 KiB pages on the machines we run on
end

-- {====================================================== kinds of task
-- Each kind submits one job (or a few) and says which final states and
-- results are right for it. `r` is the round: its pool, the jobs to check,
-- what to do once everything is submitted (`later`), its groups and the
-- channel on which tasks hand over the subgroups they make.

local FINAL = {completed = true, failed = true, cancelled = true}

local function expect(r, job, states, check)
  r.jobs[#r.jobs + 1] = {job = job, states = states, check = check}
  return job
end

local kinds = {}

function kinds.compute(r)
  local x = rnd(1, 1e6)
  expect(r, r.pool:submit(function(v) return v * 2 end, x),
         {completed = true}, function(v) return v == x * 2 end)
end

function kinds.error(r)
  expect(r, r.pool:submit(function() error("boom") end),
         {failed = true}, nil)
end

-- A task submits a child from its worker state and waits for it (the wait
-- suspends the task); both handles come back to be checked.
function kinds.nested(r)
  local pool, x = r.pool, rnd(1, 1000)
  local j = r.pool:submit(function(p, v)
    local child = p:submit(function(w) return w + 1 end, v)
    return child, child:result()
  end, pool, x)
  expect(r, j, {completed = true}, function(child, v)
    expect(r, child, {completed = true}, function(w) return w == x + 1 end)
    return v == x + 1
  end)
end

-- A loop that never checks: stopped by its timeout.
function kinds.runaway_timeout(r)
  expect(r, r.pool:submit({timeout = 0.005 + rnd() * 0.02},
                          function() while true do end end),
         {cancelled = true}, nil)
end

-- A loop that never checks: stopped by job:cancel(true) a moment later.
function kinds.runaway_force(r)
  local j = r.pool:submit(function() while true do end end)
  r.later[#r.later + 1] = function() j:cancel(true) end
  expect(r, j, {cancelled = true}, nil)
end

-- Sleeps until its token is cancelled (the sleep suspends the task).
function kinds.token_cancel(r)
  local tok = tk.token()
  local j = r.pool:submit({token = tok}, function()
    tk.sleep(30)
    tk.checkpoint()
    return "slept through"
  end)
  r.later[#r.later + 1] = function() tok:cancel() end
  expect(r, j, {cancelled = true}, nil)
end

-- Producers and a consumer over a channel: every value arrives. (A push
-- into a full channel blocks its worker, so a bounded one has room for all:
-- with one worker a blocked producer would starve the consumer.)
function kinds.channel(r)
  local n, producers = rnd(1, 50), rnd(1, 3)
  local ch = rnd() < 0.5 and tk.channel() or tk.channel(n * producers)
  local sum = 0
  for p = 1, producers do
    expect(r, r.pool:submit(function(c, count, base)
      for i = 1, count do c:push(base + i) end
    end, ch, n, p * 1000), {completed = true}, nil)
    sum = sum + n * p * 1000 + n * (n + 1) // 2
  end
  expect(r, r.pool:submit(function(c, count)
    local s = 0
    for _ = 1, count do s = s + assert(c:pop(30)) end
    return s
  end, ch, n * producers), {completed = true},
    function(s) return s == sum end)
end

local function submit_value(r, v)
  return expect(r, r.pool:submit(function(x) return x end, v),
                {completed = true}, function(x) return x == v end)
end

-- Dependencies: a diamond on success; after a failure, never runs.
function kinds.deps(r)
  local a, b = submit_value(r, 1), submit_value(r, 2)
  expect(r, r.pool:submit({after = {a, b}}, function() return "both" end),
         {completed = true}, function(v) return v == "both" end)
  local bad = expect(r, r.pool:submit(function() error("dep") end),
                     {failed = true}, nil)
  expect(r, r.pool:submit({after = {bad}}, function() return "ran" end),
         {cancelled = true, failed = true}, nil)
end

-- A group with a limit whose tasks make subgroups; sometimes its event is
-- set while they run. The joins must return; every job must be final. The
-- subgroups come back over r.subs, their jobs are checked after the joins.
function kinds.groups(r)
  local g = tk.group("soak", {max_concurrent = rnd(0, 3), pool = r.pool})
  local any = {completed = true, cancelled = true}
  for _ = 1, rnd(1, 6) do
    expect(r, g:add_task(function(depth, subs)
      local sub = tk.group("sub")
      subs:push(sub)  -- a finished group leaves the tree once collected
      for _ = 1, depth do
        sub:add_task(function()
          tk.event_aware_sleep(0.001 * rnd(0, 5))
          return tk.cancelled() and "told" or "done"
        end)
      end
      return sub:join(30)
    end, rnd(0, 4), r.subs), any, nil)  -- false if the event cut it short
  end
  if rnd() < 0.3 then
    r.later[#r.later + 1] = function() g:set_event_for_child_tasks() end
  end
  r.groups[#r.groups + 1] = g
end

-- After the joins: the subgroups' jobs join the ones to check.
local function collect_subgroups(r)
  for sub in r.subs.try_pop, r.subs do
    for _, list in ipairs{sub:results(), sub:errors()} do
      for _, e in ipairs(list) do
        expect(r, e.job, {completed = true, cancelled = true}, nil)
      end
    end
  end
end

-- A pending job cancelled before it can start (or just after).
function kinds.cancel(r)
  local j = r.pool:submit({priority = "lowest"}, function() return 1 end)
  r.later[#r.later + 1] = function() j:cancel() end
  expect(r, j, {completed = true, cancelled = true}, nil)
end

-- Calls through pool:work, some failing: each call's on_result runs once,
-- in w:wait, with the right result; a cancelling shutdown says cancelled.
function kinds.work(r)
  local n, fails = rnd(1, 40), rnd() < 0.3
  local e = {n = n, bad = 0, sum = 0,
             seen = {completed = 0, failed = 0, cancelled = 0}, got = 0}
  e.w = r.pool:work(function(x)
    if x < 0 then error("negative") end
    return x * 2
  end, function(ok, v)
    local st = ok and "completed"
               or (v:find("^job was cancelled") and "cancelled" or "failed")
    e.seen[st] = e.seen[st] + 1
    if ok then e.got = e.got + v end
  end)
  for i = 1, n do
    local x = (fails and i % 5 == 0) and -i or i
    if x < 0 then e.bad = e.bad + 1 else e.sum = e.sum + 2 * x end
    e.w:queue(x)
  end
  r.works[#r.works + 1] = e
end

-- Functions made by load, each a new one: their code must be let go once
-- nothing can send them again (RSS, over a long run).
function kinds.loaded(r)
  local x = rnd(1, 1e9)
  local f = load("return function() return " .. x .. " end")()
  expect(r, r.pool:submit(f), {completed = true}, function(v) return v == x end)
end

-- Now and then a large value, there and back: no buffer of its size may
-- stay behind. One size: values of varying sizes leave malloc's arenas
-- fragmented, their floor creeping up for minutes without a leak.
function kinds.large(r)
  if rnd() >= 0.02 then return kinds.compute(r) end
  local n = 1024 * 1024
  expect(r, r.pool:submit(function(s) return #s, s:sub(-3) end, ("x"):rep(n)),
         {completed = true}, function(len, tail) return len == n and tail == "xxx" end)
end

-- Shared objects that hold each other, then dropped: the cycle collector
-- must reclaim them (RSS, over a long run); now and then through a task.
-- Many at a time, so that collections come often and the RSS floor shows
-- what they leave, not where in between them a round ends.
function kinds.cycles(r)
  local a
  for _ = 1, 16 do
    local b, c = tk.shared(), tk.channel()
    a = tk.shared()
    a.other, b.other, a.me = b, a, a
    c:push(c)
    c:push(a)
  end
  if rnd() < 0.2 then
    expect(r, r.pool:submit(function(x) x.again = x.other return true end, a),
           {completed = true}, function(v) return v == true end)
  else
    kinds.compute(r)
  end
end

-- A group that lives for the whole run, fed and joined every round: it
-- must not keep every job it ever ran (see the round's end).
local long_group
function kinds.long_group(r)
  long_group = long_group or tk.group("soak-long", {pool = tk.pool{workers = 2, name = "soak-long"}})
  for _ = 1, rnd(1, 10) do long_group:add_task(function() return 1 end) end
end

-- One of the corpus of real programs (tests/programs/*.lua), with a seed
-- of ours and at a quarter of its size, run by the same interpreter as a
-- process of its own while the rounds go on: its result must equal its own
-- serial run. One at a time; the round that starts it lets it run and a
-- round at least 3 s later collects it. Not in this process: at their
-- peak the programs take tens of MiB spread over malloc's per-thread
-- arenas, whose high-water marks rise for a minute or two (flat with
-- MALLOC_ARENA_MAX=1) and would hide a leak or fake one.
local programs_dir = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") ..
                     "../tests/programs/"
local program_names = {}
do
  local ls = io.popen("ls '" .. programs_dir .. "' 2>/dev/null")
  for file in ls:lines() do program_names[#program_names + 1] = file:match("^(.+)%.lua$") end
  ls:close()
  table.sort(program_names)  -- a seed replays the same choices
end
local interpreter = arg[-1]
for i = -2, -100, -1 do
  if arg[i] == nil then break end
  interpreter = arg[i]
end
local program = nil  -- the one running: name, seed, output, start
local programs_run = 0

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

function kinds.program(r)
  if program ~= nil or #program_names == 0 or interpreter == nil then
    return kinds.compute(r)
  end
  local name, seed = program_names[rnd(#program_names)], rnd(1, 1 << 30)
  local cmd = ("TK_PROGRAM_SCALE=0.25 TK_PROGRAM_SEED=%d %s %s 2>&1"):format(
    seed, quote(interpreter), quote(programs_dir .. name .. ".lua"))
  program = {name = name, seed = seed, out = assert(io.popen(cmd)), start = tk.now()}
end

-- Waits for the running program if `now` or once it has had 3 s, and
-- fails the soak if it did not print "ok <name>" and exit 0.
local function collect_program(now)
  if program == nil or (not now and tk.now() - program.start < 3) then return end
  local p = program
  program = nil
  local text = p.out:read("a")
  local ok, how, code = p.out:close()
  if not ok or not text:find("ok " .. p.name .. "\n", 1, true) then
    fail("program %s (TK_PROGRAM_SEED=%d TK_PROGRAM_SCALE=0.25) ended by %s %s:\n%s",
         p.name, p.seed, tostring(how), tostring(code), text:sub(-3000))
  end
  programs_run = programs_run + 1
end

local kind_names = {}
for name in pairs(kinds) do kind_names[#kind_names + 1] = name end
table.sort(kind_names)  -- a seed replays the same random choices
-- SOAK_ONLY=kind runs that kind alone: the RSS slope of one workload
-- (make soak-memory reports the memory ones' each).
local only = os.getenv("SOAK_ONLY")
if only then
  if not kinds[only] then fail("no kind %s (%s)", only, table.concat(kind_names, ", ")) end
  kind_names = {only}
end

-- }======================================================

-- All workers take a job at once: none was lost. Each spins (holding its
-- worker) until every one has arrived; a lost worker ends it by timeout.
local function check_workers(pool, n)
  local s = tk.shared()
  s.arrived = 0
  local js = {}
  for i = 1, n do
    js[i] = pool:submit({timeout = 20}, function(sh, want)
      sh:incr("arrived", 1)
      while sh.arrived < want do end
      return true
    end, s, n)
  end
  for i = 1, n do
    if not js[i]:wait(30) or js[i].state ~= "completed" then
      fail("a worker was lost: %d of %d arrived", s.arrived, n)
    end
  end
end

local function check_round(r, shut_early)
  for _, g in ipairs(r.groups) do
    if not g:join(60) then fail("a group join hung") end
  end
  collect_subgroups(r)
  if not shut_early and not r.pool:wait_all(60) then
    fail("wait_all hung: %s", tk.tree())
  end
  local tally = {completed = r.extra, failed = 0, cancelled = 0}
  local i = 1
  while i <= #r.jobs do  -- checks may add the jobs they returned
    local e = r.jobs[i]
    if not e.job:wait(60) then fail("a job never ended") end
    local st = e.job.state
    if not FINAL[st] then fail("job in state %s after wait", st) end
    if e.job.state ~= st then fail("a final state changed") end
    tally[st] = tally[st] + 1
    if not shut_early and not e.states[st] then
      fail("job ended %s (%s)", st, tostring(e.job.error))
    end
    if st == "completed" and e.check and
       not e.check(e.job:result()) then
      fail("job completed with a wrong result")
    end
    i = i + 1
  end
  local calls = 0
  for _, e in ipairs(r.works) do
    if not e.w:wait(60) then fail("a work's wait hung") end
    local seen = e.seen
    if seen.completed + seen.failed + seen.cancelled ~= e.n then
      fail("a work handed out %d of %d calls",
           seen.completed + seen.failed + seen.cancelled, e.n)
    end
    if not shut_early and (seen.failed ~= e.bad or seen.cancelled ~= 0 or
                           e.got ~= e.sum) then
      fail("a work's calls ended wrong: %d failed (%d expected), %d " ..
           "cancelled, sum %d (%d expected)", seen.failed, e.bad,
           seen.cancelled, e.got, e.sum)
    end
    for st, k in pairs(seen) do tally[st] = tally[st] + k end
    calls = calls + e.n
  end
  local m = r.pool:metrics()
  if m.running ~= 0 or m.pending ~= 0 then
    fail("pool not idle: running %d pending %d", m.running, m.pending)
  end
  if m.submitted ~= m.completed + m.failed + m.cancelled then
    fail("pool counts do not balance: %d submitted, %d + %d + %d final",
         m.submitted, m.completed, m.failed, m.cancelled)
  end
  -- After a cancelling shutdown a task may have died holding the handle
  -- of a job it submitted: then ours are only a part of the pool's.
  for st, n in pairs(tally) do
    if (m[st] ~= n and not shut_early) or m[st] < n then
      fail("pool counts %d %s, the jobs say %d", m[st], st, n)
    end
  end
  if not shut_early and m.submitted ~= #r.jobs + r.extra + calls then
    fail("pool counts %d submitted, %d were", m.submitted,
         #r.jobs + r.extra + calls)
  end
  return #r.jobs + calls
end

local start = tk.now()
local samples, rounds, jobs = {}, 0, 0
local next_report = start + 10
while tk.now() - start < seconds do
  rounds = rounds + 1
  local workers = rnd(1, 4)
  local r = {pool = tk.pool{workers = workers, name = "soak"},
             jobs = {}, later = {}, groups = {}, works = {}, extra = 0,
             subs = tk.channel()}
  for _ = 1, rnd(20, 200) do
    kinds[kind_names[rnd(#kind_names)]](r)
  end
  for _, f in ipairs(r.later) do f() end
  local shut_early = rnd() < 0.15
  if shut_early then
    -- A cancelling shutdown with work in flight: whatever did not start
    -- ends cancelled; runaway loops are stopped by force.
    for _, e in ipairs(r.jobs) do e.job:cancel(true) end
    r.pool:shutdown{wait = true, cancel_pending = true}
  else
    check_workers(r.pool, workers)
    r.extra = workers
  end
  jobs = jobs + check_round(r, shut_early)
  if long_group and not long_group:join(30) then fail("the long-lived group did not join") end
  collect_program(false)
  r.pool:shutdown{wait = true}
  r = nil
  collectgarbage()
  samples[#samples + 1] = {tk.now() - start, rss_kib()}
  if tk.now() >= next_report then
    next_report = next_report + 10
    print(("soak: %3.0f s, %d rounds, %d jobs, RSS %.1f MiB"):format(
      tk.now() - start, rounds, jobs, samples[#samples][2] / 1024))
  end
end

collect_program(true)

-- RSS slope over the second half of the run (the first half warms up the
-- allocator's arenas), fitted to the lowest RSS of each window: pools come
-- and go every round, so the peaks are noise and the floor is what leaks.
local width = math.max(1, seconds / 30)
local floors, count = {}, {}
for _, s in ipairs(samples) do
  local w = s[1] // width
  if s[1] >= seconds / 2 and (floors[w] == nil or s[2] < floors[w]) then
    floors[w] = s[2]
  end
  count[w] = (count[w] or 0) + 1
end
local xs, ys = {}, {}
for w, kib in pairs(floors) do
  if count[w] >= 3 then  -- a window of one round has no floor to speak of
    xs[#xs + 1], ys[#ys + 1] = (w + 0.5) * width, kib
  end
end
local slope = 0
if #xs >= 3 then
  local n, sx, sy, sxx, sxy = #xs, 0, 0, 0, 0
  for i = 1, n do
    sx, sy = sx + xs[i], sy + ys[i]
    sxx, sxy = sxx + xs[i] * xs[i], sxy + xs[i] * ys[i]
  end
  slope = (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60  -- KiB per minute
end
local log = os.getenv("SOAK_RSS_LOG")  -- "seconds KiB" per round
if log then
  local f = assert(io.open(log, "w"))
  for _, s in ipairs(samples) do f:write(("%.2f %d\n"):format(s[1], s[2])) end
  f:close()
end
local first, last = samples[1][2], samples[#samples][2]
print(("soak%s: %.0f s, %d rounds, %d jobs, %d programs, seed %d; RSS %.1f -> %.1f MiB, " ..
       "floor slope %.0f KiB/min over the second half"):format(
  only and " (" .. only .. ")" or "", tk.now() - start, rounds, jobs, programs_run, seed,
  first / 1024, last / 1024, slope))
-- Generous: over a 60 s run the fit moves by one or two MiB/min on noise
-- alone (the cycle collector's and the large values' sawteeth included);
-- a leak of a few bytes per job shows in a long run, judged more closely.
local limit = tonumber(os.getenv("SOAK_SLOPE_LIMIT") or
                       (seconds >= 300 and 2048 or 4096))
-- Below ~25 s of fit the noise is the figure: report it, do not judge.
if seconds >= 50 and slope > limit then
  fail("RSS grows %.0f KiB/min (limit %d)", slope, limit)
end
print("soak: ok")
