-- jobs_claim.lua: serves callbacks/jobs.py.
-- Claim the jobs due by now, so two pumps never take the same one; stale claims return.
-- KEYS[1]: the due sorted set, KEYS[2]: the claimed sorted set
-- ARGV[1]: now (s), ARGV[2]: claims older than this (s) go back to due, ARGV[3]: max count
-- Returns the claimed job ids, oldest due first.
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[1], id)
end
return due
