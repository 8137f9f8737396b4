-- pool_init.lua - a pool's init function runs once in each worker state,
-- before its first task: the place to load modules and build what every
-- task on that worker reuses (tasks see the worker's globals, not the
-- submitting state's).
local tk = require "threadkit"

local runs = tk.shared{init = 0}

local pool <close> = tk.pool{workers = 2, name = "init", init = function()
  -- Runs in the worker state: these globals live there.
  WORDS = {}
  for w in ("alpha beta gamma delta"):gmatch("%a+") do WORDS[#WORDS + 1] = w end
  runs:incr("init")
end}

-- The first two tasks wait for each other without suspending (each holds
-- its worker meanwhile), so that both workers start and run init.
local met = tk.shared{n = 0}
local jobs = {}
for i = 1, 8 do
  jobs[i] = pool:submit(function(n)
    if n <= 2 then
      met:incr("n")
      while met.n < 2 do end
    end
    return WORDS[(n - 1) % #WORDS + 1]
  end, i)
end
local out = {}
for i, j in ipairs(jobs) do out[i] = j:result() end
print(table.concat(out, " "))
print("init ran " .. runs.init .. " times for 8 tasks on 2 workers")
print("WORDS in this state: " .. tostring(WORDS))
