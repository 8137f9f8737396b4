-- schedules.lua - pool:schedule: a run after a delay, a periodic run
-- whose ticks never overlap, and cancelling a schedule.
local tk = require "threadkit"

local pool <close> = tk.pool(2)
local log = tk.shared()

local once = pool:schedule({delay = 0.05, name = "once"}, function()
  log:append("once")
end)

-- Every 50 ms; each run takes 10 ms, so none is skipped.
local ticks = pool:schedule({every = 0.05, name = "tick"}, function()
  log:append("tick")
  tk.sleep(0.01)
end)

-- Wait for the periodic schedule to have run three times.
while ticks.runs < 3 do tk.sleep(0.01) end
print("cancelled: " .. tostring(ticks:cancel()) .. ", active: " .. tostring(ticks.active))
pool:wait_all()

local counts = {}
for _, what in pairs(log) do counts[what] = (counts[what] or 0) + 1 end
print(string.format("once ran %d time(s), runs=%d; tick ran %d times, runs=%d",
                    counts.once, once.runs, counts.tick, ticks.runs))
