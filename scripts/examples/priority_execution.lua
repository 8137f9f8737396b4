-- priority_execution.lua - one worker, five jobs submitted lowest first:
-- the first starts at once, the rest run highest first.
-- Lua twin of the priority thread pool's "Priority Execution" example.
local tk = require "threadkit"

print(string.rep("=", 60))
print("Example 2: Priority Execution")
print(string.rep("=", 60))

local results = tk.shared()
local names = {[tk.LOWEST] = "LOWEST", [tk.LOW] = "LOW", [tk.NORMAL] = "NORMAL",
               [tk.HIGH] = "HIGH", [tk.HIGHEST] = "HIGHEST"}

do
  local pool <close> = tk.pool(1)  -- a single worker shows the order
  local all_in = tk.token()
  local started = tk.channel()

  local function record(name, priority, hold)
    results:append(name .. ": " .. names[priority])
    if hold then
      -- The first job starts on the idle worker and keeps it busy until
      -- the others are queued (a spin: a wait would free the worker).
      started:push(true)
      while not hold:is_cancelled() do end
    end
    tk.sleep(0.01)
    return name
  end

  -- Submitted in reverse priority order; the first one starts at once.
  pool:submit({priority = tk.LOWEST}, record, "Task 1", tk.LOWEST, all_in)
  started:pop()
  pool:submit({priority = tk.LOW}, record, "Task 2", tk.LOW)
  pool:submit({priority = tk.NORMAL}, record, "Task 3", tk.NORMAL)
  pool:submit({priority = tk.HIGH}, record, "Task 4", tk.HIGH)
  pool:submit({priority = tk.HIGHEST}, record, "Task 5", tk.HIGHEST)
  all_in:cancel()

  pool:wait_all()
end

print("Execution order (by priority):")
for i = 1, #results do print("  " .. results[i]) end
