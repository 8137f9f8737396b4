---@meta threadkit
-- LuaLS definitions of the threadkit module, for editors: completion,
-- hover text and type checks of code that does `require "threadkit"`.
-- Point LuaLS at this directory, in the project's .luarc.json:
--   { "workspace.library": ["<threadkit checkout>/types"] }
-- docs/api.md is the reference; tests/lua/types_spec.lua checks that these
-- definitions name exactly what the module has.

---@alias threadkit.priority integer|"lowest"|"low"|"normal"|"high"|"highest"
---@alias threadkit.job_state "pending"|"running"|"completed"|"failed"|"cancelled"

---@class threadkit
local tk = {}

--- The string "threadkit X.Y.Z".
tk._VERSION = "threadkit 0.1.0"
--- Priority -2.
tk.LOWEST = -2
--- Priority -1.
tk.LOW = -1
--- Priority 0, the default.
tk.NORMAL = 0
--- Priority 1.
tk.HIGH = 1
--- Priority 2.
tk.HIGHEST = 2

-- {====================================================== options

---@class threadkit.PoolOptions
---@field workers? integer 1..4096 (default: one per CPU)
---@field name? string shown in tostring, metrics, --stats and traces (default "tk")
---@field init? fun() run once in each worker state before its first task (upvalues are copied)
---@field capacity? integer at most this many jobs pending (default: unbounded)
---@field on_full? "reject"|"block" what a submit to a full pool does (default "reject")
---@field memory_limit? integer bytes each worker state may hold (>= 65536)

---@class threadkit.RetryOptions
---@field attempts integer how many runs at most (>= 1)
---@field delay? number seconds before the second run (default 0.1)
---@field backoff? number each delay is the previous one times this (>= 1, default 2)
---@field max_delay? number the longest delay (default 30)
---@field on? fun(err: any): boolean retry only the errors it accepts

---@class threadkit.SubmitOptions
---@field priority? threadkit.priority
---@field name? string shown in job.name, tk.dot and traces
---@field token? threadkit.Token cancelling it cancels the job
---@field timeout? number the job is cancelled and stopped this many seconds after it starts
---@field after? threadkit.Job[] run once all of these completed; cancelled if one fails
---@field block_timeout? number on a bounded pool: how long to wait for room
---@field retry? threadkit.RetryOptions run again after a failure

---@class threadkit.TaskOptions
---@field priority? threadkit.priority
---@field name? string
---@field timeout? number
---@field after? threadkit.Job[]
---@field block_timeout? number
---@field retry? threadkit.RetryOptions
---@field token? nil refused: a group's task takes the group's event as its token

---@class threadkit.MapOptions
---@field batch? integer items per job (default: four batches per worker)
---@field priority? threadkit.priority
---@field name? string

---@class threadkit.WorkOptions
---@field priority? threadkit.priority
---@field name? string
---@field token? threadkit.Token cancelling it cancels the calls not yet finished
---@field timeout? number each call is cancelled this long after it starts

---@class threadkit.ScheduleSpec
---@field delay? number run once, this many seconds from now
---@field at? number run once at this epoch time (as os.time())
---@field every? number run every this many seconds
---@field name? string
---@field priority? threadkit.priority

---@class threadkit.ShutdownOptions
---@field wait? boolean wait for the work queued and running (default true)
---@field cancel_pending? boolean cancel the jobs not yet started (default false)

---@class threadkit.TokenOptions
---@field timeout? number the token cancels itself this many seconds from now

---@class threadkit.GroupOptions
---@field name? string
---@field max_concurrent? integer at most this many tasks run at once (0: no limit)
---@field daemon? boolean tklua stops its tasks at the end of the script instead of waiting
---@field pool? threadkit.Pool the pool its tasks run on

-- }======================================================

---@class threadkit.PoolMetrics
---@field name string
---@field workers integer
---@field spares integer spare threads taking jobs now
---@field schedules integer active schedules
---@field submitted integer
---@field completed integer
---@field failed integer
---@field cancelled integer
---@field pending integer
---@field running integer
---@field peak_pending integer
---@field total_execution_time number
---@field mean_execution_time number
---@field p50_execution_time number
---@field p99_execution_time number
---@field mean_queue_wait number
---@field p50_queue_wait number
---@field p99_queue_wait number
---@field uptime number
---@field throughput number jobs finished per second of uptime

---@class threadkit.GroupMetrics
---@field pending integer
---@field running integer
---@field completed integer
---@field failed integer
---@field cancelled integer
---@field submitted integer
---@field max_concurrent integer

