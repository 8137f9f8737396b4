-- groups_two_tree.lua - two top-level groups, one with a subgroup made by
-- its own task; the forest printed with each group's counts.
-- Lua twin of the thread-group library's "two-group tree" example.
local tk = require "threadkit"

local pool <close> = tk.pool(2)
local downloads = tk.group("Downloads", {pool = pool})
local reports = tk.group("Reports", {pool = pool})

downloads:add_task(function()
  -- A group made inside a task becomes a child of the task's group.
  local parse = tk.group("Parsing")
  for i = 1, 2 do parse:add_task(function() tk.sleep(0.01) return i end) end
  parse:join()
  return "downloaded and parsed"
end)
for i = 1, 3 do reports:add_task(function() return "report " .. i end) end

downloads:join()
reports:join()
print(("Downloads has %d child group(s): %s"):format(
  #downloads:children(), downloads:children()[1].name))
print(("Parsing's parent is %s"):format(downloads:children()[1].parent.name))
print(("Reports is a root: %s"):format(tostring(reports.parent == nil)))
io.write(tk.tree())
