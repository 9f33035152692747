-- jobs_schedule.lua: serves callbacks/jobs.py.
-- Schedule a job once: a second schedule of the same id changes nothing.
-- KEYS[1]: the job's key (String JSON), KEYS[2]: the due sorted set
-- ARGV[1]: job id, ARGV[2]: job JSON, ARGV[3]: due time (s), ARGV[4]: TTL (s)
-- Returns 1 when scheduled now, 0 when the id was already known.
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
