-- complete.lua: the agent ends a connected call and goes to wrap-up.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys.
-- With `conn` (the connection, i.e. reservation accepted, whose leg ended) only that
-- connection ends: an old leg's late end never ends a newer connection of the call.
-- ARGV[1]: {now, version, res, rnd, call, agent, conn, entries, staffed}
-- Returns JSON {status: completed, offers}; error ROUTING when the call is not connected
-- (to that agent, through `conn`).
local c = jget(CALLS, ctx.call)
if not c or c.state ~= 'connected' or c.agent ~= ctx.agent then
  return redis.error_reply('ROUTING call ' .. ctx.call .. ' is not connected to ' .. ctx.agent)
end
if ctx.conn and ctx.conn ~= '' and c.conn ~= ctx.conn then
  return redis.error_reply('ROUTING call ' .. ctx.call .. ' is no longer connection ' .. ctx.conn)
end
complete_call(ctx.call, c, 'COMPLETEAGENT')
return result('completed')
