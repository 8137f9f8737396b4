-- groups_subtree_event.lua - a task creates three subgroups of workers;
-- set_event_for_child_tasks on one of them stops only that subtree, the
-- other two and the parent finish their work.
-- Lua twin of the thread-group library's subtree-event example.
local tk = require "threadkit"

local pool <close> = tk.pool(4)
local outcome = tk.shared()
local stop_b = tk.channel()
local started = tk.channel()

local parent = tk.group("Parent", {pool = pool})
parent:add_task(function()
  local subs = {}
  for _, name in ipairs{"A", "B", "C"} do
    local sub = tk.group("Sub " .. name)
    subs[name] = sub
    for i = 1, 2 do
      sub:add_task(function()
        started:push(name .. i)
        -- Five short naps: finishes unless its group's event is set.
        for _ = 1, 5 do
          if not tk.event_aware_sleep(0.05) then
            outcome[name .. i] = "stopped"
            return
          end
        end
        outcome[name .. i] = "finished"
      end)
    end
  end
  stop_b:push(subs.B)  -- let the main script stop B
  for _, sub in pairs(subs) do sub:join() end
  return "parent task done"
end)

local b = stop_b:pop(10)
for _ = 1, 6 do started:pop(10) end  -- every worker task is under way
b:set_event_for_child_tasks()
parent:join()
for _, key in ipairs{"A1", "A2", "B1", "B2", "C1", "C2"} do
  print(("%s: %s"):format(key, outcome[key]))
end
print(("event set: Parent %s, Sub B %s"):format(
  tostring(parent:event_is_set()), tostring(b:event_is_set())))
io.write(tk.tree())
