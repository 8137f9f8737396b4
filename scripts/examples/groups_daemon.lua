-- groups_daemon.lua - a daemon group made inside a task is a root of its
-- own: the creating group's event does not reach it, and it finishes its
-- work while the creator's tasks are stopped.
-- Lua twin of the thread-group library's daemon-group example.
local tk = require "threadkit"

local pool <close> = tk.pool(4)
local made = tk.channel()
local log = tk.shared()

local main = tk.group("Main", {pool = pool})
main:add_task(function()
  local watcher = tk.group("Watcher", {daemon = true})
  watcher:add_task(function()
    for _ = 1, 4 do tk.event_aware_sleep(0.05) end
    log.watcher = "watcher finished"
  end)
  made:push(watcher)
  if not tk.event_aware_sleep(5) then log.main = "main task stopped" end
end)

local watcher = made:pop(10)
main:set_event_for_child_tasks()
main:join()
watcher:join()
print(log.main)
print(log.watcher)
print(("Watcher is a root: %s; its event set: %s"):format(
  tostring(watcher.parent == nil), tostring(watcher:event_is_set())))
io.write(tk.tree())
