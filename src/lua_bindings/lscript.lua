-- lscript.lua - the parts of the module written in Lua: pool:map and the
-- retry runner, on top of submit, result and sleep. Compiled into the
-- module (lscript.c loads it in every state; scripts/embed_lua.lua makes
-- it a C string at build time, without these leading comment lines, so
-- that its line numbers are the chunk's). See LICENSE for copyright and
-- licence.
local tk, methods, batch_entry, note_attempt, list_length, list_slice = ...
local error, next, pcall, tostring, type =
      error, next, pcall, tostring, type
local math_ceil, math_max, math_min, math_tointeger, math_type =
      math.ceil, math.max, math.min, math.tointeger, math.type
local string_format = string.format
local table_move, table_pack, table_unpack =
      table.move, table.pack, table.unpack
local checkpoint, cancelled, sleep = tk.checkpoint, tk.cancelled, tk.sleep
-- Runs fn with retries (submit's {retry = ...}); the wait between two
-- attempts is a tk.sleep, so it holds no worker.
local function retry_runner(fn, policy, ...)
  local delay = policy.delay
  for attempt = 1, policy.attempts do
    local r = table_pack(pcall(fn, ...))
    note_attempt(not r[1] and tostring(r[2]) or nil)
    if r[1] then return table_unpack(r, 2, r.n) end
    local err = r[2]
    if cancelled() or attempt == policy.attempts or
       (policy.on and not policy.on(err)) then
      checkpoint()  -- a cancellation is never retried
      error(err, 0)
    end
    if not sleep(delay) then checkpoint() end
    delay = math_min(delay * policy.backoff, policy.max_delay)
  end
end
local function run_batch(fn, items, first, count)
  local out, at = {}, 0
  -- One pcall per batch; `at` says which item failed.
  local ok, err = pcall(function()
    for i = 1, count do
      at = i
      if i % 1024 == 0 then checkpoint() end
      out[i] = fn(items[i])
    end
  end)
  if not ok then
    checkpoint()  -- a cancellation stays one
    error(string_format('map: item #%d: %s', first + at - 1, tostring(err)), 0)
  end
  return out
end
function methods.map(pool, fn, list, opts)
  if type(fn) ~= 'function' then
    error("bad argument #1 to 'map' (function expected, got " .. type(fn) .. ')', 2)
  end
  if type(list) ~= 'table' then
    error("bad argument #2 to 'map' (table expected, got " .. type(list) .. ')', 2)
  end
  local n, bad = list_length(list)
  if not n then
    error("bad argument #2 to 'map' (a list expected: key " .. tostring(bad) .. ')', 2)
  end
  if opts ~= nil and type(opts) ~= 'table' then
    error("bad argument #3 to 'map' (table expected, got " .. type(opts) .. ')', 2)
  end
  opts = opts or {}
  for k in next, opts do
    if k ~= 'batch' and k ~= 'priority' and k ~= 'name' then
      error("bad argument #3 to 'map' (unknown option '" .. tostring(k) .. "')", 2)
    end
  end
  local size = opts.batch or math_max(1, math_ceil(n / (pool.workers * 4)))
  if math_type(size) == 'float' then size = math_tointeger(size) or size end
  if math_type(size) ~= 'integer' or size < 1 then
    error("bad argument #3 to 'map' (batch must be a positive integer)", 2)
  end
  local sub = {priority = opts.priority, name = opts.name}
  local jobs, firsts, counts, nb = {}, {}, {}, 0
  for first = 1, n, size do
    local count = math_min(size, n - first + 1)  -- first + size may wrap
    nb = nb + 1
    -- Called through pcall, the error names no line in here; raised
    -- again at the caller of map, with the items it is about.
    local ok, job = pcall(pool.submit, pool, sub, batch_entry, fn,
                          list_slice(list, first, count), first, count)
    if not ok then
      error(string_format('map: items #%d to #%d: %s', first, first + count - 1,
                          tostring(job)), 2)
    end
    jobs[nb] = job
    firsts[nb], counts[nb] = first, count
  end
  local out = {}
  for b = 1, nb do
    local ok, part = pcall(jobs[b].result, jobs[b])
    if not ok then
      for c = b + 1, nb do jobs[c]:cancel() end
      error(part, 0)
    end
    table_move(part, 1, counts[b], firsts[b], out)
  end
  return out
end
return retry_runner, run_batch
