-- deregister.lua: drop an agent reserved through one bucket from its other available
-- sets (they are also skipped lazily, this keeps them small).
-- KEYS: the fixed keys of common.lua, then the agent's available-set keys.
-- ARGV[1]: {now, version, agent, entries}
-- Returns JSON {status: ok|listed}.
local a = jget(AGENTS, ctx.agent)
if a and a.listed == 1 then return result('listed') end
for _, e in ipairs(ctx.entries) do redis.call('ZREM', KEYS[e.a], ctx.agent) end
return result('ok')
