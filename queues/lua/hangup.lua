-- hangup.lua: the caller hangs up: an abandon while waiting or ringing (any ringing
-- agent is released at once), or the end of a connected call (COMPLETECALLER).
-- KEYS: the fixed keys of common.lua, then the call's bucket keys and, when an agent
--       is involved, that agent's bucket and staffed keys.
-- ARGV[1]: {now, version, res, rnd, call, state, agent, step, pin (as read), bucket (with
--           p, the pinned set, for a pinned call), entries, staffed, exit: "" for a hang-up (ABANDON), or the event type of a deliberate
--           exit: EXITWITHKEY (pressed a key), EXITCLOSED (queue closed), OVERFLOW}
-- Returns JSON {status: abandoned|completed|unknown, position, offers}; an abandoned call
-- also gives {orig, priority, language, data}, so an overflow can carry it into another
-- queue with its original arrival time (Router.move); error RETRY.
local sid = ctx.call
local c = jget(CALLS, sid)
if not c then return result('unknown') end
if c.state ~= ctx.state or c.agent ~= ctx.agent or c.step ~= ctx.step
   or (c.pin or '') ~= ctx.pin then
  return redis.error_reply('RETRY the call changed while the script was prepared')
end
local b = ctx.bucket
if c.state == 'connected' then
  complete_call(sid, c, 'COMPLETECALLER')
  return result('completed')
end
local position = leave_queue(sid, c, b)
local kind = (ctx.exit and ctx.exit ~= '') and ctx.exit or 'ABANDON'
emit(kind, marked(c, {call = sid, queue = c.queue, position = position,
                       original_position = c.pos0, wait_ms = NOW - c.entered,
                       original_wait_ms = NOW - c.orig, priority = c.prio,
                       language = c.lang}))
if c.state == 'ringing' then
  local id = c.agent
  local a = jget(AGENTS, id)
  redis.call('HDEL', RES, c.res)
  redis.call('ZREM', TIMERS, 'ring:' .. c.res)
  emit('RINGCANCELED', {call = sid, agent = id, queue = c.queue, ring_ms = NOW - a.since})
  make_available(id, a, 0)
  agent_status(id, a)
  take_or_list(id, a)
  jput(AGENTS, id, a)
end
return result('abandoned', {position = position, orig = c.orig, priority = c.prio,
                            language = c.lang, data = c.data})
