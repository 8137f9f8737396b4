-- word_stats_channels.lua - word statistics over many generated texts, as
-- a pipeline over channels: producer tasks write texts into a bounded
-- channel, counter tasks pop them and count words, a closer task closes
-- the channel once every producer is done (the counters, blocked in pop,
-- see "pop from a closed channel" and report), and the main state merges
-- the partial counts from a result channel. A shared table keeps a global
-- word count with incr. Then a second channel is closed by its consumer
-- while producers are still pushing into it, full: every value pushed
-- before the close arrives exactly once, and every later push fails with
-- "push to a closed channel". Both parts are checked against serial work.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
if not package.path:find(here .. "lib/", 1, true) then
  package.path = here .. "lib/?.lua;" .. package.path
end
local common = require "programs_common"
local tk = require "threadkit"

-- A text from its seed: sentences of words drawn with a skewed
-- distribution from the vocabulary, capitals and punctuation mixed in.
-- Pure, so the main state makes the same text to check.
local function make_text(seed, vocab, sentences)
  local x = seed * 2654435761 % 4294967296 + 1
  local function rand(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
  local out = {}
  for s = 1, sentences do
    local words = {}
    for w = 1, rand(14) + 2 do
      -- Squaring skews towards the start of the list: a few common words.
      local r = rand(#vocab)
      local word = vocab[(r * r) // #vocab + 1] or vocab[r]
      if w == 1 then word = word:sub(1, 1):upper() .. word:sub(2) end
      words[w] = word
    end
    out[s] = table.concat(words, rand(9) == 1 and ", " or " ") ..
             ({".", "!", "?", "..."})[rand(4)]
  end
  return table.concat(out, " ")
end

-- Counts a text into `stats` (words, lengths, first letters, total).
local function count_words(text, stats)
  for word in text:gmatch("%a+") do
    word = word:lower()
    stats.words[word] = (stats.words[word] or 0) + 1
    stats.lengths[#word] = (stats.lengths[#word] or 0) + 1
    local first = word:sub(1, 1)
    stats.initials[first] = (stats.initials[first] or 0) + 1
    stats.total = stats.total + 1
  end
  stats.texts = stats.texts + 1
end

local function new_stats()
  return {words = {}, lengths = {}, initials = {}, total = 0, texts = 0}
end

local function merge(into, part)
  for _, field in ipairs({"words", "lengths", "initials"}) do
    for k, v in pairs(part[field]) do into[field][k] = (into[field][k] or 0) + v end
  end
  into.total = into.total + part.total
  into.texts = into.texts + part.texts
end

local function producer(texts, first, last, vocab, sentences)
  local tk = require "threadkit"
  local make = make_text
  for seed = first, last do
    texts:push({seed = seed, body = make(seed, vocab, sentences)})
    if tk.cancelled() then return "cancelled" end
  end
  return last - first + 1
end

-- Pops texts until the channel is closed and empty, sending a partial
-- report every `every` texts and a last one with done = true.
local function counter(id, texts, results, shared, every)
  local stats = new_stats()
  local seen = {}
  while true do
    local ok, item = pcall(texts.pop, texts, 60)
    if not ok then
      if not tostring(item):find("pop from a closed channel", 1, true) then error(item, 0) end
      break
    end
    if item == nil then error("counter " .. id .. ": no text within 60 s") end
    count_words(item.body, stats)
    seen[#seen + 1] = item.seed
    shared:incr("words", select(2, item.body:gsub("%a+", "")))
    if stats.texts % every == 0 then
      results:push({id = id, stats = stats, seeds = seen})
      stats, seen = new_stats(), {}
    end
  end
  results:push({id = id, stats = stats, seeds = seen, done = true})
  return id
end

-- Closes the channel once every producer has finished (the handles of
-- their jobs are its arguments).
local function closer(texts, producers)
  local made = 0
  for _, job in ipairs(producers) do made = made + job:result() end
  texts:close()
  return made
end

local function pipeline(pool, vocab, n_texts, sentences)
  local texts, results = tk.channel(8), tk.channel()
  local shared = tk.shared()
  shared.words = 0
  local producers, per = {}, n_texts // 3
  for p = 1, 3 do
    local first = (p - 1) * per + 1
    local last = p == 3 and n_texts or p * per
    producers[p] = pool:submit({name = "producer"}, producer, texts, first, last,
                               vocab, sentences)
  end
  local counters = {}
  for c = 1, 4 do
    counters[c] = pool:submit({name = "counter"}, counter, c, texts, results, shared, 7)
  end
  local closing = pool:submit({name = "closer"}, closer, texts, producers)

  local got, seeds, done = new_stats(), {}, 0
  while done < #counters do
    local r = results:pop(60)
    if r == nil then return nil, "no report from the counters within 60 s" end
    merge(got, r.stats)
    for _, s in ipairs(r.seeds) do
      if seeds[s] then return nil, "text " .. s .. " counted twice" end
      seeds[s] = true
    end
    if r.done then done = done + 1 end
  end
  local made = closing:result(60)
  for _, job in ipairs(counters) do job:result(60) end
  if made ~= n_texts then return nil, ("producers made %d of %d texts"):format(made, n_texts) end
  for s = 1, n_texts do
    if not seeds[s] then return nil, "text " .. s .. " never counted" end
  end
  if shared.words ~= got.total then
    return nil, ("shared count %d, merged count %d"):format(shared.words, got.total)
  end
  return got
end

-- Pushers fill a small channel; the consumer pops some, then closes it.
local function pusher(ch, base, count)
  local pushed = {}
  for i = 1, count do
    local ok, err = pcall(ch.push, ch, base + i)
    if not ok then
      if not tostring(err):find("push to a closed channel", 1, true) then error(err, 0) end
      return pushed, true
    end
    pushed[#pushed + 1] = base + i
  end
  return pushed, false
end

local function consumer(ch, take)
  local got = {}
  for i = 1, take do got[i] = assert(ch:pop(60), "consumer starved") end
  ch:close()
  return got
end

local function close_while_pushing(pool)
  local ch = tk.channel(2)
  local pushers = {}
  for p = 1, 3 do pushers[p] = pool:submit(pusher, ch, p * 100000, 400) end
  local cons = pool:submit(consumer, ch, 150)
  local popped = cons:result(60)
  local all, refused = {}, 0
  for _, v in ipairs(popped) do all[v] = (all[v] or 0) + 1 end
  while true do  -- what was pushed before the close is still there
    local ok, v = pcall(ch.pop, ch, 0)
    if not ok or v == nil then break end
    all[v] = (all[v] or 0) + 1
  end
  for _, job in ipairs(pushers) do
    local pushed, was_refused = job:result(60)
    if was_refused then refused = refused + 1 end
    for _, v in ipairs(pushed) do
      if all[v] ~= 1 then return false, ("value %d pushed, arrived %s times"):format(v, all[v]) end
      all[v] = nil
    end
  end
  if next(all) then return false, "value " .. next(all) .. " arrived but was never pushed" end
  -- 3 x 400 values through a channel of 2 and a consumer of 150: at least
  -- one pusher must still have been pushing when it closed.
  if refused == 0 then return false, "no push saw the channel closed" end
  return true
end

local function run(opts)
  local rng = common.rng(opts.seed or 99)
  local vocab = {}
  for i = 1, 3000 do vocab[i] = rng:word(2, 11) end
  local n_texts, sentences = common.scaled(opts, 800, 12), 40

  local want = new_stats()
  for seed = 1, n_texts do count_words(make_text(seed, vocab, sentences), want) end

  local pool <close> = tk.pool{workers = 3, name = "words"}
  local got, err = pipeline(pool, vocab, n_texts, sentences)
  if not got then return false, err end
  local ok, why = common.compare("word stats", got, want)
  if not ok then return false, why end
  return close_while_pushing(pool)
end

common.main("word_stats_channels", run)
