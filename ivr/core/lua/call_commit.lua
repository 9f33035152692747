-- call_commit.lua: store a call's session if the call is still at the step this request
-- handled, together with the TwiML answered for that step (and an optional stream record),
-- so a retried webhook is answered from the cache and nothing is counted twice.
-- All of the service's Lua lives in queues/lua/; this one serves ivr/call.py.
-- KEYS[1]: the session (String, JSON); KEYS[2]: the responses (Hash: step -> TwiML);
--   KEYS[3] (optional): a stream to append one record to when this request wins.
-- ARGV[1]: the handled step, or "new" for a call with no session yet; ARGV[2]: session JSON;
--   ARGV[3]: the responses field for this step; ARGV[4]: the TwiML; ARGV[5]: TTL seconds;
--   ARGV[6..]: field, value pairs of the stream record.
-- Returns {1, TwiML} when this request won, {0, the TwiML stored first (or false)} if not.
local current = redis.call('GET', KEYS[1])
local won
if ARGV[1] == 'new' then
  won = not current
else
  won = current and cjson.decode(current).step == tonumber(ARGV[1])
end
if not won then return {0, redis.call('HGET', KEYS[2], ARGV[3])} end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if KEYS[3] and #ARGV > 5 then
  redis.call('XADD', KEYS[3], '*', unpack(ARGV, 6))
end
return {1, ARGV[4]}
