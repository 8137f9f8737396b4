-- metrics_tracking.lua - a mix of failing and succeeding jobs, counted.
-- Lua twin of the priority thread pool's "Metrics Tracking" example.
local tk = require "threadkit"

print(string.rep("=", 60))
print("Example 4: Metrics Tracking")
print(string.rep("=", 60))

do
  local pool <close> = tk.pool(4)
  for i = 0, 9 do
    if i % 3 == 0 then
      pool:submit({name = "failing-" .. i}, function() return 1 // 0 end)
    else
      pool:submit({name = "success-" .. i}, function(x) return x * 2 end, i)
    end
  end

  pool:wait_all(1.0)

  local m = pool:metrics()
  print(("Total submitted: %d"):format(m.submitted))
  print(("Total completed: %d"):format(m.completed))
  print(("Total failed: %d"):format(m.failed))
  print(("Success rate: %.1f%%"):format(m.completed / m.submitted * 100))
end
