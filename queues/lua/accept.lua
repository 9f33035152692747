-- accept.lua: an agent answers its offer; the call is connected and leaves the queue.
-- KEYS: the fixed keys of common.lua, then the call's queue calls zset.
-- ARGV[1]: {now, version, res, reservation, agent, bucket: {m}, pending (bool),
--           connect_ms}
--   pending: the agent's device is rung only now (the console): CONNECT waits for
--   confirm.lua, and the call keeps what requeue.lua needs to put it back (the offer's
--   time, its escalation and max-wait timers) should the device not be reachable.
--   A `connect:<call>` timer is due in connect_ms: should neither confirm.lua nor
--   requeue.lua follow (the process died), connect_lost.lua puts the call back.
-- The call keeps the reservation as `conn`: the agent's `<Dial>` action names it, so a late
-- one never ends a later connection of the same call.
-- Returns JSON {status: connected, call, queue, wait_ms, ring_ms}; error RESERVATION.
local r = jget(RES, ctx.reservation)
if not r then
  return redis.error_reply('RESERVATION ' .. ctx.reservation .. ' is unknown or already answered')
end
if r.agent ~= ctx.agent then
  return redis.error_reply('RESERVATION ' .. ctx.reservation .. ' was offered to another agent')
end
if NOW >= r.expires then
  return redis.error_reply('RESERVATION ' .. ctx.reservation .. ' has timed out')
end
local sid, id = r.call, r.agent
local c, a = jget(CALLS, sid), jget(AGENTS, id)
if ctx.pending then
  c.pending = {offered = r.created, esc = tonumber(redis.call('ZSCORE', TIMERS, 'esc:' .. sid)),
               wait = tonumber(redis.call('ZSCORE', TIMERS, 'wait:' .. sid))}
end
redis.call('HDEL', RES, ctx.reservation)
redis.call('ZREM', TIMERS, 'ring:' .. ctx.reservation, 'esc:' .. sid, 'wait:' .. sid,
           'pin:' .. sid)
redis.call('ZREM', KEYS[ctx.bucket.m], sid)
c.state = 'connected'; c.res = ''; c.conn = ctx.reservation; c.connected = NOW; c.pin = nil
if ctx.pending then
  redis.call('ZADD', TIMERS, fmt(NOW + ctx.connect_ms), 'connect:' .. sid)
else
  connect_event(sid, c, r.created)
end
jput(CALLS, sid, c)
a.state = 'on_call'; a.res = ''; a.missed = 0; a.calls = a.calls + 1; a.since = NOW
jput(AGENTS, id, a)
agent_status(id, a)
local wait_ms, ring_ms = NOW - c.entered, NOW - r.created
return result('connected', {call = sid, queue = r.queue, wait_ms = wait_ms, ring_ms = ring_ms})
