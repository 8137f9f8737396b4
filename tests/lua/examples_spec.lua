-- examples_spec.lua - every example under scripts/examples runs and tells
-- its story; the C host that embeds threadkit too.
local TKLUA = assert(os.getenv("TKLUA"))
local ROOT = "../../"

local function run(cmd)
  local h = io.popen(cmd .. " 2>&1")
  local out = h:read("a")
  local ok = h:close()
  return out, ok
end

local function example(name)
  return run(TKLUA .. " " .. ROOT .. "scripts/examples/" .. name .. ".lua")
end

describe("examples", function()
  it("basic_usage: a high-priority job's result and metrics", function()
    local out, ok = example("basic_usage")
    assert.is_true(ok)
    assert.matches("Result: 30\n", out)
    assert.matches("Execution time: %d%.%d+s\n", out)
    assert.matches("Job state: COMPLETED\n", out)
    assert.matches("Metrics: submitted=1 completed=1 failed=0 cancelled=0", out)
  end)

  it("priority_execution: the first job, then highest to lowest", function()
    local out, ok = example("priority_execution")
    assert.is_true(ok)
    assert.matches("Execution order %(by priority%):\n" ..
                   "  Task 1: LOWEST\n  Task 5: HIGHEST\n  Task 4: HIGH\n" ..
                   "  Task 3: NORMAL\n  Task 2: LOW\n", out)
  end)

  it("cancellation: the job gives up when its token is cancelled", function()
    local out, ok = example("cancellation")
    assert.is_true(ok)
    assert.matches("Requesting cancellation%.%.%.\n", out)
    assert.matches("Work cancelled at iteration\t%d\n", out)
    assert.matches("Final state: CANCELLED\n", out)
    assert.matches("Exception: Cancelled\n", out)
  end)

  it("metrics_tracking: 10 jobs, 4 of them failing", function()
    local out, ok = example("metrics_tracking")
    assert.is_true(ok)
    assert.matches("Total submitted: 10\nTotal completed: 6\nTotal failed: 4\n" ..
                   "Success rate: 60%.0%%", out)
  end)

  it("context_manager: squares, and the pool closed after the scope", function()
    local out, ok = example("context_manager")
    assert.is_true(ok)
    assert.matches("Squares: %[0, 1, 4, 9, 16, 25, 36, 49, 64, 81%]", out)
    assert.matches("shut down after context exit: true", out)
  end)

  it("groups_verify_users: one verified user stops the rest at once", function()
    local out, ok = example("groups_verify_users")
    assert.is_true(ok, out)
    assert.matches("condition met: true %(valid user: cyd%)", out)
    assert.matches("joined: true", out)
    assert.matches("event set: true, join took well under the retries: true", out)
    assert.matches("cyd verified", out)
    assert.is_nil(out:find("gave up", 1, true))
    local _, cancelled = out:gsub(" cancelled\n", "")
    assert.is_true(cancelled >= 3)
    assert.matches("Verifying users %[pending 0, running 0, done 8%] %(event set%)", out)
  end)

  it("groups_two_tree: a subgroup made by a task, and the forest", function()
    local out, ok = example("groups_two_tree")
    assert.is_true(ok, out)
    assert.matches("Downloads %[pending 0, running 0, done 1%]\n" ..
                   "  Parsing %[pending 0, running 0, done 2%]\n" ..
                   "Reports %[pending 0, running 0, done 3%]\n", out)
    assert.matches("Parsing's parent is Downloads", out)
    assert.matches("Reports is a root: true", out)
  end)

  it("groups_subtree_event: the event stops only that subtree", function()
    local out, ok = example("groups_subtree_event")
    assert.is_true(ok, out)
    assert.matches("A1: finished\nA2: finished\nB1: stopped\nB2: stopped\n" ..
                   "C1: finished\nC2: finished\n", out)
    assert.matches("event set: Parent false, Sub B true", out)
    assert.matches("  Sub B %[pending 0, running 0, done 2%] %(event set%)", out)
  end)

  it("groups_daemon: a daemon group survives its creator's event", function()
    local out, ok = example("groups_daemon")
    assert.is_true(ok, out)
    assert.matches("main task stopped\nwatcher finished\n", out)
    assert.matches("Watcher is a root: true; its event set: false", out)
    assert.matches("Main %[pending 0, running 0, done 1%] %(event set%)\n" ..
                   "Watcher %[pending 0, running 0, done 1%]\n", out)
  end)

  it("the C host embeds threadkit and its tasks call a host function", function()
    local host = TKLUA:gsub("tklua$", "host")
    local out, ok = run(host)
    assert.is_true(ok, out)
    assert.matches("alpha\t92909918\nbeta\t3020272\ngamma\t98120615\n" ..
                   "delta\t95468472\n", out)
    assert.matches("host state too:\t92909918", out)
  end)
end)
