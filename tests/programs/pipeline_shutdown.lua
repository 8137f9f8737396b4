-- pipeline_shutdown.lua - a log-processing pipeline of three pools whose
-- later stages are shut down while the earlier ones still feed them, as a
-- service does when a stage is taken out for maintenance:
--   parse   (outer pool) reads access-log lines from its stream, parses
--           them and submits each record to the enrich pool;
--   enrich  (inner pool) normalizes the route and asks the lookup pool for
--           the address's geography;
--   lookup  (innermost pool) answers geography queries.
-- The main state shuts the enrich pool down while parse tasks are
-- submitting to it in a loop; a record marked "maintenance" makes its
-- enrich task shut the lookup pool down while other enrich tasks submit
-- to it. A submit to a shut pool must fail with a clean error, which the
-- program catches with pcall and answers by doing that stage's work
-- itself. Every record must come out exactly as the serial run makes it,
-- and the pools' counts must match the submits that succeeded.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

-- Line i of stream s, made from a hash of (s, i): the log source.
local function log_line(s, i)
  local h = (s * 1000003 + i) * 0x9E3779B97F4A7C15
  local function pick(n)
    h = h * 6364136223846793005 + 1442695040888963407
    return (h >> 33) % n + 1
  end
  local paths = {"/api/items/%d", "/api/users/%d/orders", "/static/app.%d.js",
                 "/health", "/api/search?q=w%d", "/login"}
  local path = paths[pick(#paths)]:format(pick(100000))
  local line = ("2024-05-%02dT%02d:%02d:%02dZ %s %s %d %d ip=10.%d.%d.%d ua=%q"):format(
    pick(28), pick(24) - 1, pick(60) - 1, pick(60) - 1,
    ({"GET", "POST", "PUT", "DELETE"})[pick(4)], path,
    ({200, 200, 200, 201, 304, 404, 500})[pick(7)], pick(1 << 20),
    pick(255), pick(255), pick(255), "agent/" .. pick(9))
  if s == 1 and i == 37 then line = line .. " maintenance" end
  return line
end

local function parse_line(line)
  local t, method, path, status, bytes, ip, ua =
    line:match('^(%S+) (%u+) (%S+) (%d+) (%d+) ip=(%S+) ua="([^"]*)"')
  if not t then error("unparsable line: " .. line) end
  return {time = t, method = method, path = path, status = tonumber(status),
          bytes = tonumber(bytes), ip = ip, ua = ua,
          maintenance = line:find(" maintenance$") ~= nil}
end

-- The lookup stage's answer for an address: a made-up table of networks.
local function geo_of(ip)
  local a, b, c = ip:match("^10%.(%d+)%.(%d+)%.(%d+)$")
  local n = tonumber(a) * 65536 + tonumber(b) * 256 + tonumber(c)
  local countries = {"FR", "DE", "JP", "BR", "KE", "CA", "IN", "NZ"}
  return {country = countries[n % #countries + 1], asn = 64512 + n % 1000,
          block = ("10.%s.0.0/16"):format(a)}
end

local function shut_error(err)
  err = tostring(err)
  return err:find("attempt to use a shut-down pool", 1, true) ~= nil or
         err:find("attempt to use a closed pool", 1, true) ~= nil
end

-- The enrich stage. `lookup` may be shut down under it (by another enrich
-- task): then it answers the geography itself.
local function enrich(rec, lookup)
  local route = rec.path:gsub("%?.*$", ""):gsub("/%d+", "/:id"):gsub("%.%d+%.", ".:v.")
  local out = {route = route, method = rec.method, status = rec.status, time = rec.time,
               size = rec.bytes < 1024 and "small" or rec.bytes < 65536 and "medium" or "large",
               class = rec.status >= 500 and "error" or rec.status >= 400 and "miss" or "hit",
               agent = rec.ua:match("^(%a+)/") or "?"}
  if lookup == nil then
    out.geo = geo_of(rec.ip)
    return out, "none"
  end
  if rec.maintenance then lookup:shutdown() end
  local ok, job = pcall(lookup.submit, lookup, geo_of, rec.ip)
  if ok then
    out.geo = job:result()
    return out, "remote"
  end
  if not shut_error(job) then error(job, 0) end
  out.geo = geo_of(rec.ip)
  return out, "local"
end

-- A parse task. Gated streams parse `count` lines, stopping at line
-- `gate` until the gate token is cancelled (the main state cancels it
-- once the enrich pool is shut). Streaming ones go on until a submit is
-- refused, then `after` lines more. Each reports progress once.
local function parse_stream(s, count, gate, after, enrich_pool, lookup, progress, gate_tok)
  local out, jobs, remote, fallback = {}, {}, 0, 0
  local i, stop = 0, count
  while stop == nil or i < stop do
    i = i + 1
    local rec = parse_line(log_line(s, i))
    local ok, job = pcall(enrich_pool.submit, enrich_pool, enrich, rec, lookup)
    if ok then
      jobs[i], remote = job, remote + 1
    elseif shut_error(job) then
      out[i] = enrich(rec, nil)
      fallback = fallback + 1
      if stop == nil then stop = i + after end
    else
      error(job, 0)
    end
    if i == gate then
      progress:push(s)
      if not gate_tok:wait(60) then error("gate never opened") end
    elseif gate == nil and i == 10 then
      progress:push(s)
    end
  end
  local lookups = {remote = 0, ["local"] = 0}
  for k, job in pairs(jobs) do
    local rec, via = job:result()
    out[k] = rec
    lookups[via] = lookups[via] + 1
  end
  return {stream = s, lines = i, records = out, remote = remote, fallback = fallback,
          lookups = lookups}
end

local function run(opts)
  local gated = common.scaled(opts, 300, 40)
  local parse_pool <close> = tk.pool{workers = 2, name = "parse"}
  local enrich_pool <close> = tk.pool{workers = 2, name = "enrich"}
  local lookup_pool <close> = tk.pool{workers = 1, name = "lookup"}
  local progress, gate = tk.channel(), tk.token()

  local streams = {}
  for s = 1, 4 do
    local is_gated = s <= 2
    streams[s] = parse_pool:submit({name = "parse " .. s}, parse_stream, s,
      is_gated and gated or nil, is_gated and gated // 3 or nil, 50,
      enrich_pool, lookup_pool, progress, gate)
  end
  for _ = 1, #streams do
    if not progress:pop(60) then return false, "a parse stream never made progress" end
  end
  -- Streams 3 and 4 are submitting as fast as they can: shut the stage
  -- under them.
  enrich_pool:shutdown()
  gate:cancel()

  local remote, fallback, lookups = 0, 0, {remote = 0, ["local"] = 0}
  for s, job in ipairs(streams) do
    local ok, r = pcall(job.result, job, 120)
    if not ok then return false, ("parse stream %d failed: %s"):format(s, tostring(r)) end
    local want = {}
    for i = 1, r.lines do want[i] = enrich(parse_line(log_line(s, i)), nil) end
    local same, why = common.compare("stream " .. s, r.records, want)
    if not same then return false, why end
    if r.fallback == 0 then
      return false, ("stream %d never saw the enrich pool shut"):format(s)
    end
    if s <= 2 and r.lines ~= gated then
      return false, ("gated stream %d parsed %d lines of %d"):format(s, r.lines, gated)
    end
    remote, fallback = remote + r.remote, fallback + r.fallback
    lookups.remote = lookups.remote + r.lookups.remote
    lookups["local"] = lookups["local"] + r.lookups["local"]
  end
  -- Line 37 of stream 1 shuts the lookup pool. When the gate comes well
  -- after it, that line went to the enrich pool, and dozens of records
  -- queued behind it there found the lookup pool shut.
  if gated // 3 >= 60 and lookups["local"] == 0 then
    return false, "no enrich task saw the lookup pool shut"
  end
  if os.getenv("TK_PROGRAM_VERBOSE") then
    print(("enrich: %d remote, %d fallback; lookup: %d remote, %d local"):format(
      remote, fallback, lookups.remote, lookups["local"]))
  end
  local em = enrich_pool:metrics()
  if em.submitted ~= remote or em.completed ~= remote then
    return false, ("enrich pool ran %d of %d submits (%d accepted)"):format(
      em.completed, remote, em.submitted)
  end
  local lm = lookup_pool:metrics()
  if lm.submitted ~= lookups.remote or lm.completed ~= lookups.remote then
    return false, ("lookup pool counts %d submitted, %d completed; %d lookups answered"):format(
      lm.submitted, lm.completed, lookups.remote)
  end
  return true
end

common.main("pipeline_shutdown", run)
