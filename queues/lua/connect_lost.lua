-- connect_lost.lua: a pending connection's timer (`connect:<call>`, set by accept.lua
-- with `pending`) is due and nothing confirmed or requeued it: the process that was to
-- ring the agent's device died in between, so nobody will bridge the caller, who is
-- still on hold. The call is put back exactly as requeue.lua does (common.lua's
-- requeue_pending: its place, its timers, REJECTED with `reason`, the agent on break
-- `break_reason`, the call offered to the next agent). The timer is claimed (ZREM) in
-- this step, so it fires once; confirm.lua, requeue.lua and the end of the call remove
-- it, so a call confirmed meanwhile is left alone.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys and the
--       call's bucket keys.
-- ARGV[1]: {now, version, res, rnd, call, agent (as read), timer, reason (event),
--           break_reason, step (the call's step as read), entries, staffed,
--           bucket: {q, w, a, m}}
-- Returns JSON {status: requeued|gone, position, conn, offers}; conn: the connection
-- (reservation accepted) put back, whose agent's leg may wait alone in the call's
-- conference (the web layer takes it out). Error RETRY.
local sid, id, b = ctx.call, ctx.agent, ctx.bucket
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or not c.pending then
  redis.call('ZREM', TIMERS, ctx.timer)
  return result('gone')
end
if not b or c.agent ~= id or c.step ~= ctx.step or c.queue ~= b.q then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
-- Due now, not only present: a process that read the timer before it fired elsewhere
-- must not fire the one a later pending accept of the same call set.
local due = redis.call('ZSCORE', TIMERS, ctx.timer)
if not due or tonumber(due) > NOW then return result('gone') end
redis.call('ZREM', TIMERS, ctx.timer)
local position = requeue_pending(sid, c, b, id, ctx.reason, ctx.break_reason)
return result('requeued', {position = position, conn = c.conn or ''})
