-- work.lua - pool:work: many small calls of one function whose results
-- come back to a callback in this state (as luv's uv.new_work), without a
-- job handle per call.
local tk = require "threadkit"

local pool <close> = tk.pool(3)

local lengths, total, failures = {}, 0, 0
local w = pool:work(function(word)
  if word == "" then error("empty word", 0) end
  return word, #word
end, function(ok, word, length)
  if ok then
    lengths[word] = length
    total = total + length
  else
    failures = failures + 1
  end
end)

for word in ("the quick brown fox jumps over the lazy dog"):gmatch("%a+") do
  w:queue(word)
end
w:queue("")   -- fails: on_result(false, "empty word")
w:wait()      -- hands out every outcome; on_result runs here

print("letters: " .. total .. ", failures: " .. failures)
print("quick has " .. lengths.quick .. " letters, calls left: " .. #w)
