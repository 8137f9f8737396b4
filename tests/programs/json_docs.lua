-- json_docs.lua - a JSON encoder and decoder applied to a few hundred
-- generated documents on a pool: pool:map encodes them, batches of texts
-- are decoded by submitted tasks, and each task also re-encodes what it
-- decoded. The encoder and the decoder are each one large function (well
-- over 1 KiB of bytecode, nested closures inside), shipped to the workers
-- as task functions; documents are nested tables with escapes, NULs and
-- non-ASCII text. Everything is compared with the same work done serially.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

-- Encodes a document: objects with sorted keys (so that equal tables give
-- equal text), arrays for tables whose keys are 1..n, floats that stay
-- floats ("3.0", not "3"), every control byte escaped.
local function encode_json(doc)
  local out, n = {}, 0
  local function emit(s)
    n = n + 1
    out[n] = s
  end
  local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b",
                   ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
                   ["\t"] = "\\t"}
  local function enc_string(s)
    emit('"')
    emit((s:gsub('[%c"\\]', function(c)
      return escapes[c] or ("\\u%04x"):format(c:byte())
    end)))
    emit('"')
  end
  local function is_array(t)
    local count = 0
    for k in pairs(t) do
      if math.type(k) ~= "integer" or k < 1 then return false end
      count = count + 1
    end
    return count == #t
  end
  local enc_value
  local function enc_table(t, depth)
    if depth > 64 then error("document nested too deeply") end
    if next(t) == nil then emit(getmetatable(t) == nil and "{}" or "[]") return end
    if is_array(t) then
      emit("[")
      for i = 1, #t do
        if i > 1 then emit(",") end
        enc_value(t[i], depth + 1)
      end
      emit("]")
      return
    end
    local keys = {}
    for k in pairs(t) do
      if type(k) ~= "string" then error("object key is not a string: " .. tostring(k)) end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    emit("{")
    for i, k in ipairs(keys) do
      if i > 1 then emit(",") end
      enc_string(k)
      emit(":")
      enc_value(t[k], depth + 1)
    end
    emit("}")
  end
  enc_value = function(v, depth)
    local ty = type(v)
    if ty == "string" then enc_string(v)
    elseif ty == "boolean" then emit(v and "true" or "false")
    elseif ty == "table" then enc_table(v, depth)
    elseif math.type(v) == "integer" then emit(("%d"):format(v))
    elseif ty == "number" then
      if v ~= v or v == math.huge or v == -math.huge then
        error("number cannot be encoded: " .. tostring(v))
      end
      local s = ("%.17g"):format(v)
      if not s:find("[%.eEn]") then s = s .. ".0" end
      emit(s)
    else
      error("cannot encode a " .. ty)
    end
  end
  enc_value(doc, 0)
  return table.concat(out)
end

