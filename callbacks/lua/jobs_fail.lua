-- jobs_fail.lua: serves callbacks/jobs.py.
-- A claimed job raised: count the attempt, then schedule its retry after the backoff for
-- that attempt, or, once every retry is spent, move it to the failed set.
-- KEYS[1]: the claimed sorted set, KEYS[2]: the retry sorted set,
-- KEYS[3]: the attempts hash, KEYS[4]: the failed sorted set
-- ARGV[1]: job id, ARGV[2]: now (s, wall clock), ARGV[3..]: backoff (s) before retry 1, 2, ...
-- Returns the number of the retry scheduled (1, 2, ...), or 0 when the job failed for good.
local attempt = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('ZREM', KEYS[1], ARGV[1])
local backoff = ARGV[2 + attempt]
if backoff == nil then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]) + tonumber(backoff), ARGV[1])
return attempt
