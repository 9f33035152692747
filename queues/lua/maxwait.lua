-- maxwait.lua: a call leaves its queue on a timer, with one of the queue's overflow actions:
--   max wait (`wait:<sid>`): it has waited max_wait_s; EXITWITHTIMEOUT and when_max_wait.
--     A call that is ringing is let ring out first.
--   no agents (`empty:<sid>`, ctx.eligible set): nobody logged in can ever answer it (leave
--     when empty); OVERFLOW reason no_agents and no_agents_action. If any agent of
--     ctx.eligible is logged in (any state but offline) by now, or the call is ringing,
--     the timer is dropped and the call waits on.
-- KEYS: the fixed keys of common.lua, then the call's bucket keys.
-- A call pinned to an agent (a transfer by name) has no such timers until it falls back.
-- ARGV[1]: {now, version, res, call, step (as read), timer, bucket: {q, w, m},
--           eligible: [agent ids who could answer the call at its step or later] or absent}
-- Returns JSON {status: timeout|deferred|served|gone, action, orig, priority, language,
--               data, queue}; error RETRY.
local sid = ctx.call
local c = jget(CALLS, sid)
if not c or c.state == 'connected' then
  redis.call('ZREM', TIMERS, ctx.timer)
  return result('gone')
end
if c.pin then
  redis.call('ZREM', TIMERS, ctx.timer)
  return result('gone')
end
if c.step ~= ctx.step or c.queue ~= ctx.bucket.q then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
if redis.call('ZSCORE', TIMERS, ctx.timer) == false then return result('gone') end
local empty = ctx.eligible ~= nil
if empty then
  local staffed = c.state == 'ringing'
  for _, id in ipairs(ctx.eligible) do
    local a = jget(AGENTS, id)
    if a and a.state ~= 'offline' then staffed = true end
  end
  if staffed then
    redis.call('ZREM', TIMERS, ctx.timer)
    return result('served')
  end
elseif c.state == 'ringing' then
  local r = jget(RES, c.res)
  redis.call('ZADD', TIMERS, fmt(r.expires + 1), ctx.timer)
  return result('deferred')
end
local position = leave_queue(sid, c, ctx.bucket)
local q = qcfg(c.queue)
local fields = marked(c, {call = sid, queue = c.queue, position = position,
                          original_position = c.pos0, wait_ms = NOW - c.entered,
                          original_wait_ms = NOW - c.orig, priority = c.prio,
                          language = c.lang})
local action = q.when_max_wait
if empty then
  fields.reason = 'no_agents'
  action = q.no_agents_action
  emit('OVERFLOW', fields)
else
  emit('EXITWITHTIMEOUT', fields)
end
return result('timeout', {action = action, orig = c.orig, priority = c.prio,
                          language = c.lang, data = c.data, queue = c.queue})
