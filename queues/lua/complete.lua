-- complete.lua: the agent ends a connected call and goes to wrap-up.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys.
-- ARGV[1]: {now, version, res, rnd, call, agent, entries, staffed}
-- Returns JSON {status: completed, offers}; error ROUTING when the call is not connected.
local c = jget(CALLS, ctx.call)
if not c or c.state ~= 'connected' or c.agent ~= ctx.agent then
  return redis.error_reply('ROUTING call ' .. ctx.call .. ' is not connected to ' .. ctx.agent)
end
complete_call(ctx.call, c, 'COMPLETEAGENT')
return result('completed')
