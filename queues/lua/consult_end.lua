-- consult_end.lua: warm transfer ends.
--   cancelled: the consulted agent is free again (and may take a call at once); the
--     customer stays with the agent who consulted. CONSULT outcome cancelled.
--   completed: the consulted agent takes the call; the agent who consulted goes to wrap-up
--     as after a completed call. CONSULT outcome completed, then TRANSFER (kind agent,
--     warm 1, with that agent's wait and talk), then CONNECT of the new agent (transfer 1,
--     warm 1, wait_ms and ring_ms 0). The call's connection (`conn`) becomes the one the
--     consultation was given (consult_start.lua), so the end of the first agent's leg can
--     never end the new agent's handle, and the new agent's leg can name it.
-- KEYS: the fixed keys of common.lua, then the bucket and staffed keys of `agent`: the
--       consulted agent when cancelled, the one who consulted when completed (whoever may
--       take the next call now).
-- ARGV[1]: {now, version, res, rnd, call, by (the call's agent), target (the consulted
--           agent, as read), outcome (completed|cancelled), agent, entries, staffed, pinned}
-- Returns JSON {status: completed|cancelled, offers}; errors ROUTING, RETRY.
local sid, by = ctx.call, ctx.by
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or c.agent ~= by then
  return redis.error_reply('ROUTING call ' .. sid .. ' is not connected to ' .. by)
end
if not c.consult then
  return redis.error_reply('ROUTING call ' .. sid .. ' is not in a consultation')
end
local k = c.consult
if k.agent ~= ctx.target then
  return redis.error_reply('RETRY the consultation changed while the script was prepared')
end
c.consult = nil
emit('CONSULT', {call = sid, agent = by, target = k.agent, outcome = ctx.outcome,
                 consult_ms = NOW - k.since})
local t = jget(AGENTS, k.agent)
if ctx.outcome == 'cancelled' then
  jput(CALLS, sid, c)
  t.idle = NOW
  make_available(k.agent, t, 0)
  agent_status(k.agent, t)
  take_or_list(k.agent, t)
  jput(AGENTS, k.agent, t)
  return result('cancelled')
end
local _, a, ready = end_handle(sid, c, 'TRANSFER', {kind = 'agent', target = k.agent, warm = 1})
c.agent = k.agent; c.conn = k.conn; c.bridging = nil; c.xfer = (c.xfer or 0) + 1
c.entered = NOW; c.connected = NOW
emit('CONNECT', marked(c, {call = sid, agent = k.agent, queue = c.queue, wait_ms = 0,
                           ring_ms = 0, original_wait_ms = NOW - c.orig, priority = c.prio,
                           language = c.lang, warm = 1}))
jput(CALLS, sid, c)
t.reason = ''; t.calls = t.calls + 1; t.missed = 0; t.since = NOW
agent_status(k.agent, t)
jput(AGENTS, k.agent, t)
if ready then take_or_list(by, a) end
jput(AGENTS, by, a)
return result('completed')
