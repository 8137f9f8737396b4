-- memory_limit.lua - a pool whose worker states may each hold at most a
-- given number of bytes: a task that needs more fails with "not enough
-- memory", and the worker goes on with the next task.
local tk = require "threadkit"

local pool <close> = tk.pool{workers = 1, memory_limit = 4 * 1024 * 1024}

local greedy = pool:submit(function()
  local t = {}
  for i = 1, 1e7 do t[i] = ("x"):rep(16) .. i end   -- far more than 4 MiB
  return #t
end)
greedy:wait()
print("greedy task: " .. greedy.state .. " (" .. greedy.error:match("not enough memory") .. ")")

-- The same worker state runs the next task normally.
local modest = pool:submit(function()
  local t = {}
  for i = 1, 1000 do t[i] = i end
  return #t
end)
print("modest task after it: " .. modest:result() .. " items")
