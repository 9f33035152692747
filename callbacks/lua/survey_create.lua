-- survey_create.lua: serves callbacks/surveys.py.
-- Create a call's survey once, unless the number opted out or was surveyed recently.
-- KEYS[1]: the survey hash, KEYS[2]: the number's cap key, KEYS[3]: the opt-out set
-- ARGV[1]: number, ARGV[2]: cap TTL (s, 0: no cap), ARGV[3]: survey TTL (s),
-- ARGV[4..]: field, value pairs of the new survey
-- Returns the survey's state: an existing one, 'opted_out', 'capped' or 'scheduled'.
local state = redis.call('HGET', KEYS[1], 'state')
if state then return state end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 'opted_out' end
if tonumber(ARGV[2]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 'capped' end
end
redis.call('HSET', KEYS[1], 'state', 'scheduled', unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'scheduled'