-- {====================================================== pools

--- Worker threads, each with its own Lua state, taking jobs from one
--- priority queue. Shut down (waiting) when its last handle closes.
---@class threadkit.Pool
---@field name string the pool's name
---@field workers integer the number of worker threads
local Pool = {}

--- Runs fn(...) on a worker; returns its job at once.
---@param opts threadkit.SubmitOptions
---@param fn function
---@return threadkit.Job
---@overload fun(self: threadkit.Pool, fn: function, ...: any): threadkit.Job
function Pool:submit(opts, fn, ...) end

--- fn(item) for every item of list, in batches; the results in order.
---@param fn fun(item: any): any
---@param list any[]
---@param opts? threadkit.MapOptions
---@return any[]
function Pool:map(fn, list, opts) end

--- A queue of calls of fn whose outcomes go to on_result in this state.
---@param opts threadkit.WorkOptions
---@param fn function
---@param on_result fun(ok: boolean, ...: any)
---@return threadkit.Work
---@overload fun(self: threadkit.Pool, fn: function, on_result: fun(ok: boolean, ...: any)): threadkit.Work
function Pool:work(opts, fn, on_result) end

--- Runs fn(...) later, or periodically.
---@param spec threadkit.ScheduleSpec
---@param fn function
---@return threadkit.Schedule
function Pool:schedule(spec, fn, ...) end

--- Waits until nothing is pending or running; false if the timeout passed.
---@param timeout? number
---@return boolean
function Pool:wait_all(timeout) end

---@return threadkit.PoolMetrics
function Pool:metrics() end

--- Later submits fail; waits for the queued work unless told otherwise.
---@param opts? threadkit.ShutdownOptions
function Pool:shutdown(opts) end

-- }======================================================

-- {====================================================== jobs

--- One submitted task.
---@class threadkit.Job
---@field state threadkit.job_state
---@field name string? the name option
---@field priority integer
---@field error string? why it failed or was cancelled
---@field traceback string? the traceback of a failed task
---@field execution_time number? seconds from start to end (so far)
---@field queue_wait number? seconds it waited in the queue
---@field attempts integer how many times it started
---@field attempt_errors string[] the errors of the failed attempts
local Job = {}

--- Waits for the job to finish; false if the timeout passed.
---@param timeout? number
---@return boolean
function Job:wait(timeout) end

--- Waits, then returns the task's results (raises its error).
---@param timeout? number
---@return any ...
function Job:result(timeout) end

--- Cancels the job; force stops a running task wherever its code runs.
---@param force? boolean
---@return boolean cancelled true if the job was pending or running
function Job:cancel(force) end

---@return boolean
function Job:is_cancelled() end

--- The job's own token.
---@return threadkit.Token
function Job:token() end

-- }======================================================

-- {====================================================== tokens

--- A cancellation flag with callbacks, shared between states.
---@class threadkit.Token
local Token = {}

--- Cancels it, its children and their jobs; true if this call did.
---@return boolean
function Token:cancel() end

---@return boolean
function Token:is_cancelled() end

--- Waits until it is cancelled; false if the timeout passed.
---@param timeout? number
---@return boolean
function Token:wait(timeout) end

--- fn() runs once, in this state, when the token is cancelled.
---@param fn fun()
function Token:on_cancel(fn) end

--- A token cancelled when this one is.
---@return threadkit.Token
function Token:child() end

-- }======================================================

-- {====================================================== channels

--- A FIFO queue of values shared between states; #ch values now.
---@class threadkit.Channel
---@operator len: integer
local Channel = {}

--- Appends a copy of value; waits for room on a full bounded channel.
---@param value any not nil
---@param timeout? number
---@return boolean
function Channel:push(value, timeout) end

--- Takes the oldest value, waiting for one; nil if the timeout passed.
---@param timeout? number
---@return any
function Channel:pop(timeout) end

--- Takes the oldest value without waiting; nil if there is none.
---@return any
function Channel:try_pop() end

function Channel:close() end

---@return boolean
function Channel:is_closed() end

-- }======================================================

