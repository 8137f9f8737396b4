-- as_completed.lua - handling jobs in the order they finish, not the
-- order they were submitted, with one timeout for the whole loop.
local tk = require "threadkit"

local pool <close> = tk.pool(4)

-- Three downloads of different lengths, submitted slowest first.
local jobs = {}
for _, spec in ipairs{{"large", 0.3}, {"medium", 0.2}, {"small", 0.1}} do
  local name, seconds = spec[1], spec[2]
  jobs[#jobs + 1] = pool:submit({name = name}, function(s)
    tk.sleep(s)
    return s * 1000
  end, seconds)
end

for job in tk.as_completed(jobs, 10) do
  print(string.format("%-6s %s, %d ms", job.name, job.state, job:result()))
end

-- When the timeout passes first, the loop's next step raises.
local stuck = pool:submit(function() tk.sleep(5) end)
local ok, err = pcall(function()
  for _ in tk.as_completed({stuck}, 0.1) do end
end)
print("with a 0.1 s timeout: " .. tostring(ok) .. ", " .. tostring(err):match("as_completed: .*"))
stuck:cancel(true)
