-- retries.lua - a job that fails twice and succeeds on its third attempt,
-- one that gives up, and one whose error is not worth retrying.
local tk = require "threadkit"

local pool <close> = tk.pool(2)
local tries = tk.shared{flaky = 0}

-- Fails until its third run: a shared counter survives between attempts.
local flaky = pool:submit({name = "flaky", retry = {attempts = 5, delay = 0.01}},
  function()
    local n = tries:incr("flaky")
    if n < 3 then error("timeout talking to the server (try " .. n .. ")", 0) end
    return "data after " .. n .. " tries"
  end)
print(flaky:result())
print("attempts: " .. flaky.attempts .. ", errors kept: " .. #flaky.attempt_errors)

-- Always fails: gives up after three attempts, with the last error.
local hopeless = pool:submit({retry = {attempts = 3, delay = 0.01, backoff = 2}},
  function() error("server down", 0) end)
hopeless:wait()
print(hopeless.state .. " after " .. hopeless.attempts .. " attempts: " .. hopeless.error)

-- retry.on picks the errors worth another try: a bad request is not.
local bad = pool:submit({retry = {attempts = 3, delay = 0.01,
                                  on = function(err) return err:find("timeout") ~= nil end}},
  function() error("bad request", 0) end)
bad:wait()
print("bad request: " .. bad.state .. " after " .. bad.attempts .. " attempt(s)")
