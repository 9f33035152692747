-- confirm.lua: the agent's device of a pending connection (accept.lua with `pending`) was
-- rung into the bridge: CONNECT is recorded now, so a call is never counted answered
-- before the service could reach the agent. Its `connect:<call>` timer goes with it. A
-- confirm after that timer fired (connect_lost.lua put the call back) finds it gone.
-- The pending record is kept as `c.bridging`: a Queue url fetch is the last thing Twilio
-- tells before the bridge, and an agent leg that drops in between (its `<Dial>` ends
-- `canceled`) still puts the call back (requeue.lua with `bridging`).
-- KEYS: the fixed keys of common.lua.
-- ARGV[1]: {now, version, res, call, agent}
-- Returns JSON {status: confirmed|gone, offers}; gone: the call is not (or no longer)
-- pending on this agent (confirmed before, ended meanwhile with its CONNECT, or put back
-- by its timer).
local sid = ctx.call
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or c.agent ~= ctx.agent or not c.pending then
  return result('gone')
end
connect_event(sid, c, c.pending.offered)
redis.call('ZREM', TIMERS, 'connect:' .. sid)
c.bridging = c.pending
c.pending = nil
jput(CALLS, sid, c)
return result('confirmed')
