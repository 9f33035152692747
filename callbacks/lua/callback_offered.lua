-- callback_offered.lua: serves callbacks/callback.py (`offered`).
-- Note that the hold loop offered a waiting call a callback. The first offer to a call sets
-- its marker and appends CALLBACKOFFER to the events in the same step, so the metrics can
-- count abandoned callers who had been offered one first; later offers change nothing.
-- KEYS[1]: the call's offered marker (String), KEYS[2]: the events stream
-- ARGV[1]: JSON {call, queue, now (ms), ttl (s), estimate_s ("" when unknown), position}
-- Returns 1 for the call's first offer, 0 when it had been offered one already.
local ctx = cjson.decode(ARGV[1])
local now = string.format('%.0f', ctx.now)
if not redis.call('SET', KEYS[1], now, 'NX', 'EX', ctx.ttl) then return 0 end
redis.call('XADD', KEYS[2], '*', 'type', 'CALLBACKOFFER', 'ts', now, 'call', ctx.call,
           'queue', ctx.queue, 'estimate_s', ctx.estimate_s, 'position', ctx.position)
return 1
