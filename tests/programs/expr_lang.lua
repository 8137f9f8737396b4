-- expr_lang.lua - a small expression language (integers, booleans, let,
-- if, first-class functions with closures) with a tokenizer, a recursive
-- descent parser, a printer and an evaluator. Thousands of generated
-- programs (some with errors: unbound names, division by zero, type
-- errors, syntax errors) are compiled and run by a group's tasks, batch by
-- batch, with a concurrency limit; each task returns the syntax trees
-- (deep tables), the values and the errors. The main state checks them
-- against a serial run, and checks that printing a tree and parsing it
-- again gives the same tree.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

local KEYWORDS = {let = true, ["in"] = true, ["if"] = true, ["then"] = true,
                  ["else"] = true, fn = true, ["and"] = true, ["or"] = true,
                  ["not"] = true, ["true"] = true, ["false"] = true}

local function tokenize(src)
  local toks, pos, line = {}, 1, 1
  while true do
    local ws = src:match("^[ \t\r]*", pos)
    pos = pos + #ws
    local c = src:sub(pos, pos)
    if c == "" then break end
    if c == "\n" then
      line, pos = line + 1, pos + 1
    elseif c == "#" then
      pos = (src:find("\n", pos, true) or #src + 1)
    elseif c:match("%d") then
      local num = src:match("^%d+", pos)
      toks[#toks + 1] = {t = "num", v = math.tointeger(tonumber(num)), line = line}
      pos = pos + #num
    elseif c:match("[%a_]") then
      local id = src:match("^[%w_]+", pos)
      toks[#toks + 1] = {t = KEYWORDS[id] and id or "id", v = id, line = line}
      pos = pos + #id
    else
      local two = src:sub(pos, pos + 1)
      if two == "==" or two == "!=" or two == "<=" or two == ">=" or two == "=>" then
        toks[#toks + 1] = {t = two, line = line}
        pos = pos + 2
      elseif ("+-*/%()<>,="):find(c, 1, true) then
        toks[#toks + 1] = {t = c, line = line}
        pos = pos + 1
      else
        error(("line %d: unexpected character %q"):format(line, c), 0)
      end
    end
  end
  toks[#toks + 1] = {t = "eof", line = line}
  return toks
end

local function parse(toks)
  local i = 1
  local function peek() return toks[i].t end
  local function take(t)
    local tok = toks[i]
    if t and tok.t ~= t then
      error(("line %d: expected %s, found %s"):format(tok.line, t, tok.t), 0)
    end
    i = i + 1
    return tok
  end
  local expr
  local function primary()
    local tok = take()
    if tok.t == "num" then return {k = "num", v = tok.v}
    elseif tok.t == "id" then return {k = "var", name = tok.v}
    elseif tok.t == "true" or tok.t == "false" then return {k = "bool", v = tok.t == "true"}
    elseif tok.t == "(" then
      local e = expr()
      take(")")
      return e
    end
    error(("line %d: unexpected %s"):format(tok.line, tok.t), 0)
  end
  local function call()
    local e = primary()
    while peek() == "(" do
      take("(")
      local args = {}
      if peek() ~= ")" then
        repeat args[#args + 1] = expr() until peek() ~= "," or not take(",")
      end
      take(")")
      e = {k = "call", f = e, args = args}
    end
    return e
  end
  local function unary()
    if peek() == "-" or peek() == "not" then
      local op = take().t
      return {k = "un", op = op, e = unary()}
    end
    return call()
  end
  local function binary(next_level, ops)
    return function()
      local l = next_level()
      while ops[peek()] do
        local op = take().t
        l = {k = "bin", op = op, l = l, r = next_level()}
      end
      return l
    end
  end
  local mul = binary(unary, {["*"] = true, ["/"] = true, ["%"] = true})
  local add = binary(mul, {["+"] = true, ["-"] = true})
  local cmp = binary(add, {["<"] = true, ["<="] = true, [">"] = true,
                           [">="] = true, ["=="] = true, ["!="] = true})
  local conj = binary(cmp, {["and"] = true})
  local disj = binary(conj, {["or"] = true})
  expr = function()
    local t = peek()
    if t == "let" then
      take()
      local name = take("id").v
      take("=")
      local val = expr()
      take("in")
      return {k = "let", name = name, val = val, body = expr()}
    elseif t == "if" then
      take()
      local c = expr()
      take("then")
      local th = expr()
      take("else")
      return {k = "if", c = c, t = th, e = expr()}
    elseif t == "fn" then
      take()
      take("(")
      local params = {}
      if peek() ~= ")" then
        repeat params[#params + 1] = take("id").v until peek() ~= "," or not take(",")
      end
      take(")")
      take("=>")
      return {k = "fn", params = params, body = expr()}
    end
    return disj()
  end
  local tree = expr()
  take("eof")
  return tree
end

-- Prints a tree back to source, every compound in parentheses.
local function show(n)
  local k = n.k
  if k == "num" then return tostring(n.v)
  elseif k == "bool" then return tostring(n.v)
  elseif k == "var" then return n.name
  elseif k == "un" then return "(" .. n.op .. " " .. show(n.e) .. ")"
  elseif k == "bin" then return "(" .. show(n.l) .. " " .. n.op .. " " .. show(n.r) .. ")"
  elseif k == "let" then
    return "(let " .. n.name .. " = " .. show(n.val) .. " in " .. show(n.body) .. ")"
  elseif k == "if" then
    return "(if " .. show(n.c) .. " then " .. show(n.t) .. " else " .. show(n.e) .. ")"
  elseif k == "fn" then
    return "(fn(" .. table.concat(n.params, ", ") .. ") => " .. show(n.body) .. ")"
  end
  local args = {}
  for j, a in ipairs(n.args) do args[j] = show(a) end
  return show(n.f) .. "(" .. table.concat(args, ", ") .. ")"
end

-- Evaluates with environments as linked frames; functions are closures.
local function evaluate(tree)
  local steps = 0
  local function lookup(env, name)
    while env do
      if env.name == name then return env.value end
      env = env.up
    end
    error("unbound variable " .. name, 0)
  end
  local function int(v, op)
    if math.type(v) ~= "integer" then error("type error: " .. op .. " wants integers", 0) end
    return v
  end
  local function bool(v, op)
    if type(v) ~= "boolean" then error("type error: " .. op .. " wants booleans", 0) end
    return v
  end
  local ev
  local arith = {
    ["+"] = function(a, b) return a + b end, ["-"] = function(a, b) return a - b end,
    ["*"] = function(a, b) return a * b end,
    ["/"] = function(a, b) if b == 0 then error("division by zero", 0) end return a // b end,
    ["%"] = function(a, b) if b == 0 then error("division by zero", 0) end return a % b end,
    ["<"] = function(a, b) return a < b end, ["<="] = function(a, b) return a <= b end,
    [">"] = function(a, b) return a > b end, [">="] = function(a, b) return a >= b end,
  }
  ev = function(n, env)
    steps = steps + 1
    if steps > 200000 then error("step budget exhausted", 0) end
    local k = n.k
    if k == "num" or k == "bool" then return n.v
    elseif k == "var" then return lookup(env, n.name)
    elseif k == "un" then
      local v = ev(n.e, env)
      if n.op == "-" then return -int(v, "-") end
      return not bool(v, "not")
    elseif k == "bin" then
      local op = n.op
      if op == "and" then return bool(ev(n.l, env), op) and bool(ev(n.r, env), op) end
      if op == "or" then return bool(ev(n.l, env), op) or bool(ev(n.r, env), op) end
      local a, b = ev(n.l, env), ev(n.r, env)
      if op == "==" then return a == b end
      if op == "!=" then return a ~= b end
      return arith[op](int(a, op), int(b, op))
    elseif k == "let" then
      return ev(n.body, {name = n.name, value = ev(n.val, env), up = env})
    elseif k == "if" then
      if bool(ev(n.c, env), "if") then return ev(n.t, env) end
      return ev(n.e, env)
    elseif k == "fn" then
      return {fn = n, env = env}
    end
    local f = ev(n.f, env)
    if type(f) ~= "table" then error("type error: call of a non-function", 0) end
    if #n.args ~= #f.fn.params then error("arity mismatch", 0) end
    local frame = f.env
    for j, a in ipairs(n.args) do
      frame = {name = f.fn.params[j], value = ev(a, env), up = frame}
    end
    return ev(f.fn.body, frame)
  end
  local v = ev(tree, nil)
  if type(v) == "table" then return "<function/" .. #v.fn.params .. ">" end
  return v
end

-- Compiles and runs one program: the tree, its printed form, and the
-- value or the error.
local function compile_and_run(src)
  local ok, tree = pcall(function() return parse(tokenize(src)) end)
  if not ok then return {syntax_error = tree} end
  local vok, value = pcall(evaluate, tree)
  if vok then return {tree = tree, text = show(tree), value = value} end
  return {tree = tree, text = show(tree), error = value}
end

local function run_batch(sources)
  local out = {}
  for j, src in ipairs(sources) do out[j] = compile_and_run(src) end
  return out
end

-- Generates a program of roughly `depth` levels, mostly well scoped.
local function generate(rng, depth, scope)
  local function sp() return rng:pick({" ", "  ", "\n", " # note\n", "\t"}) end
  if depth <= 0 or rng:int(1, 6) == 1 then
    local r = rng:int(1, 10)
    if r <= 4 or #scope == 0 then return tostring(rng:int(0, 99)) end
    if r == 5 then return rng:pick({"true", "false"}) end
    if r == 6 then return "zz" .. rng:int(1, 3) end  -- likely unbound
    return rng:pick(scope)
  end
  local r = rng:int(1, 12)
  local d = depth - 1
  if r <= 4 then
    local op = rng:pick({"+", "-", "*", "/", "%", "<", "==", "!=", ">=", "and", "or"})
    return "(" .. generate(rng, d, scope) .. sp() .. op .. sp() .. generate(rng, d, scope) .. ")"
  elseif r <= 6 then
    local name = rng:word(1, 3, "abcxyz")
    local inner = table.move(scope, 1, #scope, 1, {})
    inner[#inner + 1] = name
    -- let and if reach as far right as they can: parenthesized, they can
    -- be any operand.
    return "(let " .. name .. " =" .. sp() .. generate(rng, d, scope) .. sp() ..
           "in" .. sp() .. generate(rng, d, inner) .. ")"
  elseif r == 7 then
    return "(if " .. generate(rng, d, scope) .. " then " .. generate(rng, d, scope) ..
           " else " .. generate(rng, d, scope) .. ")"
  elseif r <= 9 then
    local p1, p2 = rng:word(1, 2, "pq"), rng:word(1, 2, "rs")
    local inner = table.move(scope, 1, #scope, 1, {})
    inner[#inner + 1], inner[#inner + 2] = p1, p2
    return "(fn(" .. p1 .. ", " .. p2 .. ") =>" .. sp() .. generate(rng, d, inner) ..
           ")(" .. generate(rng, d, scope) .. "," .. generate(rng, d, scope) .. ")"
  elseif r == 10 then
    return "-(" .. generate(rng, d, scope) .. ")"
  elseif r == 11 and rng:int(1, 40) == 1 then
    return "(" .. generate(rng, d, scope) .. " + )"  -- a syntax error
  end
  return "not (" .. generate(rng, d, scope) .. " < " .. generate(rng, d, scope) .. ")"
end

local function run(opts)
  local rng = common.rng(opts.seed or 31337)
  local sources = {}
  for j = 1, common.scaled(opts, 1200, 50) do
    sources[j] = generate(rng, rng:int(1, 8), {})
  end

  local want = run_batch(sources)
  local errors, values = 0, 0
  for j, r in ipairs(want) do
    if r.tree then
      -- The printer and the parser agree: print, parse again, same tree.
      local again = parse(tokenize(r.text))
      local ok, why = common.compare("reparse of program " .. j, again, r.tree)
      if not ok then return false, why end
      if r.error then errors = errors + 1 else values = values + 1 end
    end
  end
  if errors == 0 or values == 0 then
    return false, "generator made no mix of values and errors"
  end

  local pool <close> = tk.pool{workers = 2, name = "expr"}
  local g = tk.group("expr batches", {max_concurrent = 2, pool = pool})
  local batches, j = {}, 1
  while j <= #sources do
    local n = rng:int(10, 120)
    batches[#batches + 1] = {first = j,
      job = g:add_task(run_batch, table.move(sources, j, math.min(#sources, j + n - 1), 1, {}))}
    j = j + n
  end
  if not g:join(120) then return false, "group join timed out" end
  local errs = g:errors()
  if #errs > 0 then return false, "a batch failed: " .. tostring(errs[1].error) end
  if #g:results() ~= #batches then
    return false, ("group has %d results for %d batches"):format(#g:results(), #batches)
  end
  local got = {}
  for _, b in ipairs(batches) do
    local out = b.job:result()
    table.move(out, 1, #out, b.first, got)
  end
  return common.compare("programs", got, want)
end

common.main("expr_lang", run)
