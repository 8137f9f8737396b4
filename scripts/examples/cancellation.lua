-- cancellation.lua - a long job that checks a token and gives up when it
-- is cancelled. Lua twin of the priority thread pool's "Cancellation"
-- example.
local tk = require "threadkit"

print(string.rep("=", 60))
print("Example 3: Cancellation")
print(string.rep("=", 60))

local pool = tk.pool(2)
local token = tk.token()

local function long_work()
  for i = 0, 9 do
    if token:is_cancelled() then
      print("  Work cancelled at iteration", i)
      error("Cancelled", 0)
    end
    tk.sleep(0.05)
  end
  return "Completed"
end

local job = pool:submit({token = token}, long_work)

-- Cancel after 0.15 seconds (around iteration 3).
tk.sleep(0.15)
print("Requesting cancellation...")
token:cancel()

pool:wait_all(1.0)

print(("Final state: %s"):format(job.state:upper()))
if job.error then print(("Exception: %s"):format(job.error)) end

pool:shutdown()
