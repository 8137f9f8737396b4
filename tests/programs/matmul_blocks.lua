-- matmul_blocks.lua - dense matrix multiplication in blocks: C = A * B
-- with each block of C computed by a task that receives a strip of A's
-- rows and a strip of B's columns (tables of a few hundred KiB), then an
-- assembling task that starts after every block task (a dependency list
-- of dozens of jobs), takes their results through the job handles it was
-- given, and returns the whole of C with its trace and norm. A second
-- product uses integer matrices and pool:map over the rows. The results
-- must equal the serial product exactly: every block sums over k in the
-- same order as the serial loop.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local function random_matrix(rng, rows, cols, integer)
  local m = {}
  for i = 1, rows do
    local row = {}
    for j = 1, cols do
      row[j] = integer and rng:int(-1000, 1000) or (rng:float() - 0.5) * 10
    end
    m[i] = row
  end
  return m
end

local function multiply(a, b)
  local n, m, p = #a, #b, #b[1]
  local c = {}
  for i = 1, n do
    local ai, ci = a[i], {}
    for j = 1, p do
      local s = ai[1] * b[1][j]
      for k = 2, m do s = s + ai[k] * b[k][j] end
      ci[j] = s
    end
    c[i] = ci
  end
  return c
end

-- Extracts rows r0..r1 and columns c0..c1 of m as a new matrix.
local function slice(m, r0, r1, c0, c1)
  local out = {}
  for i = r0, r1 do
    out[#out + 1] = table.move(m[i], c0, c1, 1, {})
  end
  return out
end

-- One block of C: rows of A (all of k) times columns of B (all of k).
-- Same summation order as `multiply`; also reports the block's position
-- and a checksum, as a worker in a real system would.
local function block_task(bi, bj, a_rows, b_cols)
  local rows, k, cols = #a_rows, #b_cols, #b_cols[1]
  local block, sum = {}, 0
  for i = 1, rows do
    local ai, out = a_rows[i], {}
    for j = 1, cols do
      local s = ai[1] * b_cols[1][j]
      for kk = 2, k do s = s + ai[kk] * b_cols[kk][j] end
      out[j] = s
      sum = sum + s
    end
    block[i] = out
  end
  return {bi = bi, bj = bj, block = block, checksum = sum}
end

-- Runs after every block job: collects their results through the
-- handles, places each block, and returns C, its trace and its
-- Frobenius norm.
local function assemble(jobs, n, size)
  local c = {}
  for i = 1, n do c[i] = {} end
  for _, job in ipairs(jobs) do
    if job.state ~= "completed" then
      error("block job ended " .. job.state .. ": " .. tostring(job.error))
    end
    local r = job:result()
    local check = 0
    for i, row in ipairs(r.block) do
      for j, v in ipairs(row) do
        c[(r.bi - 1) * size + i][(r.bj - 1) * size + j] = v
        check = check + v
      end
    end
    if check ~= r.checksum then error("block checksum mismatch") end
  end
  local trace, norm = 0, 0
  for i = 1, n do
    trace = trace + c[i][i]
    for j = 1, n do norm = norm + c[i][j] * c[i][j] end
  end
  return c, trace, math.sqrt(norm)
end

local function integer_row(row, b)
  local out = {}
  for j = 1, #b[1] do
    local s = 0
    for k = 1, #row do s = s + row[k] * b[k][j] end
    out[j] = s
  end
  return out
end

local function run(opts)
  local rng = common.rng(opts.seed or 4242)
  local size = 20
  local blocks = common.scaled(opts, 8, 2)
  local n = size * blocks
  local a, b = random_matrix(rng, n, n), random_matrix(rng, n, n)
  local want = multiply(a, b)

  local pool <close> = tk.pool{workers = 2, name = "matmul"}
  local jobs = {}
  for bi = 1, blocks do
    local a_rows = slice(a, (bi - 1) * size + 1, bi * size, 1, n)
    for bj = 1, blocks do
      local b_cols = slice(b, 1, n, (bj - 1) * size + 1, bj * size)
      jobs[#jobs + 1] = pool:submit({name = ("block %d,%d"):format(bi, bj)},
                                    block_task, bi, bj, a_rows, b_cols)
    end
  end
  local final = pool:submit({after = jobs, name = "assemble"}, assemble, jobs, n, size)
  local c, trace, norm = final:result(60)
  local ok, why = common.compare("C", c, want)
  if not ok then return false, why end
  local want_trace, want_norm = 0, 0
  for i = 1, n do
    want_trace = want_trace + want[i][i]
    for j = 1, n do want_norm = want_norm + want[i][j] * want[i][j] end
  end
  if trace ~= want_trace or norm ~= math.sqrt(want_norm) then
    return false, ("trace/norm %s/%s, want %s/%s"):format(trace, norm, want_trace,
                                                        math.sqrt(want_norm))
  end

  -- Integer matrices, non-square, one row per map item with all of B as
  -- an upvalue-free argument: exact by construction.
  local ia = random_matrix(rng, n + 3, n - 5, true)
  local ib = random_matrix(rng, n - 5, n + 7, true)
  local items = {}
  for i, row in ipairs(ia) do items[i] = {row = row, b = ib} end
  local rows = pool:map(function(item) return integer_row(item.row, item.b) end, items)
  return common.compare("integer product", rows, multiply(ia, ib))
end

common.main("matmul_blocks", run)
