-- parallel_sort.lua - divide and conquer with nested tasks. A parallel
-- merge sort: a task splits its list, submits both halves to its own pool
-- as tasks of the same (recursive) function, waits for them (the waits
-- suspend, so eight levels of waiting tasks fit on two workers) and merges.
-- A parallel quicksort: a task partitions its range and adds one task per
-- side to the group it runs in (tk.current_group()), down to small ranges
-- that it sorts itself; the main state joins the group and places every
-- leaf's run. Records are tables (key, name, sequence number); both sorts
-- must give what table.sort gives serially.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local function before(a, b)
  if a.key ~= b.key then return a.key < b.key end
  return a.seq < b.seq
end

local function merge_runs(left, right, less)
  local out, i, j, n = {}, 1, 1, 0
  while i <= #left and j <= #right do
    n = n + 1
    if less(right[j], left[i]) then
      out[n], j = right[j], j + 1
    else
      out[n], i = left[i], i + 1
    end
  end
  for k = i, #left do n = n + 1; out[n] = left[k] end
  for k = j, #right do n = n + 1; out[n] = right[k] end
  return out
end

-- The recursive task: it is its own upvalue, so each child it submits
-- carries the same function (and the comparator, and the merger).
local function merge_sort(pool, list, cutoff, depth)
  if #list <= cutoff then
    table.sort(list, before)
    return list, depth
  end
  local mid = #list // 2
  local left = pool:submit({name = "msort"}, merge_sort, pool,
                           table.move(list, 1, mid, 1, {}), cutoff, depth + 1)
  local right = pool:submit({name = "msort"}, merge_sort, pool,
                            table.move(list, mid + 1, #list, 1, {}), cutoff, depth + 1)
  local l, dl = left:result()
  local r, dr = right:result()
  return merge_runs(l, r, before), math.max(dl, dr)
end

-- Partitions list[lo..hi] (a copy the task owns) around a median of three
-- and adds one task per side to the current group; small ranges are
-- sorted here and returned with their offset in the whole list.
local function quick_sort(list, offset, cutoff)
  local tk = require "threadkit"
  if #list <= cutoff then
    table.sort(list, before)
    return offset, list
  end
  local a, b, c = list[1], list[#list // 2], list[#list]
  local pivot = b
  if before(a, b) == before(b, c) then pivot = b
  elseif before(b, a) == before(a, c) then pivot = a
  else pivot = c end
  local less, equal, more = {}, {}, {}
  for _, r in ipairs(list) do
    if before(r, pivot) then less[#less + 1] = r
    elseif before(pivot, r) then more[#more + 1] = r
    else equal[#equal + 1] = r end
  end
  local g = tk.current_group()
  if #less > 0 then g:add_task(quick_sort, less, offset, cutoff) end
  if #more > 0 then g:add_task(quick_sort, more, offset + #less + #equal, cutoff) end
  return offset + #less, equal
end

local function make_records(rng, n)
  local records = {}
  for i = 1, n do
    -- Few distinct keys in places: many ties, decided by seq.
    local key = rng:int(1, 5) == 1 and rng:int(1, 20) or rng:int(1, 1000000)
    records[i] = {key = key, seq = i, name = rng:word(4, 12),
                  tags = {rng:word(1, 3), n = i % 7}}
  end
  return records
end

local function run(opts)
  local rng = common.rng(opts.seed or 1234)
  local n = common.scaled(opts, 12000, 500)
  local records = make_records(rng, n)
  local want = table.move(records, 1, n, 1, {})
  table.sort(want, before)

  local pool <close> = tk.pool{workers = 2, name = "sort"}
  local cutoff = math.max(64, n // 256)
  local sorted, depth = pool:submit({name = "msort"}, merge_sort, pool, records,
                                    cutoff, 0):result(120)
  -- The deepest branch follows the larger half (the right one) down.
  local want_depth, size = 0, n
  while size > cutoff do size, want_depth = size - size // 2, want_depth + 1 end
  if depth ~= want_depth then
    return false, ("merge sort nested %d levels, want %d"):format(depth, want_depth)
  end
  local ok, why = common.compare("merge sort", sorted, want)
  if not ok then return false, why end

  local g = tk.group("quicksort", {pool = pool})
  g:add_task(quick_sort, records, 1, 200)
  if not g:join(120) then return false, "quicksort group did not finish" end
  local errs = g:errors()
  if #errs > 0 then return false, "a quicksort task failed: " .. tostring(errs[1].error) end
  local out, tasks = {}, 0
  for _, r in ipairs(g:results()) do
    local offset, run_ = r[1], r[2]
    table.move(run_, 1, #run_, offset, out)
    tasks = tasks + 1
  end
  -- Every run a task returns holds at most the cutoff's 200 records.
  if tasks < n // 200 then return false, "quicksort made only " .. tasks .. " tasks" end
  return common.compare("quicksort", out, want)
end

common.main("parallel_sort", run)
