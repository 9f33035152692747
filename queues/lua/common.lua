-- common.lua: shared helpers prepended to every routing script (not run alone).
--
-- Every routing script is called with the same nine fixed KEYS, then the
-- bucket keys it needs; ARGV[1] is a JSON context naming those by index:
--   KEYS[1] agents hash        agent id -> runtime state JSON
--   KEYS[2] agent-config hash  agent id -> config record (see `record` below)
--   KEYS[3] calls hash         call sid -> queue entry JSON
--   KEYS[4] reservations hash  reservation id -> offer JSON
--   KEYS[5] timers zset        "kind:id" scored by due ms
--   KEYS[6] events stream
--   KEYS[7] queues hash        queue name -> config record (see `record` below)
--   KEYS[8] counters hash      "rr:<queue>" round-robin counters
--   KEYS[9] version string     config version the caller's layout was built from
--   KEYS[10..] bucket keys     referenced from ARGV[1] by index; a script about an
--                              agent gets that agent's buckets first, two keys each:
--                              bucket i's waiting set is KEYS[8 + 2i], its available
--                              set KEYS[9 + 2i] (so the context need not name them)
-- ARGV[1] context: {now (ms), version, res: [fresh reservation ids],
--   rnd (0..1, drawn by the caller for each run: seeds the `random` strategy's draws),
--   entries: [queue] the queue of each of the agent's buckets, in that order,
--   queues: {name: [weight, strategy]} for the agent's queues, from the caller's layout
--           (equal to the stored records, as the version check guarantees),
--   staffed: [key index] the agent's queues' staffed sets,
--   pinned: key index of the agent's pinned set (calls transferred to them by name),
--   bucket: {q, w, a, m, st, p} the call's bucket (m calls zset, st staffed set; p: the
--           pinned set of the agent a pinned call waits for), ...}
local AGENTS, AGENT_CFG, CALLS, RES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local TIMERS, EVENTS, QUEUES, COUNTERS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ctx = cjson.decode(ARGV[1])
local NOW = tonumber(ctx.now)
local RES_USED = 0
local OFFERS = {}
if ctx.version ~= (redis.call('GET', KEYS[9]) or '') then
  return redis.error_reply('STALE_CONFIG routing config changed; reload and retry')
end

-- Integers as exact decimal strings (tostring would give 1.79e+12).
local function fmt(n) return string.format('%.0f', n) end

local function jget(key, field)
  local raw = redis.call('HGET', key, field)
  if raw then return cjson.decode(raw) end
  return nil
end

local function jput(key, field, value) redis.call('HSET', key, field, cjson.encode(value)) end

-- A queue or agent config record: its first line is the JSON the scripts read; the full
-- config dump follows on the next line for `Router.load`, and is never decoded here.
local function record(key, field)
  local raw = redis.call('HGET', key, field)
  if not raw then return false end
  local cut = string.find(raw, '\n', 1, true)
  if cut then raw = string.sub(raw, 1, cut - 1) end
  return cjson.decode(raw)
end

-- Each queue's and agent's record is read at most once per script run.
local QCFG, ACFG = {}, {}
local function qcfg(name)
  if QCFG[name] == nil then QCFG[name] = record(QUEUES, name) end
  return QCFG[name]
end

local function acfg_of(id)
  if ACFG[id] == nil then ACFG[id] = record(AGENT_CFG, id) end
  return ACFG[id]
end

