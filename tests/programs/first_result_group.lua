-- first_result_group.lua - a proof-of-work search that stops at the first
-- answer: a thread group (at most three tasks at once) searches chunks of
-- a nonce range for a string whose FNV-1a hash is divisible by a
-- difficulty; a task that finds one appends it to a shared list, the main
-- state's wait_for_condition sees it and sets the group's event, the
-- running tasks see tk.cancelled() and stop, and the chunks that never
-- started end cancelled. Meanwhile a second puzzle runs in a sibling
-- subgroup that nobody stops: every one of its chunks must be searched
-- to the end. Every chunk searched to the end must give what a serial
-- search of that chunk gives, and every answer must really be one.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local function fnv1a(s)
  local h = -3750763034362895579  -- 0xcbf29ce484222325 as a signed integer
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 1099511628211
  end
  return h
end

local function is_answer(prefix, nonce, difficulty)
  return fnv1a(prefix .. ":" .. nonce) % difficulty == 0
end

-- Searches [first, last]; stops early when told (the event), and says so.
-- Returns every answer in the chunk when it searched it all.
local function search_chunk(prefix, first, last, difficulty, found)
  local tk = require "threadkit"
  local answers = {}
  for nonce = first, last do
    if (nonce - first) % 128 == 0 and tk.cancelled() then
      return {first = first, stopped_at = nonce, answers = answers}
    end
    if fnv1a(prefix .. ":" .. nonce) % difficulty == 0 then
      answers[#answers + 1] = nonce
      if found then found:append(nonce) end
    end
  end
  if found then found:incr("searched") end
  return {first = first, answers = answers, full = true}
end

local function serial_chunk(prefix, first, last, difficulty)
  local answers = {}
  for nonce = first, last do
    if is_answer(prefix, nonce, difficulty) then answers[#answers + 1] = nonce end
  end
  return answers
end

local function run(opts)
  local rng = common.rng(opts.seed or 3)
  local chunk, difficulty = 1000, 20000
  local chunks = common.scaled(opts, 120, 24)
  local prefix_a, prefix_b = "block-" .. rng:word(8, 8), "block-" .. rng:word(8, 8)
  local pool <close> = tk.pool{workers = 2, name = "search"}

  local root = tk.group("puzzles", {pool = pool})
  local a = tk.group("puzzle a", {max_concurrent = 3, pool = pool})
  local b = tk.group("puzzle b", {max_concurrent = 1, pool = pool})
  -- Subgroups made in the main state have no parent; a task of root makes
  -- them children instead, as a service that groups its work would.
  local found = tk.shared()
  found.searched = 0  -- chunks searched in full, counted by the tasks
  local jobs_a, jobs_b = {}, {}
  for c = 1, chunks do
    local first = (c - 1) * chunk
    jobs_a[c] = a:add_task(search_chunk, prefix_a, first, first + chunk - 1,
                           difficulty, found)
  end
  for c = 1, 6 do
    local first = (c - 1) * chunk
    jobs_b[c] = b:add_task(search_chunk, prefix_b, first, first + chunk - 1,
                           difficulty, nil)
  end
  local watcher = root:add_task(function(g, fnd, n)
    -- A task can wait for a condition too: here, for puzzle a's answer.
    return g:wait_for_condition(function() return #fnd > 0 or fnd.searched == n end, 60)
  end, a, found, chunks)

  -- Stop at the first answer, or when every chunk was searched in vain.
  if not a:wait_for_condition(function()
    return #found > 0 or found.searched == chunks
  end, 60) then
    return false, "no answer and no end within 60 s"
  end
  if not a:join(60) then return false, "puzzle a's group did not stop" end
  if not b:join(60) then return false, "puzzle b's group did not finish" end
  if not root:join(60) then return false, "the watcher did not finish" end
  if watcher:result() ~= true then return false, "the watcher's condition did not hold" end
  if not a:event_is_set() then return false, "puzzle a's event is not set" end
  if b:event_is_set() then return false, "puzzle b's event was set" end

  for _, nonce in ipairs(found) do
    if not is_answer(prefix_a, nonce, difficulty) then
      return false, nonce .. " is not an answer"
    end
  end
  local full, stopped, cancelled = 0, 0, 0
  for c, job in ipairs(jobs_a) do
    local first = (c - 1) * chunk
    if job.state == "cancelled" then
      cancelled = cancelled + 1
    elseif job.state ~= "completed" then
      return false, ("chunk %d ended %s: %s"):format(c, job.state, tostring(job.error))
    else
      local r = job:result()
      local want = serial_chunk(prefix_a, first, r.full and first + chunk - 1 or r.stopped_at - 1,
                                difficulty)
      local ok, why = common.compare("puzzle a chunk " .. c, r.answers, want)
      if not ok then return false, why end
      if r.full then full = full + 1 else stopped = stopped + 1 end
    end
  end
  -- The first chunk holding an answer, serially: if it comes well before
  -- the last, stopping must have spared some chunks.
  local first_with = nil
  for c = 1, chunks do
    if #serial_chunk(prefix_a, (c - 1) * chunk, c * chunk - 1, difficulty) > 0 then
      first_with = c
      break
    end
  end
  if not first_with and #found > 0 then
    return false, "answers found where the serial search finds none"
  end
  if first_with and first_with + 6 < chunks and stopped + cancelled == 0 then
    return false, ("the event stopped nothing (%d chunks searched in full)"):format(full)
  end
  for c, job in ipairs(jobs_b) do
    if job.state ~= "completed" then
      return false, ("puzzle b chunk %d ended %s"):format(c, job.state)
    end
    local r = job:result()
    local want = serial_chunk(prefix_b, (c - 1) * chunk, c * chunk - 1, difficulty)
    local ok, why = common.compare("puzzle b chunk " .. c, r.answers, want)
    if not ok then return false, why end
    if not r.full then return false, "puzzle b chunk " .. c .. " was stopped" end
  end
  if os.getenv("TK_PROGRAM_VERBOSE") then
    print(("puzzle a: answer %d, first chunk with one %s; chunks: %d full, %d stopped, %d cancelled"):format(
      found[1] or -1, tostring(first_with), full, stopped, cancelled))
  end
  if #a:errors() ~= cancelled then
    return false, ("puzzle a lists %d errors, %d chunks were cancelled"):format(#a:errors(), cancelled)
  end
  return true
end

common.main("first_result_group", run)
