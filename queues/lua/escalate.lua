-- escalate.lua: a call's escalation step is due: it moves to the next step's bucket
-- with the same packed score, so it keeps its place, and is offered if anyone fits.
-- KEYS: the fixed keys of common.lua, then the call's current and next bucket keys.
-- ARGV[1]: {now, version, res, call, step (as read), timer, bucket (current: {q, w}),
--           next: {q, w, a}}
-- Returns JSON {status: escalated|gone, offers}; error RETRY.
local sid = ctx.call
local c = jget(CALLS, sid)
if not c or c.state == 'connected' then
  redis.call('ZREM', TIMERS, ctx.timer)
  return result('gone')
end
if c.step ~= ctx.step or c.queue ~= ctx.bucket.q then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
if redis.call('ZREM', TIMERS, ctx.timer) == 0 then return result('gone') end
local q = qcfg(c.queue)
c.step = c.step + 1
if c.step < #q.steps_ms then
  redis.call('ZADD', TIMERS, fmt(NOW + q.steps_ms[c.step + 1]), 'esc:' .. sid)
end
emit('ESCALATE', {call = sid, queue = c.queue, reason = 'step ' .. c.step})
if c.state == 'waiting' and not c.pin then
  redis.call('ZREM', KEYS[ctx.bucket.w], sid)
  redis.call('ZADD', KEYS[ctx.next.w], c.score, sid)
  jput(CALLS, sid, c)
  offer_call(sid, c, ctx.next, '', true)
else
  jput(CALLS, sid, c)
end
return result('escalated')
