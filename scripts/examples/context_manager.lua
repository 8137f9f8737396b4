-- context_manager.lua - a pool that shuts itself down at the end of its
-- scope (<close>). Lua twin of the priority thread pool's "Context
-- Manager" example.
local tk = require "threadkit"

print(string.rep("=", 60))
print("Example 5: Context Manager")
print(string.rep("=", 60))

local results = {}
local pool_ref

do
  local pool <close> = tk.pool(4)
  pool_ref = pool
  local jobs = {}
  for i = 0, 9 do jobs[#jobs + 1] = pool:submit(function(x) return x ^ 2 end, i) end

  pool:wait_all()

  for _, job in ipairs(jobs) do results[#results + 1] = math.tointeger(job:result()) end
end

print(("Squares: [%s]"):format(table.concat(results, ", ")))
print("Pool automatically shut down after context exit: "
      .. tostring(not pcall(pool_ref.submit, pool_ref, print)))
