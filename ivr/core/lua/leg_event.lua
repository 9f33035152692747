-- leg_event.lua: take one status callback of a call leg once, and only while it is news:
-- not a repeat, not after the leg's final status, not older than an event already taken.
-- Twilio numbers a leg's events (SequenceNumber, from 0) but does not promise their order,
-- so a late `ringing` must not revive a leg whose `completed` came first.
-- KEYS[1]: the leg's status (Hash: seen:<mark> -> 1; status, once final; seq, the highest
--   order taken).
-- ARGV[1]: the event's mark (its SequenceNumber, else its CallStatus); ARGV[2]: its order
--   (the SequenceNumber, else the status's rank); ARGV[3]: "1" if the status is final;
--   ARGV[4]: the CallStatus; ARGV[5]: TTL seconds.
-- Returns 1 when the event is news, 0 for a repeat or a stale event.
if redis.call('HSETNX', KEYS[1], 'seen:' .. ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[5])
if redis.call('HEXISTS', KEYS[1], 'status') == 1 then return 0 end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'status', ARGV[4], 'seq', ARGV[2])
  return 1
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if tonumber(ARGV[2]) < seq then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[2])
return 1