local function emit(kind, fields)
  local args = {'XADD', EVENTS, '*', 'type', kind, 'ts', fmt(NOW)}
  for k, v in pairs(fields) do
    args[#args + 1] = k
    if type(v) == 'number' then args[#args + 1] = fmt(v) else args[#args + 1] = tostring(v) end
  end
  redis.call(unpack(args))
end

local function new_agent()
  return {state = 'offline', reason = '', listed = 0, since = NOW, idle = NOW, calls = 0,
          talk = 0, missed = 0, res = '', call = '', rr = {}}
end

-- The agent's sort score in one queue's available sets, by that queue's strategy.
-- Ties are broken by the sorted set itself: equal scores order by agent id.
local function agent_score(id, a, q)
  local strategy = ctx.queues[q][2]
  if strategy == 'round_robin' then return (a.rr[q] or 0)
  elseif strategy == 'fewest_calls' then return a.calls
  elseif strategy == 'least_talk_time' then return a.talk
  elseif strategy == 'most_skilled' then return -(acfg_of(id).skill[q] or 0) * 1e13 + a.idle
  elseif strategy == 'random' then return 0  -- drawn at each offer: pick_random
  end
  return a.idle
end

-- The agent's buckets: bucket i is in queue ENTRIES[i], its sets are at fixed KEYS.
local ENTRIES = ctx.entries or {}
local function waiting_key(i) return KEYS[8 + 2 * i] end
local function available_key(i) return KEYS[9 + 2 * i] end

local function list_agent(id, a)
  for i, q in ipairs(ENTRIES) do
    redis.call('ZADD', available_key(i), fmt(agent_score(id, a, q)), id)
  end
  a.listed = 1
end

local function unlist_agent(id, a)
  for i = 1, #ENTRIES do redis.call('ZREM', available_key(i), id) end
  a.listed = 0
end

local function set_staffed(id, on)
  for _, k in ipairs(ctx.staffed) do
    if on then redis.call('SADD', KEYS[k], id) else redis.call('SREM', KEYS[k], id) end
  end
end

local function agent_status(id, a)
  local reason = a.state
  if a.reason ~= '' then reason = a.state .. ':' .. a.reason end
  emit('AGENTSTATUS', {agent = id, reason = reason})
end

-- Offer call `sid` to agent `id`: both become reserved until the ring timeout.
-- `wait_key`: the waiting set the call leaves (nil: it was never added to one).
-- `listed`: the agent was picked from one available set and is still in its others,
-- which the offer asks `Router` to clear (deregister.lua).
local function reserve(sid, c, wait_key, id, a, listed)
  local q = qcfg(c.queue)
  RES_USED = RES_USED + 1
  local res_id = ctx.res[RES_USED]
  local expires = NOW + q.ring_ms
  if wait_key then redis.call('ZREM', wait_key, sid) end
  c.state = 'ringing'; c.res = res_id; c.agent = id
  jput(CALLS, sid, c)
  a.rr[c.queue] = redis.call('HINCRBY', COUNTERS, 'rr:' .. c.queue, 1)
  a.state = 'reserved'; a.reason = ''; a.listed = 0; a.res = res_id; a.call = sid; a.since = NOW
  jput(AGENTS, id, a)
  jput(RES, res_id, {call = sid, agent = id, queue = c.queue, created = NOW, expires = expires})
  redis.call('ZADD', TIMERS, fmt(expires), 'ring:' .. res_id)
  emit('OFFERED', {call = sid, agent = id, queue = c.queue, wait_ms = NOW - c.entered,
                   priority = c.prio, language = c.lang})
  OFFERS[#OFFERS + 1] = {id = res_id, call = sid, agent = id, queue = c.queue,
                         device = acfg_of(id).device, expires = expires, data = c.data,
                         listed = listed}
end

-- The best listed agent of an available set other than `exclude`; unlisted
-- entries (agents reserved through another bucket) are dropped on the way.
local function pick_agent(avail_key, exclude)
  local i = 0
  while true do
    local id = redis.call('ZRANGE', avail_key, i, i)[1]
    if not id then return nil end
    local a = jget(AGENTS, id)
    if a == nil or a.listed ~= 1 then
      redis.call('ZREM', avail_key, id)
    elseif id == exclude then
      i = i + 1
    else
      return id, a
    end
  end
end

-- Draws for the `random` strategy. The Lua PRNG is seeded here from the caller's `rnd`:
-- Redis before 7 reset it to one fixed seed at every script run (the same "random" agent
-- each time), while Valkey 9 carries one stream on from run to run; a seed passed in ARGV
-- gives every run its own draws whatever the server does.
local SEEDED = false
local function draw(n)
  if not SEEDED then
    math.randomseed(math.floor((ctx.rnd or 0) * 2147483647))
    SEEDED = true
  end
  return math.random(n)
end

-- A listed agent of an available set other than `exclude`, each equally likely (the
-- `random` strategy): a uniform index into the set, skipping `exclude`'s rank. Unlisted
-- entries met (agents reserved through another bucket) are dropped and the draw repeated.
local function pick_random(avail_key, exclude)
  while true do
    local n = redis.call('ZCARD', avail_key)
    local skip = exclude and exclude ~= '' and redis.call('ZRANK', avail_key, exclude)
    if skip then n = n - 1 end
    if n <= 0 then return nil end
    local i = draw(n) - 1
    if skip and i >= skip then i = i + 1 end
    local id = redis.call('ZRANGE', avail_key, i, i)[1]
    local a = jget(AGENTS, id)
    if a ~= nil and a.listed == 1 then return id, a end
    redis.call('ZREM', avail_key, id)
  end
end

-- Call-side decision: offer call `sid` of bucket `b` to its best available agent (under
-- `random`, any of them, uniformly, drawn now: a score drawn when the agent was listed
-- would keep favouring whoever last drew low);
-- `waiting`: the call is in the bucket's waiting set (enter.lua adds it only if not offered).
local function offer_call(sid, c, b, exclude, waiting)
  local pick = pick_agent
  if qcfg(c.queue).strategy == 'random' then pick = pick_random end
  local id, a = pick(KEYS[b.a], exclude)
  if id then
    redis.call('ZREM', KEYS[b.a], id)
    reserve(sid, c, waiting and KEYS[b.w] or nil, id, a, true)
    return true
  end
  return false
end

-- A call transferred to agent `id` by name waits in the agent's pinned set (ctx.pinned), and
-- is theirs before any queue's call: someone chose them for it. Entries whose call no
-- longer waits for them (hung up, fell back to its queue) are dropped on the way.
local function take_pinned(id, a)
  if not ctx.pinned then return false end
  local key = KEYS[ctx.pinned]
  while true do
    local sid = redis.call('ZRANGE', key, 0, 0)[1]
    if not sid then return false end
    local c = jget(CALLS, sid)
    if c and c.state == 'waiting' and c.pin == id then
      reserve(sid, c, key, id, a, false)
      return true
    end
    redis.call('ZREM', key, sid)
  end
end

-- Agent-side decision: agent `id`, available and in none of its available sets, takes
-- a call pinned to them first, else the best head call of its buckets: heavier queue first,
-- then higher priority and older original time (the packed score), then call sid. Returns
-- whether it took one.
local function take_call(id, a)
  if take_pinned(id, a) then return true end
  local best, best_w, best_score, best_key
  for i, q in ipairs(ENTRIES) do
    local key = waiting_key(i)
    local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if head[1] then
      local w = ctx.queues[q][1]
      local score = tonumber(head[2])
      if best == nil or w > best_w or (w == best_w and (score < best_score
          or (score == best_score and head[1] < best))) then
        best, best_w, best_score, best_key = head[1], w, score, key
      end
    end
  end
  if best == nil then return false end
  reserve(best, jget(CALLS, best), best_key, id, a, false)
  return true
end

-- Agent `id` becomes available now, in none of its available sets yet. Unless held back
-- `delay_ms` first, the caller then runs take_or_list (after its AGENTSTATUS event).
local function make_available(id, a, delay_ms)
  a.state = 'available'; a.reason = ''; a.listed = 0; a.res = ''; a.call = ''; a.since = NOW
  if delay_ms > 0 then redis.call('ZADD', TIMERS, fmt(NOW + delay_ms), 'hold:' .. id) end
end

-- An available agent, not held back and in none of its available sets, takes the best
-- waiting call at once, or else is listed. Taking first spares listing it only to unlist
-- it again, and leaves no entries behind to deregister.
local function take_or_list(id, a)
  if not take_call(id, a) then list_agent(id, a) end
end

-- Remove call `sid` from its queue (abandon, timeout, overflow); returns its position.
-- A pinned call leaves its agent's pinned set (b.p, which the caller checked is given).
local function leave_queue(sid, c, b)
  local position = redis.call('ZRANK', KEYS[b.m], sid)
  redis.call('ZREM', KEYS[b.m], sid)
  redis.call('ZREM', KEYS[b.w], sid)
  if b.p then redis.call('ZREM', KEYS[b.p], sid) end
  redis.call('ZREM', TIMERS, 'esc:' .. sid, 'wait:' .. sid, 'empty:' .. sid, 'pin:' .. sid)
  redis.call('HDEL', CALLS, sid)
  if position then return position + 1 end
  return 0
end

local function result(status, extra)
  local out = extra or {}
  out.status = status
  out.offers = OFFERS
  return cjson.encode(out)
end

-- An event's fields, marked `transfer` = 1 when the call was transferred (c.xfer): its
-- ENTERQUEUE, CONNECT, ABANDON or COMPLETE* then belongs to a contact already counted
-- (one customer contact, two agent handles).
local function marked(c, fields)
  if c.xfer then fields.transfer = 1 end
  return fields
end

-- The CONNECT of call `sid`, connected now to its agent after an offer made at `offered` (ms).
local function connect_event(sid, c, offered)
  c.connected = NOW
  emit('CONNECT', marked(c, {call = sid, agent = c.agent, queue = c.queue,
                             wait_ms = NOW - c.entered, ring_ms = NOW - offered,
                             original_wait_ms = NOW - c.orig, priority = c.prio,
                             language = c.lang}))
end

-- A pinned call (c.pin) falls back to its queue (the pinned agent did not take it in
-- time, or let its offer go): from now on any agent of its bucket may take it, at its
-- original place (the packed score is unchanged); its escalation and max-wait count from
-- now. The caller puts it in its waiting set and offers it.
local function fall_back(sid, c)
  local q = qcfg(c.queue)
  c.pin = nil
  c.entered = NOW
  redis.call('ZREM', TIMERS, 'pin:' .. sid)
  if q and #q.steps_ms > 0 and c.step == 0 then
    redis.call('ZADD', TIMERS, fmt(NOW + q.steps_ms[1]), 'esc:' .. sid)
  end
  if q and q.max_wait_ms > 0 then
    redis.call('ZADD', TIMERS, fmt(NOW + q.max_wait_ms), 'wait:' .. sid)
  end
end

-- Agent `id`, consulted (warm transfer) about call `sid`, is free again: available after a
-- 1 ms hold-back whose timer (hold_end) lists them or gives them a call, as this script
-- may not hold their bucket keys. CONSULT records how it ended.
local function end_consult(sid, c, outcome)
  local k = c.consult
  c.consult = nil
  emit('CONSULT', {call = sid, agent = c.agent, target = k.agent, outcome = outcome,
                   consult_ms = NOW - k.since})
  local t = jget(AGENTS, k.agent)
  if t and t.state == 'on_call' and t.call == sid then
    t.idle = NOW
    make_available(k.agent, t, 1)
    agent_status(k.agent, t)
    jput(AGENTS, k.agent, t)
  end
end

-- The agent's handle of connected call `sid` ends (the call ends, or is transferred):
-- event `kind` with `extra` fields, and the agent goes to wrap-up (its own or the queue's
-- time). A connection still pending (accept.lua with `pending`) gets its CONNECT first, so
-- every ended handle has one: the device was being rung when the call ended. A consult
-- under way ends too (its target is freed). Returns the agent's id, its state, and whether
-- it is ready for a call now (no wrap-up): the caller then runs take_or_list and stores it.
local function end_handle(sid, c, kind, extra)
  local id = c.agent
  local a, acfg = jget(AGENTS, id), acfg_of(id)
  if c.pending then
    connect_event(sid, c, c.pending.offered)
    redis.call('ZREM', TIMERS, 'connect:' .. sid)
  end
  if c.consult then end_consult(sid, c, 'cancelled') end
  local talk = NOW - c.connected
  a.talk = a.talk + talk
  local fields = marked(c, {call = sid, agent = id, queue = c.queue,
                            wait_ms = c.connected - c.entered, talk_ms = talk})
  for k, v in pairs(extra) do fields[k] = v end
  emit(kind, fields)
  local wrap = acfg.wrap_ms
  if wrap < 0 then wrap = (qcfg(c.queue) or {wrap_ms = 0}).wrap_ms end
  a.call = ''
  if wrap > 0 then
    a.state = 'wrap_up'; a.reason = ''; a.since = NOW
    redis.call('ZADD', TIMERS, fmt(NOW + wrap), 'wrap:' .. id)
    agent_status(id, a)
    return id, a, false
  end
  a.idle = NOW
  make_available(id, a, 0)
  agent_status(id, a)
  return id, a, true
end

-- A connected call ends: it leaves routing, and its agent goes to wrap-up (end_handle).
local function complete_call(sid, c, kind)
  redis.call('HDEL', CALLS, sid)
  local id, a, ready = end_handle(sid, c, kind, {})
  if ready then take_or_list(id, a) end
  jput(AGENTS, id, a)
end

-- The missed-call treatment of agent `id` whose leg for a call ended before the bridge
-- (`reason` noanswer counts towards max_no_answer; anything else holds them back busy_ms):
-- available (held back, or ready at once: returns true) or, past the limit, not available
-- (the caller then puts them on break "missed calls").
local function missed_treatment(id, a, reason)
  local acfg = acfg_of(id)
  local delay = acfg.busy_ms
  if reason == 'noanswer' then a.missed = a.missed + 1; delay = acfg.no_answer_ms end
  if a.missed >= acfg.max_no_answer then a.state = 'break'; return false end
  make_available(id, a, delay)
  return delay <= 0
end

-- Put back call `sid`, connected but still pending on agent `id` (accept.lua with
-- `pending`), whose agent's device was never rung: the call returns to bucket `b` as it
-- was (same packed score, so its place; its escalation and max-wait timers at their old
-- due times), REJECTED with `reason` is written (no CONNECT to undo, but for a `bridging`
-- call: its CONNECT stands, the caller was told they were being connected), the agent
-- goes on break `break_reason` with its answered-calls count restored (with break_reason
-- "", the missed-call treatment instead), and the call is offered to the next agent.
-- Used by requeue.lua and connect_lost.lua. Returns the call's position.
local function requeue_pending(sid, c, b, id, reason, break_reason)
  local p = c.pending or c.bridging
  redis.call('ZADD', KEYS[b.m], c.score, sid)
  redis.call('ZADD', KEYS[b.w], c.score, sid)
  redis.call('ZREM', TIMERS, 'connect:' .. sid)
  if p.esc then redis.call('ZADD', TIMERS, fmt(p.esc), 'esc:' .. sid) end
  if p.wait then redis.call('ZADD', TIMERS, fmt(p.wait), 'wait:' .. sid) end
  c.state = 'waiting'; c.agent = ''; c.avoid = id; c.pending = nil; c.bridging = nil
  c.connected = nil
  jput(CALLS, sid, c)
  emit('REJECTED', {call = sid, agent = id, queue = c.queue, ring_ms = NOW - p.offered,
                    reason = reason})
  local a = jget(AGENTS, id)
  a.calls = a.calls - 1
  local ready = false
  if break_reason == '' then ready = missed_treatment(id, a, reason) end
  if a.state ~= 'available' then
    a.state = 'break'; a.reason = break_reason ~= '' and break_reason or 'missed calls'
    a.listed = 0; a.res = ''; a.call = ''; a.since = NOW; a.missed = 0
    set_staffed(id, false)
  end
  agent_status(id, a)
  offer_call(sid, c, b, id, true)
  if ready then take_or_list(id, a) end
  jput(AGENTS, id, a)
  return redis.call('ZRANK', KEYS[b.m], sid) + 1
end
