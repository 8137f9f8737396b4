-- csv_aggregate.lua - a sales report from a CSV export: the text (quoted
-- fields with commas, doubled quotes and newlines inside, a header, blank
-- lines) is cut into chunks at record boundaries, pool:work parses and
-- aggregates each chunk (per region and product: count, quantity,
-- revenue in cents, min and max price, distinct customers), and on_result
-- merges the partial reports as they arrive. A second pass hands the
-- merged report to tasks that rank the products of each region. Both are
-- compared with the same work done serially.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local function quote(s)
  if s:find('[,"\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function make_csv(rng, rows)
  local regions = {"north", "south", "east", "west", "Île-de-France",
                   'the "capital"', "a, b and c"}
  local products = {}
  for i = 1, 40 do products[i] = rng:word(3, 9) .. (i % 7 == 0 and ",x" or "") end
  local lines = {"date,region,product,customer,qty,unit_price,comment"}
  for _ = 1, rows do
    local comment = rng:int(1, 10) == 1 and "multi\nline \"note\"" or rng:word(0, 12)
    lines[#lines + 1] = table.concat({
      ("2024-%02d-%02d"):format(rng:int(1, 12), rng:int(1, 28)),
      quote(rng:pick(regions)), quote(rng:pick(products)),
      "C" .. rng:int(1, 300), tostring(rng:int(1, 50)),
      ("%d.%02d"):format(rng:int(0, 999), rng:int(0, 99)), quote(comment),
    }, ",")
    if rng:int(1, 50) == 1 then lines[#lines + 1] = "" end  -- stray blank line
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Cuts the text into chunks of about `size` bytes, each ending at a record
-- boundary (a newline outside quotes), the header left out.
local function split_records(text, size)
  local header_end = text:find("\n", 1, true)
  local chunks, start, pos, quoted = {}, header_end + 1, header_end + 1, false
  while pos <= #text do
    local c = text:byte(pos)
    if c == 34 then quoted = not quoted
    elseif c == 10 and not quoted and pos - start >= size then
      chunks[#chunks + 1] = text:sub(start, pos)
      start = pos + 1
    end
    pos = pos + 1
  end
  if start <= #text then chunks[#chunks + 1] = text:sub(start) end
  return chunks
end

-- Parses one chunk and aggregates it. The task function of pool:work: it
-- holds its whole parser, so it is large on purpose.
local function aggregate_chunk(chunk)
  local report = {rows = 0, blank = 0, regions = {}}
  local pos, n = 1, #chunk
  local function field()
    if chunk:byte(pos) == 34 then
      local parts = {}
      pos = pos + 1
      while true do
        local q = chunk:find('"', pos, true)
        if not q then error("unterminated quoted field") end
        parts[#parts + 1] = chunk:sub(pos, q - 1)
        if chunk:byte(q + 1) == 34 then
          parts[#parts + 1] = '"'
          pos = q + 2
        else
          pos = q + 1
          return table.concat(parts)
        end
      end
    end
    local stop = chunk:find("[,\n]", pos) or n + 1
    local s = chunk:sub(pos, stop - 1)
    pos = stop
    return s
  end
  local function record()
    local fields = {field()}
    while chunk:byte(pos) == 44 do
      pos = pos + 1
      fields[#fields + 1] = field()
    end
    if chunk:byte(pos) == 10 then pos = pos + 1 end
    return fields
  end
  while pos <= n do
    if chunk:byte(pos) == 10 then
      report.blank = report.blank + 1
      pos = pos + 1
    else
      local f = record()
      if #f ~= 7 then error(("record with %d fields: %s"):format(#f, f[1])) end
      local qty = math.tointeger(tonumber(f[5]))
      local whole, frac = f[6]:match("^(%d+)%.(%d%d)$")
      if not qty or not whole then error("bad number in record " .. f[1]) end
      local cents = tonumber(whole) * 100 + tonumber(frac)
      local r = report.regions[f[2]]
      if not r then
        r = {}
        report.regions[f[2]] = r
      end
      local p = r[f[3]]
      if not p then
        p = {count = 0, qty = 0, revenue = 0, min = math.maxinteger,
             max = math.mininteger, customers = {}, months = {}}
        r[f[3]] = p
      end
      p.count = p.count + 1
      p.qty = p.qty + qty
      p.revenue = p.revenue + qty * cents
      if cents < p.min then p.min = cents end
      if cents > p.max then p.max = cents end
      p.customers[f[4]] = true
      local month = f[1]:sub(1, 7)
      p.months[month] = (p.months[month] or 0) + qty
      report.rows = report.rows + 1
    end
  end
  return report
end

-- Merges a partial report into the running one (in the main state).
local function merge(into, part)
  into.rows = into.rows + part.rows
  into.blank = into.blank + part.blank
  for region, products in pairs(part.regions) do
    local r = into.regions[region] or {}
    into.regions[region] = r
    for name, p in pairs(products) do
      local q = r[name]
      if not q then
        r[name] = p
      else
        q.count, q.qty = q.count + p.count, q.qty + p.qty
        q.revenue = q.revenue + p.revenue
        q.min, q.max = math.min(q.min, p.min), math.max(q.max, p.max)
        for c in pairs(p.customers) do q.customers[c] = true end
        for m, k in pairs(p.months) do q.months[m] = (q.months[m] or 0) + k end
      end
    end
  end
end

-- The products of a region, best revenue first (ties by name), with the
-- number of distinct customers: the second pass, one task per region.
local function rank(region, products)
  local list = {}
  for name, p in pairs(products) do
    local customers = 0
    for _ in pairs(p.customers) do customers = customers + 1 end
    list[#list + 1] = {name = name, revenue = p.revenue, customers = customers,
                       avg_cents = p.revenue // p.qty}
  end
  table.sort(list, function(a, b)
    if a.revenue ~= b.revenue then return a.revenue > b.revenue end
    return a.name < b.name
  end)
  return region, list
end

local function run(opts)
  local rng = common.rng(opts.seed or 7)
  local rows = common.scaled(opts, 20000, 200)
  local text = make_csv(rng, rows)
  local chunks = split_records(text, rng:int(2000, 6000))

  local want = {rows = 0, blank = 0, regions = {}}
  for _, c in ipairs(chunks) do merge(want, aggregate_chunk(c)) end
  if want.rows ~= rows then
    return false, ("serial parse found %d rows of %d"):format(want.rows, rows)
  end

  local pool <close> = tk.pool{workers = 2, name = "csv"}
  local got, errors = {rows = 0, blank = 0, regions = {}}, {}
  local w = pool:work({name = "aggregate"}, aggregate_chunk, function(ok, part)
    if ok then merge(got, part) else errors[#errors + 1] = part end
  end)
  for _, c in ipairs(chunks) do w:queue(c) end
  -- One chunk with a broken quote: its call fails, the others do not.
  w:queue('2024-01-01,"north,x,C1,1,1.00,\n')
  if not w:wait(60) then return false, "work did not finish" end
  if #errors ~= 1 or not tostring(errors[1]):find("unterminated quoted field", 1, true) then
    return false, "expected one unterminated-field failure, got " .. #errors ..
                  ": " .. tostring(errors[1])
  end
  local ok, why = common.compare("report", got, want)
  if not ok then return false, why end

  local jobs = {}
  for region, products in pairs(got.regions) do
    jobs[#jobs + 1] = pool:submit(rank, region, products)
  end
  local ranked = {}
  for job in tk.as_completed(jobs, 60) do
    local region, list = job:result()
    ranked[region] = list
  end
  local want_ranked = {}
  for region, products in pairs(want.regions) do
    local _, list = rank(region, products)
    want_ranked[region] = list
  end
  return common.compare("ranking", ranked, want_ranked)
end

common.main("csv_aggregate", run)
