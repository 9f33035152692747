-- status.lua: an agent state change asked by the agent or due on a timer.
-- KEYS: the fixed keys of common.lua, then the agent's bucket and staffed keys.
-- ARGV[1]: {now, version, res, rnd, agent, target, reason, timer, entries, staffed, drop,
--           back_ms}
--   drop: key indices of available sets to leave first (refresh only)
--   target: available | ready | break | offline | refresh (config sync) |
--           hold_end | wrap_end | break_end (timers; `timer` is the member to claim)
--   back_ms: with target break, > 0 arms a `back:<agent>` timer that ends the break then
--   (break_end), unless the break's reason is no longer `reason` by that time.
-- Returns JSON {status: ok|gone, state, offers}; errors UNKNOWN_AGENT, INVALID_TRANSITION.
local id, target = ctx.agent, ctx.target
if not acfg_of(id) then return redis.error_reply('UNKNOWN_AGENT ' .. id) end
local a = jget(AGENTS, id) or new_agent()
local from = a.state
local allowed = {
  available = {offline = 1, ['break'] = 1, wrap_up = 1, available = 1},
  ready = {wrap_up = 1},
  ['break'] = {offline = 1, available = 1, wrap_up = 1, ['break'] = 1},
  offline = {offline = 1, available = 1, wrap_up = 1, ['break'] = 1},
  hold_end = {available = 1}, wrap_end = {wrap_up = 1}, break_end = {['break'] = 1},
}
if ctx.timer ~= '' then
  if redis.call('ZREM', TIMERS, ctx.timer) == 0 or not allowed[target][from]
     or (target == 'hold_end' and a.listed == 1)
     or (target == 'break_end' and a.reason ~= ctx.reason) then
    return result('gone')
  end
elseif target == 'refresh' then
  -- Config sync: drop the agent from its old buckets, relist it under its new ones.
  for _, k in ipairs(ctx.drop) do redis.call('ZREM', KEYS[k], id) end
  if from ~= 'offline' and from ~= 'break' then set_staffed(id, true) end
  if from == 'available' and a.listed == 1 then
    a.listed = 0
    take_or_list(id, a)
    jput(AGENTS, id, a)
  end
  return result('ok', {state = a.state})
elseif not allowed[target][from] then
  return redis.error_reply('INVALID_TRANSITION agent ' .. id .. ' cannot go from ' .. from
                           .. ' to ' .. target)
end
if target == 'available' and from == 'available' then return result('ok', {state = from}) end
-- A login starts the counts `fewest_calls` and `least_talk_time` compare: today's shift,
-- not the agent's lifetime (a break is not a logout and keeps them).
if from == 'offline' and target ~= 'offline' then a.calls = 0; a.talk = 0 end
-- A pending hold-back or wrap-up timer is dropped (a timer that fired was claimed above).
if ctx.timer == '' and (from == 'available' or from == 'wrap_up') then
  redis.call('ZREM', TIMERS, 'hold:' .. id, 'wrap:' .. id)
end
-- Only a listed agent is in its available sets (entries left by an offer made through
-- another bucket are the Router's to clear, and pick_agent skips them meanwhile).
if a.listed == 1 then unlist_agent(id, a) end
if target == 'break' or target == 'offline' then
  a.state = target; a.reason = ctx.reason; a.since = NOW; a.missed = 0
  set_staffed(id, false)
  if target == 'break' and (ctx.back_ms or 0) > 0 then
    redis.call('ZADD', TIMERS, fmt(NOW + ctx.back_ms), 'back:' .. id)
  end
else
  -- Idle time counts from the last call or login, not from a missed offer.
  if target ~= 'hold_end' then a.idle = NOW end
  if target == 'available' or target == 'break_end' then a.missed = 0 end
  make_available(id, a, 0)
  -- From wrap-up or a hold-back the agent is still in its staffed sets.
  if from == 'offline' or from == 'break' then set_staffed(id, true) end
end
if a.state ~= from or target == 'break' then agent_status(id, a) end
-- An agent who takes a call is stored by reserve(); any other is stored here.
if a.state == 'available' and take_call(id, a) then return result('ok', {state = a.state}) end
if a.state == 'available' then list_agent(id, a) end
jput(AGENTS, id, a)
return result('ok', {state = a.state})
