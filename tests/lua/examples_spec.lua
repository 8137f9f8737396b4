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

  it("map: results in input order, and the failing item named", function()
    local out, ok = example("map")
    assert.is_true(ok, out)
    assert.matches("map: 12 results in input order, first 333833500, last 576072002000\n", out)
    assert.matches("map with a failing item: false, map: item #7: seven is not allowed\n", out)
  end)

  it("as_completed: the jobs in the order they finish, then a timeout", function()
    local out, ok = example("as_completed")
    assert.is_true(ok, out)
    assert.matches("^small  completed, 100 ms\nmedium completed, 200 ms\n" ..
                   "large  completed, 300 ms\n", out)
    assert.matches("with a 0%.1 s timeout: false, as_completed: timed out with 1 job%(s%) left\n", out)
  end)

  it("work: every outcome reaches on_result in the calling state", function()
    local out, ok = example("work")
    assert.is_true(ok, out)
    assert.are.equal("letters: 35, failures: 1\nquick has 5 letters, calls left: 0\n", out)
  end)

  it("schedules: a delayed run once, a periodic one until cancelled", function()
    local out, ok = example("schedules")
    assert.is_true(ok, out)
    assert.matches("cancelled: true, active: false\n", out)
    local ticks, runs = out:match("once ran 1 time%(s%), runs=1; tick ran (%d+) times, runs=(%d+)\n")
    assert.is_truthy(ticks, out)
    assert.are.equal(ticks, runs)
    assert.is_true(tonumber(ticks) >= 3)
  end)

  it("retries: success on the third attempt, giving up, and retry.on", function()
    local out, ok = example("retries")
    assert.is_true(ok, out)
    assert.are.equal("data after 3 tries\nattempts: 3, errors kept: 2\n" ..
                     "failed after 3 attempts: server down\n" ..
                     "bad request: failed after 1 attempt(s)\n", out)
  end)

  it("bounded_pool: a full pool rejects, or makes the producer wait", function()
    local out, ok = example("bounded_pool")
    assert.is_true(ok, out)
    assert.matches("third pending submit: false, queue is full %(2 pending, capacity 2%)\n", out)
    local peak = out:match("blocking pool: 50 done, peak pending (%d+) %(capacity 4%)\n")
    assert.is_truthy(peak, out)
    assert.is_true(tonumber(peak) <= 4)
  end)

  it("memory_limit: a greedy task fails, the worker goes on", function()
    local out, ok = example("memory_limit")
    assert.is_true(ok, out)
    assert.are.equal("greedy task: failed (not enough memory)\n" ..
                     "modest task after it: 1000 items\n", out)
  end)

  it("pool_init: init runs once per worker, its globals serve every task", function()
    local out, ok = example("pool_init")
    assert.is_true(ok, out)
    assert.are.equal("alpha beta gamma delta alpha beta gamma delta\n" ..
                     "init ran 2 times for 8 tasks on 2 workers\n" ..
                     "WORDS in this state: nil\n", out)
  end)

  it("dot: the dependency graph, coloured by state, in a file", function()
    local path = os.tmpname()
    local out, ok = run(TKLUA .. " " .. ROOT .. "scripts/examples/dot.lua " .. path)
    assert.is_true(ok, out)
    assert.matches("report: cancelled %(dependency 'broken' failed%)\n", out)
    local f = assert(io.open(path))
    local text = f:read("a")
    f:close()
    os.remove(path)
    assert.matches("^digraph threadkit {\n", text)
    assert.matches('j1 %[fillcolor=palegreen, label="fetch\\ncompleted', text)
    assert.matches('j3 %[fillcolor=salmon, label="broken\\nfailed', text)
    assert.matches("j1 %-> j2;\n", text)
    assert.matches("j2 %-> j4;\n  j3 %-> j4;\n}\n$", text)
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
