-- enter.lua: a call joins a queue and, if an eligible agent is available, is offered at once.
-- KEYS: the fixed keys of common.lua, then the call's bucket keys.
-- ARGV[1]: {now, version, res, call, priority, language, score (packed, string),
--           orig (ms), data (string), prefer (agent id or ""), bucket: {q, w, a, m, st}}
-- Returns JSON {status: offered|queued|full|no_agents, position, action, offers}.
local sid, b = ctx.call, ctx.bucket
local q = qcfg(b.q)
if not q or q.retired then return redis.error_reply('UNKNOWN_QUEUE ' .. b.q) end
if redis.call('HEXISTS', CALLS, sid) == 1 then
  return redis.error_reply('ROUTING call ' .. sid .. ' is already in a queue')
end
if q.max_size > 0 and redis.call('ZCARD', KEYS[b.m]) >= q.max_size then
  emit('OVERFLOW', {call = sid, queue = b.q, reason = 'full', priority = ctx.priority})
  return result('full', {action = q.when_full})
end
if q.when_no_agents == 'divert' and redis.call('SCARD', KEYS[b.st]) == 0 then
  emit('OVERFLOW', {call = sid, queue = b.q, reason = 'no_agents', priority = ctx.priority})
  return result('no_agents', {action = q.no_agents_action})
end
redis.call('ZADD', KEYS[b.m], ctx.score, sid)
local position = redis.call('ZRANK', KEYS[b.m], sid) + 1
local c = {queue = b.q, lang = ctx.language, step = 0, score = ctx.score, prio = ctx.priority,
           orig = ctx.orig, entered = NOW, state = 'waiting', res = '', agent = '', avoid = '',
           data = ctx.data, pos0 = position}
emit('ENTERQUEUE', {call = sid, queue = b.q, position = position, priority = ctx.priority,
                    language = ctx.language, wait_ms = NOW - ctx.orig})
if #q.steps_ms > 0 then redis.call('ZADD', TIMERS, fmt(NOW + q.steps_ms[1]), 'esc:' .. sid) end
if q.max_wait_ms > 0 then redis.call('ZADD', TIMERS, fmt(NOW + q.max_wait_ms), 'wait:' .. sid) end
-- A returning caller's last agent is offered the call first when that agent is free for
-- this bucket. A free agent means no eligible call is waiting for them, so no one is jumped.
if ctx.prefer ~= '' and redis.call('ZSCORE', KEYS[b.a], ctx.prefer) then
  local a = jget(AGENTS, ctx.prefer)
  if a and a.listed == 1 then
    redis.call('ZREM', KEYS[b.a], ctx.prefer)
    reserve(sid, c, nil, ctx.prefer, a, true)
    return result('offered', {position = position, sticky = true})
  end
end
-- Offered at once, the call never enters the bucket's waiting set; otherwise it waits.
if offer_call(sid, c, b, '', false) then return result('offered', {position = position}) end
redis.call('ZADD', KEYS[b.w], ctx.score, sid)
jput(CALLS, sid, c)
return result('queued', {position = position})
