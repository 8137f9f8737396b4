-- bank_ledger.lua - a day's ledger settled on a bounded pool that pushes
-- back. Accounts live in a shared table. Settlement runs as banks run it:
-- first the debits, each batch owning the source accounts of its
-- transfers and refusing a transfer that would overdraw (the debit is an
-- atomic incr, undone if it went below zero); then every accepted credit
-- and deposit. The main state submits batches with on_full = "block" (it
-- waits for room); each batch submits an audit of every large transfer to
-- the same pool with a short block_timeout, and when the pool is full it
-- catches "queue is full" and audits the transfer itself (the caller-runs
-- policy of Java's executors). Then interest for every account through
-- pool:map. Balances, refusals, the audit trail and interest are checked
-- against a serial settlement.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local LARGE = 900000  -- cents: transfers from 9 000.00 up are audited

-- An audit: a score from the transfer's fields (what a fraud model would
-- return), and the verdict.
local function audit(tx)
  local h = tx.id
  for _, v in ipairs({tx.from, tx.to, tx.amount, #tx.memo}) do
    h = (h * 1000003 ~ v) & 0x7FFFFFFF
  end
  for i = 1, #tx.memo do h = (h * 31 + tx.memo:byte(i)) & 0x7FFFFFFF end
  return {id = tx.id, score = h % 1000, flagged = h % 1000 >= 990}
end

-- Debits a batch's transfers in order (the batch owns their source
-- accounts) and returns the credits to make and the refusals.
local function debit_batch(batch, accounts, trail, pool)
  local credits, refused, audits = {}, {}, {}
  local here, queued = 0, 0
  for _, tx in ipairs(batch) do
    if tx.kind == "deposit" then
      credits[#credits + 1] = {tx.to, tx.amount}
    elseif accounts:incr(tx.from, -tx.amount) < 0 then
      accounts:incr(tx.from, tx.amount)  -- undo: insufficient funds
      refused[#refused + 1] = tx.id
    else
      credits[#credits + 1] = {tx.to, tx.amount}
    end
    if tx.amount >= LARGE then
      local ok, job = pcall(pool.submit, pool, {block_timeout = 0.002, name = "audit"},
                            audit, tx)
      if ok then
        audits[#audits + 1] = job
        queued = queued + 1
      elseif tostring(job):find("queue is full", 1, true) then
        trail:append(audit(tx))  -- no room: the caller runs it
        here = here + 1
      else
        error(job, 0)
      end
    end
  end
  for _, job in ipairs(audits) do trail:append(job:result()) end
  return {credits = credits, refused = refused, here = here, queued = queued}
end

local function credit_batch(credits, accounts)
  for _, c in ipairs(credits) do accounts:incr(c[1], c[2]) end
  return #credits
end

local function make_day(rng, accounts, count)
  local txs = {}
  for id = 1, count do
    local kind = rng:int(1, 10) == 1 and "deposit" or "transfer"
    local amount = rng:int(1, 20) == 1 and rng:int(LARGE, 5000000) or rng:int(100, 200000)
    local from = rng:int(1, accounts)
    local to = rng:int(1, accounts - 1)
    if to >= from then to = to + 1 end
    txs[id] = {id = id, kind = kind, from = kind == "transfer" and from or nil, to = to,
               amount = amount, memo = rng:word(0, 30, "abcdef \0\n")}
  end
  return txs
end

local function interest(entry)
  local balance, rate_bp = entry[1], entry[2]
  -- Daily interest in cents, rounded half up, never negative.
  return (math.max(balance, 0) * rate_bp + 182500) // 365000
end

-- Splits the day into batches by source account (deposits by target).
local function batches_of(txs, count)
  local batches = {}
  for g = 1, count do batches[g] = {} end
  for _, tx in ipairs(txs) do
    local g = (tx.from or tx.to) % count + 1
    batches[g][#batches[g] + 1] = tx
  end
  return batches
end

local function serial_settle(txs, opening, count)
  local balance = table.move(opening, 1, #opening, 1, {})
  local refused, credits = {}, {}
  for _, batch in ipairs(batches_of(txs, count)) do
    for _, tx in ipairs(batch) do
      if tx.kind == "transfer" and balance[tx.from] < tx.amount then
        refused[tx.id] = true
      else
        if tx.kind == "transfer" then balance[tx.from] = balance[tx.from] - tx.amount end
        credits[#credits + 1] = {tx.to, tx.amount}
      end
    end
  end
  for _, c in ipairs(credits) do balance[c[1]] = balance[c[1]] + c[2] end
  return balance, refused
end

local function run(opts)
  local rng = common.rng(opts.seed or 1357)
  local n_accounts, n_batches = 200, 16
  local txs = make_day(rng, n_accounts, common.scaled(opts, 20000, 300))
  local opening = {}
  for a = 1, n_accounts do opening[a] = rng:int(0, 3000000) end

  local pool <close> = tk.pool{workers = 2, capacity = 6, on_full = "block", name = "ledger"}
  local accounts, trail = tk.shared(), tk.shared()
  for a = 1, n_accounts do accounts[a] = opening[a] end

  local jobs = {}
  for g, batch in ipairs(batches_of(txs, n_batches)) do
    jobs[g] = pool:submit({block_timeout = 60, name = "debits " .. g},
                          debit_batch, batch, accounts, trail, pool)
  end
  local refused, credit_jobs, here, queued = {}, {}, 0, 0
  local results = {}
  for g, job in ipairs(jobs) do
    local okr, r = pcall(job.result, job, 120)
    if not okr then return false, ("debit batch %d failed: %s"):format(g, tostring(r)) end
    results[g] = r
    for _, id in ipairs(r.refused) do refused[id] = true end
    here, queued = here + r.here, queued + r.queued
  end
  -- Credits only once every debit is done: no refusal depends on timing.
  for g, r in ipairs(results) do
    credit_jobs[g] = pool:submit({block_timeout = 60, name = "credits " .. g},
                                 credit_batch, r.credits, accounts)
  end
  for _, job in ipairs(credit_jobs) do job:result(120) end
  if queued == 0 then return false, "no audit went through the pool" end
  if os.getenv("TK_PROGRAM_VERBOSE") then
    print(("audits: %d queued, %d run by their batch"):format(queued, here))
  end

  local want, want_refused = serial_settle(txs, opening, n_batches)
  local got = {}
  for a = 1, n_accounts do got[a] = accounts[a] end
  local same, why = common.compare("refusals", refused, want_refused)
  if not same then return false, why end
  same, why = common.compare("balances", got, want)
  if not same then return false, why end

  local audits, want_audits, n_want = {}, {}, 0
  for i = 1, #trail do
    local e = trail[i]
    if audits[e.id] then return false, "transfer " .. e.id .. " audited twice" end
    audits[e.id] = e
  end
  for _, tx in ipairs(txs) do
    if tx.amount >= LARGE then
      want_audits[tx.id] = audit(tx)
      n_want = n_want + 1
    end
  end
  same, why = common.compare("audit trail", audits, want_audits)
  if not same then return false, why end
  if here + queued ~= n_want then
    return false, ("%d audits counted, %d large transfers"):format(here + queued, n_want)
  end

  local entries = {}
  for a = 1, n_accounts do entries[a] = {got[a], 50 + a % 7 * 25} end
  local paid = pool:map(interest, entries)
  local want_paid = {}
  for a, e in ipairs(entries) do want_paid[a] = interest(e) end
  return common.compare("interest", paid, want_paid)
end

common.main("bank_ledger", run)
