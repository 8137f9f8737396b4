-- programs_common.lua - what every program of the corpus shares: a seeded
-- random generator of its own (a program's input depends on its seed
-- alone, whatever else calls math.random), a deep comparison that names the
-- first difference, and the main function that runs a program with its
-- size and seed from the environment.
--
-- Only the main state loads this module: task functions never call into
-- it, so that what they do is exactly what the program ships to workers.
local M = {}

-- {====================================================== random numbers
-- A 64-bit xorshift* generator over Lua integers (which wrap), one object
-- per use, so that nothing else drawing numbers shifts a program's input.
local Rng = {}
Rng.__index = Rng

function M.rng(seed)
  local s = (seed * 0x9E3779B97F4A7C15) ~ 0x2545F4914F6CDD1D
  if s == 0 then s = 1 end
  local r = setmetatable({s = s}, Rng)
  for _ = 1, 8 do r:next() end  -- small seeds start far apart
  return r
end

function Rng:next()
  local x = self.s
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.s = x
  return (x * 0x2545F4914F6CDD1D) >> 1  -- non-negative 63 bits
end

-- An integer in [lo, hi].
function Rng:int(lo, hi)
  return lo + self:next() % (hi - lo + 1)
end

-- A float in [0, 1).
function Rng:float()
  return (self:next() >> 10) / (1 << 53)
end

function Rng:pick(list)
  return list[self:int(1, #list)]
end

-- A word of `lo`..`hi` letters from `alphabet`.
function Rng:word(lo, hi, alphabet)
  alphabet = alphabet or "abcdefghijklmnopqrstuvwxyz"
  local n, t = self:int(lo, hi), {}
  for i = 1, n do
    local k = self:int(1, #alphabet)
    t[i] = alphabet:sub(k, k)
  end
  return table.concat(t)
end
-- }======================================================

-- {====================================================== comparison
local function describe(v)
  if type(v) == "string" then
    if #v > 40 then v = v:sub(1, 40) .. "..." end
    return ("%q"):format(v)
  end
  return tostring(v)
end

local function same_number(a, b)
  if a ~= a and b ~= b then return true end   -- NaN equals NaN here
  return a == b and math.type(a) == math.type(b)
end

-- Returns nil when `got` and `want` are equal as values (tables compared
-- key by key, recursively, cycles allowed), else the path of the first
-- difference and what each side holds there.
function M.diff(got, want, path, seen)
  path = path or "result"
  seen = seen or {}
  if type(got) ~= type(want) then
    return ("%s: got %s (%s), want %s (%s)"):format(
      path, describe(got), type(got), describe(want), type(want))
  end
  if type(want) == "number" then
    if not same_number(got, want) then
      return ("%s: got %s (%s), want %s (%s)"):format(
        path, describe(got), math.type(got), describe(want), math.type(want))
    end
    return nil
  end
  if type(want) ~= "table" then
    if got ~= want then
      return ("%s: got %s, want %s"):format(path, describe(got), describe(want))
    end
    return nil
  end
  seen[got] = seen[got] or {}
  if seen[got][want] then return nil end  -- already being compared
  seen[got][want] = true
  -- Keys that are tables are compared by identity: none of the programs
  -- keys a table by another table.
  for k, v in pairs(want) do
    local d = M.diff(got[k], v, path .. "[" .. describe(k) .. "]", seen)
    if d then return d end
  end
  for k, v in pairs(got) do
    if want[k] == nil then
      return ("%s[%s]: got %s, want nothing"):format(path, describe(k),
                                                    describe(v))
    end
  end
  return nil
end
-- }======================================================

-- {====================================================== main
-- A program is `run(opts)`, returning true, or false and what differs;
-- opts.scale (default 1) shrinks or grows its input, opts.seed replaces
-- its fixed seed. main runs it with TK_PROGRAM_SCALE and TK_PROGRAM_SEED
-- from the environment (scripts/soak.lua sets both) and prints "ok
-- <name>", or the difference and exits 1.
function M.main(name, run)
  local scale = tonumber(os.getenv("TK_PROGRAM_SCALE") or "") or 1
  local seed = math.tointeger(tonumber(os.getenv("TK_PROGRAM_SEED") or ""))
  local ok, why = run({scale = scale, seed = seed})
  if ok then
    -- The script just ends: tklua then closes the state, so the pools
    -- shut down and a leak checker sees everything freed.
    print("ok " .. name)
    return
  end
  print(("FAIL %s%s: %s"):format(name, seed and (" (TK_PROGRAM_SEED=%d)"):format(seed) or "",
                                 tostring(why)))
  os.exit(1)
end

-- Scales a count, keeping at least `min`.
function M.scaled(opts, n, min)
  return math.max(min or 1, math.floor(n * (opts.scale or 1) + 0.5))
end

-- The closing check most programs make: the parallel result against the
-- serial one.
function M.compare(label, got, want)
  local d = M.diff(got, want, label)
  if d then return false, d end
  return true
end
-- }======================================================

return M
