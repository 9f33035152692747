-- maxwait.lua: a call has waited the queue's max_wait_s: it leaves with EXITWITHTIMEOUT
-- and the queue's overflow action. A call that is ringing is let ring out first.
-- KEYS: the fixed keys of common.lua, then the call's bucket keys.
-- ARGV[1]: {now, version, res, call, step (as read), timer, bucket: {q, w, m}}
-- Returns JSON {status: timeout|deferred|gone, action, orig, priority, language, data};
-- error RETRY.
local sid = ctx.call
local c = jget(CALLS, sid)
if not c or c.state == 'connected' then
  redis.call('ZREM', TIMERS, ctx.timer)
  return result('gone')
end
if c.step ~= ctx.step or c.queue ~= ctx.bucket.q then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
if redis.call('ZSCORE', TIMERS, ctx.timer) == false then return result('gone') end
if c.state == 'ringing' then
  local r = jget(RES, c.res)
  redis.call('ZADD', TIMERS, fmt(r.expires + 1), ctx.timer)
  return result('deferred')
end
local position = leave_queue(sid, c, ctx.bucket)
local q = qcfg(c.queue)
emit('EXITWITHTIMEOUT', {call = sid, queue = c.queue, position = position,
                         original_position = c.pos0, wait_ms = NOW - c.entered,
                         original_wait_ms = NOW - c.orig, priority = c.prio, language = c.lang})
return result('timeout', {action = q.when_max_wait, orig = c.orig, priority = c.prio,
                          language = c.lang, data = c.data, queue = c.queue})