-- Decodes one text into tables; empty arrays come back with a marker
-- metatable so that they encode as [] again. Errors name the offset.
local function decode_json(text)
  local pos = 1
  local function fail(what)
    error(("json: %s at offset %d"):format(what, pos), 0)
  end
  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end
  local decode_value
  local simple = {b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
                  ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
  local function decode_string()
    local parts = {}
    pos = pos + 1
    while true do
      local stop = text:find('["\\]', pos)
      if not stop then fail("unterminated string") end
      parts[#parts + 1] = text:sub(pos, stop - 1)
      if text:sub(stop, stop) == '"' then
        pos = stop + 1
        return table.concat(parts)
      end
      local e = text:sub(stop + 1, stop + 1)
      if simple[e] then
        parts[#parts + 1] = simple[e]
        pos = stop + 2
      elseif e == "u" then
        local hex = text:match("^%x%x%x%x", stop + 2)
        if not hex then fail("bad \\u escape") end
        parts[#parts + 1] = utf8.char(tonumber(hex, 16))
        pos = stop + 6
      else
        fail("bad escape")
      end
    end
  end
  local function decode_number()
    local s = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not s or s == "" then fail("bad number") end
    pos = pos + #s
    local v = tonumber(s)
    if v == nil then fail("bad number " .. s) end
    if s:find("[%.eE]") then v = v + 0.0 end
    return v
  end
  local function decode_list(close, item)
    pos = pos + 1
    skip()
    if text:sub(pos, pos) == close then
      pos = pos + 1
      return true
    end
    while true do
      item()
      skip()
      local c = text:sub(pos, pos)
      pos = pos + 1
      if c == close then return false end
      if c ~= "," then fail("expected ',' or '" .. close .. "'") end
      skip()
    end
  end
  decode_value = function()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local obj = {}
      decode_list("}", function()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = decode_string()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        obj[k] = decode_value()
      end)
      return obj
    elseif c == "[" then
      local arr = {}
      local empty = decode_list("]", function() arr[#arr + 1] = decode_value() end)
      if empty then setmetatable(arr, {__name = "json.array"}) end
      return arr
    elseif c == '"' then return decode_string()
    elseif text:sub(pos, pos + 3) == "true" then pos = pos + 4 return true
    elseif text:sub(pos, pos + 4) == "false" then pos = pos + 5 return false
    elseif c:match("[-%d]") then return decode_number()
    end
    fail("unexpected '" .. c .. "'")
  end
  local v = decode_value()
  skip()
  if pos <= #text then fail("trailing text") end
  return v
end

-- Documents like an API would return: orders with customers, line items,
-- tags, notes with quotes, newlines, NULs and non-ASCII text.
local function make_docs(rng, count)
  local docs = {}
  local names = {"Ana", "Bo", "Chloé", "Dmitrij", "Eun-ji", "Fátima", "Gus"}
  local notes = {'say "hi"', "line\nbreak", "tab\there", "nul\0byte",
                 "back\\slash", "bell\7", "ünïcödé ✓", ""}
  for i = 1, count do
    local items = {}
    for j = 1, rng:int(0, 12) do
      items[j] = {sku = "SKU-" .. rng:int(1000, 9999), qty = rng:int(1, 20),
                  price = rng:int(1, 100000) / 100,
                  tags = {rng:word(3, 8), rng:word(3, 8)}}
    end
    local doc = {
      id = i, customer = {name = rng:pick(names), vip = rng:int(0, 1) == 1,
                          address = {city = rng:word(4, 10),
                                     zip = ("%05d"):format(rng:int(0, 99999))}},
      items = items, note = rng:pick(notes) .. rng:word(0, 5),
      ratio = rng:float() * 1e6 - 5e5, flags = {},
      history = {{at = rng:int(1, 1 << 40), what = "created"}},
    }
    -- Some documents nest deeply (a thread of replies).
    local node = doc
    for d = 1, rng:int(0, 30) do
      node.reply = {depth = d, text = rng:word(1, 20)}
      node = node.reply
    end
    if #items == 0 then setmetatable(doc.items, {__name = "json.array"}) end
    docs[i] = doc
  end
  return docs
end

-- Decodes a batch of texts and re-encodes each: a task with two large
-- functions as upvalues.
local function decode_batch(texts)
  local docs, again = {}, {}
  for i, t in ipairs(texts) do
    docs[i] = decode_json(t)
    again[i] = encode_json(docs[i])
  end
  return docs, again
end

local function run(opts)
  local rng = common.rng(opts.seed or 20240515)
  local docs = make_docs(rng, common.scaled(opts, 400, 20))
  local pool <close> = tk.pool{workers = 3, name = "json"}

  -- Serially first: what every parallel step must reproduce.
  local want_texts, want_docs = {}, {}
  for i, d in ipairs(docs) do
    want_texts[i] = encode_json(d)
    want_docs[i] = decode_json(want_texts[i])
  end
  local ok, why = common.compare("serial round trip", want_docs, docs)
  if not ok then return false, why end

  local texts = pool:map(encode_json, docs)
  ok, why = common.compare("encoded", texts, want_texts)
  if not ok then return false, why end

  -- Batches of unequal sizes, with the texts (strings up to several KiB
  -- each) as arguments and decoded tables as results.
  local jobs, firsts, i = {}, {}, 1
  while i <= #texts do
    local n = rng:int(1, 40)
    jobs[#jobs + 1] = pool:submit({name = "decode"}, decode_batch,
                                  table.move(texts, i, math.min(#texts, i + n - 1), 1, {}))
    firsts[#firsts + 1] = i
    i = i + n
  end
  local got_docs, got_again = {}, {}
  for b, job in ipairs(jobs) do
    local d, again = job:result(30)
    table.move(d, 1, #d, firsts[b], got_docs)
    table.move(again, 1, #again, firsts[b], got_again)
  end
  ok, why = common.compare("decoded", got_docs, want_docs)
  if not ok then return false, why end
  ok, why = common.compare("re-encoded", got_again, want_texts)
  if not ok then return false, why end

  -- A broken document fails its task with the decoder's message.
  local bad = pool:submit(decode_json, want_texts[1]:sub(1, -2))
  local bok, err = pcall(bad.result, bad)
  if bok or not tostring(err):find("json: ", 1, true) then
    return false, "a truncated document did not fail to decode: " .. tostring(err)
  end
  return true
end

common.main("json_docs", run)
