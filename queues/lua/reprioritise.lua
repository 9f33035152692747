-- reprioritise.lua: a supervisor changes a queued call's priority; it keeps its original time.
-- KEYS[1] routing calls hash   call sid -> entry JSON
-- KEYS[2] the queue's calls zset (positions)
-- KEYS[3] the waiting zset of the call's bucket, as the caller read it
-- KEYS[4] events stream
-- ARGV: call sid, queue, step, language (as read), priority, packed score (string), now ms, by
-- Returns JSON {status: ok, old}; error RETRY when the call moved since it was read,
-- ROUTING when it is not waiting or ringing any more.
-- Nobody new becomes eligible, so no offer is made: routing is work-conserving, and a
-- waiting call has no available agent in its bucket whatever its place.
local sid, queue, step, lang = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local raw = redis.call('HGET', KEYS[1], sid)
if not raw then return redis.error_reply('ROUTING call ' .. sid .. ' is not queued') end
local c = cjson.decode(raw)
if c.state == 'connected' then
  return redis.error_reply('ROUTING call ' .. sid .. ' is already connected')
end
if c.queue ~= queue or tostring(c.step) ~= step or c.lang ~= lang then
  return redis.error_reply('RETRY call ' .. sid .. ' moved')
end
local old = c.prio
c.prio = tonumber(ARGV[5]); c.score = ARGV[6]
redis.call('HSET', KEYS[1], sid, cjson.encode(c))
redis.call('ZADD', KEYS[2], 'XX', ARGV[6], sid)
if c.state == 'waiting' then redis.call('ZADD', KEYS[3], 'XX', ARGV[6], sid) end
redis.call('XADD', KEYS[4], '*', 'type', 'SUPERVISOR', 'ts', ARGV[7], 'call', sid,
           'queue', queue, 'reason', 'priority ' .. tostring(old) .. ' -> ' .. ARGV[5],
           'priority', ARGV[5], 'by', ARGV[8])
return cjson.encode({status = 'ok', old = old})
