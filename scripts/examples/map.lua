-- map.lua - pool:map: one function over a list on every worker, the
-- results in input order, and the first error raised with its item.
local tk = require "threadkit"

local pool <close> = tk.pool{workers = 4, name = "map"}

-- Each item is a number; the work is CPU-bound (a sum of squares).
local function sum_of_squares(n)
  local s = 0
  for i = 1, n do s = s + i * i end
  return s
end

local sizes = {}
for i = 1, 12 do sizes[i] = i * 1000 end
local sums = pool:map(sum_of_squares, sizes, {batch = 3})
for i, s in ipairs(sums) do
  assert(s == sum_of_squares(sizes[i]))
end
print(string.format("map: %d results in input order, first %d, last %d",
                    #sums, sums[1], sums[#sums]))

-- An error in any item cancels the batches not yet finished.
local ok, err = pcall(pool.map, pool, function(x)
  if x == 7 then error("seven is not allowed", 0) end
  return x
end, {1, 2, 3, 4, 5, 6, 7, 8})
print("map with a failing item: " .. tostring(ok) .. ", " .. err)
