-- groups_verify_users.lua - verify users in parallel, at most 3 at a time,
-- each retrying with event_aware_sleep; as soon as one user is verified,
-- wait_for_condition sets the group's event: sleeping tasks wake and stop,
-- tasks that never started end cancelled, and join returns at once.
-- Lua twin of the thread-group library's "verifying users" example.
local tk = require "threadkit"

local pool <close> = tk.pool(4)
local valid = tk.shared()
local users = {"ann", "bob", "cyd", "dee", "eve", "fay", "gus", "hal"}

local function verify(user)
  for attempt = 1, 5 do
    -- Only "cyd" can be verified, on the second attempt.
    if user == "cyd" and attempt == 2 then
      valid:append(user)
      return user .. " verified"
    end
    if not tk.event_aware_sleep(0.2) then
      return user .. " stopped after " .. attempt .. " attempt(s)"
    end
  end
  return user .. " gave up"
end

local g = tk.group("Verifying users", {max_concurrent = 3, pool = pool})
for _, user in ipairs(users) do g:add_task({name = user}, verify, user) end

local t0 = tk.now()
local found = g:wait_for_condition(function() return #valid > 0 end, 600)
print(("condition met: %s (valid user: %s)"):format(tostring(found), valid[1]))
print(("joined: %s"):format(tostring(g:join(600))))
print(("event set: %s, join took well under the retries: %s"):format(
  tostring(g:event_is_set()), tostring(tk.now() - t0 < 2)))
for _, r in ipairs(g:results()) do print("  " .. r[1]) end
for _, e in ipairs(g:errors()) do print(("  %s %s"):format(e.job.name, e.state)) end
io.write(tk.tree())
