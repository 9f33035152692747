-- ring_from.lua: an offer's ring timeout counts from when the agent's phone rings.
-- Twilio places REST-created calls at the account's calls per second, so a leg may ring
-- well after its offer was made: the ring timer is moved to `start` plus the offer's ring
-- timeout. Runs without common.lua: it touches one reservation and its timer, and needs
-- no config (the ring timeout is the offer's own, `expires - created`, kept as `ring`).
-- KEYS[1]: the reservations hash (reservation id -> offer JSON)
-- KEYS[2]: the timers zset ("kind:id" scored by due ms)
-- ARGV[1]: the reservation id
-- ARGV[2]: when the ring starts (ms): the leg's ringing event, or the time of the REST
--          request plus Twilio's estimate of its wait in the outbound queue
-- ARGV[3]: "rang" for the leg's ringing event, "" for an estimate. An estimate marks the
--          offer `paced` (a timer that fires before the phone rang counts no miss,
--          release.lua) and never moves the timer of a phone already ringing.
-- Returns the offer's new expiry (ms), or 0 when nothing changed: the offer is no longer
-- pending (answered, released, or its timer is firing), or its phone already rang.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local timer = 'ring:' .. ARGV[1]
if not raw or not redis.call('ZSCORE', KEYS[2], timer) then return 0 end
local r = cjson.decode(raw)
if r.rang == 1 then return 0 end
r.ring = r.ring or (r.expires - r.created)
r.expires = math.max(r.created, tonumber(ARGV[2])) + r.ring
if ARGV[3] == 'rang' then r.rang = 1 else r.paced = 1 end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(r))
redis.call('ZADD', KEYS[2], 'XX', string.format('%.0f', r.expires), timer)
return r.expires
