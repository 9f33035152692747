-- deregister.lua: drop an agent reserved through one bucket from its other available
-- sets (they are also skipped lazily, this keeps them short). Runs without common.lua:
-- it needs no context, and no config version check, because it changes nothing for a
-- listed agent, and an agent that is not listed belongs in no available set at all.
-- KEYS[1]: the agents hash (agent id -> runtime state JSON)
-- KEYS[2..]: the agent's available-set keys
-- ARGV[1]: the agent id
-- Returns 1 when the agent was dropped from those sets, 0 when it is listed (again).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw and cjson.decode(raw).listed == 1 then return 0 end
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
