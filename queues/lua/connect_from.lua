-- connect_from.lua: a pending connection (accept.lua with `pending`: the console's accept)
-- waits for its bridge from when the agent's device rings. Twilio places REST-created
-- calls at the account's calls per second, so the device may ring well after the accept:
-- the `connect:<call>` timer is moved later, never earlier. Runs without common.lua.
-- KEYS[1]: the calls hash (call sid -> queue entry JSON)
-- KEYS[2]: the timers zset ("kind:id" scored by due ms)
-- ARGV[1]: the call sid
-- ARGV[2]: the timer's new due time (ms)
-- Returns 1 when the timer moved, 0 when not (no pending connection, or due later already).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local timer = 'connect:' .. ARGV[1]
local due = redis.call('ZSCORE', KEYS[2], timer)
if not raw or not due or not cjson.decode(raw).pending then return 0 end
if tonumber(due) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], timer)
return 1
