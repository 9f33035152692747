-- unpin.lua: a call transferred to a named agent (pinned, transfer.lua) was not taken by
-- them within its queue's `pin_ms`: it falls back to its queue at its original place (the
-- same packed score), and is offered to the best available agent of its bucket.
-- KEYS: the fixed keys of common.lua, then the call's bucket keys (with p, the pinned set).
-- ARGV[1]: {now, version, res, rnd, call, pin (the agent, as read), timer,
--           bucket: {q, w, a, m, st, p}}
-- Returns JSON {status: fell_back|gone, offers}; error RETRY.
local sid, b = ctx.call, ctx.bucket
local c = jget(CALLS, sid)
if not c or c.state ~= 'waiting' or not c.pin then
  -- Gone, taken, or ringing its agent (who, if they let it go, sends it back: release.lua).
  redis.call('ZREM', TIMERS, ctx.timer)
  return result('gone')
end
if c.pin ~= ctx.pin or c.queue ~= b.q or c.step ~= 0 then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
if redis.call('ZREM', TIMERS, ctx.timer) == 0 then return result('gone') end
redis.call('ZREM', KEYS[b.p], sid)
fall_back(sid, c)
redis.call('ZADD', KEYS[b.w], c.score, sid)
if not offer_call(sid, c, b, '', true) then jput(CALLS, sid, c) end
return result('fell_back')
