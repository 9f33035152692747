-- jobs_claim.lua: serves callbacks/jobs.py.
-- Claim the jobs due by now, and the failed ones whose retry is due, so two workers never
-- take the same one. Claims older than the timeout (their worker died) go back to due.
-- KEYS[1]: the due sorted set, KEYS[2]: the claimed sorted set, KEYS[3]: the retry sorted set
-- ARGV[1]: now (s, service clock), ARGV[2]: claims older than this (s) go back to due,
-- ARGV[3]: max count, ARGV[4]: now (s, wall clock: retries wait real time)
-- Returns the claimed job ids: retries first, then the due ones, oldest first.
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
local claimed = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(claimed) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[2], ARGV[1], id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[1], id)
  claimed[#claimed + 1] = id
end
return claimed
