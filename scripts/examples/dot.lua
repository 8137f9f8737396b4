-- dot.lua - tk.dot: the jobs and their dependencies (the `after` option)
-- as a Graphviz graph, each job coloured by its state. Render it with
-- `dot -Tsvg jobs.dot > jobs.svg`.
local tk = require "threadkit"

local pool <close> = tk.pool(2)

local fetch = pool:submit({name = "fetch"}, function() return "page" end)
local parse = pool:submit({name = "parse", after = {fetch}}, function() return 1 end)
local broken = pool:submit({name = "broken"}, function() error("no disk", 0) end)
local report = pool:submit({name = "report", after = {parse, broken}}, function() end)
report:wait()

local text = tk.dot({fetch, parse, broken, report})
local path = arg[1] or os.tmpname()
local f = assert(io.open(path, "w"))
f:write(text)
f:close()
print("report: " .. report.state .. " (" .. report.error .. ")")
print("wrote " .. select(2, text:gsub("\n", "")) .. " lines of Graphviz to " .. path)
io.write(text)
if not arg[1] then os.remove(path) end
