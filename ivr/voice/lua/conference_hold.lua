-- conference_hold.lua: put a bridged call on hold, take it off, or end it, in one step, with
-- its HOLD / UNHOLD event: two requests (a double click, a retried one, the call ending as
-- the agent resumes) cannot both open a hold or both close it.
-- KEYS[1]: the call's conference (Hash: state, hold_since_ms, hold_ms, ...).
-- KEYS[2]: the event stream.
-- ARGV[1]: "hold", "resume" or "end"; ARGV[2]: now (ms); ARGV[3]: the call's SID;
--   ARGV[4]: the agent; ARGV[5]: the queue; ARGV[6]: TTL seconds.
-- Returns the length of the hold closed (ms), 0 for a hold opened, -1 when nothing changed
-- (already so, no conference, or it ended).
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'ended' then return -1 end
local since = redis.call('HGET', KEYS[1], 'hold_since_ms') or ''
local now = tonumber(ARGV[2])
if ARGV[1] == 'hold' then
  if since ~= '' or state ~= 'connected' then return -1 end
  redis.call('HSET', KEYS[1], 'hold_since_ms', ARGV[2], 'state', 'on_hold')
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  redis.call('XADD', KEYS[2], '*', 'type', 'HOLD', 'ts', ARGV[2], 'call', ARGV[3],
    'agent', ARGV[4], 'queue', ARGV[5])
  return 0
end
local next_state = 'connected'
if ARGV[1] == 'end' then next_state = 'ended' end
if since == '' then
  if ARGV[1] == 'end' then redis.call('HSET', KEYS[1], 'state', 'ended') end
  return -1
end
local held = math.max(0, now - tonumber(since))
local total = tonumber(redis.call('HGET', KEYS[1], 'hold_ms') or '0') + held
redis.call('HSET', KEYS[1], 'hold_since_ms', '', 'hold_ms', tostring(total), 'state', next_state)
redis.call('XADD', KEYS[2], '*', 'type', 'UNHOLD', 'ts', ARGV[2], 'call', ARGV[3],
  'agent', ARGV[4], 'queue', ARGV[5], 'hold_ms', tostring(held))
return held
