-- monitor_end.lua: end a supervisor's monitoring of a call once, with its `monitor_stop`
-- event: a Stop from the console and the leg's own end (a status callback, repeated or late)
-- cannot both record it, and an old leg's end cannot clear the monitor of a newer leg.
-- KEYS[1]: the call's monitor (Hash: by, mode, leg, agent, ...).
-- KEYS[2]: the event stream.
-- ARGV[1]: the supervisor's leg (CallSid) that ended ('' for a monitor with no leg yet);
--   ARGV[2]: now (ms); ARGV[3]: the reason (the leg's final status, or "stopped");
--   ARGV[4]: the call's SID; ARGV[5]: the event type (SUPERVISOR).
-- Returns 1 when this ended the monitor (and recorded it), 0 when it was gone or is another
-- leg's.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], 'leg') or '') ~= ARGV[1] then return 0 end
local by = redis.call('HGET', KEYS[1], 'by') or ''
local agent = redis.call('HGET', KEYS[1], 'agent') or ''
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], '*', 'type', ARGV[5], 'ts', ARGV[2], 'by', 'supervisor:' .. by,
  'action', 'monitor_stop', 'call', ARGV[4], 'agent', agent, 'reason', ARGV[3])
return 1
