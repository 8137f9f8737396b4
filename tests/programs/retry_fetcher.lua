-- retry_fetcher.lua - a crawler's fetch stage against a simulated server:
-- each URL's task "fetches" a response (an HTTP-like text the simulated
-- server renders), parses the status line, headers and body, extracts the
-- links and checksums the page. The server is a shared table of hit
-- counts: flaky URLs answer 503 for their first k hits, broken ones 404,
-- some never recover, some hang. Fetches run with retry options (retry
-- only "transient" errors, with backoff), hanging ones are cut by a job
-- timeout or by a batch token's deadline, whose on_cancel callback
-- reports through a channel. Every job's final state, attempt count and
-- page are checked against a serial simulation of the same policy.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local ATTEMPTS = 4

-- The simulated server's page for a URL: a title, paragraphs and links to
-- other URLs of the site, a few KiB to a few tens of KiB.
local function render_page(url, seed)
  local x = seed
  local function rand(n)
    x = (x * 6364136223846793005 + 1442695040888963407)
    return (x >> 33) % n + 1
  end
  local parts = {"<html><head><title>Page ", url, "</title></head><body>"}
  for p = 1, rand(40) + 5 do
    parts[#parts + 1] = "<p>"
    for _ = 1, rand(30) + 5 do parts[#parts + 1] = ("w%d "):format(rand(5000)) end
    if rand(3) == 1 then
      parts[#parts + 1] = ('<a href="/page/%d">link %d</a>'):format(rand(500), p)
    end
    parts[#parts + 1] = "</p>\n"
  end
  parts[#parts + 1] = "</body></html>"
  return table.concat(parts)
end

-- One fetch attempt: asks the server, parses the response, extracts what
-- the crawler keeps. Errors say "transient: ..." or "permanent: ...".
local function fetch(url, plan, server)
  local hits = server:incr(url)
  local response
  if plan.kind == "hang" then
    local tk = require "threadkit"
    -- A connection that never answers: only a cancellation ends it.
    if not tk.sleep(60) then tk.checkpoint() end
    error("permanent: the hanging server answered", 0)
  elseif plan.kind == "broken" then
    response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
  elseif (plan.kind == "flaky" or plan.kind == "down") and hits <= plan.k then
    response = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n\r\n"
  else
    local body = render_page(url, plan.seed)
    response = ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" ..
                "Content-Length: %d\r\nX-Hit: %d\r\n\r\n%s"):format(#body, hits, body)
  end
  local status_line, rest = response:match("^([^\r\n]*)\r\n(.*)$")
  local code = tonumber(status_line:match("^HTTP/1%.1 (%d%d%d) "))
  if not code then error("permanent: bad status line " .. status_line, 0) end
  local headers, pos = {}, 1
  while true do
    local line_end = rest:find("\r\n", pos, true)
    local line = rest:sub(pos, line_end - 1)
    pos = line_end + 2
    if line == "" then break end
    local k, v = line:match("^([%w-]+):%s*(.*)$")
    headers[k:lower()] = v
  end
  local body = rest:sub(pos)
  if code == 503 then error(("transient: %d %s"):format(code, url), 0) end
  if code >= 400 then error(("permanent: %d %s"):format(code, url), 0) end
  if tonumber(headers["content-length"]) ~= #body then
    error("permanent: short body for " .. url, 0)
  end
  local links = {}
  for href in body:gmatch('<a href="([^"]+)"') do links[#links + 1] = href end
  local a, b = 1, 0  -- Adler-32 of the body
  for i = 1, #body do
    a = (a + body:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return {url = url, length = #body, links = links, checksum = (b << 16) | a,
          title = body:match("<title>(.-)</title>"), type = headers["content-type"]}
end

local function retry_on(err) return tostring(err):find("^transient") ~= nil end

-- What the policy gives, worked out serially with a plain table as server.
local function expected(url, plan)
  if plan.kind == "hang" then return {state = "cancelled"} end
  local server = {counts = {}}
  function server.incr(self, k)
    self.counts[k] = (self.counts[k] or 0) + 1
    return self.counts[k]
  end
  for attempt = 1, ATTEMPTS do
    local ok, r = pcall(fetch, url, plan, server)
    if ok then return {state = "completed", attempts = attempt, page = r} end
    if not retry_on(r) or attempt == ATTEMPTS then
      return {state = "failed", attempts = attempt, error = r}
    end
  end
end

local function make_plans(rng, n)
  local plans = {}
  -- Every kind at least once whatever the size, a hanging URL in each
  -- half (a job timeout in the first, the batch token in the second).
  local forced = {[1] = 1, [2] = 50, [3] = 80, [4] = 90, [5] = 100, [n] = 100}
  for i = 1, n do
    local r, plan = forced[i] or rng:int(1, 100), {seed = rng:int(1, 1 << 40)}
    if r <= 45 then plan.kind = "ok"
    elseif r <= 75 then plan.kind, plan.k = "flaky", rng:int(1, ATTEMPTS - 1)
    elseif r <= 85 then plan.kind = "broken"
    elseif r <= 93 then plan.kind, plan.k = "down", ATTEMPTS + rng:int(0, 3)
    else plan.kind = "hang" end
    plans[i] = {url = "/page/" .. i, plan = plan}
  end
  return plans
end

local function run(opts)
  local rng = common.rng(opts.seed or 8080)
  local plans = make_plans(rng, common.scaled(opts, 160, 20))
  local pool <close> = tk.pool{workers = 3, name = "fetch"}
  local server = tk.shared()
  local retry = {attempts = ATTEMPTS, delay = 0.002, backoff = 2, max_delay = 0.01,
                 on = retry_on}

  -- Hanging URLs in the first half get a job timeout; in the second half
  -- they share a batch token with a deadline, which tells a channel.
  local batch = tk.token({timeout = 0.3})
  local notes = tk.channel()
  batch:on_cancel(function() notes:push("batch deadline passed") end)
  local jobs = {}
  for i, p in ipairs(plans) do
    local o = {name = p.url, retry = retry}
    if p.plan.kind == "hang" then
      if i <= #plans // 2 then o.timeout = 0.2 else o.token = batch end
    end
    jobs[i] = pool:submit(o, fetch, p.url, p.plan, server)
  end

  local finished = 0
  for _ in tk.as_completed(jobs, 120) do finished = finished + 1 end
  if finished ~= #jobs then
    return false, ("%d of %d fetches finished within 120 s"):format(finished, #jobs)
  end
  local kinds = {}
  for i, p in ipairs(plans) do
    local job, want = jobs[i], expected(p.url, p.plan)
    local where = p.url .. " (" .. p.plan.kind .. ")"
    kinds[p.plan.kind] = true
    if job.state ~= want.state then
      return false, ("%s ended %s (%s), want %s"):format(where, job.state,
                                                       tostring(job.error), want.state)
    end
    if want.state == "completed" then
      local ok, why = common.compare(where, job:result(), want.page)
      if not ok then return false, why end
    elseif want.state == "failed" then
      if job.error ~= want.error then
        return false, ("%s failed with %q, want %q"):format(where, job.error, want.error)
      end
    end
    if want.attempts and job.attempts ~= want.attempts then
      return false, ("%s took %d attempts, want %d"):format(where, job.attempts, want.attempts)
    end
    if want.state ~= "cancelled" and #job.attempt_errors ~= want.attempts - (want.state == "completed" and 1 or 0) then
      return false, ("%s kept %d attempt errors"):format(where, #job.attempt_errors)
    end
    local hits = server[p.url] or 0
    if want.attempts and hits ~= want.attempts then
      return false, ("%s: the server saw %d hits, want %d"):format(where, hits, want.attempts)
    end
  end
  for _, k in ipairs({"ok", "flaky", "broken", "down", "hang"}) do
    if not kinds[k] then return false, "no URL of kind " .. k end
  end
  -- Its deadline is 0.3 s away at most: a quick run gets there first.
  if not batch:wait(30) then return false, "the batch token's deadline did not pass" end
  local note = notes:pop(10)
  if note ~= "batch deadline passed" then
    return false, "on_cancel did not report: " .. tostring(note)
  end
  local m = pool:metrics()
  if m.submitted ~= #jobs or m.completed + m.failed + m.cancelled ~= #jobs then
    return false, ("pool counts do not balance: %d submitted, %d/%d/%d"):format(
      m.submitted, m.completed, m.failed, m.cancelled)
  end
  return true
end

return common.main("retry_fetcher", run, ...)
