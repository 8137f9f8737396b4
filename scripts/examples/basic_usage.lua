-- basic_usage.lua - a pool, one high-priority job, its result, the metrics.
-- Lua twin of the priority thread pool's "Basic Usage" example.
local tk = require "threadkit"

print(string.rep("=", 60))
print("Example 1: Basic Usage")
print(string.rep("=", 60))

local pool = tk.pool{workers = 4}

local function work(x, y)
  return x + y
end

local job = pool:submit({priority = tk.HIGH}, work, 10, 20)

pool:wait_all(1.0)

print(("Result: %d"):format(job:result()))
print(("Execution time: %.6fs"):format(job.execution_time))
print(("Job state: %s"):format(job.state:upper()))

local m = pool:metrics()
print(("Metrics: submitted=%d completed=%d failed=%d cancelled=%d"):format(
  m.submitted, m.completed, m.failed, m.cancelled))

pool:shutdown()
