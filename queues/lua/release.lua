-- release.lua: an offer ends unanswered (reject, busy, or ring timeout); the call goes
-- back to its original place and the agent is held back, or put on break after too
-- many consecutive no-answers.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys and the
--       call's bucket keys.
-- ARGV[1]: {now, version, res, rnd, reservation, agent,
--           reason: reject|busy|noanswer|unreached (the API failed: no hold-back),
--           timer ("" or the ring timer to claim), step (the call's step as read),
--           entries, staffed, bucket: {q, w, a, m}}
-- A ring timer that fires for a `paced` offer whose phone never rang (ring_from.lua: the
-- leg still waits in Twilio's outbound queue) is no miss: RINGCANCELED (reason unrung),
-- and the agent is available again at once.
-- Returns JSON {status: released|gone, offers}; errors RESERVATION, RETRY.
local r = jget(RES, ctx.reservation)
if ctx.timer ~= '' then
  if not r then redis.call('ZREM', TIMERS, ctx.timer); return result('gone') end
elseif not r or r.agent ~= ctx.agent then
  return redis.error_reply('RESERVATION ' .. ctx.reservation .. ' is unknown or already answered')
elseif NOW >= r.expires then
  return redis.error_reply('RESERVATION ' .. ctx.reservation .. ' has timed out')
end
local sid, id = r.call, r.agent
local c, a, acfg = jget(CALLS, sid), jget(AGENTS, id), acfg_of(id)
if c.step ~= ctx.step or c.queue ~= ctx.bucket.q or id ~= ctx.agent then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
if ctx.timer ~= '' and redis.call('ZREM', TIMERS, ctx.timer) == 0 then return result('gone') end
redis.call('HDEL', RES, ctx.reservation)
redis.call('ZREM', TIMERS, 'ring:' .. ctx.reservation)
-- The call keeps its packed score, so it is back exactly where it was. A call transferred
-- to this agent by name (pinned) falls back to its queue: they let it go.
if c.pin then fall_back(sid, c) end
c.state = 'waiting'; c.res = ''; c.agent = ''; c.avoid = id
redis.call('ZADD', KEYS[ctx.bucket.w], c.score, sid)
jput(CALLS, sid, c)
local ring_ms = NOW - r.created
local delay
if ctx.timer ~= '' and r.paced == 1 and r.rang ~= 1 then
  emit('RINGCANCELED', {call = sid, agent = id, queue = r.queue, ring_ms = 0, reason = 'unrung'})
  delay = 0
elseif ctx.reason == 'noanswer' then
  a.missed = a.missed + 1
  emit('RINGNOANSWER', {call = sid, agent = id, queue = r.queue, ring_ms = ring_ms})
  delay = acfg.no_answer_ms
else
  emit('REJECTED', {call = sid, agent = id, queue = r.queue, ring_ms = ring_ms,
                    reason = ctx.reason})
  delay = acfg.reject_ms
  if ctx.reason == 'busy' then delay = acfg.busy_ms elseif ctx.reason == 'unreached' then delay = 0 end
end
local ready = false
if a.missed >= acfg.max_no_answer then
  a.state = 'break'; a.reason = 'missed calls'; a.listed = 0; a.res = ''; a.call = ''
  a.since = NOW; a.missed = 0
  set_staffed(id, false)
  agent_status(id, a)
else
  make_available(id, a, delay)
  agent_status(id, a)
  ready = delay <= 0
end
-- Offer the call to someone else first; the agent who just let it go only gets
-- it back when nobody else eligible is available (it is listed only after this).
offer_call(sid, c, ctx.bucket, id, true)
if ready then take_or_list(id, a) end
jput(AGENTS, id, a)
return result('released')
