-- requeue.lua: the agent's device of a pending connection (accept.lua with `pending`)
-- could not be rung, so nobody will bridge the caller, who is still on hold. The call
-- goes back to its queue as it was: same packed score (original time and priority, so
-- its place), same step, its escalation and max-wait timers at their old due times. The
-- agent goes on break with `break_reason`, and the call is offered to the next agent.
-- No CONNECT was recorded; REJECTED with `reason` says why the offer was missed.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys and the
--       call's bucket keys.
-- ARGV[1]: {now, version, res, rnd, call, agent, reason (event), break_reason,
--           step (the call's step as read), entries, staffed, bucket: {q, w, a, m}}
-- Returns JSON {status: requeued, position, offers}; errors ROUTING (the call is not
-- pending on this agent: confirmed, or ended), RETRY.
local sid, id, b = ctx.call, ctx.agent, ctx.bucket
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or c.agent ~= id or not c.pending then
  return redis.error_reply('ROUTING call ' .. sid .. ' is not pending on ' .. id)
end
if c.step ~= ctx.step or c.queue ~= b.q then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
local p = c.pending
redis.call('ZADD', KEYS[b.m], c.score, sid)
redis.call('ZADD', KEYS[b.w], c.score, sid)
if p.esc then redis.call('ZADD', TIMERS, fmt(p.esc), 'esc:' .. sid) end
if p.wait then redis.call('ZADD', TIMERS, fmt(p.wait), 'wait:' .. sid) end
c.state = 'waiting'; c.agent = ''; c.avoid = id; c.pending = nil; c.connected = nil
jput(CALLS, sid, c)
emit('REJECTED', {call = sid, agent = id, queue = c.queue, ring_ms = NOW - p.offered,
                  reason = ctx.reason})
local a = jget(AGENTS, id)
a.calls = a.calls - 1
a.state = 'break'; a.reason = ctx.break_reason; a.listed = 0; a.res = ''; a.call = ''
a.since = NOW; a.missed = 0
set_staffed(id, false)
agent_status(id, a)
jput(AGENTS, id, a)
offer_call(sid, c, b, id, true)
return result('requeued', {position = redis.call('ZRANK', KEYS[b.m], sid) + 1})