-- {====================================================== shared tables

--- A table held outside every state: reads copy out, writes copy in.
---@class threadkit.Shared
---@field [string|number|boolean] any
---@operator len: integer
local Shared = {}

--- s[#s + 1] = value in one step; returns the new length.
---@param value any
---@return integer
function Shared:append(value) end

--- Adds n (default 1) to the number at key in one step; the new value.
---@param key string|number|boolean
---@param n? number
---@return number
function Shared:incr(key, n) end

-- }======================================================

-- {====================================================== groups

--- A named group of tasks with an event, a concurrency limit and a join.
---@class threadkit.Group
---@field name string
---@field parent threadkit.Group? nil for a root
---@field max_concurrent integer 0: no limit
local Group = {}

--- Submits fn(...) as a task of the group; its token is the group's event.
---@param opts threadkit.TaskOptions
---@param fn function
---@return threadkit.Job
---@overload fun(self: threadkit.Group, fn: function, ...: any): threadkit.Job
function Group:add_task(opts, fn, ...) end

--- Waits for every task of the group and its subgroups.
---@param timeout? number
---@return boolean
function Group:join(timeout) end

--- Calls pred() as things change until it returns true, then sets the event.
---@param pred fun(): boolean
---@param timeout? number
---@return boolean
function Group:wait_for_condition(pred, timeout) end

--- Sets the group's event: waits end, unstarted tasks are cancelled.
function Group:set_event_for_child_tasks() end

---@return boolean
function Group:event_is_set() end

--- Cancels the tasks not started; returns how many.
---@return integer
function Group:clear_pending() end

---@return threadkit.Group[]
function Group:children() end

--- {{job = j, v1, v2, ...}, ...} for the completed tasks, in order.
---@return table[]
function Group:results() end

--- {{job = j, error = text, state = "failed"|"cancelled"}, ...}
---@return {job: threadkit.Job, error: string, state: string}[]
function Group:errors() end

---@return threadkit.GroupMetrics
function Group:metrics() end

-- }======================================================

-- {====================================================== works, schedules

--- Calls of one function whose outcomes go to on_result; #w not yet handed out.
---@class threadkit.Work
---@operator len: integer
local Work = {}

--- Queues a call fn(...); may hand out outcomes that arrived.
function Work:queue(...) end

--- Hands out outcomes until every call's on_result ran.
---@param timeout? number
---@return boolean
function Work:wait(timeout) end

---@class threadkit.Schedule
---@field active boolean whether it will run again
---@field runs integer how many runs it started
---@field missed integer periodic ticks skipped while a run was going
local Schedule = {}

--- Stops the schedule; true if it was active.
---@return boolean
function Schedule:cancel() end

-- }======================================================

-- {====================================================== module functions

--- Makes a pool: workers (1..4096, default one per CPU) or options.
---@param workers_or_options? integer|threadkit.PoolOptions
---@return threadkit.Pool
function tk.pool(workers_or_options) end

--- pool:submit on the default pool.
---@param opts threadkit.SubmitOptions
---@param fn function
---@return threadkit.Job
---@overload fun(fn: function, ...: any): threadkit.Job
function tk.submit(opts, fn, ...) end

--- pool:work on the default pool.
---@param opts threadkit.WorkOptions
---@param fn function
---@param on_result fun(ok: boolean, ...: any)
---@return threadkit.Work
---@overload fun(fn: function, on_result: fun(ok: boolean, ...: any)): threadkit.Work
function tk.work(opts, fn, on_result) end

--- pool:wait_all on the default pool.
---@param timeout? number
---@return boolean
function tk.wait_all(timeout) end

--- pool:metrics of the default pool.
---@return threadkit.PoolMetrics
function tk.metrics() end

--- The text tklua --stats prints.
---@return string
function tk.stats() end

--- The running task's job, or nil outside a task.
---@return threadkit.Job?
function tk.current_job() end

--- The running task's group, or nil.
---@return threadkit.Group?
function tk.current_group() end

--- True if the running task's job is cancelled.
---@return boolean
function tk.cancelled() end

--- Raises "cancelled" if the running task's job is cancelled.
function tk.checkpoint() end

--- Waits; false at once when the running task is cancelled.
---@param seconds number
---@return boolean
function tk.sleep(seconds) end

--- tk.sleep, ending when the group's event is set.
---@param seconds number
---@return boolean
function tk.event_aware_sleep(seconds) end

--- A monotonic clock in seconds.
---@return number
function tk.now() end

---@param opts? threadkit.TokenOptions
---@return threadkit.Token
function tk.token(opts) end

--- A channel holding at most capacity values (0: unbounded).
---@param capacity? integer
---@return threadkit.Channel
function tk.channel(capacity) end

--- A shared table, with a copy of contents' entries.
---@param contents? table
---@return threadkit.Shared
function tk.shared(contents) end

--- A group on the default pool (or options.pool).
---@param name? string|threadkit.GroupOptions
---@param opts? threadkit.GroupOptions
---@return threadkit.Group
function tk.group(name, opts) end

--- The forest of groups as text.
---@return string
function tk.tree() end

--- Iterates over jobs in the order they finish.
---@param jobs threadkit.Job[]
---@param timeout? number for the whole loop
---@return fun(): threadkit.Job?
function tk.as_completed(jobs, timeout) end

--- "job", "token", "channel", "shared", "pool" or "group"; else nil.
---@param v any
---@return "job"|"token"|"channel"|"shared"|"pool"|"group"|nil
function tk.type(v) end

--- Graphviz text of jobs (a list, or a group's) and their dependencies.
---@param jobs_or_group threadkit.Job[]|threadkit.Group
---@return string
function tk.dot(jobs_or_group) end

--- Starts recording a Chrome trace to path.
---@param path string
function tk.trace_start(path) end

--- Stops the trace and writes it; how many jobs and events it wrote.
---@return integer jobs
---@return integer events
function tk.trace_stop() end

-- }======================================================

return tk
