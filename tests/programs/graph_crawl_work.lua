-- graph_crawl_work.lua - crawling a large generated graph, where expanding
-- a node (finding its neighbours, digesting its content) is the costly
-- part. First a reachability crawl through tk.work on the default pool:
-- on_result marks each new neighbour seen and queues its expansion from
-- inside the callback, so one w:wait covers a crawl that grows as it
-- goes. Then breadth-first distances, level by level, with pool:map over
-- each frontier on a pool of its own. Then the same graph's in-degrees
-- summed by pool:work calls that each take a slice of nodes. Each result
-- is checked against a serial crawl.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

-- Node v's out-edges and a digest of its "content": pure functions of v
-- and the graph's salt, so every state agrees on the graph.
local function expand(v, n, salt)
  local h = (v * 0x9E3779B97F4A7C15) ~ salt
  local function step()
    h = h * 6364136223846793005 + 1442695040888963407
    return (h >> 33)
  end
  local degree = step() % 5  -- 0..4: some nodes are dead ends
  local out = {}
  for i = 1, degree do
    -- Mostly local edges, some long jumps: a graph with a long diameter.
    local target
    if step() % 8 == 0 then target = step() % n + 1
    else target = (v + step() % 40 - 12) % n + 1 end
    out[i] = target
  end
  local d = v
  for _ = 1, 200 do d = (d * 31 + (d >> 7) + salt) & 0xFFFFFFFF end
  return v, out, d
end

local function serial_reach(n, salt, start)
  local seen, digests, stack = {[start] = true}, {}, {start}
  while #stack > 0 do
    local v = table.remove(stack)
    local _, out, d = expand(v, n, salt)
    digests[v] = d
    for _, u in ipairs(out) do
      if not seen[u] then
        seen[u] = true
        stack[#stack + 1] = u
      end
    end
  end
  return digests
end

local function serial_bfs(n, salt, start)
  local dist, frontier = {[start] = 0}, {start}
  while #frontier > 0 do
    local next_frontier = {}
    for _, v in ipairs(frontier) do
      local _, out = expand(v, n, salt)
      for _, u in ipairs(out) do
        if dist[u] == nil then
          dist[u] = dist[v] + 1
          next_frontier[#next_frontier + 1] = u
        end
      end
    end
    frontier = next_frontier
  end
  return dist
end

-- In-degrees of nodes first..last's targets, for one pool:work call.
local function in_degrees(first, last, n, salt)
  local counts = {}
  for v = first, last do
    local _, out = expand(v, n, salt)
    for _, u in ipairs(out) do counts[u] = (counts[u] or 0) + 1 end
  end
  return counts
end

local function run(opts)
  local rng = common.rng(opts.seed or 2718)
  local n, salt = common.scaled(opts, 20000, 500), rng:int(1, 1 << 50)
  -- A start whose reach is a real crawl: a node may be a dead end.
  local start, want_digests, reached
  for _ = 1, 50 do
    start = rng:int(1, n)
    want_digests, reached = serial_reach(n, salt, start), 0
    for _ in pairs(want_digests) do reached = reached + 1 end
    if reached >= n // 10 then break end
  end
  if reached < n // 10 then return false, "no start reaches a tenth of the graph" end

  -- 1. Reachability, the crawl queueing from on_result.
  local seen, digests, failures = {[start] = true}, {}, {}
  local w
  w = tk.work(expand, function(ok, v, out, d)
    if not ok then
      failures[#failures + 1] = v
      return
    end
    digests[v] = d
    for _, u in ipairs(out) do
      if not seen[u] then
        seen[u] = true
        w:queue(u, n, salt)
      end
    end
  end)
  w:queue(start, n, salt)
  if not w:wait(120) then return false, "the crawl did not finish" end
  if #failures > 0 then return false, "an expansion failed: " .. tostring(failures[1]) end
  if #w ~= 0 then return false, #w .. " results left after wait" end
  local ok, why = common.compare("reachable digests", digests, want_digests)
  if not ok then return false, why end

  -- 2. Distances, one pool:map per level.
  local pool <close> = tk.pool{workers = 2, name = "bfs"}
  local dist, frontier, levels = {[start] = 0}, {start}, 0
  while #frontier > 0 do
    levels = levels + 1
    local expanded = pool:map(function(v)
      local _, out = expand(v, n, salt)
      return out
    end, frontier)
    local next_frontier = {}
    for i, v in ipairs(frontier) do
      for _, u in ipairs(expanded[i]) do
        if dist[u] == nil then
          dist[u] = dist[v] + 1
          next_frontier[#next_frontier + 1] = u
        end
      end
    end
    frontier = next_frontier
  end
  ok, why = common.compare("distances", dist, serial_bfs(n, salt, start))
  if not ok then return false, why end
  if levels < 10 then return false, "only " .. levels .. " levels: not a crawl" end

  -- 3. In-degrees, a call per slice of nodes, merged in on_result.
  local got = {}
  local slices = pool:work({name = "in-degrees"}, in_degrees, function(okc, counts)
    if not okc then error(counts, 0) end
    for u, k in pairs(counts) do got[u] = (got[u] or 0) + k end
  end)
  for first = 1, n, 700 do slices:queue(first, math.min(n, first + 699), n, salt) end
  if not slices:wait(120) then return false, "the in-degree calls did not finish" end
  return common.compare("in-degrees", got, in_degrees(1, n, n, salt))
end

common.main("graph_crawl_work", run)
