-- survey_sent.lua: serves callbacks/surveys.py.
-- Record a survey as sent (once), make it the one the number's replies answer, and
-- count the send for /metrics (by the survey's queue and language).
-- KEYS[1]: the survey hash, KEYS[2]: the number's pending-survey key,
-- KEYS[3]: the survey-sends counter hash (field "queue|language")
-- ARGV[1]: call sid, ARGV[2]: sent at (s), ARGV[3]: message sid, ARGV[4]: pending TTL (s)
-- Returns 1 when it moved to sent, 0 when it was not sending (already sent, or other).
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'sending' and state ~= 'unknown' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'sent', 'sent_at', ARGV[2], 'message_sid', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
local labels = redis.call('HMGET', KEYS[1], 'queue', 'language')
redis.call('HINCRBY', KEYS[3], (labels[1] or '') .. '|' .. (labels[2] or ''), 1)
return 1
