-- transfer.lua: an agent transfers their connected call, cold: back into a queue (the same
-- or another), to a named agent, or out to a number. The agent's handle ends as after a
-- completed call (TRANSFER carries its wait and talk, like COMPLETEAGENT; then wrap-up).
--   queue: the call joins the queue with its original arrival time and priority (the same
--     packed score, so the place it would have had), at step 0: ENTERQUEUE with
--     transfer = 1 (no new arrival), and it is offered at once to an eligible agent other
--     than the one transferring it, if any.
--   agent: the call waits for that agent only (pinned: in the agent's pinned set, which
--     they take from before any queue), offered at once if they are available; after the
--     queue's `pin_ms` (transfer_agent_timeout_s), or if they let its offer go, it falls
--     back to its queue at its place (unpin.lua, release.lua).
--   number: the call leaves routing, handled by this agent.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys and the
--       target bucket's keys (queue: the queue's step-0 bucket; agent: the call's own
--       queue's step-0 bucket, with p the target agent's pinned set; number: none).
-- ARGV[1]: {now, version, res, rnd, call, agent, kind (queue|agent|number), target (queue
--           id, agent id or number), entries, staffed, pinned, bucket: {q, w, a, m, st, p}}
-- Returns JSON {status: offered|queued|left, queue, position, offers}; errors ROUTING (not
-- connected to this agent), TRANSFER_REFUSED (with a message for the agent), UNKNOWN_QUEUE,
-- RETRY.
local sid, id, kind, b = ctx.call, ctx.agent, ctx.kind, ctx.bucket
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or c.agent ~= id then
  return redis.error_reply('ROUTING call ' .. sid .. ' is not connected to ' .. id)
end
if c.pending then
  return redis.error_reply('TRANSFER_REFUSED the call is still being put through to you')
end
if c.consult then
  return redis.error_reply('TRANSFER_REFUSED finish or cancel the consultation first')
end
local t
if kind == 'queue' then
  local q = qcfg(b.q)
  if not q or q.retired then return redis.error_reply('UNKNOWN_QUEUE ' .. b.q) end
  if q.max_size > 0 and redis.call('ZCARD', KEYS[b.m]) >= q.max_size then
    return redis.error_reply('TRANSFER_REFUSED queue ' .. b.q .. ' is full')
  end
  if q.when_no_agents == 'divert' and redis.call('SCARD', KEYS[b.st]) == 0 then
    return redis.error_reply('TRANSFER_REFUSED nobody is taking calls in queue ' .. b.q)
  end
elseif kind == 'agent' then
  if ctx.target == id then
    return redis.error_reply('TRANSFER_REFUSED you cannot transfer a call to yourself')
  end
  t = jget(AGENTS, ctx.target)
  if not t or t.state == 'offline' then
    return redis.error_reply('TRANSFER_REFUSED ' .. ctx.target .. ' is not logged in')
  end
  if b.q ~= c.queue then
    return redis.error_reply('RETRY the call moved while the script was prepared')
  end
elseif kind ~= 'number' then
  return redis.error_reply('ROUTING unknown transfer kind ' .. tostring(kind))
end

if kind == 'number' then redis.call('HDEL', CALLS, sid) end
local _, a, ready = end_handle(sid, c, 'TRANSFER', {kind = kind, target = ctx.target, warm = 0})
local status, position = 'left', 0
if kind ~= 'number' then
  c.queue = b.q; c.step = 0; c.entered = NOW; c.state = 'waiting'; c.agent = ''; c.res = ''
  c.conn = nil; c.connected = nil; c.bridging = nil; c.avoid = id; c.xfer = (c.xfer or 0) + 1
  redis.call('ZADD', KEYS[b.m], c.score, sid)
  position = redis.call('ZRANK', KEYS[b.m], sid) + 1
  c.pos0 = position
  local fields = {call = sid, queue = b.q, position = position, priority = c.prio,
                  language = c.lang, wait_ms = NOW - c.orig}
  if kind == 'agent' then fields.target = ctx.target end
  emit('ENTERQUEUE', marked(c, fields))
  status = 'queued'
  if kind == 'queue' then
    local q = qcfg(b.q)
    if #q.steps_ms > 0 then redis.call('ZADD', TIMERS, fmt(NOW + q.steps_ms[1]), 'esc:' .. sid) end
    if q.max_wait_ms > 0 then
      redis.call('ZADD', TIMERS, fmt(NOW + q.max_wait_ms), 'wait:' .. sid)
    end
    if offer_call(sid, c, b, id, false) then
      status = 'offered'
    else
      redis.call('ZADD', KEYS[b.w], c.score, sid)
      jput(CALLS, sid, c)
    end
  else
    c.pin = ctx.target
    if t.state == 'available' and t.listed == 1 then
      reserve(sid, c, nil, ctx.target, t, true)
      status = 'offered'
    else
      redis.call('ZADD', KEYS[b.p], c.score, sid)
      local pin_ms = qcfg(c.queue).pin_ms or 60000
      redis.call('ZADD', TIMERS, fmt(NOW + pin_ms), 'pin:' .. sid)
      jput(CALLS, sid, c)
    end
  end
end
if ready then take_or_list(id, a) end
jput(AGENTS, id, a)
return result(status, {queue = b.q or c.queue, position = position})
