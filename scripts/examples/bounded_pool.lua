-- bounded_pool.lua - a pool with a queue of bounded capacity: a submit
-- to a full pool fails at once ("reject"), or waits for room ("block").
local tk = require "threadkit"

local gate = tk.token()   -- the one worker is busy until it is cancelled

local rejecting <close> = tk.pool{workers = 1, capacity = 2, name = "reject"}
rejecting:submit(function(g) while not g:is_cancelled() do end end, gate)
while rejecting:metrics().running < 1 do tk.sleep(0.001) end
rejecting:submit(function() end)
rejecting:submit(function() end)   -- two pending: the queue is full
local ok, err = pcall(rejecting.submit, rejecting, function() end)
print("third pending submit: " .. tostring(ok) .. ", " .. err:match("queue is full.*"))
gate:cancel()
rejecting:wait_all()

-- With on_full = "block", the producer waits for room instead: it can
-- never run more than `capacity` jobs ahead of the workers.
local blocking <close> = tk.pool{workers = 2, capacity = 4, on_full = "block",
                                 name = "block"}
local done = tk.shared{n = 0}
for _ = 1, 50 do
  blocking:submit(function() tk.sleep(0.002) done:incr("n") end)
end
blocking:wait_all()
local m = blocking:metrics()
print(string.format("blocking pool: %d done, peak pending %d (capacity 4)",
                    done.n, m.peak_pending))
