-- survey_move.lua: serves callbacks/surveys.py.
-- Move a survey to a new state if it is in one of the expected states.
-- KEYS[1]: the survey hash
-- ARGV[1]: expected states, comma separated, ARGV[2]: new state, ARGV[3..]: field, value pairs
-- Returns the state it was in when it moved, or false.
local state = redis.call('HGET', KEYS[1], 'state')
if not state or not string.find(',' .. ARGV[1] .. ',', ',' .. state .. ',', 1, true) then
  return false
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], unpack(ARGV, 3))
return state
