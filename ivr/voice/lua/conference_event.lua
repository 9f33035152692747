-- conference_event.lua: take one conference status callback once: Twilio may send one again
-- (a retry) or late, after the conference it tells of has ended.
-- KEYS[1]: the call's conference (Hash: state, seen:<mark> -> 1, ...).
-- ARGV[1]: the event's mark (ConferenceSid:SequenceNumber, else its own fields);
--   ARGV[2]: "1" when the event ends the conference; ARGV[3]: TTL seconds;
--   ARGV[4]: the accept whose conference the event's URL names (`opened`), or "".
-- Returns 1 when the event is news, 0 for a repeat, one about no known bridge, one about
-- an earlier conference of the call (a call put back and accepted again has a new one:
-- the old one's late events must not end it), or one after the conference ended (the end
-- itself excepted, once).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[4] ~= '' then
  local opened = redis.call('HGET', KEYS[1], 'opened') or redis.call('HGET', KEYS[1], 'res')
  if opened ~= ARGV[4] then return 0 end
end
if redis.call('HSETNX', KEYS[1], 'seen:' .. ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('HGET', KEYS[1], 'state') == 'ended' and ARGV[2] ~= '1' then return 0 end
return 1
