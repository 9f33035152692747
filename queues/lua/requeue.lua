-- requeue.lua: the agent's device of a pending connection (accept.lua with `pending`)
-- could not be rung, so nobody will bridge the caller, who is still on hold. The call
-- goes back to its queue as it was: same packed score (original time and priority, so
-- its place), same step, its escalation and max-wait timers at their old due times. The
-- agent goes on break with `break_reason`, and the call is offered to the next agent.
-- No CONNECT was recorded; REJECTED with `reason` says why the offer was missed.
-- (common.lua's requeue_pending does all of this; connect_lost.lua shares it.)
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys and the
--       call's bucket keys.
-- With break_reason "" (Router.put_back: the agent's leg rang out, was busy, failed or
-- dropped before the bridge) the agent gets the missed-call treatment instead of a break.
-- With `bridging` (Router.put_back from the agent's `<Dial>` ending unbridged) a call
-- confirmed by its Queue url fetch (confirm.lua) goes back too; it had its CONNECT.
-- With `conn` (Router.put_back: the connection, i.e. reservation accepted, that the
-- ended leg belonged to) only that connection goes back: an old leg's late end never puts
-- back a newer connection of the same call to the same agent. "" (or absent): any.
-- ARGV[1]: {now, version, res, rnd, call, agent, reason (event), break_reason, bridging,
--           conn, step (the call's step as read), entries, staffed, bucket: {q, w, a, m}}
-- Returns JSON {status: requeued, position, offers}; errors ROUTING (the call is not
-- pending on this agent through `conn`: confirmed, ended, or connected anew), RETRY.
local sid, id, b = ctx.call, ctx.agent, ctx.bucket
local c = jget(CALLS, sid)
if not c or c.state ~= 'connected' or c.agent ~= id
   or not (c.pending or (ctx.bridging and c.bridging)) then
  return redis.error_reply('ROUTING call ' .. sid .. ' is not pending on ' .. id)
end
if ctx.conn and ctx.conn ~= '' and c.conn ~= ctx.conn then
  return redis.error_reply('ROUTING call ' .. sid .. ' is no longer connection ' .. ctx.conn)
end
if c.step ~= ctx.step or c.queue ~= b.q then
  return redis.error_reply('RETRY the call moved while the script was prepared')
end
local position = requeue_pending(sid, c, b, id, ctx.reason, ctx.break_reason)
return result('requeued', {position = position})
