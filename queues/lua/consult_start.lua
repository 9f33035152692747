-- consult_start.lua: warm transfer begins: the agent of a connected call consults another
-- agent while the customer is on hold. The target must be available (held back after a
-- miss is fine); they are taken out of routing at once (on_call, reason `consult`, the
-- call theirs to see), so no offer can reach them while they are consulted.
-- KEYS: the fixed keys of common.lua, then the target's bucket and staffed keys.
-- ARGV[1]: {now, version, res, call, by (the call's agent), agent (the target), entries,
--           staffed}
-- The consultation gets a fresh connection id (`conn`): the call's, should it be completed.
-- Returns JSON {status: consulting, conn, offers}; errors ROUTING (not connected to `by`),
-- TRANSFER_REFUSED (with a message for the agent).
local sid, by, id = ctx.call, ctx.by, ctx.agent
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or c.agent ~= by then
  return redis.error_reply('ROUTING call ' .. sid .. ' is not connected to ' .. by)
end
if c.pending then
  return redis.error_reply('TRANSFER_REFUSED the call is still being put through to you')
end
if c.consult then
  return redis.error_reply('TRANSFER_REFUSED you are already consulting ' .. c.consult.agent)
end
if id == by then
  return redis.error_reply('TRANSFER_REFUSED you cannot consult yourself')
end
local t = jget(AGENTS, id)
if not t or t.state == 'offline' then
  return redis.error_reply('TRANSFER_REFUSED ' .. id .. ' is not logged in')
end
if t.state ~= 'available' then
  return redis.error_reply('TRANSFER_REFUSED ' .. id .. ' is busy')
end
if t.listed == 1 then unlist_agent(id, t) end
redis.call('ZREM', TIMERS, 'hold:' .. id)
t.state = 'on_call'; t.reason = 'consult'; t.call = sid; t.res = ''; t.since = NOW
jput(AGENTS, id, t)
agent_status(id, t)
c.consult = {agent = id, since = NOW, conn = ctx.res[1]}
jput(CALLS, sid, c)
return result('consulting', {conn = c.consult.conn})
